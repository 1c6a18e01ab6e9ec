// HighAlloc: in the spirit of the kernel's stress-highalloc test. A 1 GiB machine is loaded by a
// seeded stream of steps — allocate while pages in use are below the target (97% by default for
// the first 500,000 steps, so every pageblock gets used, then 80%), otherwise free a random live
// allocation; allocations are unmovable (5%), reclaimable (2%) or movable (93%), of order 0, 1, 2
// or 3 (85/8/4/3%). Optionally a share of the allocations are order-3 unmovable GFP_ATOMIC
// requests instead (a network driver's receive buffers), which Linux 6.18's highatomic reserve
// serves. Then, from that loaded state, order-9 blocks are requested until one fails: under load,
// and at rest (after every movable allocation was freed, as when processes exit).
//
// Frames (HighAllocOptions.Frames): the load's moments kept for pictures, after round(k * Steps /
// Frames) steps (FrameSchedule), the last at the end of the load — the state the maps draw; only
// the first load (the one measured under load) keeps them.
using Buddy.Simulation.Metrics;
using Buddy.Simulation.Policies;

namespace Buddy.Simulation.Scenarios;

/// <summary>Settings of the highalloc scenario.</summary>
public sealed record HighAllocOptions
{
    /// <summary>The seed.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>The policies; empty: <see cref="HighAlloc.DefaultPolicies"/>.</summary>
    public IReadOnlyList<string> Policies { get; init; } = [];

    /// <summary>Steps of load.</summary>
    public int Steps { get; init; } = 2_000_000;

    /// <summary>Steps at the high target before it drops.</summary>
    public int FillSteps { get; init; } = 500_000;

    /// <summary>
    /// The high target: the share of memory (0..1) the load keeps in use for its first
    /// <see cref="FillSteps"/> steps. At the default, 0.97, a 1 GiB machine's zones stay far above
    /// their low watermarks, so no request takes the slow path and the highatomic reserve never
    /// forms; at 0.995 the load works at the watermarks, where Linux 6.18 reserves pageblocks for
    /// high-order atomic requests (and, with no reclaim to free page cache here, gives them back as
    /// soon as an ordinary request fails).
    /// </summary>
    public double FillTarget { get; init; } = 0.97;

    /// <summary>The machine's memory in bytes.</summary>
    public ulong MemoryBytes { get; init; } = 1 * Units.GiB;

    /// <summary>The order the measurements ask for.</summary>
    public int Order { get; init; } = 9;

    /// <summary>Keep each policy's allocator dump at the end of the load (for maps).</summary>
    public bool KeepDumps { get; init; }

    /// <summary>
    /// How many moments of the load each policy keeps as <see cref="PolicyResult.Frames"/> (its
    /// general allocator's dump), evenly spaced over <see cref="Steps"/>, the last at the end of the
    /// load. 0 (the default): none; at most 64.
    /// </summary>
    public int Frames { get; init; }

    /// <summary>Take a time-series sample (free pages, unusable index at <see cref="Order"/>, failures) every this many load steps.</summary>
    public int SampleEvery { get; init; } = 20_000;

    /// <summary>
    /// The share of allocations (0..1) that are <see cref="AtomicOrder"/> unmovable GFP_ATOMIC
    /// requests (<see cref="AllocationPriority.Atomic"/>), as a network driver's receive buffers:
    /// they may dip into the min watermark, never reclaim, and where the policy keeps the highatomic
    /// reserve (linux-6.18) they reserve pageblocks for their kind. The default, 0, leaves the load
    /// as it always was, so the published seeds keep their numbers (any share draws one more random
    /// number per allocation). `buddy scenario highalloc --atomic-share 1` runs the atomic variant:
    /// 1% of allocations, about 11,000 order-3 atomic requests in the default 2,000,000 steps — a
    /// network card's steady trickle beside a much larger load, which changes the load's shape
    /// little; add `--fill-target 99.5` for the load to work at the watermarks, where the reserve
    /// forms (see <see cref="FillTarget"/>).
    /// </summary>
    public double AtomicShare { get; init; }

    /// <summary>The order of the atomic requests (3: 32 KiB, a jumbo frame's buffer).</summary>
    public int AtomicOrder { get; init; } = 3;

    /// <summary>The vm sysctls the policies that model them run with (the kernel's defaults).</summary>
    public KernelTunables Tunables { get; init; } = KernelTunables.Defaults;
}

/// <summary>One measurement: blocks obtained against what free memory could hold.</summary>
/// <param name="Blocks">Blocks of the order obtained before the first failure.</param>
/// <param name="Possible">floor(free pages when the measurement started / 2^order).</param>
/// <param name="PagesMovedByCompaction">Pages compaction migrated during the measurement.</param>
public sealed record HighAllocMeasurement(long Blocks, long Possible, ulong PagesMovedByCompaction)
{
    /// <summary>Blocks / Possible.</summary>
    public double Share => Possible == 0 ? 0 : (double)Blocks / Possible;

