// PageAllocator (placed allocations): a block taken at the address the caller names, and a
// pageblock's migrate type set as the caller says. Neither chooses anything: they are how a
// simulation follows what a real kernel did — every mm_page_alloc event names the page frame the
// kernel chose, and a machine's start state is rebuilt from /proc snapshots — so a replay can run
// "as the kernel placed it" on the same allocator the policies use.
//
// Invariants kept: a refused call changes nothing (every check runs before the first change); a
// placed block is an allocation like any other (stamped, tracked when movable and grouped, freed
// by Free or FreeRange); a pageblock retype moves the free blocks inside it to the new type's
// lists, as move_freepages_block does, so FreeArea's per-type lists stay exact.
using System.Diagnostics.CodeAnalysis;
using static System.FormattableString;

namespace Buddy;

public sealed partial class PageAllocator
{
    /// <summary>
    /// Allocates the order-<paramref name="order"/> block at <paramref name="address"/>, whose pages
    /// must all be free; the free block around it is split and the other pieces stay free. Nothing
    /// else is chosen: no zone walk, no watermark, no fallback. On failure (a page allocated or
    /// reserved) <paramref name="failure"/> says which, with <see cref="FailureReason.Occupied"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="order"/> is negative or above <see cref="MaxOrder"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="address"/> is not aligned to the block's size, or the block is not inside one zone of managed memory.</exception>
    public bool TryAllocateAt(ulong address, int order, MigrateType mobility, out Block block, [NotNullWhen(false)] out AllocationFailure? failure)
    {
        if ((uint)order > (uint)_maxOrder)
        {
            throw new ArgumentOutOfRangeException(nameof(order), order, Invariant($"order must be from 0 to {_maxOrder}."));
        }

        Request request = Request.ForOrder(order).WithMobility(mobility);
        ulong pfn = address >> _pageShift, pages = 1UL << order;
        block = default;
        lock (_lock)
        {
            _guard.RefuseLocked(nameof(TryAllocateAt));
            Zone zone = PlacedZoneLocked(address, pfn, pages);
            if (CachedPages > 0)
            {
                _threadCaches.DrainLocked(); // a cached block is free in truth; the bitmaps must say so
            }

            failure = OccupiedLocked(zone, request, pfn, pages);
            if (failure is not null)
            {
                return false;
            }

            _reserve.ForStepLocked();
            var resolved = new ResolvedRequest(pages, order, order, ulong.MaxValue, Exact: false);
            bool tracked = ReserveForCommitLocked(request, resolved, null, out MovableBlock? handle);
            zone.TakeSpecific(pfn, order);
            block = CommitLocked(pfn, zone, resolved, mobility, tracked, handle);
            CheckExpensivelyLocked();
            return true;
        }
    }

    /// <summary>
    /// Sets the migrate type of the pageblock holding <paramref name="address"/> (set_pageblock_migratetype
    /// with move_freepages_block): its free blocks move to <paramref name="type"/>'s lists. For an
    /// allocator that groups by mobility. A free block larger than a pageblock has one type: all of
    /// its pageblocks are retyped.
    /// </summary>
    /// <exception cref="InvalidOperationException">The allocator does not group by mobility.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="type"/> is not a pageblock type of this allocator (HighAtomic needs the highatomic reserve).</exception>
    /// <exception cref="ArgumentException"><paramref name="address"/> is outside managed memory.</exception>
    public void SetPageblockType(ulong address, MigrateType type)
    {
        if (!_layout.Mobility.GroupByMobility)
        {
            throw new InvalidOperationException("SetPageblockType needs an allocator that groups by mobility (MachineLayout.Mobility.GroupByMobility).");
        }

        int pageblockOrder = _layout.Mobility.PageblockOrder;
        ulong pfn = address >> _pageShift, pageblock = pfn & ~((1UL << pageblockOrder) - 1);
        lock (_lock)
        {
            _guard.RefuseLocked(nameof(SetPageblockType));
            Zone zone = _zonelist.ZoneOf(pfn) ?? throw new ArgumentException(Invariant($"Address 0x{address:x} is outside the managed memory."), nameof(address));
            if ((int)type >= zone.Area.Types)
            {
                throw new ArgumentOutOfRangeException(nameof(type), type, Invariant($"this allocator has {zone.Area.Types} pageblock types (Unmovable, Movable, Reclaimable{(zone.Area.Types > 3 ? ", HighAtomic" : "")})."));
            }

            if (CachedPages > 0)
            {
                _threadCaches.DrainLocked();
            }

            _reserve.ForStepLocked();
            (ulong unit, int unitOrder, bool free) = zone.FindUnit(Math.Max(pageblock, zone.StartPfn));
            if (free && unitOrder > pageblockOrder)
            {
                // One free block has one type: a block larger than a pageblock is retyped whole, as
                // the kernel retypes every pageblock of a block it claims.
                zone.Area.RemoveFree(unitOrder, unit);
                zone.SetPageblockTypes(unit, unitOrder, (int)type);
                zone.Area.AddFree(unitOrder, unit);
            }
            else
            {
                zone.MovePageblock(pageblock, (int)type);
            }

            CheckExpensivelyLocked();
        }
    }

    // The zone that holds all of [pfn, pfn + pages), or an ArgumentException naming what is wrong.
    private Zone PlacedZoneLocked(ulong address, ulong pfn, ulong pages)
    {
        if ((pfn & (pages - 1)) != 0 || (address & (PageSize - 1)) != 0)
        {
            throw new ArgumentException(Invariant($"Address 0x{address:x} is not aligned to an order-{PageMath.Log2(pages)} block ({pages * PageSize} bytes)."), nameof(address));
        }

        Zone? zone = pfn >= _firstPfn && pfn < _endPfn ? _zonelist.ZoneOf(pfn) : null;
        if (zone is null || pfn + pages > zone.EndPfn)
        {
            throw new ArgumentException(Invariant($"The block [0x{address:x}, 0x{(pfn + pages) << _pageShift:x}) is not inside one zone of the managed memory [0x{_firstPfn << _pageShift:x}, 0x{_endPfn << _pageShift:x})."), nameof(address));
        }

        return zone;
    }

    // Why [pfn, pfn + pages) cannot be taken whole, or null when one free block holds it.
    private AllocationFailure? OccupiedLocked(Zone zone, Request request, ulong pfn, ulong pages)
    {
        if (_reserved.Intersects(pfn, pfn + pages))
        {
            return new AllocationFailure(FailureReason.Occupied, request, Invariant($"the block at 0x{pfn << _pageShift:x} holds reserved pages"));
        }

        (ulong unit, int unitOrder, bool free) = zone.FindUnit(pfn);
        return free && unitOrder >= PageMath.Log2(pages)
            ? null
            : new AllocationFailure(FailureReason.Occupied, request, Invariant($"page 0x{pfn << _pageShift:x} lies in {(free ? "a free" : "an allocated")} order-{unitOrder} unit at 0x{unit << _pageShift:x}"));
    }
}
