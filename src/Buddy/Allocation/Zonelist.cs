// Zonelist: an allocator's zones in layout order, and the one rule that places a request among
// them — the highest zone it may use is its named zone (or the top one), lowered to the highest
// zone with room for the block below the address limit (a 24-bit mask is a DMA-zone request, as
// dma-direct chooses GFP_DMA for it) — plus the walk down from that zone with the watermark check
// (get_page_from_freelist and __zone_watermark_ok, Linux 6.18), the zones' watermarks and lowmem
// reserves (init_per_zone_wmark_min, setup_per_zone_lowmem_reserve) and the page-to-zone lookup.
//
// Zone numbers. The allocator numbers its zones three ways, each for its own use:
// - the kind (ZoneKind: Dma 0, Dma32 1, Normal 2): what a request names (Request.Zone) and what
//   lowmem_reserve_ratio is indexed by;
// - the layout index (Zone.Index): the zone's entry in MachineLayout.Zones, populated or not; the
//   zonelist walk, Placement's result (`highest`) and the lowmem reserves (Zone.LowmemReserve,
//   ZoneStats.Protection) use it;
// - the populated index: the zone's place in Zones (PageAllocator's _zones), lowest first, no gaps;
//   GetZoneStats lists zones in this order and the thread caches number their zones by it (the
//   "cache zone"; PageAllocator's _cacheZoneByLayoutIndex maps a layout index to it).
// Where "no zone" must be stored and zero has to mean it — in a value whose default must name no
// zone, or in a table indexed by a number that may be -1 — the number is stored plus one and 0
// means none. The places, all on the hot path: Request.ZonePlusOne (kind + 1; default(Request)
// names no zone); Block.ZoneHint's field (cache zone + 1; a block made without caches records
// none, and ZoneHint decodes it back to -1); and two tables indexed that way, _highestByZonePlusOne
// here (slot 0: no zone named) and _cacheZoneByLayoutIndex (slot 0: layout index -1, no zone).
// Placement takes Request.ZonePlusOne as it is; no other field carries a +1.
//
// Invariants:
// - Zones holds the populated zones, lowest first; this[i] is layout entry i's zone, or null when
//   that entry has no pages; zones ascend by address and kind with the layout index.
// - _highestByZonePlusOne[k + 1] is the highest layout index whose zone is of kind k or below (-1
//   if none), and _highestByZonePlusOne[0] the layout index of the highest populated zone: Placement
//   reads it without a loop or a branch when the request has no limit.
// The list is immutable after construction (watermarks are set once, by the allocator's
// constructor): read without the allocator's lock (the cached paths do).
using System.Globalization;
using System.Text;
using Buddy.Kernel;
using static System.FormattableString;

namespace Buddy;

/// <summary>Which watermark a pass of the zone walk checks.</summary>
internal enum WatermarkKind
{
    /// <summary>No check (ALLOC_NO_WATERMARKS, or watermarks off).</summary>
    None,

    /// <summary>The low mark: the fast path, the same for every request.</summary>
    Low,

    /// <summary>The min mark, lowered for high-priority and atomic requests: the slow path.</summary>
    Min,
}

/// <summary>The zones of one allocator and where a request may be placed among them.</summary>
internal sealed class Zonelist
{
    private readonly Zone?[] _byLayoutIndex;
    private readonly int[] _highestByZonePlusOne;
    private readonly int _pageShift;

    /// <summary>
    /// Builds the zones of <paramref name="layout"/> that have memory, their bitmaps' nodes from
    /// <paramref name="chunks"/>; <paramref name="isMovableUnit"/> tells a zone's pageblock claims
    /// which allocated units are movable blocks.
    /// </summary>
    public static Zonelist Build(MachineLayout layout, PfnRanges reserved, ChunkReserve chunks, Func<ulong, bool> isMovableUnit, MobilityCounters counters)
    {
        int shift = layout.PageShift;
        ulong first = layout.BaseAddress >> shift, end = layout.EndAddress >> shift, zoneStart = 0;
        int pageblockOrder = layout.Mobility.GroupByMobility ? layout.Mobility.PageblockOrder : -1;
        int types = layout.Mobility.HighAtomicReserve ? MobilityRules.TypesWithHighAtomic : MobilityRules.Types;
        var byLayoutIndex = new Zone?[layout.Zones.Count];
        for (int i = 0; i < layout.Zones.Count; i++)
        {
            ZoneLimit limit = layout.Zones[i];
            ulong limitPfn = limit.Limit == ulong.MaxValue ? ulong.MaxValue : limit.Limit >> shift;
            ulong start = Math.Max(zoneStart, first), stop = Math.Min(limitPfn, end);
            if (stop > start)
            {
                byLayoutIndex[i] = new Zone(limit.Kind, i, start, stop, layout.MaxOrder, reserved, pageblockOrder, chunks, types)
                {
                    IsMovableUnit = isMovableUnit,
                    Counters = counters,
                    WatermarkBoostFactor = layout.Mobility.WatermarkBoostFactor,
                };
            }

            zoneStart = limitPfn;
        }

        return new Zonelist(byLayoutIndex, shift);
    }

