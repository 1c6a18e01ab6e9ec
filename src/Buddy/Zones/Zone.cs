// Zone: one address range's buddy system — take a block (search, split), give one back (merge),
// find which unit a page belongs to, and check every invariant.
//
// Invariants (Validate):
// - Every page of [StartPfn, EndPfn) is in exactly one unit: a free block, an allocated block or a
//   reserved block, each naturally aligned and recorded by one bit at its order (a free bit or a
//   unit bit; a page that is not free needs none); the blocks above a unit, up to the zone's
//   max-order blocks, carry no bit (divided).
// - Free blocks are naturally aligned and lie wholly inside the zone; no free block's buddy is a
//   free block of the same order while their parent lies inside the zone (they would have merged).
// - FreePages equals the sum over orders of NrFree(order) << order.
using System.Diagnostics;
using System.Numerics;

using Buddy.Kernel;

namespace Buddy;

/// <summary>The buddy system of one zone: free areas, unit starts, watermarks and lowmem reserve.</summary>
/// <remarks>
/// Placement is deterministic: a request takes the lowest-addressed free block of the smallest
/// order that satisfies it, so an address limit is checked once per order, never by scanning.
/// Not thread-safe: <see cref="PageAllocator"/> holds its lock around every call.
/// </remarks>
internal sealed partial class Zone
{
    private readonly FreeArea _area;
    private readonly int _maxOrder;
    private readonly int _mergeCheckOrder; // the lowest order at which a merge may cross pageblocks of different types (int.MaxValue without grouping)

    /// <summary>Creates a zone over <c>[startPfn, endPfn)</c> with every page outside <paramref name="reserved"/> free.</summary>
    /// <param name="kind">Which zone.</param>
    /// <param name="index">Its layout index: its entry in <see cref="MachineLayout.Zones"/>.</param>
    /// <param name="startPfn">The first page frame.</param>
    /// <param name="endPfn">One past the last.</param>
    /// <param name="maxOrder">The largest order.</param>
    /// <param name="reserved">Pages never handed out.</param>
    /// <param name="pageblockOrder">log2 of the pageblock size when grouping by mobility; -1 without grouping.</param>
    /// <param name="chunks">The allocator's reserve of empty bitmap chunks; null for one of the zone's own.</param>
    /// <param name="types">Free lists per order when grouping: <see cref="MobilityRules.Types"/>, or <see cref="MobilityRules.TypesWithHighAtomic"/> with the high-order atomic reserve.</param>
    public Zone(ZoneKind kind, int index, ulong startPfn, ulong endPfn, int maxOrder, PfnRanges reserved, int pageblockOrder = -1, ChunkReserve? chunks = null, int types = MobilityRules.Types)
    {
        Debug.Assert(endPfn > startPfn);
        Kind = kind;
        Index = index;
        StartPfn = startPfn;
        EndPfn = endPfn;
        _maxOrder = maxOrder;
        _area = pageblockOrder < 0
            ? new FreeArea(startPfn, endPfn, maxOrder, chunks: chunks)
            : new FreeArea(startPfn, endPfn, maxOrder, types, pageblockOrder, (int)MigrateType.Movable, chunks);
        _mergeCheckOrder = pageblockOrder < 0 ? int.MaxValue : pageblockOrder;
        PresentPages = endPfn - startPfn;
        ManagedPages = PresentPages - reserved.PagesIn(startPfn, endPfn);
        PopulateRoots(reserved);
        Debug.Assert(FreePages == ManagedPages);
    }

    /// <summary>Which zone this is.</summary>
    public ZoneKind Kind { get; }

    /// <summary>The kernel's name: DMA, DMA32, Normal or Movable.</summary>
    public string Name => Kind.KernelName();

    /// <summary>The zone's layout index: its entry in <see cref="MachineLayout.Zones"/>, populated or not (not its place among the populated zones; Zonelist.cs: "Zone numbers").</summary>
    public int Index { get; }

    /// <summary>The NUMA node the zone belongs to (its layout entry's <see cref="ZoneLimit.Node"/>).</summary>
    public int Node { get; init; }

    /// <summary>The first page frame of the zone.</summary>
    public ulong StartPfn { get; }

    /// <summary>One past the last page frame of the zone.</summary>
    public ulong EndPfn { get; }

    /// <summary>Pages spanned and present (this model has no holes inside the managed range).</summary>
    public ulong PresentPages { get; }

    /// <summary>Pages the buddy system manages: present minus reserved.</summary>
    public ulong ManagedPages { get; }

