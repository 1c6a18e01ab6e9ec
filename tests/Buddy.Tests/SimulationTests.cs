using Buddy.Simulation;
using Buddy.Simulation.Policies;
using Buddy.Simulation.Replay;
using Buddy.Simulation.Scenarios;
using Buddy.Tracing;
using static Buddy.Units;

namespace Buddy.Tests;

public class PolicyTests
{
    private static readonly MachineLayout s_pc = Machines.Isa1995();

    private static List<PolicyBlock> FillGeneral(Policy policy)
    {
        var held = new List<PolicyBlock>();
        while (policy.TryAllocate(new PolicyRequest(0, Priority: AllocationPriority.NoWatermarks), out PolicyBlock b, out _))
        {
            held.Add(b);
        }

        return held;
    }

    [Fact]
    public void Zoned_serves_ordinary_requests_from_dma32_first_and_dma_requests_below_16MiB()
    {
        var zoned = new ZonedPolicy(s_pc);
        Assert.True(zoned.TryAllocate(new PolicyRequest(0), out PolicyBlock ordinary, out _));
        Assert.True(ordinary.Block.Address >= 16 * MiB);
        Assert.True(zoned.TryAllocate(new PolicyRequest(4, ZoneKind.Dma, Boundary: 64 * KiB), out PolicyBlock dma, out _));
        Assert.True(dma.Block.EndAddress <= 16 * MiB);
    }

    [Fact]
    public void One_pool_policies_fill_from_the_bottom_and_1_3_4_still_finds_a_low_block()
    {
        var policy = new Linux134Policy(s_pc);
        Assert.True(policy.TryAllocate(new PolicyRequest(0), out PolicyBlock first, out _));
        Assert.True(first.Block.Address < 1 * MiB); // lowest address first, no zones
        List<PolicyBlock> all = FillGeneral(policy);
        PolicyBlock low = all.First(b => b.Block.Address < 16 * MiB && b.Block.Address >= 4 * MiB);
        policy.Free(low);
        Assert.True(policy.TryAllocate(new PolicyRequest(0, ZoneKind.Dma), out PolicyBlock dma, out _));
        Assert.Equal(low.Block.Address, dma.Block.Address);
        Assert.Equal(0L, policy.RetryAllocations);
    }

    [Fact]
    public void Linux_1_2_sets_aside_high_blocks_until_memory_runs_out_then_gives_them_back()
    {
        var policy = new Linux12Policy(s_pc);
        List<PolicyBlock> all = FillGeneral(policy);
        var high = all.Where(b => b.Block.Address >= 20 * MiB).Take(10).ToList();
        high.ForEach(b => policy.Free(b));
        ulong free = policy.FreePages;
        Assert.Equal(10UL, free);

        Assert.False(policy.TryAllocate(new PolicyRequest(0, ZoneKind.Dma), out _, out FailureReason why));
        Assert.Equal(FailureReason.AddressLimit, why);
        Assert.Equal(10L, policy.RetryAllocations);
        Assert.Equal(10UL, policy.PeakPagesHeldByRetries);
        Assert.Equal(free, policy.FreePages); // what it set aside went back
        policy.Allocators[0].Validate();

        // With one low page free the loop sets aside the high ones it meets on the way.
        PolicyBlock low = all.First(b => b.Block.Address < 16 * MiB && b.Block.Address > 8 * MiB);
        policy.Free(low);
        Assert.True(policy.TryAllocate(new PolicyRequest(0, ZoneKind.Dma), out PolicyBlock got, out _));
        Assert.Equal(low.Block.Address, got.Block.Address);
    }

    [Fact]
    public void Reserved_pool_serves_dma_only_from_its_pool_and_nothing_else_uses_it()
    {
        var policy = new ReservedPoolPolicy(s_pc, 256 * KiB);
        Assert.Equal(new AddressRange(16 * MiB - (256 * KiB), 16 * MiB), policy.PoolRange);
        List<PolicyBlock> general = FillGeneral(policy);
        Assert.DoesNotContain(general, b => b.Block.Address >= policy.PoolRange.Start && b.Block.Address < policy.PoolRange.End);
        Assert.Equal(s_pc.Size / s_pc.PageSize - policy.Allocators[0].ReservedPages, (ulong)general.Count);

        var dma = new List<PolicyBlock>();
        while (policy.TryAllocate(new PolicyRequest(4, ZoneKind.Dma, Boundary: 64 * KiB), out PolicyBlock b, out _))
        {
            Assert.True(b.Block.Address >= policy.PoolRange.Start && b.Block.EndAddress <= policy.PoolRange.End);
            dma.Add(b);
        }

        Assert.Equal(4, dma.Count); // 256 KiB of 64 KiB buffers, then the pool is empty
        general.Where(b => b.Block.Address < 8 * MiB).ToList().ForEach(b => policy.Free(b));
        Assert.False(policy.TryAllocate(new PolicyRequest(4, ZoneKind.Dma), out _, out _)); // low memory is free, but not the pool's
        Assert.Equal(64UL, policy.PagesSetAsideForDma);
    }

