// IMigrationHost: the few allocator internals that moving a movable block needs beyond its zone —
// the lock everything runs under, room reserved before each step, the allocation heads a move
// re-stamps, and the migrate callback run with the allocator closed to it. PageAllocator
// implements it explicitly (PageAllocator.Movable.cs), so that MovableRegistry and Compactor reach
// these and nothing else of it.
//
// Invariant: every member but SyncRoot is called with SyncRoot held, and none changes anything
// when it throws.
namespace Buddy;

/// <summary>What migration needs from the allocator it moves blocks in.</summary>
internal interface IMigrationHost
{
    /// <summary>The allocator's lock.</summary>
    Lock SyncRoot { get; }

    /// <summary>Reserves room for <paramref name="takes"/> takes and as many give-backs, and one new head; may throw, changing nothing.</summary>
    void ReserveForStepsLocked(int takes);

    /// <summary>Starts a movable allocation of <paramref name="pages"/> pages at <paramref name="pfn"/> (a new stamp on its head, whose chunk is reserved) and returns its block.</summary>
    Block StartMovableAllocationLocked(ulong pfn, ulong pages);

    /// <summary>Clears the allocation head at <paramref name="pfn"/>; false when none was set.</summary>
    bool TryClearHeadLocked(ulong pfn);

    /// <summary>Runs <paramref name="handle"/>'s migrate callback for a move from <paramref name="from"/> to <paramref name="to"/>, with the allocator closed to it.</summary>
    void RunMigrateCallbackLocked(MovableBlock handle, Block from, Block to);
}
