// Linux618ReserveTests: Linux 6.18's highatomic reserve, kcompactd's proactive compaction and its
// fragmentation score, the /proc/vmstat compaction counters and the settings' bad input, each
// against a hand-built state with the kernel's outcome worked out in the comment.
using Buddy.Diagnostics;
using Buddy.Kernel;
using static Buddy.Units;

namespace Buddy.Tests;

using static Buddy.Tests.MobilityTestData;

public class Linux618ReserveTests
{
    // ------------------------------------------------------------------ the highatomic reserve

    // Flat 4 MiB: 1024 pages, max order 6, pageblocks of 8 pages (order 3), so 128 pageblocks:
    // managed / 100 = 10 ≥ 8, and the reserve's ceiling is ALIGN(10, 8) = 16 pages, two pageblocks.
    // min_free_kbytes 48 = pages_min 12; step = max(12 / 4, 1024 × 10 / 10000 = 1) = 3: min 12,
    // low 15, high 18. An atomic request's min in the slow path: 12 − 12 / 2 = 6 (ALLOC_MIN_RESERVE),
    // 6 − 6 / 4 = 5 (ALLOC_NON_BLOCK).
    private static PageAllocator AtomicMachine(ulong pagesInZone = 1024) =>
        new(MachineLayout.Flat(pagesInZone * Page) with
        {
            MaxOrder = 6,
            Watermarks = Linux618Data.Marks(48),
            Mobility = new MobilitySettings { GroupByMobility = true, PageblockOrder = 3, HighAtomicReserve = true },
        });

    private static Request Atomic(int order) => Request.ForOrder(order).WithMobility(MigrateType.Unmovable).WithPriority(AllocationPriority.Atomic);

    private static Request Unmovable(int order, AllocationPriority priority = AllocationPriority.Normal) =>
        Request.ForOrder(order).WithMobility(MigrateType.Unmovable).WithPriority(priority);

    // Fills [0, 1008) with 126 movable order-3 blocks (lowest first, ignoring the watermarks),
    // leaving one free order-4 block at 1008; then an atomic order-1 request reserves pageblock
    // [1008, 1016). Returns the movable blocks by pfn.
    private static Dictionary<ulong, Block> ReserveFirstPageblock(PageAllocator pages)
    {
        var movable = new Dictionary<ulong, Block>();
        for (int i = 0; i < 126; i++)
        {
            Block b = Linux618Data.Take(pages, Request.ForOrder(3).WithMobility(MigrateType.Movable).WithPriority(AllocationPriority.NoWatermarks));
            movable.Add(b.Pfn, b);
        }

        Assert.Equal([new FreeBlock(1008 * Page, 4)], pages.GetFreeBlocks());

        // Fast path (low mark, no reserves): 16 free − (2^1 − 1) = 15 ≤ low 15: fails. Slow path
        // (ALLOC_WMARK_MIN | MIN_RESERVE | NON_BLOCK | HIGHATOMIC): 15 > 5. No highatomic or
        // unmovable free block, so __rmqueue_claim takes the order-4 movable block whole (both its
        // pageblocks become unmovable) and hands out 1008, leaving 1010 (order 1), 1012 (order 2)
        // and 1016 (order 3). The success had ALLOC_HIGHATOMIC: reserve_highatomic_pageblock sees
        // 0 < 16 reserved and an unmovable pageblock, and moves [1008, 1016) with its free blocks
        // (1010, 1012) to MIGRATE_HIGHATOMIC: nr_reserved_highatomic = 8.
        Assert.Equal(1008UL, Linux618Data.Take(pages, Atomic(1)).Pfn);
        pages.Validate();
        return movable;
    }

    [Fact]
    public void An_atomic_high_order_request_that_succeeds_in_the_slow_path_reserves_its_pageblock()
    {
        PageAllocator pages = AtomicMachine();
        ReserveFirstPageblock(pages);
        MobilityStatistics stats = pages.GetMobilityStatistics();
        Assert.Equal(1, stats.HighAtomicReservations);
        Assert.Equal(8UL, stats.ReservedHighAtomicPages);
        Assert.Equal([0, 1, 1, 0, 0, 0, 0], Linux618Data.FreeCounts(pages, MigrateType.HighAtomic));
        Assert.Equal([0, 0, 0, 1, 0, 0, 0], Linux618Data.FreeCounts(pages, MigrateType.Unmovable));
        Assert.Equal([1, 126, 0, 1, 0], BlockCounts(pages)); // "Number of blocks type": Unmovable, Movable, Reclaimable, HighAtomic, Isolate
    }

