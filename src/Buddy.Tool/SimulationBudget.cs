// SimulationBudget: the tool's rule for a simulated machine's size (--memory). A command builds
// one allocator per policy over the machine and may use every page, so the allocators' metadata at
// its most (MetadataEstimate.MostBytes, summed) must fit MetadataEstimate.BudgetBytes; otherwise
// the size is refused naming the option, before any allocator is built — not after the machine's
// memory is exhausted.
using Buddy.Simulation;
using Buddy.Simulation.Policies;

namespace Buddy.Tool;

/// <summary>Refuses simulated machines whose allocators cannot fit in this process.</summary>
internal static class SimulationBudget
{
    /// <summary>Checks a replay of <paramref name="policies"/> (empty: all) on an x86 machine of <paramref name="memory"/> bytes.</summary>
    public static void CheckReplay(string option, ulong memory, IReadOnlyList<string> policies, ulong pageSize = 4 * Units.KiB)
    {
        ulong block = pageSize << MachineLayout.DefaultMaxOrder;
        if (memory > ulong.MaxValue - block)
        {
            throw new UserInputException($"{option} {Units.FormatSize(memory)}: beyond the largest machine that can be addressed.");
        }

        // The policies build their allocators over this machine; those grouping by mobility keep a
        // free bitmap per migrate type, so they are estimated with grouping on.
        MachineLayout machine = Machines.X86(memory, pageSize);
        IReadOnlyList<string> names = policies.Count > 0 ? policies : PolicyCatalog.Names;
        Check(option, memory, [.. names.Select(name => name.Contains("mobility", StringComparison.Ordinal) ? machine with { Mobility = MobilitySettings.Grouping } : machine)]);
    }

    /// <summary>Checks that allocators over <paramref name="layouts"/> fit, naming <paramref name="option"/> of value <paramref name="memory"/> if not.</summary>
    public static void Check(string option, ulong memory, IReadOnlyList<MachineLayout> layouts)
    {
        UInt128 most = 0;
        foreach (MachineLayout layout in layouts)
        {
            most += Estimate(option, memory, layout).MostBytes;
        }

        ulong budget = MetadataEstimate.BudgetBytes;
        if (most > budget)
        {
            ulong shown = most > ulong.MaxValue ? ulong.MaxValue : (ulong)most;
            throw new UserInputException(
                $"{option} {Units.FormatSize(memory)}: {Allocators(layouts.Count)} on this machine would need up to {Units.FormatApproximateSize(shown)} of metadata; " +
                $"this process can give them {Units.FormatApproximateSize(budget)}. Choose a smaller size.");
        }
    }

    private static MetadataEstimate Estimate(string option, ulong memory, MachineLayout layout)
    {
        try
        {
            return layout.EstimateMetadata();
        }
        catch (ArgumentException e)
        {
            throw new UserInputException($"{option} {Units.FormatSize(memory)}: {ErrorReport.WithoutParameter(e)}", e);
        }
    }

    private static string Allocators(int count) => count == 1 ? "the allocator" : $"the {count} allocators (one per policy)";
}