    /// <summary>Pages in free blocks.</summary>
    public ulong FreePages { get; private set; }

    /// <summary>The zone's watermarks (all zero when watermarks are off).</summary>
    public Watermarks Watermarks { get; set; }

    /// <summary>lowmem_reserve[k]: pages kept back from requests whose highest zone has kind k (one entry per kind up to the layout's highest).</summary>
    public ulong[] LowmemReserve { get; set; } = [];

    /// <summary>vm.watermark_boost_factor for this zone's boosts (0: never boosted).</summary>
    public int WatermarkBoostFactor { get; init; }

    /// <summary>watermark_boost: pages added to every watermark since kswapd last ran for this zone.</summary>
    public ulong WatermarkBoost { get; set; }

    /// <summary>ZONE_BOOSTED_WATERMARK: a boost was applied and kswapd has not been woken for it yet.</summary>
    public bool BoostPending { get; set; }

    /// <summary>nr_reserved_highatomic: pages in the zone's MIGRATE_HIGHATOMIC pageblocks.</summary>
    public ulong ReservedHighAtomic { get; set; }

    /// <summary>The allocator's fallback and compaction counters (null: not counted).</summary>
    public MobilityCounters? Counters { get; init; }

    /// <summary>Free pages on the MIGRATE_HIGHATOMIC lists (nr_free_highatomic); 0 without the reserve.</summary>
    public ulong FreeHighAtomicPages
    {
        get
        {
            if (_area.Types <= (int)MigrateType.HighAtomic)
            {
                return 0;
            }

            ulong free = 0;
            for (int order = 0; order <= _maxOrder; order++)
            {
                free += (ulong)_area.NrFree(order, (int)MigrateType.HighAtomic) << order;
            }

            return free;
        }
    }

    /// <summary>
    /// boost_watermark (Linux 6.18): raises the watermarks by a pageblock, at most to
    /// watermark_boost_factor / 10000 of the high mark (at least a pageblock), and marks the zone
    /// for kswapd; nothing in a zone smaller than four pageblocks or without a high mark.
    /// </summary>
    public void BoostWatermark()
    {
        ulong pageblock = 1UL << _area.PageblockOrder;
        if (WatermarkBoostFactor == 0 || pageblock * 4 > ManagedPages)
        {
            return;
        }

        ulong maxBoost = (ulong)((UInt128)Watermarks.High * (ulong)WatermarkBoostFactor / 10000);
        if (maxBoost == 0)
        {
            return;
        }

        maxBoost = Math.Max(pageblock, maxBoost);
        WatermarkBoost = Math.Min(WatermarkBoost + pageblock, maxBoost);
        BoostPending = true;
        Counters?.Boosted();
    }

    /// <summary>The number of free blocks of <paramref name="order"/>.</summary>
    public long NrFree(int order) => _area.NrFree(order);

    /// <summary>The free area (for the mobility code: pageblock types, per-type lists).</summary>
    public FreeArea Area => _area;

    /// <summary>Tells whether the allocated unit starting at a pfn holds movable pages (set by the allocator).</summary>
    public Func<ulong, bool>? IsMovableUnit { get; set; }

    /// <summary>Whether pageblocks are grouped by mobility.</summary>
    public bool Grouped => _area.Types > 1;

    /// <summary>The largest order.</summary>
    public int MaxOrder => _maxOrder;

    /// <summary>A snapshot of the zone's counts, watermarks and protection.</summary>
    public ZoneStats Snapshot()
    {
        long[] nrFree = new long[_maxOrder + 1];
        for (int order = 0; order <= _maxOrder; order++)
        {
            nrFree[order] = NrFree(order);
        }

        return new ZoneStats(Kind, StartPfn, EndPfn, PresentPages, ManagedPages, FreePages, nrFree, Watermarks, [.. LowmemReserve]) { Node = Node };
    }

    /// <summary>Bytes of metadata.</summary>
    public long MetadataBytes => _area.MetadataBytes;

    /// <summary>The largest order with a free block, or -1.</summary>
    public int LargestFreeOrder()
    {
        ulong orders = 0;
        for (int t = 0; t < _area.Types; t++)
        {
            orders |= _area.OrdersWithFree(t);
        }

        return 63 - BitOperations.LeadingZeroCount(orders);
    }

    /// <summary>Whether a free block of at least <paramref name="order"/> exists.</summary>
    public bool HasFreeBlock(int order) => LargestFreeOrder() >= order;

