// PageTypeCounts: one zone's lines of /proc/pagetypeinfo — its free blocks per migrate type and
// order, and its pageblocks per type — counted as Linux 6.18 mm/vmstat.c counts them
// (pagetypeinfo_showfree, pagetypeinfo_showblockcount). Without grouping by mobility every free
// block and pageblock counts as movable, as the kernel boots them. Reads the zone only; the caller
// holds the allocator's lock. Buddy.Kernel.PageTypeInfo formats the result.
using Buddy.Kernel;

namespace Buddy;

/// <summary>Counts what /proc/pagetypeinfo prints of one zone.</summary>
internal static class PageTypeCounts
{
    /// <summary>The free blocks and pageblocks per migrate type of <paramref name="zone"/>, whose pageblocks have 2^<paramref name="pageblockOrder"/> pages.</summary>
    public static PageTypeInfoZone Of(Zone zone, int pageblockOrder) =>
        new(0, zone.Name, FreeBlocks(zone), Pageblocks(zone, pageblockOrder));

    private static long[][] FreeBlocks(Zone zone)
    {
        var free = new long[PageTypeInfo.TypeNames.Count][];
        for (int type = 0; type < free.Length; type++)
        {
            free[type] = new long[zone.MaxOrder + 1];
            for (int order = 0; order <= zone.MaxOrder; order++)
            {
                free[type][order] = zone.Grouped
                    ? (type < zone.Area.Types ? zone.Area.NrFree(order, type) : 0)
                    : (type == (int)MigrateType.Movable ? zone.NrFree(order) : 0);
            }
        }

        return free;
    }

    // The kernel counts the pageblocks of the pfns from the zone's start in pageblock steps
    // (pagetypeinfo_showblockcount_print): the zone's first `visited` pageblocks.
    private static long[] Pageblocks(Zone zone, int pageblockOrder)
    {
        long[] blocks = new long[PageTypeInfo.TypeNames.Count];
        long visited = (long)((zone.EndPfn - zone.StartPfn + (1UL << pageblockOrder) - 1) >> pageblockOrder);
        if (!zone.Grouped)
        {
            blocks[(int)MigrateType.Movable] = visited;
        }

        foreach ((long start, long count, byte type) in zone.Area.PageblockRuns())
        {
            blocks[type] += Math.Max(0, Math.Min(start + count, visited) - start);
        }

        return blocks;
    }
}
