// IRangeHost: the allocator internals that ContiguousRanges needs beyond its zones, exact runs and
// reserved pages — room reserved before each step, the allocation heads a claim or a cut stamps,
// and the movable blocks: looked up, forgotten when a free cuts them, moved out of a range.
// PageAllocator implements it explicitly (PageAllocator.Contiguous.cs). The movable members
// forward to the allocator's one migration mechanism (its target search and its move), so that
// when that mechanism becomes a class of its own, each forwarding body is the one line to change.
//
// Invariant: every member but SyncRoot is called with SyncRoot held. The Reserve members may throw
// (out of memory, or an injected fault) and then change nothing; the others allocate nothing,
// except a move, whose migrate callback may throw (the block then stays where it was).
using System.Diagnostics.CodeAnalysis;

namespace Buddy;

/// <summary>What a contiguous range operation needs from the allocator it runs in.</summary>
internal interface IRangeHost
{
    /// <summary>The allocator's lock.</summary>
    Lock SyncRoot { get; }

    /// <summary>Reserves room for <paramref name="takes"/> takes and as many give-backs, and one new head; may throw, changing nothing.</summary>
    void ReserveForStepsLocked(int takes);

    /// <summary>Makes the head chunk of <paramref name="pfn"/> exist, so that stamping it allocates nothing; may throw, changing nothing.</summary>
    void ReserveHeadLocked(ulong pfn);

    /// <summary>Back to the usual reserve after an operation that reserved for many steps.</summary>
    void TrimReservesLocked();

    /// <summary>Starts an allocation at <paramref name="pfn"/> (its head chunk is reserved); returns the stamp its handle carries.</summary>
    ulong SetHeadLocked(ulong pfn, MigrateType mobility);

    /// <summary>Clears the head at <paramref name="pfn"/>; false when none was set.</summary>
    bool TryClearHeadLocked(ulong pfn);

    /// <summary>The mobility of the allocation that starts at <paramref name="pfn"/> (unmovable when none does).</summary>
    MigrateType MobilityOfHeadLocked(ulong pfn);

    /// <summary>The handle of the movable block that starts at <paramref name="pfn"/>, if one does.</summary>
    bool TryGetMovableLocked(ulong pfn, [MaybeNullWhen(false)] out MovableBlock handle);

    /// <summary>Forgets the movable block that starts at <paramref name="pfn"/>, if one does, and marks its handle freed: a free cut or freed it.</summary>
    void ForgetMovableLocked(ulong pfn);

    /// <summary>
    /// The pfn of the highest order-<paramref name="order"/> aligned free room of <paramref name="zone"/>
    /// at or above <paramref name="above"/> and wholly below <paramref name="below"/>, in a movable
    /// pageblock (in any with <paramref name="anyPageblock"/>); <see cref="ulong.MaxValue"/> when there is none.
    /// </summary>
    ulong FindMigrationTargetLocked(Zone zone, int order, ulong above, ulong below, bool anyPageblock);

    /// <summary>Moves <paramref name="handle"/> to <paramref name="target"/>, already taken, whose head chunk is reserved; if the callback throws, the target is given back and the block stays.</summary>
    void MoveToTakenTargetLocked(Zone zone, MovableBlock handle, ulong target);
}