    [Fact]
    public void The_reserve_stops_at_one_percent_of_the_zone_aligned_up_to_whole_pageblocks()
    {
        PageAllocator pages = AtomicMachine();
        Dictionary<ulong, Block> movable = ReserveFirstPageblock(pages);

        // Three more atomic order-1 requests come from the highatomic lists first (rmqueue_buddy
        // with ALLOC_HIGHATOMIC): 1010, then 1012 split from the order-2 block, then 1014; each
        // fails the fast path (free outside the reserve − 1 ≤ 15) and passes min 5. Their
        // pageblock is already highatomic, so nothing more is reserved.
        Assert.Equal(1010UL, Linux618Data.Take(pages, Atomic(1)).Pfn);
        Assert.Equal(1012UL, Linux618Data.Take(pages, Atomic(1)).Pfn);
        Assert.Equal(1014UL, Linux618Data.Take(pages, Atomic(1)).Pfn);
        Assert.Equal(1, pages.GetMobilityStatistics().HighAtomicReservations);

        // The next one (8 free, 7 ≤ 15 fast, 7 > 5 slow) takes 1016 from the unmovable lists and
        // reserves [1016, 1024): 8 < 16, so nr_reserved_highatomic becomes 16.
        Assert.Equal(1016UL, Linux618Data.Take(pages, Atomic(1)).Pfn);
        Assert.Equal(16UL, pages.GetMobilityStatistics().ReservedHighAtomicPages);

        // Free two movable pageblocks at 0: 16 + 6 highatomic free pages. An atomic order-3
        // request: fast path 22 − 7 − 6 = 9 ≤ 15 fails; the highatomic lists have nothing of order
        // 3, nor do unmovable's; the order-4 movable block at 0 is claimed whole and 0 handed out.
        // reserve_highatomic_pageblock: 16 ≥ ALIGN(1024 / 100, 8) = 16 — no third pageblock (the
        // pre-6.x ceiling, managed / 100 + a pageblock = 18, would have taken one).
        pages.Free(movable[0]);
        pages.Free(movable[8]);
        Assert.Equal(0UL, Linux618Data.Take(pages, Atomic(3)).Pfn);
        MobilityStatistics stats = pages.GetMobilityStatistics();
        Assert.Equal(2, stats.HighAtomicReservations);
        Assert.Equal(16UL, stats.ReservedHighAtomicPages);
        Assert.Equal([2, 124, 0, 2, 0], BlockCounts(pages));
        pages.Validate();
    }

    [Theory]
    [InlineData(792UL, 0UL)] // 99 pageblocks: managed / 100 = 7 < 8 pages: nothing is reserved
    [InlineData(800UL, 8UL)] // 100 pageblocks: 8 ≥ 8, ceiling ALIGN(8, 8) = 8: one pageblock
    public void A_zone_under_a_hundred_pageblocks_reserves_nothing(ulong zonePages, ulong expectedReserved)
    {
        PageAllocator pages = AtomicMachine(zonePages);
        ulong fill = (zonePages - 16) / 8;
        for (ulong i = 0; i < fill; i++)
        {
            Linux618Data.Take(pages, Request.ForOrder(3).WithMobility(MigrateType.Movable).WithPriority(AllocationPriority.NoWatermarks));
        }

        // 16 free pages in blocks of a pageblock or more: the atomic order-1 request fails the
        // fast path (15 ≤ 15), passes min 5, claims a free movable pageblock whole and succeeds
        // with ALLOC_HIGHATOMIC; reserve_highatomic_pageblock then decides by the zone's size.
        Assert.Equal(16UL, pages.FreePages);
        Linux618Data.Take(pages, Atomic(1));
        MobilityStatistics stats = pages.GetMobilityStatistics();
        Assert.Equal(expectedReserved, stats.ReservedHighAtomicPages);
        Assert.Equal(expectedReserved == 0 ? 0 : 1, stats.HighAtomicReservations);
        pages.Validate();
    }