    /// <summary>Creates the list from each layout entry's zone (null for an entry without pages); at least one is populated.</summary>
    public Zonelist(Zone?[] byLayoutIndex, int pageShift)
    {
        _byLayoutIndex = byLayoutIndex;
        _pageShift = pageShift;
        Zones = [.. byLayoutIndex.OfType<Zone>()];
        _highestByZonePlusOne = [Zones[^1].Index, .. Enum.GetValues<ZoneKind>().Select(kind => Array.FindLastIndex(byLayoutIndex, z => z is not null && z.Kind <= kind))];
    }

    /// <summary>The populated zones, lowest first.</summary>
    public Zone[] Zones { get; }

    /// <summary>Pages in free blocks, over every zone.</summary>
    public ulong FreePages => Sum(z => z.FreePages);

    /// <summary>Managed pages that are not free (in allocated units, thread caches' included), over every zone.</summary>
    public ulong PagesInUnits => Sum(z => z.ManagedPages - z.FreePages);

    /// <summary>Bytes of the zones' bitmaps and pageblock types.</summary>
    public long MetadataBytes => (long)Sum(z => (ulong)z.MetadataBytes);

    /// <summary>The number of layout entries (populated or not).</summary>
    public int Count => _byLayoutIndex.Length;

    /// <summary>Layout entry <paramref name="layoutIndex"/>'s zone, or null when it has no pages.</summary>
    public Zone? this[int layoutIndex] => _byLayoutIndex[layoutIndex];

    /// <summary>The first page frame an inclusive address limit excludes (<see cref="ulong.MaxValue"/> without a limit).</summary>
    public ulong LimitPfn(bool hasLimit, ulong maxAddress)
    {
        ulong pageMask = (1UL << _pageShift) - 1;
        return !hasLimit || maxAddress == ulong.MaxValue ? ulong.MaxValue : (maxAddress >> _pageShift) + ((maxAddress & pageMask) == pageMask ? 1UL : 0UL);
    }

    /// <summary>
    /// The layout index of the highest zone an order-<paramref name="order"/> request may use: its
    /// zone (<paramref name="zonePlusOne"/> is <see cref="Request.ZonePlusOne"/>: kind + 1, 0 for none) or the top,
    /// lowered to the highest zone with room for the block below <paramref name="limitPfn"/>; -1 when
    /// none has. <paramref name="cutPfn"/> is the limit when it cuts through that zone (only blocks
    /// below it serve), else <see cref="ulong.MaxValue"/>.
    /// </summary>
    public int Placement(int zonePlusOne, ulong limitPfn, int order, out ulong cutPfn)
    {
        cutPfn = ulong.MaxValue;
        int highest = _highestByZonePlusOne[zonePlusOne];
        if (limitPfn == ulong.MaxValue)
        {
            return highest;
        }

        for (int i = highest; i >= 0; i--)
        {
            if (_byLayoutIndex[i] is { } zone && zone.StartPfn + (1UL << order) <= limitPfn)
            {
                cutPfn = zone.EndPfn <= limitPfn ? ulong.MaxValue : limitPfn;
                return i;
            }
        }

        return -1;
    }

    /// <summary>The zone holding <paramref name="pfn"/>, or null.</summary>
    public Zone? ZoneOf(ulong pfn)
    {
        foreach (Zone z in Zones)
        {
            if (pfn >= z.StartPfn && pfn < z.EndPfn)
            {
                return z;
            }
        }

        return null;
    }

