// HighAllocTests: the highalloc scenario — the mobility targets on seeds 1..5, the load and its time
// series, and (issue 16) the atomic high-order load, the highatomic reserve and the counters.
using Buddy.Simulation.Scenarios;

namespace Buddy.Tests;

/// <summary>The highalloc targets of the mobility issue, on seeds 1..5 (the worst seed counts).</summary>
public class HighAllocTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void Grouping_keeps_97_percent_at_rest_and_compaction_90_under_load_and_98_at_rest(int seed)
    {
        IReadOnlyList<HighAllocPolicyResult> results = HighAlloc.Run(new HighAllocOptions { Seed = seed, Policies = ["zoned+mobility", "zoned+mobility+compaction"] });
        HighAllocPolicyResult grouping = results[0], compaction = results[1];

        Assert.True(grouping.AtRest.Share >= 0.97, $"zoned+mobility at rest: {grouping.AtRest.Blocks}/{grouping.AtRest.Possible}");
        Assert.True(compaction.UnderLoad.Share >= 0.90, $"compaction under load: {compaction.UnderLoad.Blocks}/{compaction.UnderLoad.Possible}");
        Assert.True(compaction.AtRest.Share >= 0.98, $"compaction at rest: {compaction.AtRest.Blocks}/{compaction.AtRest.Possible}");
        Assert.True(compaction.UnderLoad.PagesMovedByCompaction > 0);
        Assert.Equal(0UL, grouping.UnderLoad.PagesMovedByCompaction);
        Assert.True(compaction.UnderLoad.Possible > 90, "80% load leaves about a fifth of memory free");
    }

    [Fact]
    public void Without_grouping_unmovable_pages_scattered_everywhere_keep_large_blocks_from_forming()
    {
        HighAllocPolicyResult plain = HighAlloc.Run(new HighAllocOptions { Seed = 1, Policies = ["zoned"], Steps = 400_000, FillSteps = 100_000 })[0];
        Assert.True(plain.AtRest.Share < 0.5, $"plain buddy at rest: {plain.AtRest.Share:P1}");
        Assert.Contains("Number of blocks type", plain.PageTypeInfo, StringComparison.Ordinal);
    }

    [Fact]
    public void The_load_is_sampled_every_N_steps_and_the_samples_follow_the_load()
    {
        HighAllocPolicyResult plain = HighAlloc.Run(new HighAllocOptions { Seed = 1, Policies = ["zoned"], Steps = 400_000, FillSteps = 100_000, SampleEvery = 10_000 })[0];
        Assert.Equal(40, plain.Metrics.Samples.Count);
        Assert.Equal(Enumerable.Range(1, 40).Select(i => i * 10_000L), plain.Metrics.Samples.Select(s => s.Step));
        ulong total = 262_144;
        // During the fill every step allocates (memory is below the 97% target), so pages in use
        // only grow; later the load hovers around its 80% target.
        for (int i = 1; i < 10; i++)
        {
            Assert.True(plain.Metrics.Samples[i].PagesInUse > plain.Metrics.Samples[i - 1].PagesInUse + 10_000);
        }

        Assert.InRange(plain.Metrics.Samples[^1].PagesInUse, total * 78 / 100, total * 82 / 100);
        // Free plus in use is the managed memory: 1 GiB less the pages the x86 layout reserves.
        ulong managed = plain.Metrics.Samples[0].FreePages + plain.Metrics.Samples[0].PagesInUse;
        Assert.InRange(managed, total - 512, total);
        Assert.All(plain.Metrics.Samples, s => Assert.Equal(managed, s.FreePages + s.PagesInUse));
        Assert.Equal(plain.Metrics.AllocFailures, plain.Metrics.Samples[^1].Failures);
        Assert.True(plain.Metrics.Requests > 100_000);
        Assert.True(plain.Metrics.PeakPagesInUse >= plain.Metrics.Samples.Max(s => s.PagesInUse));
        Assert.Contains("Node 0, zone    DMA32", plain.Metrics.BuddyInfo, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => HighAlloc.Run(new HighAllocOptions { Policies = ["zoned"], SampleEvery = 0 }));
    }
}