    [Fact]
    public void An_ordinary_request_does_not_take_highatomic_free_blocks()
    {
        PageAllocator pages = AtomicMachine();
        Dictionary<ulong, Block> movable = ReserveFirstPageblock(pages);
        pages.Free(movable[0]);
        pages.Free(movable[8]); // free: 6 highatomic (1010 order 1, 1012 order 2), 8 unmovable (1016), 16 movable (order 4 at 0)
        Assert.Equal(1016UL, Linux618Data.Take(pages, Unmovable(3, AllocationPriority.NoWatermarks)).Pfn);

        // An unmovable order-1 request: fast path 22 − 1 − 6 highatomic = 15 ≤ 15 fails; slow
        // path at min 12: 15 > 12. __rmqueue never looks at MIGRATE_HIGHATOMIC (no fallback leads
        // there), so the order-1 highatomic block at 1010 is left alone: the movable order-4 block
        // at 0 is claimed whole and 0 handed out.
        Assert.Equal(0UL, Linux618Data.Take(pages, Unmovable(1)).Pfn);
        Assert.Equal([0, 1, 1, 0, 0, 0, 0], Linux618Data.FreeCounts(pages, MigrateType.HighAtomic));
        Assert.Equal(0, pages.GetMobilityStatistics().HighAtomicReleases);
        pages.Validate();
    }

    [Fact]
    public void An_ordinary_requests_watermark_excludes_highatomic_free_pages_and_it_unreserves_before_failing()
    {
        PageAllocator pages = AtomicMachine();
        Dictionary<ulong, Block> movable = ReserveFirstPageblock(pages);
        Assert.Equal(1016UL, Linux618Data.Take(pages, Unmovable(3, AllocationPriority.NoWatermarks)).Pfn);
        pages.Free(movable[0]); // free: 6 highatomic + 8 movable (order 3 at 0)

        // An unmovable order-0 request: __zone_watermark_unusable_free counts the 6 highatomic free
        // pages as unusable without ALLOC_RESERVES, so the fast path sees 8 ≤ low 15 and the slow
        // path 8 ≤ min 12. Direct reclaim's unreserve (force = false) skips the zone: its reserve
        // (8) is not above one pageblock. Order 0 has no compaction. should_reclaim_retry, about to
        // give up, unreserves with force = true: the lowest-order highatomic block's pageblock
        // (1010's, [1008, 1016)) goes back to the requester's type, unmovable. The retry sees
        // 14 > 12 and __rmqueue_smallest(unmovable) takes the order-1 block at 1010 and splits it.
        // Had the watermark counted the highatomic pages (14 > 12 at min), the request would have
        // claimed the movable pageblock at 0 without unreserving.
        Assert.Equal(1010UL, Linux618Data.Take(pages, Unmovable(0)).Pfn);
        MobilityStatistics stats = pages.GetMobilityStatistics();
        Assert.Equal(1, stats.HighAtomicReleases);
        Assert.Equal(0UL, stats.ReservedHighAtomicPages);
        Assert.Equal([2, 126, 0, 0, 0], BlockCounts(pages)); // [1008, 1016) unreserved, [1016, 1024) unmovable already
        pages.Validate();
    }

    [Fact]
    public void A_failing_ordinary_request_unreserves_one_pageblock_at_a_time_and_keeps_the_last_unless_forced()
    {
        PageAllocator pages = AtomicMachine();
        Dictionary<ulong, Block> movable = ReserveFirstPageblock(pages);
        Assert.Equal(1010UL, Linux618Data.Take(pages, Atomic(1)).Pfn);
        Assert.Equal(1012UL, Linux618Data.Take(pages, Atomic(1)).Pfn);
        Assert.Equal(1014UL, Linux618Data.Take(pages, Atomic(1)).Pfn);
        Assert.Equal(1016UL, Linux618Data.Take(pages, Atomic(1)).Pfn); // reserves [1016, 1024): 16 reserved
        pages.Free(movable[0]); // free: 6 highatomic (1018 order 1, 1020 order 2) + 8 movable

        // Unmovable order 0: 8 outside the reserve ≤ min 12 fails. Direct reclaim's unreserve
        // (force = false) may act, the zone holding 16 > 8 reserved pages: [1016, 1024) becomes
        // unmovable (reserve 8). The retry: 14 > 12, and the smallest unmovable block, 1018, is
        // taken. [1008, 1016) stays highatomic.
        Assert.Equal(1018UL, Linux618Data.Take(pages, Unmovable(0)).Pfn);
        MobilityStatistics stats = pages.GetMobilityStatistics();
        Assert.Equal(1, stats.HighAtomicReleases);
        Assert.Equal(8UL, stats.ReservedHighAtomicPages);
        pages.Validate();
    }

