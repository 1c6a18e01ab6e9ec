// KernelWatermarks: the kernel's formulas for zone watermarks, the lowmem reserve and the default
// min_free_kbytes (Linux 6.18 mm/page_alloc.c: __setup_per_zone_wmarks,
// setup_per_zone_lowmem_reserve, calculate_min_free_kbytes), for one node or several: min is
// spread over every node's low zones, the lowmem reserve stays within a node. Integer arithmetic
// as the kernel does it.

namespace Buddy.Kernel;

/// <summary>One zone as the watermark formulas see it.</summary>
/// <param name="Name">The zone's name (DMA, DMA32, Normal, Movable, Device).</param>
/// <param name="ManagedPages">Pages the buddy allocator manages in the zone.</param>
/// <param name="IsHighOrMovable">Whether the zone is ZONE_HIGHMEM or ZONE_MOVABLE (watermark clamp, not low memory).</param>
public readonly record struct WatermarkZone(string Name, ulong ManagedPages, bool IsHighOrMovable = false);

/// <summary>A zone's computed watermarks and its protection array (lowmem_reserve).</summary>
/// <param name="Zone">The zone.</param>
/// <param name="Watermarks">min, low, high and promo in pages.</param>
/// <param name="Protection">lowmem_reserve[j]: pages kept from requests whose highest zone is j.</param>
public sealed record ZoneWatermarks(WatermarkZone Zone, Watermarks Watermarks, IReadOnlyList<ulong> Protection);

/// <summary>The kernel's watermark and lowmem-reserve arithmetic (Linux 6.18).</summary>
/// <remarks>Pure functions; thread-safe.</remarks>
public static class KernelWatermarks
{
    /// <summary>The kernel's default vm.lowmem_reserve_ratio for DMA, DMA32, Normal, Movable, Device.</summary>
    public static IReadOnlyList<ulong> DefaultLowmemReserveRatio { get; } = [256, 256, 32, 0, 0];

    /// <summary>The kernel's default vm.watermark_scale_factor.</summary>
    public const ulong DefaultScaleFactor = 10;

    // SWAP_CLUSTER_MAX and the upper clamp for highmem/movable zones' min watermark.
    private const ulong SwapClusterMax = 32;
    private const ulong HighMinClamp = 128;

    /// <summary>
    /// The kernel's default vm.min_free_kbytes: int_sqrt(lowmem_kbytes × 16) clamped to 128..262,144
    /// (calculate_min_free_kbytes), where lowmem_kbytes counts the managed pages of low zones.
    /// </summary>
    public static ulong DefaultMinFreeKbytes(IEnumerable<WatermarkZone> zones, ulong pageSize)
    {
        ArgumentNullException.ThrowIfNull(zones);
        ulong lowmemPages = LowmemPages(zones);
        ulong lowmemKbytes = lowmemPages * pageSize / 1024;
        ulong value = IntSqrt(lowmemKbytes * 16);
        return Math.Clamp(value, 128UL, 262_144UL);
    }

    /// <summary>
    /// vm.min_free_kbytes as it stands once khugepaged has started with transparent huge pages
    /// enabled (mm/khugepaged.c set_recommended_min_free_kbytes): pageblocks × low zones × (2 + 3 × 3),
    /// capped at 5% of the free buffer pages, if that is above the default.
    /// </summary>
    /// <param name="zones">All zones in kernel order; the first three (DMA, DMA32, Normal) count as low zones when populated.</param>
    /// <param name="pageSize">The page size in bytes.</param>
    /// <param name="pageblockPages">Pages per pageblock (512 at 4 KiB pages on x86-64).</param>
    /// <param name="scaleFactor">vm.watermark_scale_factor.</param>
    /// <param name="lowZoneCount">How many of the first zones are at or below ZONE_NORMAL (3 on x86-64).</param>
    public static ulong ThpMinFreeKbytes(IReadOnlyList<WatermarkZone> zones, ulong pageSize, ulong pageblockPages = 512, ulong scaleFactor = DefaultScaleFactor, int lowZoneCount = 3)
    {
        ArgumentNullException.ThrowIfNull(zones);
        ulong current = DefaultMinFreeKbytes(zones, pageSize);
        var ratios = new ulong[zones.Count];
        IReadOnlyList<ZoneWatermarks> marks = Compute(zones, pageSize, current, scaleFactor, ratios);
        ulong populated = 0, freeBuffer = 0;
        for (int i = 0; i < Math.Min(lowZoneCount, zones.Count); i++)
        {
            ulong managed = zones[i].ManagedPages;
            if (managed > 0)
            {
                populated++;
            }

            // nr_free_buffer_pages(): managed pages above the high watermark, low zones only.
            if (managed > marks[i].Watermarks.High)
            {
                freeBuffer += managed - marks[i].Watermarks.High;
            }
        }

        ulong recommended = (pageblockPages * populated * 2) + (pageblockPages * populated * 3 * 3);
        recommended = Math.Min(recommended, freeBuffer / 20);
        ulong kbytes = recommended * pageSize / 1024;
        return Math.Max(kbytes, current);
    }

