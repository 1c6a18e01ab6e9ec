// MachineSnapshot: one of a capture bundle's snapshot directories (before/ or after/) parsed by the
// Buddy.Kernel readers. Invariant: ZoneInfo is always there (with each zone's layout); every other
// part is null (or SystemRam empty) exactly when its file is not in the bundle, and Missing then says
// why (the reason the capture recorded in the manifest, or "not in the bundle").
using Buddy.Kernel;

namespace Buddy.Simulation.Replay;

/// <summary>The machine's /proc and /sys texts at one moment of a capture, parsed.</summary>
/// <param name="ZoneInfo">The zones of /proc/zoneinfo, with start_pfn, spanned and present.</param>
/// <param name="BuddyInfo">/proc/buddyinfo; null if absent.</param>
/// <param name="PageTypeInfo">/proc/pagetypeinfo; null if absent (it is readable by root only).</param>
/// <param name="VmStat">/proc/vmstat's counters; null if absent.</param>
/// <param name="Sysctls">The vm sysctls by name without "vm." (e.g. "min_free_kbytes"); null if absent.</param>
/// <param name="IoMem">/proc/iomem; null if absent.</param>
/// <param name="NodeDistances">The NUMA distance table, indexed [from][to]; null if absent.</param>
/// <param name="Missing">The snapshot's absent files by name ("iomem"), with the reason.</param>
public sealed record MachineSnapshot(
    IReadOnlyList<ZoneInfoZone> ZoneInfo,
    BuddyInfo? BuddyInfo,
    PageTypeInfoTable? PageTypeInfo,
    IReadOnlyDictionary<string, long>? VmStat,
    IReadOnlyDictionary<string, string>? Sysctls,
    IoMem? IoMem,
    int[][]? NodeDistances,
    IReadOnlyDictionary<string, string> Missing)
{
    /// <summary>The top-level "System RAM" ranges of /proc/iomem; empty if iomem is absent.</summary>
    public IReadOnlyList<AddressRange> SystemRam => IoMem?.SystemRam ?? [];

    /// <summary>The file names of a snapshot directory, in the order the capture writes them.</summary>
    public static IReadOnlyList<string> FileNames { get; } = ["zoneinfo", "buddyinfo", "pagetypeinfo", "vmstat", "iomem", "meminfo", "node-distance", "sysctl-vm"];
}
