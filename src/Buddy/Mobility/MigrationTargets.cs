// MigrationTargets: where a migrating block may land — the highest order-aligned place inside a
// free block, within bounds, in a movable pageblock (or a whole free pageblock of another type,
// which becomes movable first; with anyPageblock, in any pageblock, as compaction at its highest
// priority allows). The compactor's free scanner, Migrate and the contiguous allocator's
// evacuation all take their targets here.
//
// Invariants: a probe changes nothing; otherwise the only change is the retyping of one whole
// free pageblock (or larger free block) to movable, which keeps it free and in its zone's free
// lists. Callers hold the allocator's lock and have reserved the pageblock spares a retype needs.
namespace Buddy;

/// <summary>Finds the free place a migrating block goes to.</summary>
internal static class MigrationTargets
{
    /// <summary>
    /// The pfn of the highest order-<paramref name="order"/> aligned block of <paramref name="zone"/>
    /// that lies inside a free block, at or above <paramref name="above"/> and wholly below
    /// <paramref name="below"/>, in a movable pageblock (or a whole free pageblock, made movable
    /// first unless <paramref name="probe"/>; in any pageblock with <paramref name="anyPageblock"/>);
    /// <see cref="ulong.MaxValue"/> when there is none.
    /// </summary>
    public static ulong FindHighest(Zone zone, int order, ulong above, ulong below, bool anyPageblock = false, bool probe = false)
    {
        ulong best = ulong.MaxValue, size = 1UL << order;
        int bestOrder = -1, bestType = 0;
        int types = zone.Area.Types;
        for (int current = order; current <= zone.MaxOrder; current++)
        {
            for (int type = 0; type < types; type++)
            {
                if ((!anyPageblock && types > 1 && type != (int)MigrateType.Movable && current < zone.Area.PageblockOrder)
                    || type == (int)MigrateType.HighAtomic)
                {
                    continue; // the high-order atomic reserve is never a migration target
                }

                ulong pfn = zone.Area.HighestFreeBelow(current, type, below);
                if (pfn == ulong.MaxValue)
                {
                    continue;
                }

                ulong end = Math.Min(pfn + (1UL << current), below);
                if (end < pfn + size)
                {
                    continue;
                }

                ulong top = (end - size) & ~(size - 1);
                if (top >= pfn && top >= above && (best == ulong.MaxValue || top > best))
                {
                    best = top;
                    bestOrder = current;
                    bestType = type;
                }
            }
        }

        if (!probe && best != ulong.MaxValue && types > 1 && bestType != (int)MigrateType.Movable && bestOrder >= zone.Area.PageblockOrder)
        {
            MakeMovable(zone, best & ~((1UL << bestOrder) - 1), bestOrder);
        }

        return best;
    }

    // A whole free pageblock (or larger free block) of another type becomes movable before it
    // takes movable pages.
    private static void MakeMovable(Zone zone, ulong block, int order)
    {
        zone.Area.RemoveFree(order, block);
        zone.SetPageblockTypes(block, order, (int)MigrateType.Movable);
        zone.Area.AddFree(order, block);
    }
}