    /// <summary>
    /// Finds the lowest free block on <paramref name="type"/>'s lists of the smallest order from
    /// <paramref name="searchOrder"/> up whose first 2^<paramref name="order"/> pages end at or below
    /// <paramref name="limitPfn"/>; returns its pfn and order, or (<see cref="ulong.MaxValue"/>, -1).
    /// Changes nothing.
    /// </summary>
    /// <remarks>O(max order × bitmap levels): one find-first per order that has free blocks of the type.</remarks>
    public (ulong Pfn, int Order) FindFit(int order, int searchOrder, ulong limitPfn, int type = 0)
    {
        Debug.Assert(searchOrder >= order && searchOrder <= _maxOrder);
        for (ulong orders = _area.OrdersWithFree(type) >> searchOrder << searchOrder; orders != 0; orders &= orders - 1)
        {
            int current = BitOperations.TrailingZeroCount(orders);
            ulong pfn = _area.LowestFree(current, type);

            // When the lowest block of this order is above the limit every one is; a larger order
            // may still have a block lower down.
            if (pfn + (1UL << order) <= limitPfn)
            {
                return (pfn, current);
            }
        }

        return (ulong.MaxValue, -1);
    }

    /// <summary>Whether any free block (any type) could serve an order-<paramref name="order"/> request under the limit.</summary>
    public bool AnyFit(int order, int searchOrder, ulong limitPfn)
    {
        for (int t = 0; t < _area.Types; t++)
        {
            if (FindFit(order, searchOrder, limitPfn, t).Pfn != ulong.MaxValue)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Takes a block for an order-<paramref name="order"/> request of <paramref name="type"/>: from its
    /// own type's lists first, then — when grouping by mobility — by the kernel's fallback rules
    /// (<see cref="MobilityRules"/>); splits it down and returns its pfn, or <see cref="ulong.MaxValue"/>.
    /// With <paramref name="flags"/>, MIGRATE_HIGHATOMIC blocks come first (<see cref="AllocFlags.HighAtomic"/>)
    /// or last (<see cref="AllocFlags.NonBlock"/>), as rmqueue_buddy takes them (Linux 6.18).
    /// </summary>
    public ulong Take(int order, int searchOrder, ulong limitPfn, MigrateType type = MigrateType.Unmovable, AllocFlags flags = AllocFlags.None)
    {
        int t = Grouped ? (int)type : 0;
        bool reserve = _area.Types > (int)MigrateType.HighAtomic;
        (ulong pfn, int current) = reserve && (flags & AllocFlags.HighAtomic) != 0
            ? FindFit(order, searchOrder, limitPfn, (int)MigrateType.HighAtomic)
            : (ulong.MaxValue, -1);
        if (pfn == ulong.MaxValue)
        {
            (pfn, current) = FindFit(order, searchOrder, limitPfn, t);
        }

        if (pfn == ulong.MaxValue && Grouped)
        {
            (pfn, current) = MobilityRules.Fallback(this, order, searchOrder, limitPfn, type, flags);
        }

        if (pfn == ulong.MaxValue && reserve && (flags & (AllocFlags.NonBlock | AllocFlags.HighAtomic)) == AllocFlags.NonBlock)
        {
            (pfn, current) = FindFit(order, searchOrder, limitPfn, (int)MigrateType.HighAtomic);
        }

        if (pfn == ulong.MaxValue)
        {
            return pfn;
        }

        _area.RemoveFree(current, pfn);
        Expand(pfn, order, current);
        _area.MarkUnit(order, pfn);
        FreePages -= 1UL << order;
        return pfn;
    }

    /// <summary>
    /// Takes the specific order-<paramref name="order"/> block at <paramref name="pfn"/>, which must lie
    /// inside a free block, splitting that block around it (the other pieces stay free).
    /// </summary>
    public void TakeSpecific(ulong pfn, int order)
    {
        (ulong start, int current, bool free) = FindUnit(pfn);
        Debug.Assert(free && current >= order && (pfn & ((1UL << order) - 1)) == 0);
        _area.RemoveFree(current, start);
        while (current > order)
        {
            current--;
            ulong half = 1UL << current;
            if (pfn < start + half)
            {
                _area.AddFree(current, start + half);
            }
            else
            {
                _area.AddFree(current, start);
                start += half;
            }
        }

        _area.MarkUnit(order, pfn);
        FreePages -= 1UL << order;
    }

    /// <summary>Gives an allocated unit back and merges it with its buddies as far as they are free.</summary>
    public void Release(ulong pfn, int order)
    {
        Debug.Assert(pfn >= StartPfn && pfn + (1UL << order) <= EndPfn);
        _area.ClearUnit(order, pfn);
        FreePages += 1UL << order;
        while (order < _maxOrder)
        {
            ulong buddy = PageMath.BuddyOf(pfn, order);
            if (buddy < StartPfn || buddy + (1UL << order) > EndPfn || (order >= _mergeCheckOrder && !MayMerge(pfn, buddy, order)) || !_area.TryRemoveFree(order, buddy))
            {
                break;
            }

            if (Grouped && order >= _area.PageblockOrder && _area.TypeOf(buddy) != _area.TypeOf(pfn))
            {
                // Match the buddy's pageblocks to the freed block's type, so that one free block
                // never spans pageblocks of different types (__free_one_page, Linux 6.18).
                SetPageblockTypes(buddy, order, _area.TypeOf(pfn));
            }

            pfn &= ~(1UL << order);
            order++;
        }

        _area.AddFree(order, pfn);
    }

    /// <summary>
    /// Whether the order-<paramref name="order"/> blocks at <paramref name="pfn"/> and its buddy may
    /// merge: across pageblocks, a MIGRATE_HIGHATOMIC (or isolated) pageblock merges only with its
    /// own type (__free_one_page's migratetype_is_mergeable check, Linux 6.18).
    /// </summary>
    public bool MayMerge(ulong pfn, ulong buddy, int order)
    {
        if (!Grouped || order < _area.PageblockOrder)
        {
            return true;
        }

        int mine = _area.TypeOf(pfn), theirs = _area.TypeOf(buddy);
        return mine == theirs || (MobilityRules.IsMergeable(mine) && MobilityRules.IsMergeable(theirs));
    }

    /// <summary>
    /// Turns the allocated order-<paramref name="order"/> unit at <paramref name="pfn"/> into allocated
    /// units covering its first <paramref name="keepPages"/> pages and frees the rest (alloc_pages_exact).
    /// </summary>
    public void TrimTail(ulong pfn, int order, ulong keepPages)
    {
        Debug.Assert(keepPages > 0 && keepPages <= 1UL << order);
        if (keepPages == 1UL << order)
        {
            return;
        }

        _area.ClearUnit(order, pfn);
        ulong start = pfn;
        while (true)
        {
            // The block [start, start + 2^order) keeps its first keepPages pages (fewer than all): divide it.
            order--;
            ulong half = 1UL << order;
            if (keepPages >= half)
            {
                // The left half stays allocated whole; continue in the right half.
                _area.MarkUnit(order, start);
                start += half;
                keepPages -= half;
                if (keepPages == 0)
                {
                    _area.AddFree(order, start);
                    FreePages += half;
                    return;
                }
            }
            else
            {
                // The right half is free (its buddy stays allocated, so it cannot merge).
                _area.AddFree(order, start + half);
                FreePages += half;
            }
        }
    }

    /// <summary>Divides the allocated order-<paramref name="order"/> unit at <paramref name="start"/> into two allocated halves.</summary>
    public void SplitAllocated(ulong start, int order)
    {
        Debug.Assert(order > 0 && FindUnit(start) == (start, order, false));
        _area.ClearUnit(order, start);
        _area.MarkUnit(order - 1, start);
        _area.MarkUnit(order - 1, start + (1UL << (order - 1)));
    }

    /// <summary>Finds the unit that holds <paramref name="pfn"/>: its start, order and whether it is free.</summary>
    /// <remarks>Probes the blocks that hold the page from the max order down, for a free bit or a unit bit: O(max order).</remarks>
    public (ulong Start, int Order, bool Free) FindUnit(ulong pfn)
    {
        Debug.Assert(pfn >= StartPfn && pfn < EndPfn);
        for (int order = _maxOrder; order > 0; order--)
        {
            // A block that crosses the zone's edge is always divided.
            ulong start = pfn & ~((1UL << order) - 1);
            if (start >= StartPfn && start + (1UL << order) <= EndPfn)
            {
                if (_area.IsFree(order, start))
                {
                    return (start, order, true);
                }

                if (_area.IsUnit(order, start))
                {
                    return (start, order, false);
                }
            }
        }

        return (pfn, 0, _area.IsFree(0, pfn)); // a page cannot be divided: free or a unit of its own
    }

    /// <summary>Free blocks of every order and type, by order, then type, then pfn.</summary>
    public IEnumerable<(ulong Pfn, int Order)> EnumerateFreeBlocks()
    {
        for (int order = 0; order <= _maxOrder; order++)
        {
            for (int t = 0; t < _area.Types; t++)
            {
                foreach (ulong pfn in _area.EnumerateFree(order, t))
                {
                    yield return (pfn, order);
                }
            }
        }
    }

    /// <summary>Sets the type of every pageblock of the block at <paramref name="pfn"/> (which must not be on a free list).</summary>
    public void SetPageblockTypes(ulong pfn, int order, int type)
    {
        ulong step = 1UL << _area.PageblockOrder;
        ulong end = pfn + (1UL << Math.Max(order, _area.PageblockOrder));
        for (ulong p = pfn & ~(step - 1); p < end; p += step)
        {
            if (p >= StartPfn && p < EndPfn)
            {
                _area.SetPageblockType(p, type);
            }
        }
    }

    /// <summary>Moves every free block inside the pageblock at <paramref name="pageblockPfn"/> to <paramref name="type"/>'s lists.</summary>
    public void MovePageblock(ulong pageblockPfn, int type)
    {
        ulong size = 1UL << _area.PageblockOrder;
        ulong start = Math.Max(pageblockPfn, StartPfn), end = Math.Min(pageblockPfn + size, EndPfn);
        var free = new List<(ulong, int)>(); // filled before anything changes: an allocation may fail
        for (ulong p = start; p < end;)
        {
            (ulong unit, int order, bool isFree) = FindUnit(p);
            if (isFree)
            {
                free.Add((unit, order));
            }

            p = unit + (1UL << order);
        }

        foreach ((ulong unit, int order) in free)
        {
            _area.RemoveFree(order, unit);
        }

        _area.SetPageblockType(pageblockPfn, type);
        foreach ((ulong unit, int order) in free)
        {
            _area.AddFree(order, unit);
        }
    }

    // Splits the order-`from` block at pfn down to `order`, freeing the upper half at each level
    // (the kernel's expand()). The lower half continues down; the last one is the allocation.
    private void Expand(ulong pfn, int order, int from)
    {
        for (int current = from - 1; current >= order; current--)
        {
            _area.AddFree(current, pfn + (1UL << current));
        }
    }

    // Frees every unreserved page: runs of max-order blocks that are wholly inside the zone and
    // free of reserved pages are recorded at once (O(bitmap height) each, so an address space of
    // 2^40 max-order blocks costs no more than one of 256); runs of wholly reserved ones stay
    // reserved units; the blocks at the edges and around reserved ranges are divided (Populate).
    private void PopulateRoots(PfnRanges reserved)
    {
        ulong size = 1UL << _maxOrder;
        for (ulong root = StartPfn & ~(size - 1); root < EndPfn;)
        {
            ulong end = root + size;
            bool inside = root >= StartPfn && end <= EndPfn;
            (ulong reservedStart, ulong reservedEnd) = reserved.NextRange(root);
            if (inside && reservedStart >= end)
            {
                ulong runEnd = Math.Min(EndPfn, reservedStart) & ~(size - 1);
                ulong count = (runEnd - root) >> _maxOrder;
                _area.AddFreeRun(_maxOrder, root, count);
                FreePages += count << _maxOrder;
                root = runEnd;
            }
            else if (inside && reservedStart <= root && reservedEnd >= end)
            {
                ulong runEnd = Math.Min(EndPfn, reservedEnd) & ~(size - 1); // reserved units
                _area.MarkUnitRun(_maxOrder, root, (runEnd - root) >> _maxOrder);
                root = runEnd;
            }
            else
            {
                Populate(root, _maxOrder, reserved);
                root = end;
            }
        }
    }

    private void Populate(ulong start, int order, PfnRanges reserved)
    {
        ulong end = start + (1UL << order);
        if (end <= StartPfn || start >= EndPfn)
        {
            return;
        }

        bool inside = start >= StartPfn && end <= EndPfn;
        if (inside && !reserved.Intersects(start, end))
        {
            _area.AddFree(order, start);
            FreePages += 1UL << order;
            return;
        }

        if (inside && reserved.Covers(start, end))
        {
            _area.MarkUnit(order, start); // a reserved unit
            return;
        }

        Debug.Assert(order > 0);

        Populate(start, order - 1, reserved);
        Populate(start + (1UL << (order - 1)), order - 1, reserved);
    }
}
