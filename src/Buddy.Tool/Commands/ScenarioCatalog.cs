// ScenarioCatalog: the scenarios the tool knows by name, in one place — `buddy scenario` runs any
// of them; `buddy map` and `buddy report` draw those that run the policies (knuth runs one buddy
// memory of its own and has no policy to draw).
using Buddy.Simulation.Metrics;
using Buddy.Simulation.Scenarios;

namespace Buddy.Tool.Commands;

/// <summary>A scenario run for pictures: each policy's metrics with its final dump, and a one-line summary.</summary>
internal sealed record DrawnScenario(IReadOnlyList<PolicyResult> Policies, string Summary);

/// <summary>The scenarios by name.</summary>
internal static class ScenarioCatalog
{
    public const string IsaDma = "isa-dma-1995";
    public const string Knuth = "knuth";
    public const string HighAlloc = "highalloc";

    /// <summary>Every scenario `buddy scenario` runs.</summary>
    public static string[] Names { get; } = [IsaDma, Knuth, HighAlloc];

    /// <summary>The scenarios that run policies, so that `buddy map` and `buddy report` can draw them.</summary>
    public static string[] Drawable { get; } = [IsaDma, HighAlloc];

    /// <summary>The words a title adds after the scenario's name and seed (where in the run the pictures are taken).</summary>
    public static string Moment(string name) => name == HighAlloc ? ", end of the load" : "";

    /// <summary>Runs a drawable scenario with dumps kept, and <paramref name="frames"/> moments of each policy's run (<see cref="PolicyResult.Frames"/>; 0: none), for `buddy map` and `buddy report`.</summary>
    public static DrawnScenario RunForPictures(string name, int seed, IReadOnlyList<string> policies, int frames = 4)
    {
        if (name == HighAlloc)
        {
            IReadOnlyList<HighAllocPolicyResult> high = Simulation.Scenarios.HighAlloc.Run(new HighAllocOptions { Seed = seed, Policies = policies, KeepDumps = true, Frames = frames });
            return new DrawnScenario([.. high.Select(r => r.Metrics)],
                "A 1 GiB machine loaded with mixed allocations (93% movable) to 97%, then 80% of its memory; the maps show the end of the load. Order-9 blocks obtained: " +
                string.Join("; ", high.Select(r => $"{r.Name}: {r.UnderLoad.Blocks}/{r.UnderLoad.Possible} under load, {r.AtRest.Blocks}/{r.AtRest.Possible} at rest")) + ".");
        }

        if (name == IsaDma)
        {
            IReadOnlyList<IsaDmaPolicyResult> isa = IsaDma1995.Run(new IsaDmaOptions { Seed = seed, Policies = policies, KeepDumps = true, Frames = frames });
            return new DrawnScenario([.. isa.Select(r => r.Metrics)],
                "A 32 MiB PC; processes and page cache churn past 16 MiB in use while a driver loads again and again and asks for ISA DMA buffers. " +
                string.Join("; ", isa.Select(r => $"{r.Name}: {r.DmaSatisfied}/{r.DmaRequests} DMA requests satisfied")) + ".");
        }

        throw new UserInputException($"--scenario {name}: expected one of {string.Join(", ", Drawable)}.");
    }
}