    /// <summary>Pages compaction moved per block obtained.</summary>
    public double MovedPerBlock => Blocks == 0 ? 0 : (double)PagesMovedByCompaction / Blocks;

    /// <summary>
    /// Why the request that ended the measurement failed (Watermark: the zones that still had a block,
    /// or could have compacted one, were at their min watermark plus lowmem reserve — pages that
    /// <see cref="Possible"/> counts but no request of this priority may take).
    /// </summary>
    public FailureReason StoppedBy { get; init; }

    /// <summary>Free pages when the measurement ended: what was left in pieces, or held back by the watermarks.</summary>
    public ulong FreePagesLeft { get; init; }
}

/// <summary>What one policy achieved.</summary>
/// <param name="Name">The policy.</param>
/// <param name="UnderLoad">Order-9 blocks requested in the loaded state.</param>
/// <param name="AtRest">Order-9 blocks requested after the movable allocations were freed.</param>
/// <param name="PageTypeInfo">/proc/pagetypeinfo at the end of the load.</param>
public sealed record HighAllocPolicyResult(string Name, HighAllocMeasurement UnderLoad, HighAllocMeasurement AtRest, string PageTypeInfo)
{
    /// <summary>Atomic requests made during the load (<see cref="HighAllocOptions.AtomicShare"/>).</summary>
    public long AtomicRequests { get; init; }

    /// <summary>Atomic requests that failed.</summary>
    public long AtomicFailures { get; init; }

    /// <summary>
    /// What the anti-fragmentation rules did over the load and the under-load measurement together
    /// (/proc/vmstat at the end of the run: the order-9 requests are where compaction runs);
    /// <see cref="PolicyResult.Mobility"/> in <see cref="Metrics"/> is the load's alone.
    /// </summary>
    public MobilityStatistics MobilityAtEnd { get; init; } = MobilityStatistics.None;

    /// <summary>The load as a replay reports it: requests, failures, buddyinfo, the time series sampled
    /// every <see cref="HighAllocOptions.SampleEvery"/> steps, and the final state when dumps are kept.</summary>
    public required PolicyResult Metrics { get; init; }
}

/// <summary>Runs the highalloc scenario.</summary>
public static class HighAlloc
{
    /// <summary>The policies the scenario compares by default.</summary>
    public static IReadOnlyList<string> DefaultPolicies { get; } = ["zoned", "zoned+mobility", "zoned+mobility+compaction", "linux-6.18"];

    /// <summary>Runs every policy (each measurement from its own identical loaded state).</summary>
    public static IReadOnlyList<HighAllocPolicyResult> Run(HighAllocOptions options)
    {
        Validate(options);
        IReadOnlyList<string> names = options.Policies.Count > 0 ? options.Policies : DefaultPolicies;
        var results = new List<HighAllocPolicyResult>();
        foreach (string name in names)
        {
            results.Add(RunOne(name, options));
        }

        return results;
    }