    [Fact]
    public void Policy_catalog_names_every_policy_and_refuses_unknown_ones()
    {
        Assert.Equal(["linux-1.2", "reserved-pool", "linux-1.3.4", "zoned", "zoned+mobility", "zoned+mobility+compaction", "linux-6.18"], PolicyCatalog.Names);
        foreach (string name in PolicyCatalog.Names)
        {
            Assert.Equal(name, PolicyCatalog.Create(name, s_pc).Name);
        }

        var ex = Assert.Throws<ArgumentException>(() => PolicyCatalog.Create("slab", s_pc));
        Assert.Contains("zoned", ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new ReservedPoolPolicy(s_pc, 15 * MiB)); // overlaps the kernel image
    }
}

public class ScenarioTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Knuth_S1_with_lifetimes_1_to_100_wastes_0_258_of_what_it_allocates(int seed)
    {
        KnuthResult r = Knuth.Run(new KnuthOptions { Seed = seed, Sizes = KnuthSizes.S1, MaxLifetime = 100 });
        Assert.InRange(r.InternalFragmentation, 0.256, 0.260);
        Assert.Equal(0L, r.Overflows);

        // Cross-check with the distribution: E[s] = 1050, E[2^ceil(log2 s)] = 2,690,688 / 1901.
        double expected = 1 - (1050.0 / (2_690_688.0 / 1901));
        Assert.InRange(r.InternalFragmentation, expected - 0.002, expected + 0.002);
    }

    [Fact]
    public void Knuth_S2_sizes_are_powers_of_two_so_nothing_is_wasted()
    {
        KnuthResult r = Knuth.Run(new KnuthOptions { Sizes = KnuthSizes.S2, Ticks = 20_000 });
        Assert.Equal(0.0, r.InternalFragmentation);
        Assert.True(r.MeanAllocatedWords > 0);
    }

    [Fact]
    public void Isa_dma_1995_shows_the_historical_outcome_and_is_deterministic()
    {
        var options = new IsaDmaOptions { Seed = 7, DriverRounds = 20, WarmupSteps = 20_000 };
        IReadOnlyList<IsaDmaPolicyResult> a = IsaDma1995.Run(options);
        IReadOnlyList<IsaDmaPolicyResult> b = IsaDma1995.Run(options);
        Assert.Equal(a.Select(r => (r.DmaSatisfied, r.GeneralRefused, r.RetryAllocations)), b.Select(r => (r.DmaSatisfied, r.GeneralRefused, r.RetryAllocations)));
        IsaDmaPolicyResult Of(string name) => a.Single(r => r.Name == name);

        // Today's zones and a boot pool always find the channel buffers; one pool packed from the
        // bottom does not, and 1.2's loop grabs memory while it hunts.
        Assert.Equal("60/60", Of("zoned").ChannelBuffers);
        Assert.Equal("60/60", Of("reserved-pool").ChannelBuffers);
        Assert.True(Of("linux-1.3.4").DmaSatisfied < Of("zoned").DmaSatisfied);
        Assert.Equal(Of("linux-1.3.4").DmaSatisfied, Of("linux-1.2").DmaSatisfied);
        Assert.True(Of("linux-1.2").PeakBytesHeldByRetries > 0);
        Assert.Equal(0UL, Of("linux-1.3.4").PeakBytesHeldByRetries);
        Assert.Equal(1 * MiB, Of("reserved-pool").BytesSetAsideForDma);
        Assert.All(a, r => Assert.True(r.Metrics.PeakPagesInUse * 4096 > 16 * MiB, $"{r.Name} never passed 16 MiB"));
    }
}

