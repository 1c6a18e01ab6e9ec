// ReplayResult: what a trace replay reports — the trace's own counts, what the traced kernel itself
// recorded (KernelEvidence, null when the trace holds none of those events), and each policy's result.
using Buddy.Simulation.Metrics;
using Buddy.Tracing;

namespace Buddy.Simulation.Replay;

/// <summary>Counts of what the trace held and how the replay treated it.</summary>
/// <param name="Lines">Lines read.</param>
/// <param name="Events">Trace events read (every event line).</param>
/// <param name="Allocs">Allocations that returned a page (replayed).</param>
/// <param name="Frees">Frees (replayed).</param>
/// <param name="FailedAllocs">Allocations that returned no page (counted, not replayed).</param>
/// <param name="UnmatchedFrees">Frees of pages the trace never allocated (allocated before the capture), skipped.</param>
/// <param name="PartialFrees">Frees that released only part of a live block, or a block of another order.</param>
/// <param name="StaleAllocs">Allocations of pages the trace still held (their free was not traced); the old pages were released first.</param>
/// <param name="Skipped">Other events, counted and skipped (<see cref="Buddy.Tracing.TraceStats.SkippedEvents"/>; the name is the <c>trace.skipped</c> field of <c>buddy replay --json</c>).</param>
/// <param name="BadLines">Malformed lines skipped (with --skip-bad-lines).</param>
public sealed record TraceCounts(
    long Lines,
    long Events,
    long Allocs,
    long Frees,
    long FailedAllocs,
    long UnmatchedFrees,
    long PartialFrees,
    long StaleAllocs,
    long Skipped,
    long BadLines);

/// <summary>The result of replaying one trace through several policies.</summary>
public sealed record ReplayResult
{
    /// <summary>The trace's name.</summary>
    public required string Source { get; init; }

    /// <summary>The simulated machine's memory in bytes.</summary>
    public required ulong MemoryBytes { get; init; }

    /// <summary>
    /// When the machine was sized from the trace (no memory given): the trace's peak in use in pages,
    /// which <see cref="MemoryBytes"/> is <see cref="ReplayOptions.PeakMultiple"/> times, rounded up to
    /// whole max-order blocks; null when the memory was given.
    /// </summary>
    public ulong? SizedToPeakPages { get; init; }

    /// <summary>The page size in bytes.</summary>
    public required ulong PageSize { get; init; }

    /// <summary>The trace's counts.</summary>
    public required TraceCounts Trace { get; init; }

    /// <summary>
    /// What the traced kernel recorded beside its allocations and frees — its migrate-type fallbacks
    /// (<see cref="KernelEvidence.FragmentingFallbacks"/>), pageblock ownership changes, zone-locked
    /// allocations and compaction runs by outcome — copied from the trace, not simulated; null when
    /// the trace holds none of those events.
    /// </summary>
    public KernelEvidence? KernelEvidence { get; init; }

    /// <summary>The start state every policy began from (a replay on the traced machine with its start snapshot); null otherwise.</summary>
    public StartSummary? Start { get; init; }

    /// <summary>Per zone, the traced machine's /proc/buddyinfo after the capture beside the kernel placement's end state; null without both.</summary>
    public IReadOnlyList<ZoneFreeCheck>? EndCheck { get; init; }

    /// <summary>Each policy's result, in the order given (the kernel placement first when replayed).</summary>
    public required IReadOnlyList<PolicyResult> Policies { get; init; }

    /// <summary>Wall-clock seconds for the whole replay, decoding included.</summary>
    public required double Seconds { get; init; }
}

/// <summary>What the start state held: pages known from the trace and pages inferred from the snapshot.</summary>
/// <param name="PreCapturePages">Pages allocated before the capture that the trace frees (exact).</param>
/// <param name="FreeAtStartPages">Pages the trace allocates first, so free at the start (exact).</param>
/// <param name="HeldPages">Pages the trace never names, allocated in the start state (inferred).</param>
/// <param name="Zones">Per zone, the start snapshot's free blocks per order beside the rebuilt ones.</param>
public sealed record StartSummary(ulong PreCapturePages, ulong FreeAtStartPages, ulong HeldPages, IReadOnlyList<ZoneFreeCheck> Zones);