    /// <summary>
    /// One pass of the zone walk: from <paramref name="highest"/> down, the first zone that reaches
    /// below the limit, passes the watermark and has a fitting block gives it (split down to the
    /// order); (<see cref="ulong.MaxValue"/>, null) when none does.
    /// </summary>
    public (ulong Pfn, Zone? Zone) Take(int order, int searchOrder, ulong limitPfn, int highest, WatermarkKind mark, AllocationPriority priority, MigrateType type, AllocFlags flags = AllocFlags.None)
    {
        for (int i = highest; i >= 0; i--)
        {
            Zone? zone = _byLayoutIndex[i];
            if (zone is null || zone.StartPfn + (1UL << order) > limitPfn)
            {
                continue;
            }

            if (mark != WatermarkKind.None && !WatermarkOk(zone, order, mark, highest, priority, flags))
            {
                continue;
            }

            ulong pfn = zone.Take(order, searchOrder, limitPfn, type, flags);
            if (pfn != ulong.MaxValue)
            {
                return (pfn, zone);
            }
        }

        return (ulong.MaxValue, null);
    }

    /// <summary>
    /// __zone_watermark_ok without its per-order scan (<see cref="Zone.Take"/> does that): the zone's
    /// free pages, less the request's pages beyond the first, must stay above the mark (raised by the
    /// zone's watermark boost) plus the lowmem reserve against the request's highest zone. As in the
    /// kernel, only the slow path (min) lets high-priority requests into the reserve; the fast path
    /// (low) treats all alike. Free pages in MIGRATE_HIGHATOMIC pageblocks count only for requests
    /// that may use reserves (__zone_watermark_unusable_free), and an order-0 high-priority request
    /// checks min without the boost (zone_watermark_fast, Linux 6.18).
    /// </summary>
    public static bool WatermarkOk(Zone zone, int order, WatermarkKind mark, int highest, AllocationPriority priority, AllocFlags flags = AllocFlags.None)
    {
        bool reserves = (mark == WatermarkKind.Min && priority >= AllocationPriority.High) || (flags & AllocFlags.HighAtomic) != 0;
        long free = (long)zone.FreePages - ((1L << order) - 1) - (reserves ? 0 : (long)zone.FreeHighAtomicPages);
        long min = (long)(mark == WatermarkKind.Low ? zone.Watermarks.Low : zone.Watermarks.Min);
        if (order > 0 || mark != WatermarkKind.Min || priority < AllocationPriority.High)
        {
            min += (long)zone.WatermarkBoost;
        }

        if (mark == WatermarkKind.Min && priority >= AllocationPriority.High)
        {
            min -= min / 2;
            if (priority == AllocationPriority.Atomic)
            {
                min -= min / 4;
            }
        }

        return free > min + (long)zone.LowmemReserve[highest];
    }

    /// <summary>
    /// Sets every zone's watermarks and lowmem reserve from the layout's settings, as the kernel's
    /// init_per_zone_wmark_min and setup_per_zone_lowmem_reserve do (see <see cref="KernelWatermarks"/>);
    /// with watermarks off, every mark and reserve is zero.
    /// </summary>
    public void SetWatermarks(MachineLayout layout)
    {
        WatermarkSettings settings = layout.Watermarks;
        foreach (Zone z in Zones)
        {
            z.LowmemReserve = new ulong[layout.Zones.Count];
        }

        if (!settings.Enabled)
        {
            return;
        }

        var input = new WatermarkZone[layout.Zones.Count];
        var ratios = new ulong[layout.Zones.Count];
        for (int i = 0; i < input.Length; i++)
        {
            ZoneKind kind = layout.Zones[i].Kind;
            input[i] = new WatermarkZone(kind.KernelName(), _byLayoutIndex[i]?.ManagedPages ?? 0);
            ratios[i] = settings.LowmemReserveRatio[(int)kind];
        }

        ulong minFree = settings.MinFreeKbytes ?? KernelWatermarks.DefaultMinFreeKbytes(input, layout.PageSize);
        IReadOnlyList<ZoneWatermarks> marks = KernelWatermarks.Compute(input, layout.PageSize, minFree, settings.ScaleFactor, ratios);
        for (int i = 0; i < input.Length; i++)
        {
            if (_byLayoutIndex[i] is { } zone)
            {
                zone.Watermarks = marks[i].Watermarks;
                zone.LowmemReserve = [.. marks[i].Protection];
            }
        }
    }