    private static void Validate(HighAllocOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.SampleEvery, 1, nameof(options.SampleEvery));
        if (options.AtomicShare is not (>= 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.AtomicShare, "AtomicShare must be from 0 to 1.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(options.AtomicOrder, nameof(options.AtomicOrder));
        if (options.FillTarget is not (> 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.FillTarget, "FillTarget must be above 0 and at most 1.");
        }

        ArgumentNullException.ThrowIfNull(options.Tunables);
        FrameSchedule.Validate(options.Frames, "HighAllocOptions.Frames");
    }

    // One policy: a load measured under load, and a second identical load measured at rest.
    private static HighAllocPolicyResult RunOne(string name, HighAllocOptions options)
    {
        (Policy underLoad, List<PolicyBlock> _, PolicyMetrics metrics, AtomicCounts atomic) = Load(name, options, FrameSchedule.Steps(options.Steps, options.Frames));
        PolicyResult loaded = metrics.ToResult("allocated pages (every request is a whole block)", options.KeepDumps);
        HighAllocMeasurement load = Measure(underLoad, options.Order);
        MobilityStatistics atEnd = underLoad.Machine.Mobility.GroupByMobility ? underLoad.Allocators[0].GetMobilityStatistics() : MobilityStatistics.None;
        string pagetypeinfo = underLoad.Allocators[0].GetPageTypeInfo();
        (Policy rest, List<PolicyBlock> live, _, _) = Load(name, options, frameSteps: []);
        foreach (PolicyBlock b in live)
        {
            rest.Free(b); // the processes exit: every movable allocation goes
        }

        HighAllocMeasurement atRest = Measure(rest, options.Order);
        return new HighAllocPolicyResult(name, load, atRest, pagetypeinfo)
        {
            // The measurements travel with the metrics, so that a report of the scenario shows the pages
            // compaction moved for the order-N blocks (the load itself asks for orders 0-3 and moves none).
            Metrics = loaded with { LargeBlocksAtEnd = load, LargeBlocksAtRest = atRest }, AtomicRequests = atomic.Requests, AtomicFailures = atomic.Failures, MobilityAtEnd = atEnd,
        };
    }

    // The atomic requests of one load and how many failed.
    private sealed class AtomicCounts
    {
        public long Requests, Failures;
    }

    private static (Policy Policy, List<PolicyBlock> Live, PolicyMetrics Metrics, AtomicCounts Atomic) Load(string name, HighAllocOptions options, long[] frameSteps)
    {
        MachineLayout machine = Machines.X86(options.MemoryBytes);
        Policy policy = PolicyCatalog.Create(name, machine, tunables: options.Tunables);
        var atomic = new AtomicCounts();
        var metrics = new PolicyMetrics(policy, options.Order);
        var rng = new Random(options.Seed);
        var live = new List<PolicyBlock>();
        var movable = new List<bool>();
        int nextFrame = 0;
        ulong total = machine.Size / machine.PageSize;
        for (int step = 0; step < options.Steps; step++)
        {
            double targetShare = step < options.FillSteps ? options.FillTarget : 0.80;
            if (policy.PagesInUse < (ulong)(total * targetShare))
            {
                PolicyRequest request = NextRequest(rng, options);
                long t = PolicyMetrics.StartTimer();
                bool ok = policy.TryAllocate(request, out PolicyBlock block, out FailureReason reason);
                metrics.StopTimer(t);
                metrics.Request(request, ok, reason);
                if (request.Priority == AllocationPriority.Atomic)
                {
                    atomic.Requests++;
                    atomic.Failures += ok ? 0 : 1;
                }

                if (ok)
                {
                    live.Add(block);
                    movable.Add(request.Mobility == MigrateType.Movable);
                }
            }
            else if (live.Count > 0)
            {
                int k = rng.Next(live.Count);
                policy.Free(live[k]);
                live[k] = live[^1];
                live.RemoveAt(live.Count - 1);
                movable[k] = movable[^1];
                movable.RemoveAt(movable.Count - 1);
            }

            metrics.Step();
            if ((step + 1) % options.SampleEvery == 0)
            {
                metrics.Sample(step + 1);
            }

            while (FrameSchedule.IsDue(frameSteps, nextFrame, step + 1))
            {
                metrics.Frame(step + 1);
                nextFrame++;
            }
        }

        // Keep only the movable ones for "at rest": the caller frees what it is given.
        var movableLive = new List<PolicyBlock>();
        for (int i = 0; i < live.Count; i++)
        {
            if (movable[i])
            {
                movableLive.Add(live[i]);
            }
        }

        return (policy, movableLive, metrics, atomic);
    }

    // The load's next allocation: an atomic one with AtomicShare's probability (no draw when it is 0,
    // so the default load is the one it always was), else of a random type and order.
    private static PolicyRequest NextRequest(Random rng, HighAllocOptions options)
    {
        if (options.AtomicShare > 0 && rng.NextDouble() < options.AtomicShare)
        {
            return new PolicyRequest(options.AtomicOrder, Mobility: MigrateType.Unmovable, Priority: AllocationPriority.Atomic);
        }

        double u = rng.NextDouble();
        MigrateType type = u < 0.05 ? MigrateType.Unmovable : u < 0.07 ? MigrateType.Reclaimable : MigrateType.Movable;
        double v = rng.NextDouble();
        int order = v < 0.85 ? 0 : v < 0.93 ? 1 : v < 0.97 ? 2 : 3;
        return new PolicyRequest(order, Mobility: type);
    }

    /// <summary>Asks <paramref name="policy"/> for movable blocks of <paramref name="order"/> until one fails; the blocks stay allocated, added to <paramref name="obtained"/> when given.</summary>
    internal static HighAllocMeasurement Measure(Policy policy, int order, List<PolicyBlock>? obtained = null)
    {
        PageAllocator pages = policy.Allocators[0];
        long possible = (long)(pages.FreePages >> order);
        ulong movedBefore = pages.GetCompactionStatistics().PagesMoved;
        long blocks = 0;
        FailureReason stoppedBy;
        while (policy.TryAllocate(new PolicyRequest(order, Mobility: MigrateType.Movable), out PolicyBlock block, out stoppedBy))
        {
            obtained?.Add(block);
            blocks++;
        }

        return new HighAllocMeasurement(blocks, possible, pages.GetCompactionStatistics().PagesMoved - movedBefore)
        {
            StoppedBy = stoppedBy,
            FreePagesLeft = pages.FreePages,
        };
    }
}
