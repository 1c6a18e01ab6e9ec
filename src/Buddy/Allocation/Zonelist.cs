// Zonelist: an allocator's zones in layout order, and the one rule that places a request among
// them — its route: the preferred node (Request.Node, else the lowest) and the highest zone kind
// it may use (its named zone, or Normal — Movable for a movable request, as gfp_zone), lowered to
// the highest kind with room for the block below the address limit (a 24-bit mask is a DMA-zone
// request, as dma-direct chooses GFP_DMA for it) — plus the walk along the route with the
// watermark check (get_page_from_freelist and __zone_watermark_ok, Linux 6.18), the zones'
// watermarks and lowmem reserves (init_per_zone_wmark_min, setup_per_zone_lowmem_reserve) and the
// page-to-zone lookup. The walk is build_zonelists' ZONELIST_FALLBACK order: the preferred node's
// zones from the highest kind down, then each other node's by distance (design.md: "NUMA nodes").
//
// Zone numbers. The allocator numbers its zones four ways, each for its own use:
// - the kind (ZoneKind: Dma 0, Dma32 1, Normal 2, Movable 3): what a request names (Request.Zone)
//   and what lowmem_reserve_ratio, Zone.LowmemReserve and ZoneStats.Protection are indexed by;
// - the layout index (Zone.Index): the zone's entry in MachineLayout.Zones, populated or not; the
//   walks (Walk(route)) list layout indices;
// - the route (Placement's result, `highest` or `route` in callers): node ordinal × KindSlots +
//   highest kind; KindOf(route) indexes the lowmem reserve;
// - the populated index: the zone's place in Zones (PageAllocator's _zones), lowest first, no gaps;
//   GetZoneStats lists zones in this order (by node, then kind) and the thread caches number their
//   zones by it (the "cache zone"; ThreadCacheSet's _zoneByLayoutIndex maps a layout index to it).
// Where "no zone" must be stored and zero has to mean it — in a value whose default must name no
// zone, or in a table indexed by a number that may be -1 — the number is stored plus one and 0
// means none: Request.ZonePlusOne and Request.NodePlusOne (default(Request) names neither);
// Block.ZoneHint's field (cache zone + 1); _zoneByLayoutIndex (slot 0: layout index -1).
//
// Invariants:
// - Zones holds the populated zones, lowest first; this[i] is layout entry i's zone, or null when
//   that entry has no pages; zones ascend by address with the layout index, by node, and by kind
//   within a node.
// - _walks[route] lists populated zones only, every one of kind <= KindOf(route), the route's
//   node's first; _routeByKey[RouteKey(request)] is the route before any address limit, or -1
//   when no populated zone of a kind the request may use exists (or the node is unknown), so
//   Placement reads it without a loop when the request has no limit.
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
    /// <summary>Route numbers per node: one per <see cref="ZoneKind"/> (a route is node ordinal × KindSlots + kind).</summary>
    public const int KindSlots = 4;

    // Route keys per node + 1: mobility (movable or not) × zone + 1 (0..4).
    private const int KeysPerNode = 10;

    private readonly Zone?[] _byLayoutIndex;
    private readonly int _pageShift;
    private readonly int[] _routeByKey;  // at RouteKey(request): the request's route before any address limit, or -1
    private readonly int[][] _walks;     // per route: the populated zones' layout indices in zonelist order
    private readonly ulong[] _walkEnd;   // per route: the highest EndPfn of its walk (0 when empty)
    private readonly bool[] _preferredNormal; // per route: alloc_flags_nofragment's test of its preferred zone
    private readonly int[] _nodes;       // the layout's node numbers, ascending (ordinal → node)

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
                    Node = limit.Node,
                    IsMovableUnit = isMovableUnit,
                    Counters = counters,
                    WatermarkBoostFactor = layout.Mobility.WatermarkBoostFactor,
                };
            }

            zoneStart = limitPfn;
        }

        return new Zonelist(byLayoutIndex, shift, layout);
    }

    /// <summary>Creates the list from each layout entry's zone (null for an entry without pages; at least one is populated) and the routes of <paramref name="layout"/>'s nodes.</summary>
    public Zonelist(Zone?[] byLayoutIndex, int pageShift, MachineLayout layout)
    {
        _byLayoutIndex = byLayoutIndex;
        _pageShift = pageShift;
        Zones = [.. byLayoutIndex.OfType<Zone>()];
        _nodes = [.. layout.Zones.Select(z => z.Node).Distinct().Order()];
        KindCount = (int)layout.Zones.Max(z => z.Kind) + 1;
        _walks = new int[_nodes.Length * KindSlots][];
        _walkEnd = new ulong[_walks.Length];
        _preferredNormal = new bool[_walks.Length];
        for (int p = 0; p < _nodes.Length; p++)
        {
            int[] order = NodeOrder(layout, _nodes, p);
            for (int kind = 0; kind < KindSlots; kind++)
            {
                int route = (p * KindSlots) + kind;
                _walks[route] = [.. order.SelectMany(q => Enumerable.Range(0, byLayoutIndex.Length).Reverse()
                    .Where(i => byLayoutIndex[i] is { } z && z.Node == _nodes[q] && (int)z.Kind <= kind))];
                _walkEnd[route] = _walks[route].Select(i => byLayoutIndex[i]!.EndPfn).DefaultIfEmpty(0UL).Max();
                _preferredNormal[route] = _walks[route] is [int top, ..] && byLayoutIndex[top]!.Kind == ZoneKind.Normal
                    && (_nodes.Length == 1 || Zones.Any(z => z.Node == byLayoutIndex[top]!.Node && z.Kind == ZoneKind.Dma32));
            }
        }

        _routeByKey = new int[(_nodes[^1] + 2) * KeysPerNode];
        for (int nodePlusOne = 0; nodePlusOne <= _nodes[^1] + 1; nodePlusOne++)
        {
            int ordinal = nodePlusOne == 0 ? 0 : Array.IndexOf(_nodes, nodePlusOne - 1);
            for (int key = 0; key < KeysPerNode; key++)
            {
                bool movable = key >= KeysPerNode / 2;
                int zonePlusOne = key % (KeysPerNode / 2);
                ZoneKind requested = zonePlusOne == 0 ? (movable ? ZoneKind.Movable : ZoneKind.Normal) : (ZoneKind)(zonePlusOne - 1);
                if (requested == ZoneKind.Movable && !movable)
                {
                    requested = ZoneKind.Normal; // gfp_zone: only __GFP_MOVABLE reaches ZONE_MOVABLE
                }

                int kind = Zones.Where(z => z.Kind <= requested).Select(z => (int)z.Kind).DefaultIfEmpty(-1).Max();
                _routeByKey[(nodePlusOne * KeysPerNode) + key] = ordinal < 0 || kind < 0 ? -1 : (ordinal * KindSlots) + kind;
            }
        }
    }

    // build_zonelists' node order for node ordinal p (find_next_best_node, Linux 6.18): p itself,
    // then the others by distance from p, a node below p counting one further ("prefer the next
    // node"), ties by node number. Node load balancing (node_load) and the CPU-less node preference
    // are left out.
    private static int[] NodeOrder(MachineLayout layout, int[] nodes, int p) =>
        [.. Enumerable.Range(0, nodes.Length)
            .OrderBy(q => q == p ? int.MinValue : layout.Distance(nodes[p], nodes[q]) + (nodes[q] < nodes[p] ? 1 : 0))
            .ThenBy(q => nodes[q])];

    /// <summary>The key of <paramref name="request"/>'s route table entry: its node + 1, mobility and zone + 1.</summary>
    public static int RouteKey(in Request request) =>
        (request.NodePlusOne * KeysPerNode) + request.ZonePlusOne + (request.Mobility == MigrateType.Movable ? KeysPerNode / 2 : 0);

    /// <summary>The highest zone kind of a route: the index into <see cref="Zone.LowmemReserve"/>.</summary>
    public static int KindOf(int route) => route & (KindSlots - 1);

    /// <summary>The zones a route walks, as layout indices in zonelist order (every one populated).</summary>
    public ReadOnlySpan<int> Walk(int route) => _walks[route];

    /// <summary>The layout index of a route's first zone (its preferred zone).</summary>
    public int First(int route) => _walks[route][0];

    /// <summary>Whether a route's preferred zone is Normal (and, on several nodes, its node has a populated DMA32): alloc_flags_nofragment's test.</summary>
    public bool PreferredIsNormal(int route) => _preferredNormal[route];

    /// <summary>Whether the layout has NUMA node <paramref name="nodePlusOne"/> - 1 (0: none named, always true).</summary>
    public bool HasNode(int nodePlusOne) => nodePlusOne == 0 || Array.IndexOf(_nodes, nodePlusOne - 1) >= 0;

    /// <summary>The layout's node numbers, ascending.</summary>
    public IReadOnlyList<int> Nodes => _nodes;

    /// <summary>One more than the layout's highest zone kind: the length of every zone's lowmem reserve.</summary>
    public int KindCount { get; }

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
    /// The route of an order-<paramref name="order"/> request (its preferred node and highest zone
    /// kind; <see cref="Walk"/> gives its zones): <paramref name="key"/> is <see cref="RouteKey"/>'s
    /// — the request's node, zone and mobility (only a movable request reaches a Movable zone) —
    /// with the kind lowered to the highest of a zone in the walk with room for the block below
    /// <paramref name="limitPfn"/>; -1 when none has, or the node is unknown. <paramref name="cutPfn"/>
    /// is the limit when it cuts through or lies below some zone of the walk (only blocks below it
    /// serve), else <see cref="ulong.MaxValue"/>.
    /// </summary>
    public int Placement(int key, ulong limitPfn, int order, out ulong cutPfn)
    {
        cutPfn = ulong.MaxValue;
        int route = (uint)key < (uint)_routeByKey.Length ? _routeByKey[key] : -1;
        if (limitPfn == ulong.MaxValue || route < 0)
        {
            return route;
        }

        int kind = -1;
        foreach (int i in _walks[route])
        {
            Zone zone = _byLayoutIndex[i]!;
            if (zone.StartPfn + (1UL << order) <= limitPfn)
            {
                kind = Math.Max(kind, (int)zone.Kind);
            }
        }

        if (kind < 0)
        {
            return -1;
        }

        route += kind - KindOf(route);
        cutPfn = _walkEnd[route] <= limitPfn ? ulong.MaxValue : limitPfn;
        return route;
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
    /// One pass of the zone walk: along <paramref name="route"/>'s zones, the first zone that
    /// reaches below the limit, passes the watermark and has a fitting block gives it (split down to
    /// the order); (<see cref="ulong.MaxValue"/>, null) when none does. With
    /// <see cref="AllocFlags.LocalNode"/> the walk ends at the first zone of another node.
    /// </summary>
    public (ulong Pfn, Zone? Zone) Take(int order, int searchOrder, ulong limitPfn, int route, WatermarkKind mark, AllocationPriority priority, MigrateType type, AllocFlags flags = AllocFlags.None)
    {
        int kind = KindOf(route);
        ReadOnlySpan<int> walk = _walks[route];
        int localNode = (flags & AllocFlags.LocalNode) != 0 ? _byLayoutIndex[walk[0]]!.Node : -1;
        foreach (int i in walk)
        {
            Zone zone = _byLayoutIndex[i]!;
            if (localNode >= 0 && zone.Node != localNode)
            {
                break;
            }

            if (zone.StartPfn + (1UL << order) > limitPfn)
            {
                continue;
            }

            if (mark != WatermarkKind.None && !WatermarkOk(zone, order, mark, kind, priority, flags))
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
    /// zone's watermark boost) plus the lowmem reserve against the request's highest zone kind
    /// <paramref name="highestKind"/> (<see cref="KindOf"/> of its route). As in the
    /// kernel, only the slow path (min) lets high-priority requests into the reserve; the fast path
    /// (low) treats all alike. Free pages in MIGRATE_HIGHATOMIC pageblocks count only for requests
    /// that may use reserves (__zone_watermark_unusable_free), and an order-0 high-priority request
    /// checks min without the boost (zone_watermark_fast, Linux 6.18).
    /// </summary>
    public static bool WatermarkOk(Zone zone, int order, WatermarkKind mark, int highestKind, AllocationPriority priority, AllocFlags flags = AllocFlags.None)
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

        return free > min + (long)zone.LowmemReserve[highestKind];
    }

    /// <summary>
    /// Sets every zone's watermarks and lowmem reserve from the layout's settings, as the kernel's
    /// init_per_zone_wmark_min does (see <see cref="KernelWatermarks.ComputeNodes"/>): min_free_kbytes
    /// spread over every node's low zones by managed pages, the lowmem reserve within each node. A
    /// zone whose layout entry gives its watermarks and protection keeps those. With watermarks
    /// off, every mark and reserve is zero.
    /// </summary>
    public void SetWatermarks(MachineLayout layout)
    {
        WatermarkSettings settings = layout.Watermarks;
        foreach (Zone z in Zones)
        {
            z.LowmemReserve = new ulong[KindCount];
        }

        if (!settings.Enabled)
        {
            return;
        }

        // Each node as the kernel's node_zones: one entry per kind, empty where the node has none.
        var nodes = new WatermarkZone[_nodes.Length][];
        for (int p = 0; p < _nodes.Length; p++)
        {
            nodes[p] = [.. Enumerable.Range(0, KindCount).Select(k => new WatermarkZone(((ZoneKind)k).KernelName(), 0, k == (int)ZoneKind.Movable))];
        }

        foreach (Zone z in Zones)
        {
            int p = Array.IndexOf(_nodes, z.Node);
            nodes[p][(int)z.Kind] = nodes[p][(int)z.Kind] with { ManagedPages = z.ManagedPages };
        }

        ulong minFree = settings.MinFreeKbytes ?? KernelWatermarks.DefaultMinFreeKbytes(nodes.SelectMany(n => n), layout.PageSize);
        IReadOnlyList<IReadOnlyList<ZoneWatermarks>> marks = KernelWatermarks.ComputeNodes(nodes, layout.PageSize, minFree, settings.ScaleFactor, settings.LowmemReserveRatio);
        foreach (Zone z in Zones)
        {
            ZoneLimit limit = layout.Zones[z.Index];
            ZoneWatermarks computed = marks[Array.IndexOf(_nodes, z.Node)][(int)z.Kind];
            z.Watermarks = limit.Watermarks ?? computed.Watermarks;
            z.LowmemReserve = limit.Protection is { } given ? [.. given] : [.. computed.Protection];
        }
    }

    /// <summary>
    /// Why the walk along <paramref name="route"/> found no block, from the zones as they are now:
    /// a block below the limit that only the watermarks kept (<see cref="FailureReason.Watermark"/>),
    /// blocks only above the limit (<see cref="FailureReason.AddressLimit"/>), enough free pages but
    /// no block (<see cref="FailureReason.Fragmented"/>), or too few pages
    /// (<see cref="FailureReason.OutOfMemory"/>); the detail names each zone's free pages and marks.
    /// </summary>
    public AllocationFailure Explain(Request request, int order, int searchOrder, ulong limitPfn, int route, ulong pages, bool watermarks)
    {
        bool anyBlock = false, blockBelowLimit = false;
        ulong freeBelowLimit = 0;
        var detail = new StringBuilder();
        foreach (int i in _walks[route])
        {
            Zone zone = _byLayoutIndex[i]!;
            if (zone.StartPfn + (1UL << order) > limitPfn)
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

            if (_nodes.Length > 1)
            {
                detail.Append(CultureInfo.InvariantCulture, $"node {zone.Node} ");
            }

            detail.Append(CultureInfo.InvariantCulture, $"{zone.Name}: {zone.FreePages} free pages, largest free order {zone.LargestFreeOrder()}");
            if (watermarks)
            {
                detail.Append(CultureInfo.InvariantCulture, $", min {zone.Watermarks.Min} + reserve {zone.LowmemReserve[KindOf(route)]}");
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
