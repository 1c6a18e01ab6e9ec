// PageAllocator (movable blocks): handles whose frames may change, and the one mechanism that
// moves them — take a free target, let the owner copy, give the old frames back.
using System.Diagnostics.CodeAnalysis;

using Buddy.Kernel;

namespace Buddy;

public sealed partial class PageAllocator
{
    /// <summary>The allocator's free blocks per migrate type and its pageblocks per type, as /proc/pagetypeinfo prints them.</summary>
    /// <remarks>Without grouping by mobility every pageblock is movable, as the kernel boots them.</remarks>
    public string PageTypeInfo()
    {
        lock (_lock)
        {
            int pageblockOrder = _layout.Mobility.PageblockOrder;
            var zones = new List<Kernel.PageTypeInfoZone>();
            foreach (Zone z in _zones)
            {
                var free = new long[Kernel.PageTypeInfo.TypeNames.Count][];
                for (int type = 0; type < free.Length; type++)
                {
                    free[type] = new long[_maxOrder + 1];
                    for (int order = 0; order <= _maxOrder; order++)
                    {
                        free[type][order] = z.Grouped
                            ? (type < z.Area.Types ? z.Area.NrFree(order, type) : 0)
                            : (type == (int)MigrateType.Movable ? z.NrFree(order) : 0);
                    }
                }

                // The kernel counts the pageblocks of the pfns from the zone's start in pageblock
                // steps (pagetypeinfo_showblockcount_print): the zone's first `visited` pageblocks.
                long[] blocks = new long[Kernel.PageTypeInfo.TypeNames.Count];
                long visited = (long)((z.EndPfn - z.StartPfn + (1UL << pageblockOrder) - 1) >> pageblockOrder);
                if (!z.Grouped)
                {
                    blocks[(int)MigrateType.Movable] = visited;
                }

                foreach ((long start, long count, byte type) in z.Area.PageblockRuns())
                {
                    blocks[type] += Math.Max(0, Math.Min(start + count, visited) - start);
                }

                zones.Add(new PageTypeInfoZone(0, z.Name, free, blocks));
            }

            return Kernel.PageTypeInfo.Format(zones, pageblockOrder, _maxOrder + 1);
        }
    }

    /// <summary>The lock every member takes (movable handles take it too).</summary>
    internal Lock SyncRoot => _lock;

    /// <summary>Allocates a movable block the allocator may migrate; <paramref name="onMigrate"/> copies its contents when it moves.</summary>
    /// <exception cref="AllocationFailedException">The request cannot be served.</exception>
    /// <exception cref="ArgumentException">The request is invalid (exact, or an order above the maximum).</exception>
    public MovableBlock AllocateMovable(Request request, MigrateCallback onMigrate)
    {
        if (!TryAllocateMovable(request, onMigrate, out MovableBlock? block, out AllocationFailure? failure))
        {
            throw new AllocationFailedException(failure);
        }

        return block;
    }

    /// <summary>Tries to allocate a movable block; see <see cref="AllocateMovable"/>.</summary>
    public bool TryAllocateMovable(Request request, MigrateCallback onMigrate, [NotNullWhen(true)] out MovableBlock? block, [NotNullWhen(false)] out AllocationFailure? failure)
    {
        ArgumentNullException.ThrowIfNull(onMigrate);
        bool ok = TryAllocateCore(request.WithMobility(MigrateType.Movable), out _, explain: true, out failure, onMigrate, out block);
        return ok;
    }

    /// <summary>Frees a movable block.</summary>
    /// <exception cref="ArgumentException">The handle belongs to another allocator.</exception>
    /// <exception cref="ObjectDisposedException">The block was already freed (or cut by a partial free).</exception>
    public void Free(MovableBlock block)
    {
        ArgumentNullException.ThrowIfNull(block);
        lock (_lock)
        {
            RefuseInsideCallback(nameof(Free));
            Block current = block.Current;
            if (current.Owner != _id)
            {
                throw new ArgumentException($"The movable block {current} was allocated by another PageAllocator.", nameof(block));
            }

            if (!_movable.TryGetValue(current.Pfn, out MovableBlock? registered) || !ReferenceEquals(registered, block))
            {
                throw new ObjectDisposedException(nameof(MovableBlock), $"Double free or stale handle: the movable block {current} was already freed (or cut by a partial free).");
            }

            FreeCore(current.Pfn, current.PageCount, nameof(block), byAddressOnly: false, current.Stamp);
        }
    }

