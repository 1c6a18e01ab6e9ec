// MovableRegistry: one allocator's live movable blocks, by the pfn each starts at, and the one
// mechanism that moves them everywhere (compaction, Migrate, contiguous ranges): take a free
// target, stamp it, let the owner copy, give the old frames back (MoveLocked). A handle is made,
// and room for it reserved, before its block is taken (ReserveOne); it is registered when the
// allocation commits (Register) and forgotten, marked freed, when its block is freed (Unregister)
// or cut by a FreeRange (Remove, then MovableBlock.MarkFreed).
//
// Invariants (ValidateLocked, called by PageAllocator.Validate):
// - Each entry pfn → handle names an allocated unit that starts at pfn with the handle's order,
//   and handle.Current.Pfn == pfn; a handle is registered at most once, a freed one nowhere.
// - Everything changes under the allocator's lock; room is made before a take, so registering
//   and moving allocate nothing.
// - A move completes (the handle names the target and is registered there, the old frames are
//   free) or, when the callback throws, leaves the block where it was and the target free.
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using static System.FormattableString;

namespace Buddy;

/// <summary>The live movable blocks of one allocator, and how one of them moves.</summary>
/// <remarks>Not thread-safe: the allocator's lock serialises access.</remarks>
internal sealed class MovableRegistry
{
    private readonly Dictionary<ulong, MovableBlock> _byPfn = [];
    private readonly Lock _lock;              // the allocator's
    private readonly StepReserve _reserve;    // the allocator's
    private readonly AllocationHeads _heads;  // the allocator's (a copy of the handle: the same stamps)
    private readonly MigrateCallbackGuard _guard;
    private readonly int _allocatorId;
    private readonly int _pageShift;

    /// <summary>Creates an empty registry of the allocator numbered <paramref name="allocatorId"/>, whose moves reserve from <paramref name="reserve"/>, re-stamp <paramref name="heads"/> and run callbacks through <paramref name="guard"/>.</summary>
    public MovableRegistry(Lock allocatorLock, StepReserve reserve, AllocationHeads heads, MigrateCallbackGuard guard, int allocatorId, int pageShift)
    {
        _lock = allocatorLock;
        _reserve = reserve;
        _heads = heads;
        _guard = guard;
        _allocatorId = allocatorId;
        _pageShift = pageShift;
    }

    /// <summary>The number of live movable blocks.</summary>
    public int Count => _byPfn.Count;

    /// <summary>The handle of the movable block that starts at <paramref name="pfn"/>.</summary>
    /// <exception cref="KeyNotFoundException">No movable block starts there.</exception>
    public MovableBlock this[ulong pfn] => _byPfn[pfn];

    /// <summary>Whether a movable block starts at <paramref name="pfn"/>.</summary>
    public bool ContainsKey(ulong pfn) => _byPfn.ContainsKey(pfn);

    /// <summary>The handle of the movable block that starts at <paramref name="pfn"/>, if one does.</summary>
    public bool TryGetValue(ulong pfn, [MaybeNullWhen(false)] out MovableBlock handle) => _byPfn.TryGetValue(pfn, out handle);

    /// <summary>Whether <paramref name="handle"/> is registered where its block is (not freed, nor cut by a partial free).</summary>
    public bool IsLive(MovableBlock handle) => _byPfn.TryGetValue(handle.Current.Pfn, out MovableBlock? registered) && ReferenceEquals(registered, handle);

    /// <summary>Makes room for one more block, so that <see cref="Register"/> allocates nothing.</summary>
    public void ReserveOne() => _byPfn.EnsureCapacity(_byPfn.Count + 1);

    /// <summary>Attaches <paramref name="handle"/> to its newly allocated <paramref name="block"/> and registers it there.</summary>
    public void Register(MovableBlock handle, Block block)
    {
        handle.Attach(block);
        _byPfn.Add(block.Pfn, handle);
    }

    /// <summary>The block at <paramref name="pfn"/> is being freed: forgets it and marks its handle freed, if a movable block starts there.</summary>
    public void Unregister(ulong pfn)
    {
        if (_byPfn.Count > 0 && _byPfn.Remove(pfn, out MovableBlock? handle))
        {
            handle.MarkFreed();
        }
    }

    /// <summary>Forgets the block that starts at <paramref name="pfn"/>; the caller marks its handle freed.</summary>
    public bool Remove(ulong pfn, [MaybeNullWhen(false)] out MovableBlock handle) => _byPfn.Remove(pfn, out handle);

    /// <summary>Moves <paramref name="handle"/> to the highest free place above it in <paramref name="zone"/>, as the compactor would; false when there is none.</summary>
    /// <exception cref="Exception">Whatever the migrate callback threw; the block stays where it was.</exception>
    public bool MoveUpLocked(Zone zone, MovableBlock handle)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        Block current = handle.Current;
        _reserve.ForStepsLocked(3); // FindHighest may retype a pageblock; then the move (see MoveLocked)
        ulong target = MigrationTargets.FindHighest(zone, current.Order, current.Pfn + current.PageCount, ulong.MaxValue);
        if (target == ulong.MaxValue)
        {
            return false;
        }

        MoveLocked(zone, handle, target);
        return true;
    }

    /// <summary>
    /// Moves <paramref name="handle"/>, whose block lies in <paramref name="zone"/>, to the block of
    /// its order at <paramref name="target"/>: inside a free block, or already taken when
    /// <paramref name="targetTaken"/>, whose caller reserved what the move needs and made the
    /// target's head chunk exist. If the callback throws, the target is given back and the block stays.
    /// </summary>
    public void MoveLocked(Zone zone, MovableBlock handle, ulong target, bool targetTaken = false)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        Block from = handle.Current;
        Debug.Assert(from.Pfn >= zone.StartPfn && from.Pfn < zone.EndPfn, "a block moves within its zone");
        int order = from.Order;
        if (!targetTaken)
        {
            _reserve.ForStepsLocked(2); // the take, a give-back on failure, the old frames' give-back, the new head
            zone.TakeSpecific(target, order);
        }

        // The target gets its stamp before the callback sees `to`: if the move fails, clearing it
        // uses up that generation, so a `to` the callback kept stays stale for good.
        Block to = new(target, from.PageCount, _pageShift, _allocatorId, _heads.Set(target, MigrateType.Movable), MigrateType.Movable, tracked: true); // the head chunk is reserved
        try
        {
            _guard.RunLocked(handle, from, to);
        }
        catch
        {
            _heads.TryClear(target);
            zone.Release(target, order);
            throw;
        }

        _byPfn.Remove(from.Pfn);
        _byPfn.Add(target, handle);
        _heads.TryClear(from.Pfn);
        handle.MovedTo(to);
        zone.Release(from.Pfn, order);
    }

    /// <summary>Throws when a registered block is not an allocated unit (one of <paramref name="units"/>) of its handle's order at its pfn.</summary>
    public void ValidateLocked(HashSet<ulong> units, Zonelist zonelist)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        foreach ((ulong start, MovableBlock handle) in _byPfn)
        {
            Block b = handle.Current;
            if (b.Pfn != start || !units.Contains(start) || zonelist.ZoneOf(start)!.FindUnit(start) != (start, b.Order, false))
            {
                throw new InvalidOperationException(Invariant($"Invariant broken: movable block {b} is registered at pfn 0x{start:x} but is not an allocated unit there."));
            }
        }
    }
}