public class ReplayTests
{
    private static string Line(string evt, string fields, int n = 0) =>
        $"          bash-{100 + n}   [000] .....   {10 + n}.000000: {evt}: {fields}\n";

    private static string Alloc(ulong pfn, int order, string gfp = "GFP_KERNEL") =>
        Line("mm_page_alloc", $"page=00000000deadbeef pfn=0x{pfn:x} order={order} migratetype=0 gfp_flags={gfp}");

    private static string Free(ulong pfn, int order) => Line("mm_page_free", $"page=00000000deadbeef pfn=0x{pfn:x} order={order}");

    private static (IReadOnlyList<Simulation.Metrics.PolicyResult> Results, TraceCounts Counts, List<Policy> Policies) Replay(string text, ulong memory = 64 * MiB)
    {
        MachineLayout machine = Machines.X86(memory);
        var policies = PolicyCatalog.Names.Select(n => PolicyCatalog.Create(n, machine)).ToList();
        var replay = new TraceReplay(policies, sampleEvery: 2);
        using var reader = new FtraceReader(new MemoryStream(System.Text.Encoding.ASCII.GetBytes(text)), "test");
        var results = replay.Drive(reader);
        return (results, replay.GetTraceCounts(reader.Stats), policies);
    }

    [Fact]
    public void Frees_release_what_allocations_took_in_every_policy()
    {
        string trace = Alloc(0x1000, 2) + Alloc(0x2000, 0) + Free(0x1000, 2) + Alloc(0x3000, 3) + Free(0x2000, 0);
        var (results, counts, policies) = Replay(trace);
        Assert.Equal(3L, counts.Allocs);
        Assert.Equal(2L, counts.Frees);
        Assert.Equal(0L, counts.UnmatchedFrees);
        Assert.All(policies, p => Assert.Equal(8UL, p.PagesInUse));
        Assert.All(results, r => Assert.Equal(3L, r.Requests));
        Assert.All(results, r => Assert.Equal(9UL, r.PeakPagesInUse)); // 4 + 1, then 1 + 8 after the first free
    }

    [Fact]
    public void Partial_frees_release_exactly_the_pages_they_name()
    {
        // An order-2 block freed page by page (split_page), in a scrambled order.
        string trace = Alloc(0x500, 2) + Free(0x502, 0) + Free(0x500, 0) + Free(0x503, 0) + Free(0x501, 0);
        var (_, counts, policies) = Replay(trace);
        Assert.Equal(4L, counts.PartialFrees);
        Assert.Equal(0L, counts.UnmatchedFrees);
        Assert.All(policies, p => Assert.Equal(0UL, p.PagesInUse));
        Assert.All(policies, p => p.Allocators.ToList().ForEach(a => a.Validate()));
    }

    [Fact]
    public void A_free_of_a_higher_order_than_the_allocation_releases_the_pages_it_covers()
    {
        string trace = Alloc(0x600, 0) + Alloc(0x601, 0) + Free(0x600, 1);
        var (_, counts, policies) = Replay(trace);
        Assert.Equal(1L, counts.PartialFrees);
        Assert.All(policies, p => Assert.Equal(0UL, p.PagesInUse));
    }

    [Fact]
    public void Frees_of_pages_allocated_before_the_capture_are_counted_and_skipped()
    {
        string trace = Free(0x700, 0) + Alloc(0x800, 1) + Free(0x900, 3);
        var (_, counts, policies) = Replay(trace);
        Assert.Equal(2L, counts.UnmatchedFrees);
        Assert.All(policies, p => Assert.Equal(2UL, p.PagesInUse));
    }

    [Fact]
    public void Allocating_pages_the_trace_still_holds_releases_the_old_ones_first()
    {
        string trace = Alloc(0xa00, 0) + Alloc(0xa00, 1);
        var (_, counts, policies) = Replay(trace);
        Assert.Equal(1L, counts.StaleAllocs);
        Assert.All(policies, p => Assert.Equal(2UL, p.PagesInUse));
    }

