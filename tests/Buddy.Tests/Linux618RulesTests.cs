// Linux618RulesTests: Linux 6.18's fallback rules (ALLOC_NOFRAGMENT, try_to_claim_block with its
// extfrag counts, watermark boost and kswapd's ending, vm.defrag_mode), each against a hand-built
// state with the kernel's outcome worked out in the comment (rules per mm/page_alloc.c 6.18.2).
using System.Globalization;
using Buddy.Kernel;
using static Buddy.Units;

namespace Buddy.Tests;

using static Buddy.Tests.MobilityTestData;

/// <summary>Machines, fills and readings shared by the Linux 6.18 rule tests.</summary>
internal static class Linux618Data
{
    // Watermarks from an explicit vm.min_free_kbytes and no lowmem reserve, so that every mark
    // below is worked out from pages_min = min_free_kbytes / 4 (4 KiB pages).
    internal static WatermarkSettings Marks(ulong minFreeKbytes) => new() { MinFreeKbytes = minFreeKbytes, LowmemReserveRatio = [0, 0, 0] };

    // DMA [0, 64), DMA32 [64, 256), Normal [256, 512): 2 MiB of 4 KiB pages, max order 6,
    // pageblocks of 16 pages (order 4).
    internal static MachineLayout ThreeZones(MobilitySettings mobility, WatermarkSettings marks) => new()
    {
        Size = 2 * MiB,
        MaxOrder = 6,
        Zones = [new(ZoneKind.Dma, 256 * KiB), new(ZoneKind.Dma32, 1 * MiB), new(ZoneKind.Normal, ulong.MaxValue)],
        Watermarks = marks,
        Mobility = mobility,
    };

    internal static Block Take(PageAllocator pages, Request request)
    {
        Assert.True(pages.TryAllocate(request, out Block b, out AllocationFailure? failure), failure?.Message);
        return b;
    }

    // Fills every free page with order-0 blocks of `type`, ignoring the watermarks (the kernel's
    // ALLOC_NO_WATERMARKS: no fast path, so no ALLOC_NOFRAGMENT); returns them by pfn.
    internal static Dictionary<ulong, Block> Fill(PageAllocator pages, MigrateType type)
    {
        var blocks = new Dictionary<ulong, Block>();
        while (pages.FreePages > 0)
        {
            Block b = Take(pages, Request.ForOrder(0).WithMobility(type).WithPriority(AllocationPriority.NoWatermarks));
            blocks.Add(b.Pfn, b);
        }

        return blocks;
    }

    internal static void FreePages(PageAllocator pages, Dictionary<ulong, Block> blocks, ulong first, ulong count)
    {
        for (ulong p = first; p < first + count; p++)
        {
            pages.Free(blocks[p]);
        }
    }

    // The free-block row of a zone and type in /proc/pagetypeinfo: free blocks per order.
    internal static long[] FreeCounts(PageAllocator pages, MigrateType type, string zone = "Normal")
    {
        string prefix = "Node    0, zone " + zone.PadLeft(8) + ", type " + PageTypeInfo.TypeNames[(int)type].PadLeft(12) + " ";
        string line = Assert.Single(pages.GetPageTypeInfo().Split('\n'), l => l.StartsWith(prefix, StringComparison.Ordinal));
        return [.. line[prefix.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => long.Parse(s, CultureInfo.InvariantCulture))];
    }

    internal static Zone ZoneNamed(PageAllocator pages, ZoneKind kind) => pages.ZonesLocked.Single(z => z.Kind == kind);
}

public class Linux618RulesTests
{
    private static readonly MobilitySettings s_noFragment = new() { GroupByMobility = true, PageblockOrder = 4, NoFragment = true };

    // ------------------------------------------------------------------ ALLOC_NOFRAGMENT

