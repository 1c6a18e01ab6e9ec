// Sample: one point of a policy's time series.
namespace Buddy.Simulation.Metrics;

/// <summary>A policy's state after <paramref name="Step"/> events or steps.</summary>
/// <param name="Step">Events (replay) or steps (scenario) so far.</param>
/// <param name="FreePages">Free pages over all the policy's allocators.</param>
/// <param name="PagesInUse">Pages allocated.</param>
/// <param name="UnusableIndex">The kernel's unusable free space index at the chosen order, 0..1.</param>
/// <param name="FragmentationIndex">The kernel's fragmentation index at the chosen order (-1: a block is free).</param>
/// <param name="Failures">Allocation failures so far.</param>
/// <param name="FreeBlocks">Free blocks per order over all the policy's allocators (index = order): the buddyinfo counts summed.</param>
/// <remarks>Equality is by value, the free-block counts element by element (two runs that did the same compare equal).</remarks>
public sealed record Sample(long Step, ulong FreePages, ulong PagesInUse, double UnusableIndex, double FragmentationIndex, long Failures, IReadOnlyList<long>? FreeBlocks = null)
{
    /// <inheritdoc/>
    public bool Equals(Sample? other) =>
        other is not null && Step == other.Step && FreePages == other.FreePages && PagesInUse == other.PagesInUse
        && UnusableIndex.Equals(other.UnusableIndex) && FragmentationIndex.Equals(other.FragmentationIndex) && Failures == other.Failures
        && (FreeBlocks is null ? other.FreeBlocks is null : other.FreeBlocks is not null && FreeBlocks.SequenceEqual(other.FreeBlocks));

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Step, FreePages, PagesInUse, UnusableIndex, FragmentationIndex, Failures, FreeBlocks?.Count ?? -1);
}
