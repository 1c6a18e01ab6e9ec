// ArenaOptions: how a native arena is laid out and advised.
using Buddy.Pages;
using Buddy.Zones;

namespace Buddy.Memory;

/// <summary>Settings of a <see cref="NativeArena"/>.</summary>
public sealed record ArenaOptions
{
    /// <summary>The page size in bytes (a power of two from 512).</summary>
    public ulong PageSize { get; init; } = 4 * Units.KiB;

    /// <summary>The largest block order; the arena is aligned to the largest block.</summary>
    public int MaxOrder { get; init; } = MachineLayout.DefaultMaxOrder;

    /// <summary>Zones by arena offset, lowest first, e.g. DMA = the first 16 MiB; empty: one Normal zone.</summary>
    public IReadOnlyList<ZoneLimit> ZonesByOffset { get; init; } = [];

    /// <summary>Zones by real address limit, lowest first (a device's DMA mask on real memory); used when <see cref="ZonesByOffset"/> is empty.</summary>
    public IReadOnlyList<ZoneLimit> ZonesByAddress { get; init; } = [];

    /// <summary>Ask the kernel for transparent huge pages on the arena (madvise MADV_HUGEPAGE; Linux).</summary>
    public bool TransparentHugePages { get; init; }

    /// <summary>Lock the arena in memory (mlock; Linux; needs the privilege or a large enough RLIMIT_MEMLOCK).</summary>
    public bool Lock { get; init; }

    /// <summary>
    /// The checked mode, like ASP.NET Core's DiagnosticMemoryPool: freed memory is poisoned and a
    /// write after free is reported at the next rent of that memory; a second return throws; live
    /// rentals keep the stack trace of their rent for <see cref="NativeArena.ThrowIfLeaked"/>.
    /// </summary>
    public bool Checked { get; init; }

    /// <summary>Grouping by mobility and compaction for the arena (movable rentals need grouping to move).</summary>
    public Mobility.MobilitySettings Mobility { get; init; } = Buddy.Mobility.MobilitySettings.None;

    /// <summary>Keep small blocks in thread caches (see <see cref="MachineLayout.PerCpuCaches"/>).</summary>
    public bool PerCpuCaches { get; init; }
}