    /// <summary>
    /// Why the walk from <paramref name="highest"/> found no block, from the zones as they are now:
    /// a block below the limit that only the watermarks kept (<see cref="FailureReason.Watermark"/>),
    /// blocks only above the limit (<see cref="FailureReason.AddressLimit"/>), enough free pages but
    /// no block (<see cref="FailureReason.Fragmented"/>), or too few pages
    /// (<see cref="FailureReason.OutOfMemory"/>); the detail names each zone's free pages and marks.
    /// </summary>
    public AllocationFailure Explain(Request request, int order, int searchOrder, ulong limitPfn, int highest, ulong pages, bool watermarks)
    {
        bool anyBlock = false, blockBelowLimit = false;
        ulong freeBelowLimit = 0;
        var detail = new StringBuilder();
        for (int i = highest; i >= 0; i--)
        {
            Zone? zone = _byLayoutIndex[i];
            if (zone is null || zone.StartPfn + (1UL << order) > limitPfn)
            {
                continue;
            }

            bool has = zone.HasFreeBlock(searchOrder);
            anyBlock |= has;
            freeBelowLimit += zone.FreePages;
            if (detail.Length > 0)
            {
                detail.Append("; ");
            }

            detail.Append(CultureInfo.InvariantCulture, $"{zone.Name}: {zone.FreePages} free pages, largest free order {zone.LargestFreeOrder()}");
            if (watermarks)
            {
                detail.Append(CultureInfo.InvariantCulture, $", min {zone.Watermarks.Min} + reserve {zone.LowmemReserve[highest]}");
            }

            // Would a block fit under the limit if the watermarks allowed it?
            blockBelowLimit |= has && zone.AnyFit(order, searchOrder, limitPfn);
        }

        if (limitPfn != ulong.MaxValue)
        {
            detail.Append(CultureInfo.InvariantCulture, $"; limit 0x{limitPfn << _pageShift:x}");
        }

        FailureReason reason = blockBelowLimit ? FailureReason.Watermark
            : anyBlock ? FailureReason.AddressLimit
            : freeBelowLimit >= pages ? FailureReason.Fragmented
            : FailureReason.OutOfMemory;
        return new AllocationFailure(reason, request, Invariant($"needs order {searchOrder}; ") + detail);
    }

    /// <summary>
    /// Whether every page of [<paramref name="pfn"/>, <paramref name="end"/>) lies in a free block
    /// of order <paramref name="minOrder"/> or more; O(max order) per free block the range spans.
    /// </summary>
    public bool IsFreeInBlocksOf(ulong pfn, ulong end, int minOrder)
    {
        while (pfn < end)
        {
            if (ZoneOf(pfn) is not { } zone)
            {
                return false;
            }

            (ulong start, int order, bool free) = zone.FindUnit(pfn);
            if (!free || order < minOrder)
            {
                return false;
            }

            pfn = start + (1UL << order);
        }

        return true;
    }

    /// <summary>
    /// Throws unless every zone keeps its own invariants and, across zones, the allocated units hold
    /// the managed pages that are not free and the reserved units the layout's reserved pages, of
    /// <paramref name="totalPages"/> in all; returns the starts of the allocated (not reserved) units.
    /// </summary>
    public HashSet<ulong> Validate(PfnRanges reserved, ulong totalPages)
    {
        ulong allocated = 0, reservedInUnits = 0, managed = 0, free = 0;
        var units = new HashSet<ulong>();
        foreach (Zone z in Zones)
        {
            managed += z.ManagedPages;
            free += z.FreePages;
            string? problem = z.Validate(reserved, (start, order, count) =>
            {
                if (reserved.Covers(start, start + (count << order)))
                {
                    reservedInUnits += count << order;
                }
                else
                {
                    allocated += 1UL << order;
                    units.Add(start);
                }
            });
            if (problem is not null)
            {
                throw new InvalidOperationException("Invariant broken: " + problem);
            }
        }

        if (allocated != managed - free)
        {
            throw new InvalidOperationException(Invariant($"Invariant broken: {managed - free} managed pages are not free but allocated units hold {allocated}."));
        }

        if (reservedInUnits != reserved.TotalPages || managed + reservedInUnits != totalPages)
        {
            throw new InvalidOperationException(Invariant($"Invariant broken: reserved units hold {reservedInUnits} pages, the layout reserves {reserved.TotalPages}; managed {managed} of {totalPages}."));
        }

        return units;
    }

    private ulong Sum(Func<Zone, ulong> count)
    {
        ulong total = 0;
        foreach (Zone z in Zones)
        {
            total += count(z);
        }

        return total;
    }
}