    [Fact]
    public void An_atomic_order_0_request_takes_highatomic_blocks_as_a_last_resort()
    {
        PageAllocator pages = AtomicMachine();
        ReserveFirstPageblock(pages);
        Assert.Equal(1016UL, Linux618Data.Take(pages, Unmovable(3, AllocationPriority.NoWatermarks)).Pfn);
        Assert.Equal(6UL, pages.FreePages); // all highatomic: 1010 (order 1), 1012 (order 2)

        // Atomic order 0: no ALLOC_HIGHATOMIC (order 0), but ALLOC_NON_BLOCK, which makes the
        // highatomic pages usable for the watermark (6 > 5) and lets rmqueue_buddy take from
        // MIGRATE_HIGHATOMIC after __rmqueue found nothing: the smallest block, 1010, split.
        Assert.Equal(1010UL, Linux618Data.Take(pages, Atomic(0)).Pfn);
        Assert.Equal(0, pages.GetMobilityStatistics().HighAtomicReleases);

        // A normal order-0 request now fails (5 − 5 highatomic = 0 ≤ 12 even after the forced
        // unreserve turns [1008, 1016) back to unmovable: 5 ≤ 12), having unreserved the pageblock.
        Assert.False(pages.TryAllocate(Unmovable(0), out _, out _));
        MobilityStatistics stats = pages.GetMobilityStatistics();
        Assert.Equal(1, stats.HighAtomicReleases);
        Assert.Equal(0UL, stats.ReservedHighAtomicPages);
        pages.Validate();
    }

    [Fact]
    public void A_highatomic_pageblock_never_merges_with_a_pageblock_of_another_type()
    {
        PageAllocator pages = AtomicMachine();
        ReserveFirstPageblock(pages); // 1008 (order 1) allocated in highatomic [1008, 1016); [1016, 1024) unmovable and free
        Assert.Equal(3, pages.GetFreeBlocks().Count); // 1010 (order 1), 1012 (order 2), 1016 (order 3)

        // Freeing 1008 merges it with 1010 and 1012 up to the order-3 block at 1008: inside the
        // pageblock. Its order-3 buddy at 1016 is free but unmovable: __free_one_page merges
        // across pageblocks only if both types are mergeable, and MIGRATE_HIGHATOMIC is not.
        pages.FreeRange(1008 * Page, 2);
        pages.Validate();
        Assert.Equal([new FreeBlock(1008 * Page, 3), new FreeBlock(1016 * Page, 3)], pages.GetFreeBlocks().OrderBy(f => f.Address));
        Assert.Equal([0, 0, 0, 1, 0, 0, 0], Linux618Data.FreeCounts(pages, MigrateType.HighAtomic));
        Assert.Equal([0, 0, 0, 1, 0, 0, 0], Linux618Data.FreeCounts(pages, MigrateType.Unmovable));
        Assert.Equal(8UL, pages.GetMobilityStatistics().ReservedHighAtomicPages); // frees never release the reserve
    }

    [Fact]
    public void Dump_shows_a_machine_with_a_highatomic_pageblock()
    {
        PageAllocator pages = AtomicMachine();
        ReserveFirstPageblock(pages);
        Buddy.Diagnostics.AllocatorDump dump = pages.Dump();
        Assert.Contains('H', string.Concat(dump.Zones.Select(z => z.PageblockTypes))); // the reserved pageblock, as U/M/R letter H
        Assert.Null(Buddy.Diagnostics.DumpCheck.FirstProblem(dump));
    }

    // ------------------------------------------------------------------ machines without watermarks

    // The kernel has no "watermarks off": its fast path (get_page_from_freelist at ALLOC_WMARK_LOW,
    // with alloc_flags_nofragment's ALLOC_NOFRAGMENT) always runs first, and with marks of zero it
    // succeeds whenever a zone has a fitting block. The slow path — and with it ALLOC_HIGHATOMIC and
    // reserve_highatomic_pageblock — is entered only when the fast path failed.

