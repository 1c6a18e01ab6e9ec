using Buddy.Simulation.Scenarios;

namespace Buddy.Tests;

/// <summary>The highalloc targets of the mobility issue, on seeds 1..5 (the worst seed counts).</summary>
public class HighAllocTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void Grouping_keeps_97_percent_at_rest_and_compaction_90_under_load_and_98_at_rest(int seed)
    {
        IReadOnlyList<HighAllocPolicyResult> results = HighAlloc.Run(new HighAllocOptions { Seed = seed, Policies = ["zoned+mobility", "zoned+mobility+compaction"] });
        HighAllocPolicyResult grouping = results[0], compaction = results[1];

        Assert.True(grouping.AtRest.Share >= 0.97, $"zoned+mobility at rest: {grouping.AtRest.Blocks}/{grouping.AtRest.Possible}");
        Assert.True(compaction.UnderLoad.Share >= 0.90, $"compaction under load: {compaction.UnderLoad.Blocks}/{compaction.UnderLoad.Possible}");
        Assert.True(compaction.AtRest.Share >= 0.98, $"compaction at rest: {compaction.AtRest.Blocks}/{compaction.AtRest.Possible}");
        Assert.True(compaction.UnderLoad.PagesMovedByCompaction > 0);
        Assert.Equal(0UL, grouping.UnderLoad.PagesMovedByCompaction);
        Assert.True(compaction.UnderLoad.Possible > 90, "80% load leaves about a fifth of memory free");
    }

    [Fact]
    public void Without_grouping_unmovable_pages_scattered_everywhere_keep_large_blocks_from_forming()
    {
        HighAllocPolicyResult plain = HighAlloc.Run(new HighAllocOptions { Seed = 1, Policies = ["zoned"], Steps = 400_000, FillSteps = 100_000 })[0];
        Assert.True(plain.AtRest.Share < 0.5, $"plain buddy at rest: {plain.AtRest.Share:P1}");
        Assert.Contains("Number of blocks type", plain.PageTypeInfo, StringComparison.Ordinal);
    }
}
