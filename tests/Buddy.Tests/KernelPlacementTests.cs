using Buddy.Kernel;
using Buddy.Simulation.Metrics;
using Buddy.Simulation.Replay;

namespace Buddy.Tests;

/// <summary>
/// The kernel placement and the start state on a machine small enough that every page's state is
/// known by hand: one DMA32 zone of 1024 pages at pfn 0x1000 (two pageblocks).
/// </summary>
public sealed class KernelPlacementTests
{
    private const string ZoneInfoText =
        "Node 0, zone    DMA32\n  pages free     257\n        min      0\n        low      0\n        high     0\n"
        + "        spanned  1024\n        present  1024\n        managed  1024\n        protection: (0, 0, 0, 0, 0)\n  start_pfn:           4096\n";

    // Before the capture: one free page (0x1200, which the trace allocates first) and one free
    // order-8 block of the untouched pages; pageblock 0 Unmovable, pageblock 1 Movable.
    private const string StartPageTypes =
        "Page block order: 9\nPages per block:  512\n\n"
        + "Free pages count per migrate type at order       0      1      2      3      4      5      6      7      8      9     10 \n"
        + "Node    0, zone    DMA32, type    Unmovable      0      0      0      0      0      0      0      0      0      0      0 \n"
        + "Node    0, zone    DMA32, type      Movable      1      0      0      0      0      0      0      0      1      0      0 \n"
        + "Node    0, zone    DMA32, type  Reclaimable      0      0      0      0      0      0      0      0      0      0      0 \n"
        + "Node    0, zone    DMA32, type   HighAtomic      0      0      0      0      0      0      0      0      0      0      0 \n"
        + "Node    0, zone    DMA32, type      Isolate      0      0      0      0      0      0      0      0      0      0      0 \n"
        + "\nNumber of blocks type     Unmovable      Movable  Reclaimable   HighAtomic      Isolate \n"
        + "Node 0, zone    DMA32            1            1            0            0            0 \n";

    private const string EndBuddyInfo = "Node 0, zone    DMA32      1      0      0      0      0      0      0      0      1      0      0 \n";

    // 1. frees 0x1000 order 9 (allocated before the capture); 2. allocates 0x1200; 3. allocates
    // 0x1000 order 9 again; 4. frees 0x1200.
    private static readonly string Trace = string.Concat(
        Line(1, "mm_page_free: page=0000000012345678 pfn=0x1000 order=9"),
        Line(2, "mm_page_alloc: page=0000000012345679 pfn=0x1200 order=0 migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE"),
        Line(3, "mm_page_alloc: page=0000000012345670 pfn=0x1000 order=9 migratetype=0 gfp_flags=GFP_KERNEL"),
        Line(4, "mm_page_free: page=0000000012345679 pfn=0x1200 order=0"));

    private static string Line(int n, string evt) => $"            bash-1     [000] .....     1.00000{n}: {evt}\n";

    private static TracedMachine Machine(bool withStart = true) =>
        new(ZoneInfo.ParseLayout(ZoneInfoText))
        {
            StartPageTypes = withStart ? PageTypeInfo.Parse(StartPageTypes).Zones : null,
            EndBuddyInfo = BuddyInfo.Parse(EndBuddyInfo),
        };