    [Fact]
    public void Without_watermarks_an_atomic_request_served_at_once_reserves_nothing()
    {
        // 1024 pages, pageblocks of 8 (ceiling 16 reserved pages), no watermarks, all free. The
        // atomic order-1 request succeeds in the fast path (the claim of a whole free movable
        // block), which carries no ALLOC_HIGHATOMIC: nothing is reserved.
        var pages = new PageAllocator(MachineLayout.Flat(1024 * Page) with
        {
            MaxOrder = 6,
            Mobility = new MobilitySettings { GroupByMobility = true, PageblockOrder = 3, HighAtomicReserve = true },
        });
        Linux618Data.Take(pages, Atomic(1));
        Assert.Equal(0UL, pages.GetMobilityStatistics().ReservedHighAtomicPages);
        Assert.Equal(0, pages.GetMobilityStatistics().HighAtomicReservations);
    }

    [Fact]
    public void Without_watermarks_NoFragment_still_prefers_a_whole_pageblock_in_DMA32()
    {
        // The three-zone machine without watermarks; Normal has only an order-2 free block in a
        // movable pageblock, DMA32 a whole free pageblock at 128. The fast path runs with
        // NOFRAGMENT (preferred zone Normal) and claims DMA32's pageblock, as with watermarks on
        // (Linux618RulesTests.NoFragment_takes_a_whole_free_pageblock_from_DMA32_rather_than_steal_in_Normal).
        var pages = new PageAllocator(Linux618Data.ThreeZones(
            new MobilitySettings { GroupByMobility = true, PageblockOrder = 4, NoFragment = true }, WatermarkSettings.None));
        Dictionary<ulong, Block> movable = Linux618Data.Fill(pages, MigrateType.Movable);
        Linux618Data.FreePages(pages, movable, 264, 4);
        Linux618Data.FreePages(pages, movable, 128, 16);
        Assert.Equal(128UL, Linux618Data.Take(pages, Request.ForOrder(0).WithMobility(MigrateType.Unmovable)).Pfn);
    }

    // ------------------------------------------------------------------ the fragmentation score

    [Theory]
    [InlineData(20, 80, 90)]  // the default: wmark_low 80, leeway min(10, 40) = 10
    [InlineData(95, 5, 7)]    // wmark_low 5, leeway min(10, 5 / 2 = 2) = 2
    [InlineData(0, 100, 100)] // min(100 + 10, 100)
    [InlineData(100, 0, 0)]
    public void The_fragmentation_score_marks_follow_the_proactiveness(int proactiveness, int low, int high)
    {
        Assert.Equal(low, FragmentationScore.Mark(proactiveness, low: true));
        Assert.Equal(high, FragmentationScore.Mark(proactiveness, low: false));
    }

    [Fact]
    public void A_zones_score_is_extfrag_for_pageblock_order_and_the_nodes_weights_zones_by_present_pages()
    {
        // DMA [0, 64) and Normal [64, 256) of the small grouping machine (pageblock order 4).
        var pages = new PageAllocator(MachineLayout.Flat(1 * MiB) with
        {
            MaxOrder = 6,
            Zones = [new(ZoneKind.Dma, 256 * KiB), new(ZoneKind.Normal, ulong.MaxValue)],
            Mobility = Small(),
        });
        Zone dma = Linux618Data.ZoneNamed(pages, ZoneKind.Dma), normal = Linux618Data.ZoneNamed(pages, ZoneKind.Normal);
        Assert.Equal(0, FragmentationScore.OfZone(dma)); // all free in order-6 blocks

        // Fill DMA with order-0 blocks, then free every other page: 32 free pages, none in a block
        // of order ≥ 4: extfrag_for_order = (32 − 0) × 100 / 32 = 100.
        var dmaBlocks = new List<Block>();
        for (int i = 0; i < 64; i++)
        {
            dmaBlocks.Add(Linux618Data.Take(pages, Request.ForOrder(0).WithMobility(MigrateType.Movable).InZone(ZoneKind.Dma)));
        }

        foreach (Block b in dmaBlocks.Where(b => b.Pfn % 2 == 1))
        {
            pages.Free(b);
        }

        Assert.Equal(100, FragmentationScore.OfZone(dma));

        // Normal: take one order-0 page; 191 free: the order-4 blocks hold 176 (64-page blocks at
        // 128 and 192, and 48 of [64, 128) in order 4 and 5), the rest 15 are smaller:
        // (191 − 176) × 100 / 191 = 7.
        Linux618Data.Take(pages, Request.ForOrder(0).WithMobility(MigrateType.Movable));
        Assert.Equal(7, FragmentationScore.OfZone(normal));

        // fragmentation_score_node: Σ present × score / (node present + 1) = 64 × 100 / 257 + 192 × 7 / 257 = 24 + 5.
        Assert.Equal(29, FragmentationScore.OfNode(pages.ZonesLocked));
    }

