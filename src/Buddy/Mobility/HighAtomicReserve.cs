// HighAtomicReserve: MIGRATE_HIGHATOMIC pageblocks, kept for high-order atomic requests (Linux 6.18
// mm/page_alloc.c reserve_highatomic_pageblock and unreserve_highatomic_pageblock).
//
// Invariants: a zone's ReservedHighAtomic is the pages of its pageblocks whose type is
// MIGRATE_HIGHATOMIC (a pageblock each, or the whole block when one of a pageblock or more was
// reserved); only these two methods change it. The reserve grows by at most one pageblock (or
// block) past ALIGN(managed / 100, pageblock) and only from pageblocks of the three mergeable types.
namespace Buddy;

/// <summary>Reserves and gives back MIGRATE_HIGHATOMIC pageblocks.</summary>
/// <remarks>Stateless; called under the allocator's lock with a step's bitmap nodes in hand.</remarks>
internal static class HighAtomicReserve
{
    /// <summary>reserve_highatomic_pageblock: after an ALLOC_HIGHATOMIC success at <paramref name="pfn"/>, makes its pageblock (or block) highatomic if the zone's reserve allows.</summary>
    /// <returns>Whether a pageblock was reserved.</returns>
    public static bool Reserve(Zone zone, ulong pfn, int order)
    {
        ulong pageblock = 1UL << zone.Area.PageblockOrder;
        ulong onePercent = zone.ManagedPages / 100;
        if (onePercent < pageblock)
        {
            return false; // zones under 100 pageblocks reserve nothing
        }

        ulong max = (onePercent + pageblock - 1) & ~(pageblock - 1);
        int type = zone.Area.TypeOf(pfn);
        if (zone.ReservedHighAtomic >= max || !MobilityRules.IsMergeable(type))
        {
            return false;
        }

        if (order < zone.Area.PageblockOrder)
        {
            ulong start = pfn & ~(pageblock - 1);
            if (start < zone.StartPfn || start + pageblock > zone.EndPfn)
            {
                return false; // move_freepages_block refuses a pageblock that straddles the zone
            }

            zone.MovePageblock(start, (int)MigrateType.HighAtomic);
            zone.ReservedHighAtomic += pageblock;
        }
        else
        {
            zone.SetPageblockTypes(pfn, order, (int)MigrateType.HighAtomic); // allocated: on no list
            zone.ReservedHighAtomic += 1UL << order;
        }

        zone.Counters?.Reserved();
        return true;
    }

    /// <summary>
    /// unreserve_highatomic_pageblock: in the zonelist along <paramref name="route"/>, the first
    /// zone holding more than one reserved pageblock (any reserve with <paramref name="force"/>) gives
    /// the pageblock of its lowest free highatomic block of the smallest order back, as
    /// <paramref name="type"/> (the requester's).
    /// </summary>
    /// <returns>Whether a pageblock was given back.</returns>
    public static bool Unreserve(Zonelist zones, int route, MigrateType type, bool force)
    {
        foreach (int i in zones.Walk(route))
        {
            Zone zone = zones[i]!;
            if (zone.Area.Types <= (int)MigrateType.HighAtomic)
            {
                continue;
            }

            ulong pageblock = 1UL << zone.Area.PageblockOrder;
            if (!force && zone.ReservedHighAtomic <= pageblock)
            {
                continue;
            }

            for (int order = 0; order <= zone.MaxOrder; order++)
            {
                ulong pfn = zone.Area.LowestFree(order, (int)MigrateType.HighAtomic);
                if (pfn == ulong.MaxValue)
                {
                    continue;
                }

                ulong size = Math.Max(pageblock, 1UL << order);
                zone.ReservedHighAtomic -= Math.Min(size, zone.ReservedHighAtomic);
                if (order < zone.Area.PageblockOrder)
                {
                    zone.MovePageblock(pfn & ~(pageblock - 1), (int)type);
                }
                else
                {
                    zone.Area.RemoveFree(order, pfn);
                    zone.SetPageblockTypes(pfn, order, (int)type);
                    zone.Area.AddFree(order, pfn);
                }

                zone.Counters?.Unreserved();
                return true;
            }
        }

        return false;
    }
}
