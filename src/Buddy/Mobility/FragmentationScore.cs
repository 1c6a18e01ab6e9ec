// FragmentationScore: proactive compaction's measure (Linux 6.18 mm/compaction.c
// fragmentation_score_zone, fragmentation_score_zone_weighted, fragmentation_score_node,
// fragmentation_score_wmark; mm/vmstat.c extfrag_for_order). A zone's score is the percentage of its
// free pages that are not in free blocks of the huge-page order (the pageblock order here); the
// node's is the zones' scores weighted by their present pages.
namespace Buddy;

/// <summary>The fragmentation score kcompactd compares with vm.compaction_proactiveness.</summary>
internal static class FragmentationScore
{
    /// <summary>extfrag_for_order at the zone's pageblock order: 0..100, 0 when nothing is free.</summary>
    public static int OfZone(Zone zone)
    {
        int order = zone.Area.PageblockOrder;
        ulong suitable = 0;
        for (int o = order; o <= zone.MaxOrder; o++)
        {
            suitable += (ulong)zone.NrFree(o) << (o - order);
        }

        ulong free = zone.FreePages;
        return free == 0 ? 0 : (int)((free - (suitable << order)) * 100 / free);
    }

    /// <summary>fragmentation_score_node: the zones' scores, each weighted by its share of the node's present pages.</summary>
    public static int OfNode(IReadOnlyList<Zone> zones)
    {
        ulong present = 0;
        foreach (Zone zone in zones)
        {
            present += zone.PresentPages;
        }

        ulong score = 0;
        foreach (Zone zone in zones)
        {
            score += (ulong)((UInt128)(ulong)OfZone(zone) * zone.PresentPages / (present + 1));
        }

        return (int)score;
    }

    /// <summary>fragmentation_score_wmark: the low mark is 100 − proactiveness; the high mark is min(10, low / 2) above it, at most 100 (80 and 90 at the default 20).</summary>
    public static int Mark(int proactiveness, bool low)
    {
        int lowMark = 100 - proactiveness;
        return low ? lowMark : Math.Min(lowMark + Math.Min(10, lowMark / 2), 100);
    }
}
