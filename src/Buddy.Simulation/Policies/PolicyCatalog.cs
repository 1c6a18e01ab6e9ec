// PolicyCatalog: the policies by name, for the command line and the scenarios.
namespace Buddy.Simulation.Policies;

/// <summary>Creates policies by name.</summary>
public static class PolicyCatalog
{
    /// <summary>The policy names, in historical order.</summary>
    public static IReadOnlyList<string> Names { get; } = ["linux-1.2", "reserved-pool", "linux-1.3.4", "zoned", "zoned+mobility", "zoned+mobility+compaction", "linux-6.18"];

    /// <summary>Creates the policy <paramref name="name"/> over <paramref name="machine"/>, with the vm sysctls of <paramref name="tunables"/> (the kernel's defaults when null).</summary>
    /// <exception cref="ArgumentException">The name is unknown; the message lists the known ones.</exception>
    public static Policy Create(string name, MachineLayout machine, ulong dmaPoolSize = ReservedPoolPolicy.DefaultPoolSize, KernelTunables? tunables = null)
    {
        tunables ??= KernelTunables.Defaults;
        return name switch
        {
            "linux-1.2" => new Linux12Policy(machine),
            "reserved-pool" => new ReservedPoolPolicy(machine, dmaPoolSize),
            "linux-1.3.4" => new Linux134Policy(machine),
            "zoned" => new ZonedPolicy(machine),
            "zoned+mobility" => new ZonedPolicy(machine, MobilitySettings.Grouping),
            "zoned+mobility+compaction" => new ZonedPolicy(machine, tunables.ApplyTo(MobilitySettings.GroupingAndCompaction)),
            "linux-6.18" => new ZonedPolicy(machine, tunables.ApplyTo(MobilitySettings.Linux618)),
            _ => throw new ArgumentException($"Unknown policy '{name}'; expected one of: {string.Join(", ", Names)}.", nameof(name)),
        };
    }
}