    // vm.min_free_kbytes 8 is pages_min 2, shared by managed pages (512): DMA gets 2 × 64 / 512 = 0,
    // DMA32 2 × 192 / 512 = 0, Normal 2 × 256 / 512 = 1; the step (max(min / 4, managed × 10 / 10000))
    // is 0 everywhere. So the marks never stand in the way below: a zone passes while it has a page
    // or two free.
    private static PageAllocator ThreeZoneMachine(bool noFragment) =>
        new(Linux618Data.ThreeZones(noFragment ? s_noFragment : s_noFragment with { NoFragment = false }, Linux618Data.Marks(8)));

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void NoFragment_takes_a_whole_free_pageblock_from_DMA32_rather_than_steal_in_Normal(bool noFragment)
    {
        PageAllocator pages = ThreeZoneMachine(noFragment);
        Assert.Equal(1UL, Linux618Data.ZoneNamed(pages, ZoneKind.Normal).Watermarks.Low);
        Dictionary<ulong, Block> movable = Linux618Data.Fill(pages, MigrateType.Movable);
        Linux618Data.FreePages(pages, movable, 264, 4);  // Normal: an order-2 block in the movable pageblock [256, 272)
        Linux618Data.FreePages(pages, movable, 128, 16); // DMA32: the whole movable pageblock [128, 144)

        // An unmovable request whose preferred zone is Normal; no unmovable free block anywhere.
        // With NOFRAGMENT (alloc_flags_nofragment: preferred zone Normal), __rmqueue_claim's
        // min_order is pageblock_order 4: Normal has no free block of order ≥ 4, and stealing is
        // off; the walk goes on to DMA32, whose order-4 block at 128 is claimed whole
        // (change_pageblock_range): fallback order 4 = pageblock order, so not fragmenting, and
        // change_ownership = 1. Without NOFRAGMENT, Normal is tried in full: the claim of the
        // order-2 block fails (free 4 + alike 0 < 8, half a pageblock) and __rmqueue_steal takes
        // it, smallest order first: 264, fragmenting, the pageblock stays movable.
        Block b = Linux618Data.Take(pages, Request.ForOrder(0).WithMobility(MigrateType.Unmovable));
        pages.Validate();
        MobilityStatistics stats = pages.GetMobilityStatistics();
        if (noFragment)
        {
            Assert.Equal(128UL, b.Pfn);
            Assert.Equal(Counts(1, 11, 0), BlockCounts(pages, "DMA32"));
            Assert.Equal([new FallbackCount(MigrateType.Unmovable, MigrateType.Movable, 1, 0)], stats.Fallbacks);
            Assert.Equal(1, stats.OwnershipChanges);
        }
        else
        {
            Assert.Equal(264UL, b.Pfn);
            Assert.Equal(Counts(0, 12, 0), BlockCounts(pages, "DMA32"));
            Assert.Equal([new FallbackCount(MigrateType.Unmovable, MigrateType.Movable, 1, 1)], stats.Fallbacks);
            Assert.Equal(0, stats.OwnershipChanges);
        }

        Assert.Equal(Counts(0, 16, 0), BlockCounts(pages)); // Normal's pageblocks keep their type either way
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void NoFragment_falls_back_to_steal_in_Normal_when_no_zone_has_a_whole_free_pageblock(bool noFragment)
    {
        PageAllocator pages = ThreeZoneMachine(noFragment);
        Dictionary<ulong, Block> movable = Linux618Data.Fill(pages, MigrateType.Movable);
        Linux618Data.FreePages(pages, movable, 264, 4); // Normal: order 2 at 264
        Linux618Data.FreePages(pages, movable, 132, 4); // DMA32: order 2 at 132

        // The NOFRAGMENT pass finds no free block of order ≥ 4 in Normal, DMA32 or DMA and fails;
        // get_page_from_freelist clears NOFRAGMENT and walks the zonelist again from Normal
        // ("all zones fragmented"): Normal's claim fails (4 < 8) and the steal takes 264. The
        // outcome is the same as without NOFRAGMENT.
        Block b = Linux618Data.Take(pages, Request.ForOrder(0).WithMobility(MigrateType.Unmovable));
        pages.Validate();
        Assert.Equal(264UL, b.Pfn);
        MobilityStatistics stats = pages.GetMobilityStatistics();
        Assert.Equal([new FallbackCount(MigrateType.Unmovable, MigrateType.Movable, 1, 1)], stats.Fallbacks);
        Assert.Equal(0, stats.OwnershipChanges);
        Assert.Equal(Counts(0, 16, 0), BlockCounts(pages));
        Assert.Equal(Counts(0, 12, 0), BlockCounts(pages, "DMA32"));
    }

    [Theory]
    [InlineData(ZoneKind.Normal, 0UL)]
    [InlineData(ZoneKind.Dma32, 132UL)]
    public void NoFragment_applies_only_when_the_preferred_zone_is_Normal(ZoneKind zone, ulong expectedPfn)
    {
        PageAllocator pages = ThreeZoneMachine(noFragment: true);
        Dictionary<ulong, Block> movable = Linux618Data.Fill(pages, MigrateType.Movable);
        Linux618Data.FreePages(pages, movable, 132, 4); // DMA32: order 2 at 132, in the movable pageblock [128, 144)
        Linux618Data.FreePages(pages, movable, 0, 16);  // DMA: the whole pageblock [0, 16)

        // Preferred zone Normal: NOFRAGMENT; Normal is full, DMA32 has no order ≥ 4 block, DMA's
        // order-4 block at 0 is claimed whole. Preferred zone DMA32: alloc_flags_nofragment
        // returns without NOFRAGMENT (zone_idx != ZONE_NORMAL), so DMA32 is tried in full: its
        // claim fails (4 free + 0 alike < 8) and the steal takes 132; DMA is never reached.
        Block b = Linux618Data.Take(pages, Request.ForOrder(0).WithMobility(MigrateType.Unmovable).InZone(zone));
        pages.Validate();
        Assert.Equal(expectedPfn, b.Pfn);
        Assert.Equal(zone == ZoneKind.Normal ? Counts(1, 3, 0) : Counts(0, 4, 0), BlockCounts(pages, "DMA"));
    }

    // ------------------------------------------------------------------ try_to_claim_block and the extfrag counts

    [Theory]
    [InlineData(8, 8UL, true)]   // free 8 + alike 0 ≥ 8 (2^(pageblock_order − 1)): claim
    [InlineData(7, 14UL, false)] // free 7 < 8: no claim; the steal takes the order-0 block at 14
    public void A_claim_needs_half_a_pageblock_free_or_alike_and_is_counted_as_the_tracepoint_reports_it(int freed, ulong expectedPfn, bool claims)
    {
        PageAllocator pages = Machine(); // Flat 256 pages, pageblocks of 16, grouping only
        Dictionary<ulong, Block> movable = Linux618Data.Fill(pages, MigrateType.Movable);
        Linux618Data.FreePages(pages, movable, 8, (ulong)freed);

        // 8 freed: one order-3 block at 8 in movable pageblock 0; the unmovable request's claim
        // (largest order first) moves it to unmovable lists and retypes the pageblock, then
        // __rmqueue_smallest takes 8. 7 freed: order 2 at 8, order 1 at 12, order 0 at 14; every
        // claim attempt fails and __rmqueue_steal, smallest order first, takes 14. Either way the
        // fallback order (3 or 0) is below pageblock_order 4: fragmenting = 1. change_ownership =
        // (the pageblock's type is now unmovable): 1 after the claim, 0 after the steal.
        Block b = Alloc(pages, 0, MigrateType.Unmovable);
        pages.Validate();
        Assert.Equal(expectedPfn, b.Pfn);
        Assert.Equal(claims ? Counts(1, 15, 0) : Counts(0, 16, 0), BlockCounts(pages));
        MobilityStatistics stats = pages.GetMobilityStatistics();
        Assert.Equal([new FallbackCount(MigrateType.Unmovable, MigrateType.Movable, 1, 1)], stats.Fallbacks);
        Assert.Equal(1, stats.FallbackEvents);
        Assert.Equal(1, stats.FragmentingEvents);
        Assert.Equal(claims ? 1 : 0, stats.OwnershipChanges);
    }

    [Fact]
    public void A_whole_free_pageblock_claim_is_not_fragmenting_and_changes_ownership()
    {
        PageAllocator pages = Machine();
        Dictionary<ulong, Block> movable = Linux618Data.Fill(pages, MigrateType.Movable);
        Linux618Data.FreePages(pages, movable, 16, 16); // pageblock 1 as one order-4 block

        // Reclaimable falls back to unmovable, then movable: the order-4 movable block is claimed
        // whole (current_order ≥ pageblock_order): fallback_order 4 is not < 4, fragmenting = 0;
        // change_ownership = 1.
        Block b = Alloc(pages, 0, MigrateType.Reclaimable);
        pages.Validate();
        Assert.Equal(16UL, b.Pfn);
        MobilityStatistics stats = pages.GetMobilityStatistics();
        Assert.Equal([new FallbackCount(MigrateType.Reclaimable, MigrateType.Movable, 1, 0)], stats.Fallbacks);
        Assert.Equal(1, stats.OwnershipChanges);
        Assert.Equal(0, stats.FragmentingEvents);
    }

    [Theory]
    [InlineData(1, false)] // order 1 < pageblock_order / 2 = 2: should_try_claim_block is false for a movable request; steal
    [InlineData(2, true)]  // order 2 ≥ 2: claim; alike = the pageblock's movable pages (8) + free 4 ≥ 8
    public void A_movable_request_claims_only_from_order_pageblock_over_two_and_a_steal_leaves_the_pageblock_type(int freeOrder, bool claims)
    {
        PageAllocator pages = Machine();
        Dictionary<ulong, Block> movable = Linux618Data.Fill(pages, MigrateType.Movable);
        Linux618Data.FreePages(pages, movable, 0, 8);
        Assert.Equal(0UL, Alloc(pages, 0, MigrateType.Unmovable).Pfn); // claims pageblock 0 (8 of 16 free)

        // Leave one free block in the machine, of freeOrder, in unmovable pageblock 0 whose pages
        // 8..15 are still movable blocks.
        if (freeOrder == 1)
        {
            Assert.Equal(4UL, Alloc(pages, 2, MigrateType.Unmovable).Pfn);
            Assert.Equal(1UL, Alloc(pages, 0, MigrateType.Unmovable).Pfn); // free: order 1 at 2
        }
        else
        {
            Assert.Equal(2UL, Alloc(pages, 1, MigrateType.Unmovable).Pfn);
            Assert.Equal(1UL, Alloc(pages, 0, MigrateType.Unmovable).Pfn); // free: order 2 at 4
        }

        MobilityStatistics before = pages.GetMobilityStatistics();
        Block b = Alloc(pages, 0, MigrateType.Movable);
        pages.Validate();
        Assert.Equal(freeOrder == 1 ? 2UL : 4UL, b.Pfn);
        Assert.Equal(claims ? Counts(0, 16, 0) : Counts(1, 15, 0), BlockCounts(pages));
        MobilityStatistics after = pages.GetMobilityStatistics();
        FallbackCount movableFallbacks = Assert.Single(after.Fallbacks, f => f.AllocType == MigrateType.Movable);
        Assert.Equal(new FallbackCount(MigrateType.Movable, MigrateType.Unmovable, 1, 1), movableFallbacks);
        Assert.Equal(before.OwnershipChanges + (claims ? 1 : 0), after.OwnershipChanges);
    }

    // ------------------------------------------------------------------ watermark boost

    // Flat 1 MiB (256 pages, 16 pageblocks of 16), watermarks on: min_free_kbytes 64 is pages_min
    // 16, all in this one zone; step = max(16 / 4, 256 × 10 / 10000 = 0) = 4: min 16, low 20, high 24.
    private static PageAllocator BoostMachine(int factor, ulong pagesInZone = 256, bool compaction = true) =>
        new(MachineLayout.Flat(pagesInZone * Page) with
        {
            MaxOrder = pagesInZone >= 256 ? 6 : 4,
            Watermarks = Linux618Data.Marks(pagesInZone >= 256 ? 64UL : 16UL),
            Mobility = new MobilitySettings { GroupByMobility = true, PageblockOrder = 4, WatermarkBoostFactor = factor, Compaction = compaction },
        });

    // Fills the machine with movable order-0 blocks and frees pages 8..14 of the first
    // `pageblocks` pageblocks: in each, order 2 at 8, order 1 at 12, order 0 at 14 — 7 free pages,
    // less than half a pageblock, so every claim attempt fails.
    private static Dictionary<ulong, Block> SevenFreeIn(PageAllocator pages, int pageblocks)
    {
        Dictionary<ulong, Block> movable = Linux618Data.Fill(pages, MigrateType.Movable);
        for (ulong pb = 0; pb < (ulong)pageblocks; pb++)
        {
            Linux618Data.FreePages(pages, movable, (pb * 16) + 8, 7);
        }

        return movable;
    }

    [Theory]
    [InlineData(15000, 36UL)] // max_boost = mult_frac(high 24, 15000, 10000) = 36: 16, 32, then min(48, 36)
    [InlineData(10000, 24UL)] // max_boost = 24: 16, then min(32, 24) twice
    [InlineData(5000, 16UL)]  // mult_frac gives 12, raised to one pageblock: 16 each time
    [InlineData(0, 0UL)]      // watermark_boost_factor 0: boost_watermark returns at once
    public void Each_sub_pageblock_claim_attempt_boosts_by_a_pageblock_up_to_the_factor_of_the_high_mark(int factor, ulong expectedBoost)
    {
        PageAllocator pages = BoostMachine(factor);
        Zone zone = Linux618Data.ZoneNamed(pages, ZoneKind.Normal);
        Assert.Equal(new Watermarks(16, 20, 24, 28), zone.Watermarks);
        SevenFreeIn(pages, 16); // 112 free pages > low 20

        // The unmovable request passes the low mark (112 > 20) and has no unmovable free block:
        // __rmqueue_claim goes from order 6 down; orders 6..3 have no block; at order 2 (the block
        // at 8), 1 (12) and 0 (14) try_to_claim_block boosts first, then fails (7 < 8): three
        // boost_watermark calls in this one allocation. The steal then takes 14.
        Block b = Alloc(pages, 0, MigrateType.Unmovable);
        Assert.Equal(14UL, b.Pfn);
        Assert.Equal(expectedBoost, zone.WatermarkBoost);
        Assert.Equal(factor == 0 ? 0 : 3, pages.GetMobilityStatistics().WatermarkBoosts);
        pages.Validate();
    }

    [Fact]
    public void Kswapd_drops_the_boost_and_wakes_kcompactd_when_compaction_is_suitable_before_the_next_allocation()
    {
        PageAllocator pages = BoostMachine(15000);
        Zone zone = Linux618Data.ZoneNamed(pages, ZoneKind.Normal);
        SevenFreeIn(pages, 16);
        Alloc(pages, 0, MigrateType.Unmovable); // boosts to 36 (as above) and sets ZONE_BOOSTED_WATERMARK
        Assert.Equal(36UL, zone.WatermarkBoost);
        Assert.Equal(0, pages.GetMobilityStatistics().KswapdWakes);

        // rmqueue wakes kswapd for the boosted zone; balance_pgdat ends by taking off the boost it
        // saw (36) and calling wakeup_kcompactd(pageblock_order 4). kcompactd_node_suitable:
        // no free block of order 4 (the min-mark check fails), and compaction_suitable: 111 free
        // > min 16 + compact_gap 2 << 4 = 32 + (low − min) 4 = 52, and the fragmentation index for
        // order 4 is 1000 − (1000 + 111 × 1000 / 16) / 47 free blocks = 832 > extfrag_threshold 500.
        // So kcompactd wakes: compact_daemon_wake 1. The movable request then comes from its own
        // lists and boosts nothing.
        Alloc(pages, 0, MigrateType.Movable);
        pages.Validate();
        MobilityStatistics stats = pages.GetMobilityStatistics();
        Assert.Equal(0UL, zone.WatermarkBoost);
        Assert.Equal(1, stats.KswapdWakes);
        Assert.Equal(1, stats.KcompactdWakes);
        Assert.Equal(1, stats.VmEvents["compact_daemon_wake"]);
    }

    [Fact]
    public void After_a_boost_kcompactd_stays_asleep_when_compaction_is_not_suitable()
    {
        PageAllocator pages = BoostMachine(15000);
        SevenFreeIn(pages, 6); // 42 free pages > low 20
        Assert.Equal(14UL, Alloc(pages, 0, MigrateType.Unmovable).Pfn); // three boosts, as above

        // kswapd still runs and drops the boost, but wakeup_kcompactd finds no zone where
        // compaction is suitable: 41 free ≤ min 16 + 32 + 4 = 52 (not enough free pages to
        // migrate into), so compaction_suit_allocation_order returns SKIPPED and kcompactd sleeps.
        Alloc(pages, 0, MigrateType.Movable);
        MobilityStatistics stats = pages.GetMobilityStatistics();
        Assert.Equal(1, stats.KswapdWakes);
        Assert.Equal(0, stats.KcompactdWakes);
        Assert.Equal(0, stats.VmEvents["compact_daemon_wake"]);
        pages.Validate();
    }

    [Fact]
    public void A_whole_pageblock_claim_does_not_boost()
    {
        PageAllocator pages = BoostMachine(15000);
        Dictionary<ulong, Block> movable = SevenFreeIn(pages, 4);
        Linux618Data.FreePages(pages, movable, 80, 16); // pageblock 5 whole: an order-4 block at 80

        // __rmqueue_claim starts at the largest order: the order-4 block at 80 is claimed whole
        // (current_order ≥ pageblock_order), which returns before boost_watermark.
        Assert.Equal(80UL, Alloc(pages, 0, MigrateType.Unmovable).Pfn);
        Assert.Equal(0UL, Linux618Data.ZoneNamed(pages, ZoneKind.Normal).WatermarkBoost);
        Assert.Equal(0, pages.GetMobilityStatistics().WatermarkBoosts);
    }

    [Fact]
    public void A_steal_without_a_claim_attempt_does_not_boost()
    {
        PageAllocator pages = BoostMachine(15000);
        Dictionary<ulong, Block> unmovable = Linux618Data.Fill(pages, MigrateType.Unmovable); // every pageblock claimed unmovable
        Assert.Equal(Counts(16, 0, 0), BlockCounts(pages));
        for (ulong pb = 0; pb < 16; pb++)
        {
            Linux618Data.FreePages(pages, unmovable, (pb * 16) + 8, 2); // an order-1 block at offset 8: 32 free > low 20
        }

        // A movable request: at orders 6..2 find_suitable_fallback finds nothing; at order 1
        // should_try_claim_block is false (1 < pageblock_order / 2, movable), so the claim loop
        // breaks without calling try_to_claim_block; __rmqueue_steal takes the order-1 block at 8.
        Block b = Alloc(pages, 0, MigrateType.Movable);
        Assert.Equal(8UL, b.Pfn);
        MobilityStatistics stats = pages.GetMobilityStatistics();
        Assert.Equal(0, stats.WatermarkBoosts);
        Assert.Contains(new FallbackCount(MigrateType.Movable, MigrateType.Unmovable, 1, 1), stats.Fallbacks);
        Assert.Equal(Counts(16, 0, 0), BlockCounts(pages)); // the steal left pageblock 0 unmovable
        pages.Validate();
    }

    [Theory]
    [InlineData(60UL, 0UL)]  // 4 × 16 = 64 > 60 managed pages: boost_watermark returns false
    [InlineData(64UL, 16UL)] // 64 is not under 4 pageblocks: max_boost = max(16, 6 × 1.5 = 9) = 16
    public void A_zone_under_four_pageblocks_is_never_boosted(ulong zonePages, ulong expectedBoost)
    {
        // min_free_kbytes 16 = pages_min 4; step max(1, 0) = 1: min 4, low 5, high 6.
        PageAllocator pages = BoostMachine(15000, zonePages);
        Zone zone = Linux618Data.ZoneNamed(pages, ZoneKind.Normal);
        Assert.Equal(6UL, zone.Watermarks.High);
        SevenFreeIn(pages, 2); // 14 free > low 5
        Assert.Equal(14UL, Alloc(pages, 0, MigrateType.Unmovable).Pfn); // three failed claim attempts, then the steal
        Assert.Equal(expectedBoost, zone.WatermarkBoost);
        Assert.Equal(expectedBoost == 0 ? 0 : 3, pages.GetMobilityStatistics().WatermarkBoosts);
    }

    // ------------------------------------------------------------------ vm.defrag_mode

    [Theory]
    [InlineData(true, 128UL)]
    [InlineData(false, 268UL)]
    public void DefragMode_keeps_NoFragment_in_the_slow_path_at_the_min_mark(bool defragMode, ulong expectedPfn)
    {
        // min_free_kbytes 256 = pages_min 64 over 512 managed pages: Normal 64 × 256 / 512 = 32,
        // step 8: min 32, low 40; DMA32 64 × 192 / 512 = 24, step 6: min 24, low 30; DMA min 8.
        MobilitySettings mobility = s_noFragment with { DefragMode = defragMode };
        var pages = new PageAllocator(Linux618Data.ThreeZones(mobility, Linux618Data.Marks(256)));
        Assert.Equal(new Watermarks(32, 40, 48, 56), Linux618Data.ZoneNamed(pages, ZoneKind.Normal).Watermarks);
        Assert.Equal(new Watermarks(24, 30, 36, 42), Linux618Data.ZoneNamed(pages, ZoneKind.Dma32).Watermarks);
        Dictionary<ulong, Block> movable = Linux618Data.Fill(pages, MigrateType.Movable);
        for (ulong pb = 0; pb < 6; pb++)
        {
            Linux618Data.FreePages(pages, movable, 256 + (pb * 16) + 8, 6); // Normal: order 2 at +8, order 1 at +12 in six pageblocks: 36
        }

        Linux618Data.FreePages(pages, movable, 128, 16); // DMA32: the whole pageblock [128, 144) ...
        foreach (ulong p in new ulong[] { 88, 104, 152 })
        {
            Linux618Data.FreePages(pages, movable, p, 4); // ... and three order-2 blocks: 28 free
        }

        // The fast path (low mark, NOFRAGMENT then without) fails everywhere: Normal 36 ≤ 40,
        // DMA32 28 ≤ 30, DMA 0. The slow path checks the min mark: Normal 36 > 32 and DMA32 28 > 24.
        // Without defrag_mode the slow path has no NOFRAGMENT: Normal's claims fail (6 < 8) and the
        // steal takes the smallest block, order 1 at 268. With defrag_mode gfp_to_alloc_flags keeps
        // NOFRAGMENT: Normal has no order ≥ 4 block and may not steal; DMA32's whole pageblock at
        // 128 is claimed.
        Block b = Linux618Data.Take(pages, Request.ForOrder(0).WithMobility(MigrateType.Unmovable));
        pages.Validate();
        Assert.Equal(expectedPfn, b.Pfn);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void DefragMode_on_a_flat_machine_mixes_types_only_when_all_else_failed_and_then_wakes_kcompactd(bool defragMode)
    {
        // Flat (no watermarks, one Normal zone): the slow path's single pass has NOFRAGMENT under
        // defrag_mode and fails (no free block of order ≥ 4); order 0 has no direct compaction and
        // there is no highatomic reserve; so NOFRAGMENT is cleared and the request steals 14, as it
        // would without defrag_mode. Having entered the slow path, the request wakes kcompactd for
        // pageblock order (wake_all_kswapds at max(order, pageblock_order)), which runs before the
        // next allocation: no order-4 block, and the fragmentation index for order 4 is
        // 1000 − (1000 + 111000 / 16) / 47 = 832 > 500, so compaction is suitable. (Filling the
        // machine entered the slow path too; its wake ran at the start of the steal: count from after it.)
        PageAllocator pages = Machine(Small(compaction: true) with { DefragMode = defragMode });
        Dictionary<ulong, Block> movable = Linux618Data.Fill(pages, MigrateType.Movable);
        for (ulong pb = 0; pb < 16; pb++)
        {
            Linux618Data.FreePages(pages, movable, (pb * 16) + 8, 7);
        }

        Assert.Equal(14UL, Alloc(pages, 0, MigrateType.Unmovable).Pfn);
        Assert.Equal(Counts(0, 16, 0), BlockCounts(pages));
        long wakesBefore = pages.GetMobilityStatistics().VmEvents["compact_daemon_wake"]; // the fill's last request's wake ran before the steal
        Alloc(pages, 0, MigrateType.Movable);
        pages.Validate();
        Assert.Equal(defragMode ? 1 : 0, pages.GetMobilityStatistics().VmEvents["compact_daemon_wake"] - wakesBefore);
    }

    [Fact]
    public void DefragMode_on_a_flat_machine_claims_a_whole_pageblock_before_stealing()
    {
        // The same single zone, with one whole free pageblock (order 4 at 80) besides the small
        // blocks: with NOFRAGMENT the order-4 block is claimed whole; nothing is stolen.
        PageAllocator pages = Machine(Small() with { DefragMode = true });
        Dictionary<ulong, Block> movable = Linux618Data.Fill(pages, MigrateType.Movable);
        Linux618Data.FreePages(pages, movable, 8, 7);
        Linux618Data.FreePages(pages, movable, 80, 16);
        Assert.Equal(80UL, Alloc(pages, 0, MigrateType.Unmovable).Pfn);
        Assert.Equal(0, pages.GetMobilityStatistics().FragmentingEvents);
        pages.Validate();
    }
}