    private static ReplayResult Replay(TracedMachine machine, params string[] policies)
    {
        string path = Path.Combine(Path.GetTempPath(), $"kernel-placement-{Guid.NewGuid():N}.trace");
        File.WriteAllText(path, Trace);
        try
        {
            return TraceReplay.Run(path, new ReplayOptions { Traced = machine, KernelPlacement = true, Policies = policies, SampleEvery = 1 });
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void The_start_state_holds_what_the_trace_proves_and_places_the_snapshot_free_blocks_in_untouched_pages()
    {
        ReplayResult r = Replay(Machine(), "zoned");
        StartSummary start = r.Start!;
        Assert.Equal(512UL, start.PreCapturePages);  // 0x1000..0x11ff: first event a free
        Assert.Equal(257UL, start.FreeAtStartPages); // 0x1200 (first event an allocation) and the order-8 block placed at 0x1300
        Assert.Equal(255UL, start.HeldPages);        // 0x1201..0x12ff: untouched, not free in the snapshot
        ZoneFreeCheck zone = Assert.Single(start.Zones);
        Assert.Equal(zone.SnapshotFreeBlocks, zone.RebuiltFreeBlocks);
        Assert.Equal(0, zone.UnplacedPages);
    }

    [Fact]
    public void The_kernel_placement_follows_every_pfn_and_ends_as_the_after_snapshot()
    {
        ReplayResult r = Replay(Machine(), "zoned", "linux-6.18");
        PolicyResult kernel = r.Policies[0];
        Assert.Equal("kernel", kernel.Name);
        Assert.Equal(2, kernel.Requests);
        Assert.Equal(0, kernel.AllocFailures);
        Assert.Equal(0, r.Trace.UnmatchedFrees); // the pre-capture block was freed, not skipped
        Assert.Equal(EndBuddyInfo, kernel.BuddyInfo);

        // Sample by sample (every event): after event 1 the order-9 block at 0x1000 is free beside 0x1200 and 0x1300.
        Assert.Equal([1L, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0], kernel.Samples[0].FreeBlocks);
        Assert.Equal([0L, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0], kernel.Samples[2].FreeBlocks);

        ZoneFreeCheck end = Assert.Single(r.EndCheck!);
        Assert.Equal(end.SnapshotFreeBlocks, end.RebuiltFreeBlocks);
        Assert.Contains("Node 0, zone    DMA32            1            1", r.Policies[0].PageTypeInfo, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_policy_starts_from_the_same_state_and_gets_a_distance_from_the_kernel()
    {
        ReplayResult r = Replay(Machine(), "zoned", "linux-6.18");
        Assert.Null(r.Policies[0].DistanceFromKernel);
        foreach (PolicyResult p in r.Policies.Skip(1))
        {
            Assert.Equal(r.Policies[0].Samples[0].FreeBlocks, p.Samples[0].FreeBlocks); // event 1 is a free: no choice yet
            KernelDistance d = p.DistanceFromKernel!;
            Assert.Equal(4, d.Samples);
            Assert.InRange(d.MeanFreeShape, 0, 1);
            Assert.InRange(d.MeanBuddyInfo, 0, 1);
            Assert.Equal(KernelDistance.FreeShape(p.Samples[^1].FreeBlocks!, r.Policies[0].Samples[^1].FreeBlocks!), d.FinalFreeShape);
            Assert.Equal(KernelDistance.BuddyInfoDistance(p.Samples[^1].FreeBlocks!, r.Policies[0].Samples[^1].FreeBlocks!), d.FinalBuddyInfo);
            Assert.Equal(KernelDistance.BlocksAt(p.Samples[^1].FreeBlocks!, 9) - KernelDistance.BlocksAt(r.Policies[0].Samples[^1].FreeBlocks!, 9), d.FinalHugeGap);
        }
    }

    [Fact]
    public void Without_a_start_snapshot_the_machine_starts_empty_and_pre_capture_frees_are_unmatched()
    {
        ReplayResult r = Replay(Machine(withStart: false), "zoned");
        Assert.Null(r.Start);
        Assert.Equal(1, r.Trace.UnmatchedFrees);
        Assert.Equal(0, r.Policies[0].AllocFailures);
    }

    [Fact]
    public void Free_shape_is_the_total_variation_distance_of_free_pages_over_orders()
    {
        Assert.Equal(0, KernelDistance.FreeShape([2, 1], [4, 2])); // same shape, twice the memory
        Assert.Equal(1, KernelDistance.FreeShape([0, 0, 1], [4, 0, 0]));
        Assert.Equal(0.5, KernelDistance.FreeShape([2, 1], [4, 0]), 9); // half the free pages in order 1 against none
        Assert.Equal(0, KernelDistance.BuddyInfoDistance([3, 0, 5], [3, 0, 5]));
        Assert.Equal((0.5 + 0 + 1) / 3, KernelDistance.BuddyInfoDistance([2, 0, 1], [4, 0, 0]), 9); // columns: 2 vs 4, both 0, 1 vs 0
    }

    [Fact]
    public void The_huge_block_gap_counts_blocks_at_the_index_order()
    {
        Assert.Equal(3, KernelDistance.BlocksAt([7, 1, 1], 1)); // an order-1 block, and an order-2 block counting as two
        Assert.Equal(0, KernelDistance.BlocksAt([7, 1, 1], 3));
    }
}