    /// <summary>Moves a movable block to the highest free place above it, as the compactor would; false when there is none.</summary>
    /// <exception cref="ObjectDisposedException">The block was freed.</exception>
    /// <exception cref="InvalidOperationException">The block is pinned, or has no migrate callback.</exception>
    /// <exception cref="Exception">Whatever the migrate callback threw; the block stays where it was.</exception>
    public bool Migrate(MovableBlock block)
    {
        ArgumentNullException.ThrowIfNull(block);
        lock (_lock)
        {
            RefuseInsideCallback(nameof(Migrate));
            Block current = block.Current;
            ObjectDisposedException.ThrowIf(!_movable.TryGetValue(current.Pfn, out MovableBlock? registered) || !ReferenceEquals(registered, block), block);
            if (!block.CanMigrate)
            {
                throw new InvalidOperationException($"The block {block} cannot move: it is pinned or was allocated without a migrate callback.");
            }

            Zone zone = _zonelist.ZoneOf(current.Pfn)!;
            ReserveForSteps(3); // FindTarget may retype a pageblock; then the move (see MoveUnit)
            ulong target = FindTarget(zone, current.Order, current.Pfn + current.PageCount, ulong.MaxValue);
            if (target == ulong.MaxValue)
            {
                return false;
            }

            MoveUnit(zone, block, target);
            return true;
        }
    }

    // Moves `handle` to the order-sized block at `target` (inside a free block, or already taken
    // when `targetTaken`, whose caller reserved what the move needs and made the target's head
    // chunk exist). Called under the lock. If the callback throws, the target is given back and
    // the block stays.
    private void MoveUnit(Zone zone, MovableBlock handle, ulong target, bool targetTaken = false)
    {
        Block from = handle.Current;
        int order = from.Order;
        if (!targetTaken)
        {
            ReserveForSteps(2); // the take, a give-back on failure, the old frames' give-back, the new head
            zone.TakeSpecific(target, order);
        }

        // The target gets its stamp before the callback sees `to`: if the move fails, clearing it
        // uses up that generation, so a `to` the callback kept stays stale for good.
        ulong stamp = SetHead(target, MigrateType.Movable); // the head chunk is reserved
        var to = new Block(target, from.PageCount, _pageShift, _id, stamp, MigrateType.Movable, tracked: true);
        try
        {
            RunMigrateCallback(handle, from, to);
        }
        catch
        {
            TryClearHead(target);
            zone.Release(target, order);
            throw;
        }

        _movable.Remove(from.Pfn);
        _movable.Add(target, handle);
        TryClearHead(from.Pfn);
        handle.MovedTo(to);
        _zonelist.ZoneOf(from.Pfn)!.Release(from.Pfn, order);
    }

    // The pfn of an order-sized target for a migration: the highest order-aligned block that lies
    // inside a free block, at or above `above` and wholly below `below`, in a movable pageblock (or
    // in a whole free pageblock, which becomes movable first, unless this is only a probe; with
    // `anyPageblock`, in any pageblock, as compaction at its highest priority allows).
    // ulong.MaxValue when there is none.
    private ulong FindTarget(Zone zone, int order, ulong above, ulong below, bool anyPageblock = false, bool probe = false)
    {
        ulong best = ulong.MaxValue, size = 1UL << order;
        int bestOrder = -1, bestType = 0;
        int types = zone.Area.Types;
        for (int current = order; current <= _maxOrder; current++)
        {
            for (int type = 0; type < types; type++)
            {
                if (!anyPageblock && types > 1 && type != (int)MigrateType.Movable && current < zone.Area.PageblockOrder)
                {
                    continue;
                }

                ulong pfn = zone.Area.HighestFreeBelow(current, type, below);
                if (pfn == ulong.MaxValue)
                {
                    continue;
                }

                ulong end = Math.Min(pfn + (1UL << current), below);
                if (end < pfn + size)
                {
                    continue;
                }

                ulong top = (end - size) & ~(size - 1);
                if (top >= pfn && top >= above && (best == ulong.MaxValue || top > best))
                {
                    best = top;
                    bestOrder = current;
                    bestType = type;
                }
            }
        }

        if (!probe && best != ulong.MaxValue && types > 1 && bestType != (int)MigrateType.Movable && bestOrder >= zone.Area.PageblockOrder)
        {
            // A whole free pageblock of another type becomes movable before it takes movable pages.
            ulong block = best & ~((1UL << bestOrder) - 1);
            zone.Area.RemoveFree(bestOrder, block);
            zone.SetPageblockTypes(block, bestOrder, (int)MigrateType.Movable);
            zone.Area.AddFree(bestOrder, block);
        }

        return best;
    }
}