    /// <summary>Computes every zone's watermarks and protection array.</summary>
    /// <param name="zones">All zones of the node in kernel order (lowest first), empty ones included.</param>
    /// <param name="pageSize">The page size in bytes.</param>
    /// <param name="minFreeKbytes">vm.min_free_kbytes.</param>
    /// <param name="scaleFactor">vm.watermark_scale_factor.</param>
    /// <param name="lowmemReserveRatio">vm.lowmem_reserve_ratio, one entry per zone.</param>
    public static IReadOnlyList<ZoneWatermarks> Compute(
        IReadOnlyList<WatermarkZone> zones, ulong pageSize, ulong minFreeKbytes, ulong scaleFactor, IReadOnlyList<ulong> lowmemReserveRatio) =>
        ComputeNodes([zones], pageSize, minFreeKbytes, scaleFactor, lowmemReserveRatio)[0];

    /// <summary>
    /// Computes every zone's watermarks and protection array on a machine of several NUMA nodes:
    /// __setup_per_zone_wmarks spreads min_free_kbytes over the low zones of every node by managed
    /// pages (ZONE_MOVABLE and highmem get a small min of their own), while
    /// setup_per_zone_lowmem_reserve sums the zones above a zone within its own node only.
    /// </summary>
    /// <param name="nodes">Each node's zones in kernel order (lowest first), empty ones included.</param>
    /// <param name="pageSize">The page size in bytes.</param>
    /// <param name="minFreeKbytes">vm.min_free_kbytes.</param>
    /// <param name="scaleFactor">vm.watermark_scale_factor.</param>
    /// <param name="lowmemReserveRatio">vm.lowmem_reserve_ratio, one entry per zone of a node.</param>
    public static IReadOnlyList<IReadOnlyList<ZoneWatermarks>> ComputeNodes(
        IReadOnlyList<IReadOnlyList<WatermarkZone>> nodes, ulong pageSize, ulong minFreeKbytes, ulong scaleFactor, IReadOnlyList<ulong> lowmemReserveRatio)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        ArgumentNullException.ThrowIfNull(lowmemReserveRatio);
        ulong lowmemPages = 0;
        foreach (IReadOnlyList<WatermarkZone> zones in nodes)
        {
            ArgumentNullException.ThrowIfNull(zones, nameof(nodes));
            if (lowmemReserveRatio.Count < zones.Count)
            {
                throw new ArgumentException($"lowmem_reserve_ratio has {lowmemReserveRatio.Count} entries; {zones.Count} zones need one each.", nameof(lowmemReserveRatio));
            }

            lowmemPages += LowmemPages(zones);
        }

        return [.. nodes.Select(zones => ComputeNode(zones, pageSize, minFreeKbytes, scaleFactor, lowmemReserveRatio, lowmemPages))];
    }

    // One node's zones, min_free_kbytes's share taken against the machine's lowmem pages.
    private static ZoneWatermarks[] ComputeNode(
        IReadOnlyList<WatermarkZone> zones, ulong pageSize, ulong minFreeKbytes, ulong scaleFactor, IReadOnlyList<ulong> lowmemReserveRatio, ulong lowmemPages)
    {
        // pages_min = min_free_kbytes >> (PAGE_SHIFT - 10), written so that pages under 1 KiB work.
        ulong pagesMin = minFreeKbytes * 1024 / pageSize;
        var result = new ZoneWatermarks[zones.Count];
        for (int i = 0; i < zones.Count; i++)
        {
            WatermarkZone z = zones[i];
            ulong tmp = lowmemPages == 0 ? 0 : (ulong)((UInt128)pagesMin * z.ManagedPages / lowmemPages);
            ulong min = z.IsHighOrMovable ? Math.Clamp(z.ManagedPages / 1024, SwapClusterMax, HighMinClamp) : tmp;

            // The step between marks: a quarter of min's share, or the scale factor's share of the
            // zone (mult_frac(managed, factor, 10000)), whichever is larger.
            ulong step = Math.Max(tmp >> 2, MultFrac(z.ManagedPages, scaleFactor, 10_000));
            ulong low = min + step;
            ulong high = low + step;
            var protection = new ulong[zones.Count];
            ulong ratio = lowmemReserveRatio[i];
            if (ratio != 0 && z.ManagedPages != 0)
            {
                ulong upper = 0;
                for (int j = i + 1; j < zones.Count; j++)
                {
                    upper += zones[j].ManagedPages;
                    protection[j] = upper / ratio;
                }
            }

            result[i] = new ZoneWatermarks(z, new Watermarks(min, low, high, high + step), protection);
        }

        return result;
    }

    // mult_frac(x, n, d): x * n / d without overflowing, as include/linux/math.h computes it.
    private static ulong MultFrac(ulong x, ulong n, ulong d)
    {
        ulong q = x / d;
        ulong r = x % d;
        return (q * n) + (r * n / d);
    }

    private static ulong LowmemPages(IEnumerable<WatermarkZone> zones)
    {
        ulong pages = 0;
        foreach (WatermarkZone z in zones)
        {
            if (!z.IsHighOrMovable)
            {
                pages += z.ManagedPages;
            }
        }

        return pages;
    }

    // int_sqrt: the integer square root, rounded down.
    private static ulong IntSqrt(ulong x)
    {
        if (x < 2)
        {
            return x;
        }

        ulong r = (ulong)Math.Sqrt(x);
        while (r * r > x)
        {
            r--;
        }

        while ((r + 1) * (r + 1) <= x)
        {
            r++;
        }

        return r;
    }
}
