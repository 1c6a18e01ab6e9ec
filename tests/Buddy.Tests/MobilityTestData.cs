// MobilityTestData: the small grouping machine and the helpers shared by the mobility test classes.
using System.Globalization;
using static Buddy.Units;

namespace Buddy.Tests;

/// <summary>
/// A small machine with grouping by mobility: 1 MiB of 4 KiB pages (256 pages), max order 6
/// (64 pages), pageblocks of order 4 (16 pages, 16 pageblocks); and what the tests on it share.
/// </summary>
internal static class MobilityTestData
{
    internal const ulong Page = 4 * KiB;
    internal const int Pages = 256;

    internal static MobilitySettings Small(bool compaction = false, int extfragThreshold = 500) =>
        new() { GroupByMobility = true, PageblockOrder = 4, Compaction = compaction, ExtfragThreshold = extfragThreshold };

    internal static PageAllocator Machine(MobilitySettings? mobility = null) =>
        new(MachineLayout.Flat(1 * MiB) with { MaxOrder = 6, Mobility = mobility ?? Small() });

    private static Request Order(int order, MigrateType type) => Request.ForOrder(order).WithMobility(type);

    internal static Block Alloc(PageAllocator pages, int order, MigrateType type)
    {
        Assert.True(pages.TryAllocate(Order(order, type), out Block b, out AllocationFailure? failure), failure?.Message);
        return b;
    }

    // The "Number of blocks type" row of a zone: pageblocks per type, indexed by MigrateType value.
    internal static long[] BlockCounts(PageAllocator pages, string zone = "Normal")
    {
        string prefix = "Node 0, zone " + zone.PadLeft(8) + " ";
        string line = Assert.Single(pages.GetPageTypeInfo().Split('\n'), l => l.StartsWith(prefix, StringComparison.Ordinal));
        return [.. line[prefix.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => long.Parse(s, CultureInfo.InvariantCulture))];
    }

    internal static long[] Counts(long unmovable, long movable, long reclaimable) => [unmovable, movable, reclaimable, 0, 0];

    internal sealed class MoveLog
    {
        public List<(MovableBlock Handle, Block From, Block To, Block HandleBlockDuringCall)> Moves { get; } = [];

        public MigrateCallback Callback => (h, from, to) => Moves.Add((h, from, to, h.Block));
    }
}
