// ReplayOptions: how to replay a trace.
using Buddy.Simulation.Policies;

namespace Buddy.Simulation.Replay;

/// <summary>Settings of a trace replay.</summary>
public sealed record ReplayOptions
{
    /// <summary>
    /// How many times the trace's peak in use the machine holds when <see cref="MemoryBytes"/> is not
    /// given: 1.25, so the replay runs with a quarter of the peak free at the busiest moment and
    /// the policies' placement decides what large blocks are left.
    /// </summary>
    public const double PeakMultiple = 1.25;

    /// <summary>
    /// Memory of the simulated machine in bytes; null: <see cref="PeakMultiple"/> times the trace's
    /// peak in use (<see cref="TraceFootprint.PeakPages"/>), rounded up to whole max-order blocks.
    /// </summary>
    public ulong? MemoryBytes { get; init; }

    /// <summary>
    /// The traced machine (its /proc snapshots): the replay runs on its real layout instead of one
    /// sized from the trace (<see cref="MemoryBytes"/> is then ignored), from its start state when
    /// the start snapshot is there, and checks the kernel placement against the end snapshot.
    /// </summary>
    public TracedMachine? Traced { get; init; }

    /// <summary>The NUMA node every trace request prefers (the traced machine's node numbers); null: its lowest node.</summary>
    public int? Node { get; init; }

    /// <summary>Replay the kernel's own placement (<see cref="KernelPlacementPolicy"/>) first, and measure every policy's distance from it; needs <see cref="Traced"/>.</summary>
    public bool KernelPlacement { get; init; }

    /// <summary>The page size (the trace's pfns count pages of this size).</summary>
    public ulong PageSize { get; init; } = 4 * Units.KiB;

    /// <summary>The policies to run, by name; empty: all.</summary>
    public IReadOnlyList<string> Policies { get; init; } = [];

    /// <summary>Take a time-series sample every this many events.</summary>
    public int SampleEvery { get; init; } = 4096;

    /// <summary>The order at which fragmentation indices are taken (the kernel's huge page order, 9, by default).</summary>
    public int IndexOrder { get; init; } = 9;

    /// <summary>The reserved-pool policy's DMA pool size.</summary>
    public ulong DmaPoolSize { get; init; } = ReservedPoolPolicy.DefaultPoolSize;

    /// <summary>Linux 6.18's vm sysctls for the policies that model them (the kernel's defaults).</summary>
    public KernelTunables Tunables { get; init; } = KernelTunables.Defaults;

    /// <summary>Keep each policy's final allocator dump in its result (for maps and reports).</summary>
    public bool KeepDumps { get; init; }

    /// <summary>
    /// How many moments of the run each policy keeps as <see cref="Metrics.PolicyResult.Frames"/> (its
    /// general allocator's dump), evenly spaced over the trace's events, the last at the end: 4 on
    /// 100,000 events are taken after 25,000, 50,000, 75,000 and 100,000. 0 (the default): none; at
    /// most 64. When the replay does not otherwise know the event count (<see cref="MemoryBytes"/>
    /// given), the trace is read once more first to count them.
    /// </summary>
    public int Frames { get; init; }

    /// <summary>The most <see cref="Frames"/> a replay (or scenario) keeps per policy: each is a whole allocator dump.</summary>
    public const int MaxFrames = 64;

    /// <summary>Count malformed lines and go on.</summary>
    public bool SkipBadLines { get; init; }
}