    [Fact]
    public void A_smaller_machine_makes_failures_appear_and_they_are_counted_by_order_and_zone()
    {
        var sb = new System.Text.StringBuilder();
        for (ulong i = 0; i < 40; i++)
        {
            sb.Append(Alloc(0x10000 + (i * 1024), 10, i % 2 == 0 ? "GFP_KERNEL" : "GFP_DMA32"));
        }

        var (results, _, _) = Replay(sb.ToString(), memory: 64 * MiB);
        Assert.All(results, r => Assert.True(r.AllocFailures > 0, $"{r.Name} had no failures"));
        Assert.All(results, r => Assert.Equal(r.AllocFailures, r.FailuresByOrder[10]));
        Assert.All(results, r => Assert.Equal(r.AllocFailures, r.FailuresByZone.Values.Sum()));
        Assert.All(results, r => Assert.True(r.FailuresByZone["DMA32"] > 0));
    }

    [Fact]
    public void The_footprint_counts_the_peak_as_the_replay_counts_pages_in_use_and_sizes_the_default_machine()
    {
        // In use after each event: 4, 5, 1, 9, 8; 8 (a page still held, allocated again); 8 (four
        // of them again); 8 (a page never allocated in the trace); 7 (part of a block); 9; 13.
        string trace = Alloc(0x1000, 2) + Alloc(0x2000, 0) + Free(0x1000, 2) + Alloc(0x3000, 3) + Free(0x2000, 0)
            + Alloc(0x3000, 0) + Alloc(0x3004, 2) + Free(0x4000, 0) + Free(0x3001, 0) + Alloc(0x10, 1) + Alloc(0x40, 2);
        string path = Path.Combine(Path.GetTempPath(), $"buddy-footprint-{Environment.ProcessId}-{Guid.NewGuid():N}.trace");
        File.WriteAllText(path, trace);
        try
        {
            TraceFootprint footprint = TraceFootprint.Measure(path, 4 * KiB);
            Assert.Equal(new TraceFootprint(0x4001, 13), footprint);
            Assert.Equal(0x4001UL * 4 * KiB, TraceReplay.MemoryToCover(path, 4 * KiB));

            ReplayResult result = TraceReplay.Run(path, new ReplayOptions());
            Assert.Equal(13UL, result.SizedToPeakPages);
            Assert.Equal(17UL * 4 * KiB, TraceReplay.MemoryFor(13, 4 * KiB)); // ceil(13 × 1.25) pages
            Assert.Equal(4 * MiB, result.MemoryBytes);                        // rounded up to one max-order block
            Assert.All(result.Policies, p => Assert.Equal(0L, p.AllocFailures));
            Assert.All(result.Policies, p => Assert.Equal(footprint.PeakPages, p.PeakPagesInUse));

            ReplayResult given = TraceReplay.Run(path, new ReplayOptions { MemoryBytes = 64 * MiB, Policies = ["zoned"] });
            Assert.Null(given.SizedToPeakPages);
            Assert.Equal(64 * MiB, given.MemoryBytes);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void The_replay_ends_by_asking_each_policy_for_order_9_blocks_after_taking_its_free_blocks_and_indices()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "data", "linux-6.18-dotnet-build.trace.gz");
        ReplayResult result = TraceReplay.Run(path, new ReplayOptions { Policies = ["linux-1.3.4", "zoned+mobility", "zoned+mobility+compaction"], SampleEvery = 50_000 });
        ulong peak = TraceFootprint.Measure(path, 4 * KiB).PeakPages;
        Assert.Equal(peak, result.SizedToPeakPages);
        Assert.Equal(Machines.X86(TraceReplay.MemoryFor(peak, 4 * KiB)).Size, result.MemoryBytes);
        Assert.InRange(result.MemoryBytes, (ulong)(peak * 1.25) * 4 * KiB, ((ulong)(peak * 1.25) * 4 * KiB) + (4 * MiB));

        foreach (Simulation.Metrics.PolicyResult p in result.Policies)
        {
            Assert.Equal(0L, p.AllocFailures);
            Assert.Equal(peak, p.PeakPagesInUse);

            // From the buddyinfo text the result printed: free pages, free order-9 blocks (a larger
            // block counts 2^(o-9)), and the kernel's unusable index in thousandths.
            long[][] zones = [.. p.BuddyInfo.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[4..].Select(long.Parse).ToArray())];
            long freePages = zones.Sum(z => z.Select((n, o) => n << o).Sum());
            long free9 = zones.Sum(z => z.Select((n, o) => o >= 9 ? n << (o - 9) : 0).Sum());
            Assert.Equal(free9, p.FinalFreeBlocksAtIndexOrder);
            Assert.Equal((freePages - (free9 << 9)) * 1000 / freePages / 1000.0, p.FinalUnusableIndex);

            HighAllocMeasurement end = p.LargeBlocksAtEnd!;
            Assert.Equal(freePages >> 9, end.Possible);
            Assert.InRange(end.Blocks, 0, end.Possible);
        }

