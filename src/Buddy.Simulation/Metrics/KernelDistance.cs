// KernelDistance: how far a policy's free memory is from the traced kernel's own (its placement
// replayed), sample by sample, in two numbers defined in docs/design.md ("How close is each policy"):
//  - the free-shape distance, half the sum over orders of |p(o) - k(o)|, where p(o) and k(o) are the
//    shares of free pages that lie in free blocks of order o (the total variation distance between
//    the two distributions of free memory over block sizes: 0 the same shape, 1 nothing in common);
//  - the huge-block gap, the policy's share of free pages in blocks of the index order or larger
//    minus the kernel's (= the kernel's unusable index minus the policy's; positive: the policy
//    kept more memory usable for huge pages than the kernel did).
// Both divide by each side's own free pages, so a policy that failed requests (and so has more
// free memory) is compared by shape, not by amount.
namespace Buddy.Simulation.Metrics;

/// <summary>A policy's distance from the kernel's own placement over a replay and at its end.</summary>
/// <param name="MeanFreeShape">The free-shape distance averaged over the samples both have.</param>
/// <param name="FinalFreeShape">The free-shape distance at the end.</param>
/// <param name="MeanHugeGap">The huge-block gap averaged over the samples.</param>
/// <param name="FinalHugeGap">The huge-block gap at the end.</param>
/// <param name="Samples">How many samples were compared.</param>
public sealed record KernelDistance(double MeanFreeShape, double FinalFreeShape, double MeanHugeGap, double FinalHugeGap, int Samples)
{
    /// <summary>The distance of <paramref name="policy"/> from <paramref name="kernel"/>, over their samples at the same steps; null when none has free-block counts.</summary>
    public static KernelDistance? Between(PolicyResult policy, PolicyResult kernel)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(kernel);
        Dictionary<long, IReadOnlyList<long>> kernelAt = ByStep(kernel.Samples), policyAt = ByStep(policy.Samples);
        var pairs = policyAt.Where(s => kernelAt.ContainsKey(s.Key)).OrderBy(s => s.Key).Select(s => (s.Value, kernelAt[s.Key])).ToList();
        if (pairs.Count == 0)
        {
            return null;
        }

        int order = policy.IndexOrder;
        (IReadOnlyList<long> lastP, IReadOnlyList<long> lastK) = pairs[^1];
        return new KernelDistance(
            pairs.Average(p => FreeShape(p.Item1, p.Item2)),
            FreeShape(lastP, lastK),
            pairs.Average(p => HugeShare(p.Item1, order) - HugeShare(p.Item2, order)),
            HugeShare(lastP, order) - HugeShare(lastK, order),
            pairs.Count);
    }

    /// <summary>Half the sum over orders of the difference between the shares of free pages in blocks of each order (0..1).</summary>
    public static double FreeShape(IReadOnlyList<long> policy, IReadOnlyList<long> kernel)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(kernel);
        double fp = FreePages(policy), fk = FreePages(kernel), sum = 0;
        for (int o = 0; o < Math.Max(policy.Count, kernel.Count); o++)
        {
            double p = o < policy.Count && fp > 0 ? (policy[o] << o) / fp : 0;
            double k = o < kernel.Count && fk > 0 ? (kernel[o] << o) / fk : 0;
            sum += Math.Abs(p - k);
        }

        return sum / 2;
    }

    /// <summary>The share of free pages in blocks of <paramref name="order"/> or larger (1 - the unusable index).</summary>
    public static double HugeShare(IReadOnlyList<long> freeBlocks, int order)
    {
        ArgumentNullException.ThrowIfNull(freeBlocks);
        double free = FreePages(freeBlocks), huge = 0;
        for (int o = order; o < freeBlocks.Count; o++)
        {
            huge += freeBlocks[o] << o;
        }

        return free > 0 ? huge / free : 0;
    }

    // The samples with free-block counts by step (the last one of a step: a run's end repeats it).
    private static Dictionary<long, IReadOnlyList<long>> ByStep(IReadOnlyList<Sample> samples) =>
        samples.Where(s => s.FreeBlocks is not null).GroupBy(s => s.Step).ToDictionary(g => g.Key, g => g.Last().FreeBlocks!);

    private static double FreePages(IReadOnlyList<long> freeBlocks)
    {
        double free = 0;
        for (int o = 0; o < freeBlocks.Count; o++)
        {
            free += freeBlocks[o] << o;
        }

        return free;
    }
}
