// KernelDistance: how far a policy's free memory is from the traced kernel's own (its placement
// replayed), sample by sample, in three numbers defined in docs/design.md ("How close is each policy"):
//  - the buddyinfo distance, the mean over orders of |p(o) - k(o)| / max(p(o), k(o)), where p(o) and
//    k(o) are the free blocks of order o (0 where both are 0): how different the two /proc/buddyinfo
//    lines look column by column, each column scaled to itself so the thousands of order-0 blocks and
//    the few order-9 ones weigh alike (0 the same line, 1 no column alike);
//  - the free-shape distance, half the sum over orders of the difference between the shares of free
//    pages in blocks of order o (the total variation distance between the two distributions of free
//    memory over block sizes): how much of the free memory lies in differently sized blocks — small
//    when most free memory is untouched by the trace, as it is on a large machine;
//  - the huge-block gap, the policy's free blocks of the index order (a larger block counting as
//    2^(its order - index order) of them) minus the kernel's: positive, the policy kept more.
// The first two scale each side by itself, so a policy that failed requests (and has more free
// memory) is compared by shape, not by amount.
namespace Buddy.Simulation.Metrics;

/// <summary>A policy's distance from the kernel's own placement over a replay and at its end.</summary>
/// <param name="MeanBuddyInfo">The buddyinfo distance averaged over the samples both have.</param>
/// <param name="FinalBuddyInfo">The buddyinfo distance at the end.</param>
/// <param name="MeanFreeShape">The free-shape distance averaged over the samples.</param>
/// <param name="FinalFreeShape">The free-shape distance at the end.</param>
/// <param name="MeanHugeGap">The huge-block gap averaged over the samples.</param>
/// <param name="FinalHugeGap">The huge-block gap at the end.</param>
/// <param name="Samples">How many samples were compared.</param>
public sealed record KernelDistance(double MeanBuddyInfo, double FinalBuddyInfo, double MeanFreeShape, double FinalFreeShape, double MeanHugeGap, long FinalHugeGap, int Samples)
{
    /// <summary>The distance of <paramref name="policy"/> from <paramref name="kernel"/>, over their samples at the same steps; null when none has free-block counts.</summary>
    public static KernelDistance? Between(PolicyResult policy, PolicyResult kernel)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(kernel);
        Dictionary<long, IReadOnlyList<long>> kernelAt = ByStep(kernel.Samples), policyAt = ByStep(policy.Samples);
        var pairs = policyAt.Where(s => kernelAt.ContainsKey(s.Key)).OrderBy(s => s.Key).Select(s => (P: s.Value, K: kernelAt[s.Key])).ToList();
        if (pairs.Count == 0)
        {
            return null;
        }

        int order = policy.IndexOrder;
        (IReadOnlyList<long> lastP, IReadOnlyList<long> lastK) = pairs[^1];
        return new KernelDistance(
            pairs.Average(p => BuddyInfoDistance(p.P, p.K)),
            BuddyInfoDistance(lastP, lastK),
            pairs.Average(p => FreeShape(p.P, p.K)),
            FreeShape(lastP, lastK),
            pairs.Average(p => (double)(BlocksAt(p.P, order) - BlocksAt(p.K, order))),
            BlocksAt(lastP, order) - BlocksAt(lastK, order),
            pairs.Count);
    }

    /// <summary>The mean over orders of |p - k| / max(p, k) of the free block counts (0..1; an order where both are 0 counts 0).</summary>
    public static double BuddyInfoDistance(IReadOnlyList<long> policy, IReadOnlyList<long> kernel)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(kernel);
        int orders = Math.Max(policy.Count, kernel.Count);
        double sum = 0;
        for (int o = 0; o < orders; o++)
        {
            long p = o < policy.Count ? policy[o] : 0, k = o < kernel.Count ? kernel[o] : 0;
            sum += Math.Max(p, k) == 0 ? 0 : (double)Math.Abs(p - k) / Math.Max(p, k);
        }

        return orders == 0 ? 0 : sum / orders;
    }

    /// <summary>Free blocks of <paramref name="order"/>, a larger block counting as 2^(its order - order) of them.</summary>
    public static long BlocksAt(IReadOnlyList<long> freeBlocks, int order)
    {
        ArgumentNullException.ThrowIfNull(freeBlocks);
        long blocks = 0;
        for (int o = order; o < freeBlocks.Count; o++)
        {
            blocks += freeBlocks[o] << (o - order);
        }

        return blocks;
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