/// <summary>Issue 16: the atomic high-order load, Linux 6.18's highatomic reserve and the counters highalloc reports.</summary>
public class HighAllocAtomicTests
{
    // A short run on 256 MiB (the DMA32 zone still holds over 100 pageblocks, so it may reserve) that
    // fills to 99.5% — at the watermarks, where atomic requests take the slow path — with 1% of the
    // allocations order-3 GFP_ATOMIC.
    private static readonly HighAllocOptions s_atWatermarks = new()
    {
        Policies = ["zoned+mobility+compaction", "linux-6.18"],
        MemoryBytes = 256 * Units.MiB,
        Steps = 60_000,
        FillSteps = 50_000,
        FillTarget = 0.995,
        AtomicShare = 0.01,
    };

    [Fact]
    public void Linux_6_18_reserves_pageblocks_for_high_order_atomic_requests_and_the_policy_without_the_reserve_does_not()
    {
        IReadOnlyList<HighAllocPolicyResult> results = HighAlloc.Run(s_atWatermarks);
        HighAllocPolicyResult compaction = results[0], linux = results[1];

        Assert.True(linux.AtomicRequests > 300, $"{linux.AtomicRequests} atomic requests");
        Assert.Equal(linux.AtomicRequests, compaction.AtomicRequests); // the same seeded load
        Assert.True(linux.Metrics.Mobility.HighAtomicReservations > 0, "linux-6.18 reserved no pageblock");
        Assert.Equal(0, compaction.Metrics.Mobility.HighAtomicReservations);
        Assert.Equal(0UL, compaction.MobilityAtEnd.ReservedHighAtomicPages);
        Assert.InRange(linux.AtomicFailures, 0, linux.AtomicRequests);
        // The counters at the end include the load's: they only grow.
        Assert.True(linux.MobilityAtEnd.HighAtomicReservations >= linux.Metrics.Mobility.HighAtomicReservations);
        Assert.True(linux.MobilityAtEnd.FallbackEvents >= linux.Metrics.Mobility.FallbackEvents);
    }

    [Fact]
    public void Without_an_atomic_share_the_load_draws_what_it_always_drew_and_makes_no_atomic_request()
    {
        HighAllocOptions plain = new() { Policies = ["zoned+mobility"], Steps = 60_000, FillSteps = 15_000 };
        HighAllocPolicyResult none = HighAlloc.Run(plain)[0];
        Assert.Equal(0, none.AtomicRequests);
        Assert.Equal(0, none.AtomicFailures);
        HighAllocPolicyResult atomic = HighAlloc.Run(plain with { AtomicShare = 0.05 })[0];
        Assert.InRange(atomic.AtomicRequests, 1, atomic.Metrics.Requests / 10);
        Assert.Throws<ArgumentOutOfRangeException>(() => HighAlloc.Run(plain with { AtomicShare = 1.5 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => HighAlloc.Run(plain with { FillTarget = 0 }));
    }

    [Fact]
    public void Linux_6_18_is_among_the_default_policies_and_every_policy_reports_the_compaction_counters_by_their_vmstat_names()
    {
        Assert.Equal(["zoned", "zoned+mobility", "zoned+mobility+compaction", "linux-6.18"], HighAlloc.DefaultPolicies);
        IReadOnlyList<HighAllocPolicyResult> results = HighAlloc.Run(new HighAllocOptions { Steps = 8_000, FillSteps = 2_000 });
        Assert.Equal(HighAlloc.DefaultPolicies, results.Select(r => r.Name));
        Assert.All(results, r => Assert.Contains("compact_stall", r.MobilityAtEnd.VmEvents.Keys));
    }

    [Fact]
    public void The_tunables_reach_the_policy_boost_factor_zero_boosts_nothing()
    {
        HighAllocOptions options = s_atWatermarks with { Policies = ["linux-6.18"], AtomicShare = 0 };
        HighAllocPolicyResult boosted = HighAlloc.Run(options)[0];
        HighAllocPolicyResult off = HighAlloc.Run(options with { Tunables = new() { WatermarkBoostFactor = 0 } })[0];
        Assert.True(boosted.MobilityAtEnd.WatermarkBoosts > 0, "the default factor boosted nothing");
        Assert.Equal(0, off.MobilityAtEnd.WatermarkBoosts);
    }
}
