// PolicyResult: every number a run reports for one policy (the table and the JSON show the same).
namespace Buddy.Simulation.Metrics;

/// <summary>What one policy did in a replay or scenario.</summary>
public sealed record PolicyResult
{
    /// <summary>The policy's name.</summary>
    public required string Name { get; init; }

    /// <summary>Allocation requests made.</summary>
    public required long Requests { get; init; }

    /// <summary>Requests that failed.</summary>
    public required long AllocFailures { get; init; }

    /// <summary>Failures per order (index = order).</summary>
    public required IReadOnlyList<long> FailuresByOrder { get; init; }

    /// <summary>Failures per requested zone (DMA, DMA32, Normal).</summary>
    public required IReadOnlyDictionary<string, long> FailuresByZone { get; init; }

    /// <summary>Failures per reason (OutOfMemory, Fragmented, AddressLimit, Watermark, Unsatisfiable).</summary>
    public required IReadOnlyDictionary<string, long> FailuresByReason { get; init; }

    /// <summary>The most pages in use at once.</summary>
    public required ulong PeakPagesInUse { get; init; }

    /// <summary>Pages in use averaged over every event or step.</summary>
    public required double MeanPagesInUse { get; init; }

    /// <summary>Internal fragmentation: wasted / allocated, time-averaged (see <see cref="InternalFragmentationDenominator"/>).</summary>
    public required double InternalFragmentation { get; init; }

    /// <summary>What the internal fragmentation divides by, in words.</summary>
    public required string InternalFragmentationDenominator { get; init; }

    /// <summary>The order the indices are taken at.</summary>
    public required int IndexOrder { get; init; }

    /// <summary>The unusable free space index at <see cref="IndexOrder"/>, averaged over the samples.</summary>
    public required double MeanUnusableIndex { get; init; }

    /// <summary>The unusable free space index at <see cref="IndexOrder"/> at the end.</summary>
    public required double FinalUnusableIndex { get; init; }

    /// <summary>The fragmentation index at <see cref="IndexOrder"/> at the end (-1: a block of that order is free).</summary>
    public required double FinalFragmentationIndex { get; init; }

    /// <summary>
    /// Blocks of <see cref="IndexOrder"/> free at the end, a free block of a higher order counting as
    /// 2^(its order - IndexOrder) of them (the kernel's suitable_free_blocks, over all of a policy's free
    /// memory like the indices): what could be handed out without moving a page.
    /// </summary>
    public long FinalFreeBlocksAtIndexOrder { get; init; }

    /// <summary>
    /// A replay's last measure: after the trace, movable blocks of <see cref="IndexOrder"/> (transparent
    /// huge pages, at order 9) asked of the policy one after another until the first failure —
    /// watermarks, and compaction where the policy has it, apply as to any request; the blocks are then
    /// given back. highalloc: its measurement under load. Null for the other scenarios.
    /// </summary>
    public Scenarios.HighAllocMeasurement? LargeBlocksAtEnd { get; init; }

    /// <summary>highalloc: its measurement at rest (every movable allocation freed first); null otherwise.</summary>
    public Scenarios.HighAllocMeasurement? LargeBlocksAtRest { get; init; }

    /// <summary>Pages kept for DMA alone (a boot-time pool).</summary>
    public required ulong PagesSetAsideForDma { get; init; }

    /// <summary>The most pages a DMA retry loop held at once.</summary>
    public required ulong PeakPagesHeldByRetries { get; init; }

    /// <summary>Blocks that retry loops allocated and gave back.</summary>
    public required long RetryAllocations { get; init; }

    /// <summary>Pages compaction migrated (policies with compaction).</summary>
    public required ulong CompactionPagesMoved { get; init; }

    /// <summary>Events (or steps) per second of the time spent driving this policy: its own calls and its metrics' bookkeeping, not the periodic samples.</summary>
    public required double EventsPerSecond { get; init; }

    /// <summary>The policy's /proc/buddyinfo at the end.</summary>
    public required string BuddyInfo { get; init; }

    /// <summary>
    /// What the policy's grouping by mobility and Linux 6.x rules did: fallbacks with the fields of
    /// mm_page_alloc_extfrag (fragmenting ones are Mel Gorman's measure of external fragmentation),
    /// the compaction counters of /proc/vmstat, watermark boosts, kcompactd wakes, the highatomic
    /// reserve. <see cref="MobilityStatistics.None"/> for policies without grouping.
    /// </summary>
    public MobilityStatistics Mobility { get; init; } = MobilityStatistics.None;

    /// <summary>The policy's /proc/pagetypeinfo at the end, with "Number of mixed blocks" (policies that group by mobility; null for the others).</summary>
    public string? PageTypeInfo { get; init; }

    /// <summary>How far this policy's free memory stayed from the traced kernel's own placement (a replay with the kernel placement; null otherwise, and for the kernel itself).</summary>
    public KernelDistance? DistanceFromKernel { get; init; }

    /// <summary>The time series, sampled every N events or steps.</summary>
    public required IReadOnlyList<Sample> Samples { get; init; }

    /// <summary>The general allocator's state at moments of the run, oldest first, when the run was asked for frames (not written to JSON).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<MapFrame>? Frames { get; init; }

    /// <summary>The general allocator's state at the end, when the run was asked to keep it (not written to JSON).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public Diagnostics.AllocatorDump? Dump { get; init; }
}
