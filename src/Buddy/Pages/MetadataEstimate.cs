// MetadataEstimate: what a layout's allocator metadata costs in managed memory — the part the
// PageAllocator constructor allocates at once, and the most it can grow to when every page is in
// use in the worst pattern — and the budget a layout must fit to be built.
//
// Invariants:
// - The estimate mirrors the constructors of Zone, FreeArea, FreeBitmap, PageblockTypes and
//   AllocationHeads. Up front: per zone and order an empty bitmap object per migrate type and a
//   unit bitmap (orders above 0), the runs of free and reserved max-order blocks (two tree paths each) and the
//   units at the zone's and reserved ranges' edges (a path per bit); the pageblock-type
//   directory; the allocation heads' top table. Most: every bitmap node, every head chunk and
//   directory node, every pageblock-type page. It is an upper bound up to small per-object headers.
// - Up front is O(zones × max order × tree height + reserved ranges), not O(pages): address
//   spaces of any size Validate accepts are built in microseconds.
// - The arithmetic is done in UInt128 and saturates at ulong.MaxValue: no layout Validate lets
//   through (at most 2^58 pages) can overflow it.

namespace Buddy;

/// <summary>Bytes of managed memory a <see cref="MachineLayout"/>'s allocator metadata needs.</summary>
/// <param name="UpFrontBytes">Allocated by the <see cref="PageAllocator"/> constructor: a few KiB per zone, whatever the size.</param>
/// <param name="MostBytes">The most it can reach: every bitmap node and every allocation-head chunk in use.</param>
/// <param name="LargestArrayLength">The element count (length) of the largest single array the constructor allocates.</param>
public readonly record struct MetadataEstimate(ulong UpFrontBytes, ulong MostBytes, ulong LargestArrayLength)
{
    /// <summary>The fixed part of <see cref="BudgetBytes"/>: 4 GiB of metadata allocated up front.</summary>
    public const ulong FixedBudgetBytes = 4 * Units.GiB;

    private const int ArrayHeader = 24;
    private const int LeafBytes = 544;        // BitmapLeaf: 4,096 bits and a mask
    private const int InnerBytes = 552;       // BitmapInner: 64 children and two masks
    private const int BitmapObjectBytes = 96; // an empty FreeBitmap
    private const int PagesPerHeadChunk = 4096;
    private const int HeadTopShift = 12;      // AllocationHeads: at most 4,096 top entries
    private const int HeadNodeShift = 9;      // 512-entry directory nodes
    private const int PageblocksPerPage = 4096; // PageblockTypes

    /// <summary>
    /// The most metadata a layout may need up front: the smaller of <see cref="FixedBudgetBytes"/>
    /// and half the memory this process can use (<see cref="GC.GetGCMemoryInfo()"/>'s
    /// TotalAvailableMemoryBytes: physical memory, or the container's or GC heap's limit).
    /// The metadata grows with use, so in practice every layout Validate accepts fits.
    /// </summary>
    public static ulong BudgetBytes => Math.Min(FixedBudgetBytes, (ulong)Math.Max(0, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes) / 2);

    /// <summary>Estimates the metadata of <paramref name="layout"/>, whose settings other than the size limit are valid.</summary>
    internal static MetadataEstimate Of(MachineLayout layout)
    {
        int shift = layout.PageShift;
        ulong firstPfn = layout.BaseAddress >> shift;
        ulong endPfn = layout.EndAddress >> shift;
        int types = layout.Mobility.GroupByMobility ? MobilityRules.Types : 1;
        var total = new Sum();
        ulong zoneStart = 0;
        foreach (ZoneLimit limit in layout.Zones)
        {
            ulong limitPfn = limit.Limit == ulong.MaxValue ? ulong.MaxValue : limit.Limit >> shift;
            ulong start = Math.Max(zoneStart, firstPfn);
            ulong end = Math.Min(limitPfn, endPfn);
            if (end > start)
            {
                AddZone(ref total, layout, start, end, types);
            }

            zoneStart = limitPfn;
        }

        ulong pages = endPfn - firstPfn;
        ulong headChunks = Ceiling(pages, PagesPerHeadChunk);
        int depth = 0;
        while (headChunks > 1UL << (HeadTopShift + (HeadNodeShift * depth)))
        {
            depth++;
        }

        ulong topEntries = Ceiling(pages, 1UL << (12 + (HeadNodeShift * depth))) + 1;
        total.AddUpFront(ArrayBytes(topEntries, (ulong)IntPtr.Size) + ArrayBytes((ulong)depth + 1, (ulong)IntPtr.Size), topEntries);
        ulong headChunkStamps = 8 + PagesPerHeadChunk + 8UL; // a 64-bit stamp per page, a cache line of guard at each end
        UInt128 nodes = 0;
        for (int level = 1, nodeShift = HeadNodeShift; level <= depth; level++, nodeShift += HeadNodeShift)
        {
            nodes += Ceiling(headChunks, 1UL << nodeShift);
        }

        total.AddInUse(((UInt128)headChunks * ArrayBytes(headChunkStamps, sizeof(ulong))) + (nodes * ArrayBytes(1UL << HeadNodeShift, (ulong)IntPtr.Size)));
        return total.Result();
    }

    private static void AddZone(ref Sum total, MachineLayout layout, ulong start, ulong end, int types)
    {
        ulong edges = 2 + (2 * (ulong)layout.Reserved.Count); // blocks divided at the zone's and reserved ranges' edges
        for (int order = 0; order <= layout.MaxOrder; order++)
        {
            ulong length = ((end - 1) >> order) - (start >> order) + 1;
            ulong bitmaps = (ulong)types + (order > 0 ? 1UL : 0UL); // and the unit bitmap (orders above 0)
            int levels = Levels(length);
            total.AddUpFront((UInt128)bitmaps * BitmapObjectBytes, 0);
            total.AddUpFront((UInt128)edges * 2 * (ulong)levels * InnerBytes, 0); // a free and a unit bit per edge, each a path
            total.AddInUse((UInt128)bitmaps * AllNodesBytes(length));
            if (order == layout.MaxOrder)
            {
                total.AddUpFront((UInt128)(edges + 1 + (ulong)layout.Reserved.Count) * 2 * (ulong)levels * InnerBytes, 0); // the runs of free and of reserved max-order blocks: two edge paths each
            }
        }

        if (types > 1)
        {
            int pageblockOrder = layout.Mobility.PageblockOrder;
            ulong pageblocks = ((end - 1) >> pageblockOrder) - (start >> pageblockOrder) + 1;
            ulong typePages = Ceiling(pageblocks, PageblocksPerPage);
            ulong directory = typePages <= PageblocksPerPage ? typePages : 0;
            total.AddUpFront(ArrayBytes(directory, (ulong)IntPtr.Size) + ArrayBytes(8, 16), directory);
            total.AddInUse(((UInt128)typePages * ArrayBytes(PageblocksPerPage, 1)) + (directory == 0 ? (UInt128)typePages * 2 * 16 : 0));
        }
    }

    // Levels of a FreeBitmap of `length` bits: a leaf of 4,096 bits, then 64 children per level.
    private static int Levels(ulong length)
    {
        int levels = 1;
        for (int span = 12; span < 62 && (1UL << span) < length; span += 6)
        {
            levels++;
        }

        return levels;
    }

    // Every node of a FreeBitmap of `length` bits: its leaves and all inner levels.
    private static UInt128 AllNodesBytes(ulong length)
    {
        ulong nodes = Ceiling(length, 4096);
        UInt128 bytes = (UInt128)nodes * LeafBytes;
        while (nodes > 1)
        {
            nodes = Ceiling(nodes, 64);
            bytes += (UInt128)nodes * InnerBytes;
        }

        return bytes;
    }

    private static ulong ArrayBytes(ulong length, ulong elementSize) => ArrayHeader + (length * elementSize);

    private static ulong Ceiling(ulong value, ulong divisor) => (value / divisor) + (value % divisor == 0 ? 0UL : 1UL);

    // Running totals in UInt128; the result saturates at ulong.MaxValue.
    private struct Sum
    {
        private UInt128 _upFront;
        private UInt128 _inUse;
        private ulong _largest;

        public void AddUpFront(UInt128 bytes, ulong arrayLength)
        {
            _upFront += bytes;
            _largest = Math.Max(_largest, arrayLength);
        }

        public void AddInUse(UInt128 bytes) => _inUse += bytes;

        public readonly MetadataEstimate Result() => new(Saturate(_upFront), Saturate(_upFront + _inUse), _largest);

        private static ulong Saturate(UInt128 value) => value > ulong.MaxValue ? ulong.MaxValue : (ulong)value;
    }
}
