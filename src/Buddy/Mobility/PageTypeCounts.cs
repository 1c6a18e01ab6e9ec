// PageTypeCounts: one zone's lines of /proc/pagetypeinfo — its free blocks per migrate type and
// order, and its pageblocks per type — counted as Linux 6.18 mm/vmstat.c counts them
// (pagetypeinfo_showfree, pagetypeinfo_showblockcount), and with the allocations' types the mixed
// pageblocks (pagetypeinfo_showmixedcount: a pageblock counts once, under its own type, when an
// allocation of another type lies in it). Without grouping by mobility every free block and
// pageblock counts as movable, as the kernel boots them. Reads the zone only; the caller holds the
// allocator's lock. Buddy.Kernel.PageTypeInfo formats the result.
using Buddy.Kernel;

namespace Buddy;

/// <summary>Counts what /proc/pagetypeinfo prints of one zone.</summary>
internal static class PageTypeCounts
{
    /// <summary>The free blocks and pageblocks per migrate type of <paramref name="zone"/>, whose pageblocks have 2^<paramref name="pageblockOrder"/> pages.</summary>
    public static PageTypeInfoZone Of(Zone zone, int pageblockOrder) =>
        new(zone.Node, zone.Name, FreeBlocks(zone), Pageblocks(zone, pageblockOrder));

    /// <summary>
    /// pagetypeinfo_showmixedcount_print: per migrate type, the zone's pageblocks of that type in
    /// which an allocation (one with a head: <paramref name="mobilityOf"/> not null) has another
    /// type; free, reserved and cached blocks are skipped. Zeros without grouping.
    /// </summary>
    public static long[] MixedBlocks(Zone zone, Func<ulong, MigrateType?> mobilityOf)
    {
        long[] mixed = new long[PageTypeInfo.TypeNames.Count];
        if (!zone.Grouped)
        {
            return mixed;
        }

        ulong size = 1UL << zone.Area.PageblockOrder;
        for (ulong block = zone.StartPfn & ~(size - 1); block < zone.EndPfn; block += size)
        {
            ulong start = Math.Max(block, zone.StartPfn), end = Math.Min(block + size, zone.EndPfn);
            int type = zone.Area.TypeOf(start);
            for (ulong p = start; p < end;)
            {
                (ulong unit, int order, bool free) = zone.FindUnit(p);
                if (!free && mobilityOf(unit) is { } mobility && (int)mobility != type)
                {
                    mixed[type]++;
                    break;
                }

                p = unit + (1UL << order);
            }
        }

        return mixed;
    }

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