    // ------------------------------------------------------------------ kcompactd, proactive

    // Fills the small machine with movable handles and frees every odd page: 128 free pages, none
    // in a block above order 0: the zone's score is 100 and the node's 100 × 256 / 257 = 99.
    private static Dictionary<ulong, MovableBlock> Fragment(PageAllocator pages)
    {
        var handles = new Dictionary<ulong, MovableBlock>();
        for (int i = 0; i < Pages; i++)
        {
            MovableBlock h = pages.AllocateMovable(Request.ForOrder(0), (_, _, _) => { });
            handles.Add(h.Block.Pfn, h);
        }

        for (ulong p = 1; p < Pages; p += 2)
        {
            pages.Free(handles[p]);
            handles.Remove(p);
        }

        return handles;
    }

    [Theory]
    [InlineData(20)]
    [InlineData(0)]
    public void Kcompactd_compacts_proactively_while_the_score_is_above_the_high_mark(int proactiveness)
    {
        // kcompactd's period is 300 operations: the 256 allocations of the fill start at clock
        // 0..255, before the first check falls due, so nothing runs while the machine fills.
        MobilitySettings mobility = Small(compaction: true) with { CompactionProactiveness = proactiveness, KcompactdIntervalOperations = 300 };
        PageAllocator pages = Machine(mobility);
        Fragment(pages);
        Assert.Equal(99, FragmentationScore.OfNode(pages.ZonesLocked));
        Assert.Equal(0, pages.GetMobilityStatistics().KcompactdWakes);

        // 384 operations (256 allocations, 128 frees) have passed, more than the period: the next
        // allocation first runs kcompactd's timed check. should_proactive_compact_node: 99 > high mark 90;
        // compact_node(proactive) compacts the zone until its own score is ≤ the low mark 80
        // (__compact_finished), scanning pages: compact_daemon_migrate_scanned grows;
        // compact_daemon_wake counts only kcompactd_do_work, not proactive runs. With
        // proactiveness 0 kcompactd never runs on its own.
        Alloc(pages, 0, MigrateType.Movable);
        pages.Validate();
        MobilityStatistics stats = pages.GetMobilityStatistics();
        Assert.Equal(0, stats.VmEvents["compact_daemon_wake"]);
        if (proactiveness == 0)
        {
            Assert.Equal(0, stats.KcompactdWakes);
            Assert.Equal(0, stats.VmEvents["compact_daemon_migrate_scanned"]);
            Assert.True(FragmentationScore.OfNode(pages.ZonesLocked) > 90);
            return;
        }

        Assert.Equal(1, stats.KcompactdWakes);
        Assert.True(stats.VmEvents["compact_daemon_migrate_scanned"] > 0);
        Assert.True(stats.VmEvents["compact_migrate_scanned"] >= stats.VmEvents["compact_daemon_migrate_scanned"]); // counted in both
        Assert.True(FragmentationScore.OfZone(pages.ZonesLocked[0]) <= 80, $"score {FragmentationScore.OfZone(pages.ZonesLocked[0])}");
    }

    // ------------------------------------------------------------------ /proc/vmstat

