using static Buddy.Units;
using Buddy.Diagnostics;

namespace Buddy.Tests;

/// <summary>Per-CPU caches: cached pages are neither free nor allocated, frees stay checked, and nothing is stranded.</summary>
public class PerCpuCacheTests
{
    private static PageAllocator Cached(ulong size = 16 * MiB) => new(MachineLayout.Flat(size) with { PerCpuCaches = true });

    [Fact]
    public void A_pair_leaves_its_batch_in_the_cache_which_buddyinfo_does_not_count_and_a_drain_returns()
    {
        PageAllocator pages = Cached();
        string idle = pages.GetBuddyInfo().ToString();
        Block b = pages.Allocate(Request.ForOrder(0));
        Assert.Equal(1UL, pages.AllocatedPages);
        pages.Free(b);
        Assert.Equal(0UL, pages.AllocatedPages);
        Assert.True(pages.CachedPages > 0, "the refill batch stays cached");
        Assert.Equal(pages.TotalPages - pages.CachedPages, pages.FreePages);
        Assert.NotEqual(idle, pages.GetBuddyInfo().ToString());

        pages.DrainCaches();
        Assert.Equal(0UL, pages.CachedPages);
        Assert.Equal(idle, pages.GetBuddyInfo().ToString());
        pages.Validate();
    }

    [Fact]
    public void A_double_free_through_the_fast_path_is_refused_and_changes_nothing()
    {
        PageAllocator pages = Cached();
        Block b = pages.Allocate(Request.ForOrder(1));
        pages.Free(b);
        ulong cached = pages.CachedPages, free = pages.FreePages;
        var ex = Assert.Throws<ArgumentException>(() => pages.Free(b));
        Assert.Contains("Double free", ex.Message, StringComparison.Ordinal);
        Assert.Equal(cached, pages.CachedPages);
        Assert.Equal(free, pages.FreePages);
        Assert.Throws<ArgumentException>(() => pages.Free(b.Address)); // by address too
        pages.Validate();
    }

    [Fact]
    public void A_request_limited_to_a_zone_is_served_from_that_zones_cache_and_never_gets_a_higher_page()
    {
        PageAllocator pages = new(MachineLayout.X86(64 * MiB) with { PerCpuCaches = true, Watermarks = WatermarkSettings.None });
        Block dma = pages.Allocate(Request.ForOrder(0).InZone(ZoneKind.Dma));
        Assert.True(dma.EndAddress <= 16 * MiB);
        Assert.True(pages.CachedPages > 0, "the DMA zone's stack was refilled");
        Assert.All(pages.Dump().Cached, run => Assert.True((run.Pfn + run.Pages) * 4096 <= 16 * MiB, $"cached pfn 0x{run.Pfn:x} is above 16 MiB"));
        pages.Free(dma);

        // A 24-bit DMA mask ends exactly at the zone's end: the same cache serves it.
        ulong cached = pages.CachedPages;
        Block masked = pages.Allocate(Request.ForOrder(0).WithDmaMask(24));
        Assert.True(masked.EndAddress <= 16 * MiB);
        Assert.Equal(cached - 1, pages.CachedPages);

        // An unconstrained request does not take the cached DMA pages: it refills from the top zone.
        Block normal = pages.Allocate(Request.ForOrder(0));
        Assert.True(normal.Address >= 16 * MiB, $"{normal} came from ZONE_DMA");
        pages.Free(masked);
        pages.Free(normal);
        pages.Validate();
    }

    [Fact]
    public void A_limit_that_cuts_a_zone_or_an_alignment_above_the_block_bypasses_the_cache()
    {
        PageAllocator pages = new(MachineLayout.X86(64 * MiB) with { PerCpuCaches = true, Watermarks = WatermarkSettings.None });
        Block low = pages.Allocate(Request.ForOrder(0).Below(10 * MiB - 1));
        Block aligned = pages.Allocate(Request.ForOrder(0).AlignedTo(64 * KiB));
        Assert.Equal(0UL, pages.CachedPages);
        Assert.True(low.EndAddress <= 10 * MiB);
        Assert.Equal(0UL, aligned.Address % (64 * KiB));
        pages.Free(low); // frees go to the block's zone's stack all the same
        Assert.True(pages.CachedPages > 0);
        pages.Validate();
    }

    [Fact]
    public void A_request_that_would_fail_drains_the_caches_first()
    {
        PageAllocator pages = Cached(1 * MiB); // 256 pages
        var all = new List<Block>();
        while (pages.TryAllocate(Request.ForOrder(0), out Block b))
        {
            all.Add(b);
        }

        Assert.Equal(256, all.Count);
        all.ForEach(b => pages.Free(b)); // most of them land in the cache
        Assert.True(pages.CachedPages > 0);

        // The whole memory as one block: only possible once every cached page is back.
        Block whole = pages.Allocate(Request.ForOrder(8));
        Assert.Equal(0UL, pages.CachedPages);
        Assert.Equal(256UL, whole.PageCount);
        pages.Validate();
    }

    [Fact]
    public void A_contiguous_range_is_never_taken_for_a_cacheable_block_when_freed()
    {
        // Four pages at an unaligned start on a machine of order-1 blocks: a range of two pieces
        // whose page count looks like an order-2 block. It must go back to the zones, not a cache.
        PageAllocator pages = new(MachineLayout.Flat(1 * MiB) with { PerCpuCaches = true, MaxOrder = 1, Mobility = MobilitySettings.Grouping with { PageblockOrder = 1 } });
        pages.Allocate(Request.ForOrder(0));
        Block range = pages.AllocateContiguous(4, alignmentBytes: 0);
        Assert.Equal(4UL, range.PageCount);
        pages.Free(range);
        pages.Validate();
        Assert.Equal(0UL, pages.AllocatedPages - 1);
    }
}