        // One pool, no watermarks, no compaction: it gets exactly the free blocks, moving nothing.
        Simulation.Metrics.PolicyResult plain = result.Policies[0], grouped = result.Policies[1], compaction = result.Policies[2];
        Assert.Equal(plain.FinalFreeBlocksAtIndexOrder, plain.LargeBlocksAtEnd!.Blocks);
        Assert.Equal(0UL, plain.LargeBlocksAtEnd.PagesMovedByCompaction);
        Assert.Equal(0UL, grouped.LargeBlocksAtEnd!.PagesMovedByCompaction);

        // Compaction moves movable pages out of the way: more blocks than were free, at a cost in pages moved.
        Assert.True(compaction.LargeBlocksAtEnd!.Blocks > compaction.FinalFreeBlocksAtIndexOrder, $"compaction obtained {compaction.LargeBlocksAtEnd.Blocks}, {compaction.FinalFreeBlocksAtIndexOrder} were free");
        Assert.True(compaction.LargeBlocksAtEnd.Blocks > grouped.LargeBlocksAtEnd.Blocks);
        Assert.True(compaction.LargeBlocksAtEnd.PagesMovedByCompaction > 0);
    }

    [Fact]
    public void Batching_changes_nothing_a_policy_is_asked_or_reports()
    {
        // A random trace that reuses entry ids inside a batch: whole, partial, higher-order and
        // unmatched frees, allocations over pages the trace still holds, and failures (16 MiB).
        var random = new Random(1995);
        var sb = new System.Text.StringBuilder();
        var live = new List<(ulong Pfn, int Order)>();
        for (int i = 0; i < 12_000; i++)
        {
            int roll = random.Next(10);
            if (roll < 5 || live.Count == 0)
            {
                int order = random.Next(4) == 0 ? random.Next(11) : random.Next(3);
                ulong pfn = (ulong)random.Next(1 << 12) << order & ((1UL << 22) - 1);
                sb.Append(Alloc(pfn, order, random.Next(3) == 0 ? "GFP_DMA32" : "GFP_KERNEL"));
                live.Add((pfn, order));
            }
            else
            {
                int k = random.Next(live.Count);
                (ulong pfn, int order) = live[k];
                live.RemoveAt(k);
                sb.Append(roll switch
                {
                    5 when order > 0 => Free(pfn + 1, 0),     // part of the block
                    6 => Free(pfn & ~1UL, order + 1),         // a higher order than allocated
                    7 => Free(pfn + (1UL << 23), 0),          // never allocated in the trace
                    _ => Free(pfn, order),
                });
            }
        }

        string trace = sb.ToString();
        (IReadOnlyList<Simulation.Metrics.PolicyResult> batched, TraceCounts batchedCounts) = ReplayIn(trace, batchSize: 4096);
        (IReadOnlyList<Simulation.Metrics.PolicyResult> stepped, TraceCounts steppedCounts) = ReplayIn(trace, batchSize: 1);
        Assert.Equal(steppedCounts, batchedCounts);
        Assert.True(batchedCounts.PartialFrees > 0 && batchedCounts.UnmatchedFrees > 0 && batchedCounts.StaleAllocs > 0, "the trace exercises every kind of free");
        Assert.Equal(stepped.Count, batched.Count);
        for (int i = 0; i < stepped.Count; i++)
        {
            Assert.True(stepped[i].AllocFailures > 0, $"{stepped[i].Name}: 16 MiB should make some allocations fail");
            Assert.Equal(stepped[i] with { EventsPerSecond = 0, Samples = [], FailuresByOrder = [], FailuresByZone = null!, FailuresByReason = null! },
                batched[i] with { EventsPerSecond = 0, Samples = [], FailuresByOrder = [], FailuresByZone = null!, FailuresByReason = null! });
            Assert.Equal(stepped[i].Samples, batched[i].Samples);
            Assert.Equal(stepped[i].FailuresByOrder, batched[i].FailuresByOrder);
            Assert.Equal(stepped[i].FailuresByZone, batched[i].FailuresByZone);
            Assert.Equal(stepped[i].FailuresByReason, batched[i].FailuresByReason);
        }
    }

    private static (IReadOnlyList<Simulation.Metrics.PolicyResult> Results, TraceCounts Counts) ReplayIn(string text, int batchSize)
    {
        MachineLayout machine = Machines.X86(16 * MiB);
        var policies = PolicyCatalog.Names.Select(n => PolicyCatalog.Create(n, machine)).ToList();
        var replay = new TraceReplay(policies, sampleEvery: 97) { BatchSize = batchSize };
        using var reader = new FtraceReader(new MemoryStream(System.Text.Encoding.ASCII.GetBytes(text)), "test");
        IReadOnlyList<Simulation.Metrics.PolicyResult> results = replay.Drive(reader);
        Assert.All(policies, p => p.Allocators.ToList().ForEach(a => a.Validate()));
        return (results, replay.GetTraceCounts(reader.Stats));
    }

    [Fact]
    public void A_trace_too_long_to_keep_in_memory_is_read_twice_and_replays_the_same()
    {
        // Without --memory the trace is read once and replayed from memory; beyond the buffer's
        // limit it is read again. Both paths size the same machine and give the same numbers.
        string path = Path.Combine(AppContext.BaseDirectory, "data", "linux-6.18-dotnet-build.trace.gz");
        var options = new ReplayOptions { Policies = ["zoned+mobility"], SampleEvery = 10_000 };

        ReplayResult kept = TraceReplay.Run(path, options, null, TraceReplay.MaxBufferedEvents);
        ReplayResult reread = TraceReplay.Run(path, options, null, maxBuffered: 1000);

        Assert.Equal(kept.MemoryBytes, reread.MemoryBytes);
        Assert.Equal(kept.SizedToPeakPages, reread.SizedToPeakPages);
        Assert.NotNull(kept.SizedToPeakPages);
        Assert.Equal(kept.Trace, reread.Trace);
        Assert.Equal(364_164L, kept.Trace.Lines);
        Simulation.Metrics.PolicyResult a = kept.Policies.Single(), b = reread.Policies.Single();
        Assert.Equal(a.Samples, b.Samples);
        Assert.Equal((a.Requests, a.AllocFailures, a.PeakPagesInUse, a.MeanPagesInUse, a.FinalUnusableIndex, a.BuddyInfo),
            (b.Requests, b.AllocFailures, b.PeakPagesInUse, b.MeanPagesInUse, b.FinalUnusableIndex, b.BuddyInfo));
    }

    [Fact]
    public void The_bundled_trace_replays_with_its_documented_counts_and_ends_with_the_trace_own_live_pages()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "data", "linux-6.18-dotnet-build.trace.gz");
        ReplayResult result = TraceReplay.Run(path, new ReplayOptions { MemoryBytes = 2 * GiB, SampleEvery = 50_000 });
        Assert.Equal(364_164L, result.Trace.Lines);
        Assert.Equal(212_325L, result.Trace.Allocs);
        Assert.Equal(151_839L, result.Trace.Frees);
        Assert.Equal(0L, result.Trace.FailedAllocs);
        Assert.True(result.Trace.UnmatchedFrees > 0, "the trace frees pages allocated before the capture");
        Assert.True(result.Trace.PartialFrees > 0, "the trace has partial frees");
        Assert.Equal(PolicyCatalog.Names.Count, result.Policies.Count);

        // An independent model of the trace: the set of live pages after every event.
        var live = new HashSet<ulong>();
        using (FtraceReader reader = FtraceReader.Open(path))
        {
            while (reader.TryRead(out PageEvent e))
            {
                for (ulong p = e.Pfn; p < e.Pfn + (1UL << e.Order); p++)
                {
                    if (e.Kind == PageEventKind.Alloc)
                    {
                        live.Add(p);
                    }
                    else
                    {
                        live.Remove(p);
                    }
                }
            }
        }

        foreach (var p in result.Policies)
        {
            Assert.Equal(0L, p.AllocFailures);
            Assert.Equal(212_325L, p.Requests);
            ulong endInUse = p.Samples[^1].PagesInUse;
            Assert.Equal((ulong)live.Count, endInUse);
            Assert.Contains("Node 0, zone", p.BuddyInfo, StringComparison.Ordinal);
            Assert.True(p.EventsPerSecond > 0);
        }
    }
}