    [Fact]
    public void VmEvents_are_the_compaction_counters_of_proc_vmstat_in_its_order()
    {
        MobilityStatistics stats = Machine().GetMobilityStatistics();
        Assert.Equal(
            ["compact_migrate_scanned", "compact_free_scanned", "compact_isolated", "compact_stall", "compact_fail", "compact_success",
             "compact_daemon_wake", "compact_daemon_migrate_scanned", "compact_daemon_free_scanned"],
            stats.VmEvents.Keys);
        Assert.Equal(
            "compact_migrate_scanned 0\ncompact_free_scanned 0\ncompact_isolated 0\ncompact_stall 0\ncompact_fail 0\ncompact_success 0\n" +
            "compact_daemon_wake 0\ncompact_daemon_migrate_scanned 0\ncompact_daemon_free_scanned 0\n",
            stats.VmStatText());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Direct_compaction_counts_a_stall_and_then_a_success_or_a_fail(bool movableHandles)
    {
        // Every odd page free (128 pages, none in a block above order 0); the survivors are
        // handles whose owner moves them, or plain movable blocks that never move. An order-2
        // request finds no block; compaction is suitable (order ≤ 3: no fragmentation-index
        // test; no watermarks); __alloc_pages_direct_compact counts compact_stall, then
        // compact_success when the retry got a page (handles moved, an order-2 block appeared),
        // compact_fail when it did not (nothing could move).
        PageAllocator pages = Machine(Small(compaction: true));
        var frees = new List<Action>();
        for (int i = 0; i < Pages; i++)
        {
            if (movableHandles)
            {
                MovableBlock h = pages.AllocateMovable(Request.ForOrder(0), (_, _, _) => { });
                frees.Add(() => pages.Free(h));
            }
            else
            {
                Block b = Alloc(pages, 0, MigrateType.Movable);
                Assert.Equal((ulong)i, b.Pfn);
                frees.Add(() => pages.Free(b));
            }
        }

        Assert.Empty(pages.GetFreeBlocks());
        for (int p = 1; p < Pages; p += 2)
        {
            frees[p](); // handles come lowest first too: entry p holds page p
        }

        Assert.Equal(128UL, pages.FreePages);
        Assert.All(pages.GetFreeBlocks(), f => Assert.Equal(0, f.Order));
        bool ok = pages.TryAllocate(Request.ForOrder(2).WithMobility(MigrateType.Movable), out _, out _);
        pages.Validate();
        Assert.Equal(movableHandles, ok);
        IReadOnlyDictionary<string, long> vm = pages.GetMobilityStatistics().VmEvents;
        Assert.Equal(1, vm["compact_stall"]);
        Assert.Equal(movableHandles ? 1 : 0, vm["compact_success"]);
        Assert.Equal(movableHandles ? 0 : 1, vm["compact_fail"]);
        Assert.True(vm["compact_migrate_scanned"] > 0);
        Assert.Equal(0, vm["compact_daemon_wake"]);
    }

    // ------------------------------------------------------------------ bad input

    public static TheoryData<MobilitySettings, string> BadSettings => new()
    {
        { Small() with { WatermarkBoostFactor = -1 }, "WatermarkBoostFactor" },
        { Small() with { WatermarkBoostFactor = 10_000_001 }, "WatermarkBoostFactor" },
        { Small(compaction: true) with { CompactionProactiveness = -1 }, "CompactionProactiveness" },
        { Small(compaction: true) with { CompactionProactiveness = 101 }, "CompactionProactiveness" },
        { Small() with { CompactionProactiveness = 20 }, "CompactionProactiveness needs Mobility.Compaction" },
        { new MobilitySettings { PageblockOrder = 4, NoFragment = true }, "GroupByMobility" },
        { new MobilitySettings { PageblockOrder = 4, HighAtomicReserve = true }, "GroupByMobility" },
        { new MobilitySettings { PageblockOrder = 4, DefragMode = true }, "GroupByMobility" },
        { new MobilitySettings { PageblockOrder = 4, WatermarkBoostFactor = 15000 }, "GroupByMobility" },
        { Small() with { KcompactdIntervalOperations = 0 }, "KcompactdIntervalOperations" },
    };

    [Theory]
    [MemberData(nameof(BadSettings))]
    public void Bad_kernel_rule_settings_are_refused_naming_the_setting(MobilitySettings mobility, string named)
    {
        var e = Assert.Throws<ArgumentException>(() => new PageAllocator(MachineLayout.Flat(1 * MiB) with { MaxOrder = 6, Mobility = mobility }));
        Assert.Equal("Mobility", e.ParamName);
        Assert.Contains(named, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_kernel_defaults_are_accepted_and_turn_every_rule_on()
    {
        MobilitySettings linux = MobilitySettings.Linux618;
        Assert.True(linux is { GroupByMobility: true, Compaction: true, NoFragment: true, WatermarkBoostFactor: 15000, HighAtomicReserve: true, CompactionProactiveness: 20, DefragMode: false, ExtfragThreshold: 500, PageblockOrder: 9 });
        var pages = new PageAllocator(MachineLayout.X86(64 * MiB) with { Mobility = linux });
        pages.Validate();
    }
}
