// KernelTunables: the vm sysctls of Linux 6.18's anti-fragmentation, as the command line sets them
// for the policies that model them (linux-6.18 and the policies built on it; the threshold also for
// zoned+mobility+compaction). Defaults are the kernel's.
namespace Buddy.Simulation.Policies;

/// <summary>vm.watermark_boost_factor, vm.compaction_proactiveness, vm.defrag_mode and vm.extfrag_threshold.</summary>
public sealed record KernelTunables
{
    /// <summary>The kernel's defaults: 15000, 20, off, 500.</summary>
    public static KernelTunables Defaults { get; } = new();

    /// <summary>vm.watermark_boost_factor: 0..10000000 (0 off).</summary>
    public int WatermarkBoostFactor { get; init; } = 15000;

    /// <summary>vm.compaction_proactiveness: 0..100 (0 off).</summary>
    public int CompactionProactiveness { get; init; } = 20;

    /// <summary>vm.defrag_mode.</summary>
    public bool DefragMode { get; init; }

    /// <summary>vm.extfrag_threshold: 0..1000.</summary>
    public int ExtfragThreshold { get; init; } = 500;

    /// <summary>Applies the tunables to <paramref name="settings"/>: the threshold wherever there is compaction, the rest where the settings model the Linux 6.x rules (NoFragment).</summary>
    public MobilitySettings ApplyTo(MobilitySettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        MobilitySettings result = settings.Compaction ? settings with { ExtfragThreshold = ExtfragThreshold } : settings;
        return !settings.NoFragment ? result : result with
        {
            WatermarkBoostFactor = WatermarkBoostFactor,
            CompactionProactiveness = CompactionProactiveness,
            DefragMode = DefragMode,
        };
    }
}
