// MetadataEstimate: what a layout's allocator metadata costs in managed memory — the part the
// PageAllocator constructor allocates at once, and the most it can grow to when every page is in
// use in the worst pattern — and the budget a layout must fit to be built.
//
// Invariants:
// - The estimate mirrors the constructors of Zone, FreeArea, FreeBitmap and AllocationHeads: per
//   zone and order a free bitmap per migrate type and a split bitmap (orders above 0), each with a
//   chunk table and summary levels; the max-order free blocks' leaf chunks; the pageblock map;
//   the allocation heads' chunk table. It is an upper bound up to small per-object headers.
// - The arithmetic is done in UInt128 and saturates at ulong.MaxValue: no layout Validate lets
//   through (at most 2^58 pages) can overflow it.
using System.Globalization;
using Buddy.Mobility;

namespace Buddy.Pages;

/// <summary>Bytes of managed memory a <see cref="MachineLayout"/>'s allocator metadata needs.</summary>
/// <param name="UpFrontBytes">Allocated by the <see cref="Allocation.PageAllocator"/> constructor (about 1/73 byte per page without mobility).</param>
/// <param name="MostBytes">The most it can reach: every bitmap chunk and every allocation-head chunk in use.</param>
/// <param name="LargestArray">The element count of the largest single array the constructor allocates.</param>
public readonly record struct MetadataEstimate(ulong UpFrontBytes, ulong MostBytes, ulong LargestArray)
{
    /// <summary>The fixed part of <see cref="BudgetBytes"/>: 4 GiB of metadata allocated up front.</summary>
    public const ulong FixedBudgetBytes = 4 * Units.GiB;

    private const int ArrayHeader = 24;
    private const int BitsPerChunk = 4096;   // FreeBitmap: 64 leaf words
    private const int PagesPerHeadChunk = 4096;

    /// <summary>
    /// The most metadata a layout may need up front: the smaller of <see cref="FixedBudgetBytes"/>
    /// and half the memory this process can use (<see cref="GC.GetGCMemoryInfo()"/>'s
    /// TotalAvailableMemoryBytes: physical memory, or the container's or GC heap's limit).
    /// Until the metadata grows with use rather than with address space, a larger layout is refused.
    /// </summary>
    public static ulong BudgetBytes => Math.Min(FixedBudgetBytes, (ulong)Math.Max(0, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes) / 2);

    /// <summary>Formats a byte count for messages: "15.1 GiB", "512 MiB".</summary>
    public static string Format(ulong bytes)
    {
        string[] units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        double value = bytes;
        int unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{bytes} bytes")
            : string.Create(CultureInfo.InvariantCulture, $"{value:0.#} {units[unit]}");
    }

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
        total.AddUpFront(ArrayBytes(headChunks, (ulong)IntPtr.Size), headChunks);
        ulong headChunkStamps = 8 + PagesPerHeadChunk + 8UL; // a 64-bit stamp per page, a cache line of guard at each end
        total.AddInUse((UInt128)headChunks * ArrayBytes(headChunkStamps, sizeof(ulong)));
        return total.Result();
    }

    private static void AddZone(ref Sum total, MachineLayout layout, ulong start, ulong end, int types)
    {
        int edges = 2 + (2 * layout.Reserved.Count); // blocks split at the zone's and reserved ranges' edges
        for (int order = 0; order <= layout.MaxOrder; order++)
        {
            ulong length = ((end - 1) >> order) - (start >> order) + 1;
            int bitmaps = types + (order > 0 ? 1 : 0);
            total.AddUpFront((UInt128)bitmaps * EmptyBitmapBytes(length), Ceiling(Ceiling(length, 64), 64));
            total.AddUpFront((UInt128)bitmaps * Math.Min((ulong)edges, Ceiling(length, BitsPerChunk)) * ChunkBytes, 0);
            total.AddInUse((UInt128)bitmaps * Ceiling(length, BitsPerChunk) * ChunkBytes);
            if (order == layout.MaxOrder)
            {
                total.AddUpFront((UInt128)Ceiling(length, BitsPerChunk) * ChunkBytes, 0); // every max-order block starts free
            }
        }

        if (types > 1)
        {
            int pageblockOrder = layout.Mobility.PageblockOrder;
            ulong pageblocks = ((end - 1) >> pageblockOrder) - (start >> pageblockOrder) + 1;
            total.AddUpFront(ArrayBytes(pageblocks, 1), pageblocks);
        }
    }

    private static ulong ChunkBytes => ArrayBytes(64, sizeof(ulong));

    // A FreeBitmap with nothing set: its chunk table and its summary levels.
    private static UInt128 EmptyBitmapBytes(ulong length)
    {
        ulong words = Ceiling(length, 64);
        UInt128 bytes = ArrayBytes(Ceiling(words, 64), (ulong)IntPtr.Size) + 64; // chunk table, object and level list
        do
        {
            words = Ceiling(words, 64);
            bytes += ArrayBytes(words, sizeof(ulong));
        }
        while (words > 1);
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
