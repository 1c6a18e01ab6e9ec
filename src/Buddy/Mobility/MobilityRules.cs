// MobilityRules: the kernel's grouping-by-mobility fallback (Linux 6.18 mm/page_alloc.c:
// fallbacks[], __rmqueue_claim with should_try_claim_block and try_to_claim_block,
// __rmqueue_steal; boost_watermark), applied when a request finds no free block on its own type's
// lists. Every fallback that returns a block is counted as trace_mm_page_alloc_extfrag reports it.

namespace Buddy;

/// <summary>Which other types a request may take from, and when it takes a whole pageblock.</summary>
/// <remarks>
/// CLAIM goes from the largest order down: a free block of a fallback type that is a pageblock or
/// more becomes the request's type whole; a smaller one claims its pageblock when at least half
/// of that pageblock is free or "alike" (movable pages for a movable request; for an unmovable or
/// reclaimable request taking from a movable pageblock, the pages that are not movable). Movable
/// requests claim only from order pageblock_order/2 up. STEAL then goes from the smallest order
/// up and takes a block without changing any pageblock. With ALLOC_NOFRAGMENT (Linux 5.0) a
/// request below pageblock order claims only blocks of a pageblock or more and never steals. An
/// attempt to claim part of a pageblock boosts the zone's watermarks first (try_to_claim_block).
/// Stateless; the zone's lock serialises use.
/// </remarks>
internal static class MobilityRules
{
    /// <summary>Types with lists of their own and fallbacks between them: unmovable, movable, reclaimable (MIGRATE_PCPTYPES).</summary>
    public const int Types = 3;

    /// <summary>The lists of a zone with the high-order atomic reserve: the three and MIGRATE_HIGHATOMIC.</summary>
    public const int TypesWithHighAtomic = 4;

    /// <summary>migratetype_is_mergeable: whether free blocks of this type may merge with other types' across pageblocks.</summary>
    public static bool IsMergeable(int type) => type < Types;

    private static readonly MigrateType[][] s_fallbacks =
    [
        [MigrateType.Reclaimable, MigrateType.Movable],   // unmovable
        [MigrateType.Reclaimable, MigrateType.Unmovable], // movable
        [MigrateType.Unmovable, MigrateType.Movable],     // reclaimable
    ];

    /// <summary>The types <paramref name="type"/> falls back to, in the kernel's order.</summary>
    public static ReadOnlySpan<MigrateType> FallbacksOf(MigrateType type) => s_fallbacks[(int)type];

    /// <summary>should_try_claim_block: whether a fallback block of <paramref name="order"/> may be claimed.</summary>
    public static bool ShouldTryClaim(int order, MigrateType type, int pageblockOrder) =>
        order >= pageblockOrder || order >= pageblockOrder / 2 || type is MigrateType.Unmovable or MigrateType.Reclaimable;

    /// <summary>
    /// Finds a block for the request among other types' lists, claiming pageblocks as the kernel
    /// would; returns the block to take (now on the lists of the type it is taken from or claimed
    /// for), or (<see cref="ulong.MaxValue"/>, -1).
    /// </summary>
    public static (ulong Pfn, int Order) Fallback(Zone zone, int order, int searchOrder, ulong limitPfn, MigrateType type, AllocFlags flags)
    {
        FreeArea area = zone.Area;
        int pageblockOrder = area.PageblockOrder;
        bool noFragment = (flags & AllocFlags.NoFragment) != 0;
        int minClaim = noFragment && order < pageblockOrder ? Math.Max(searchOrder, pageblockOrder) : searchOrder;
        for (int current = zone.MaxOrder; current >= minClaim; current--)
        {
            if (!ShouldTryClaim(current, type, pageblockOrder))
            {
                break;
            }

            (ulong pfn, MigrateType from) = LowestFitting(area, current, order, limitPfn, type);
            if (pfn == ulong.MaxValue)
            {
                continue;
            }

            if (current >= pageblockOrder)
            {
                // Whole pageblocks: they become the request's type.
                area.RemoveFree(current, pfn);
                zone.SetPageblockTypes(pfn, current, (int)type);
                area.AddFree(current, pfn);
                zone.Counters?.Fallback(current, pageblockOrder, type, from, changedOwnership: true);
                return (pfn, current);
            }

            zone.BoostWatermark();
            ulong pageblock = pfn & ~((1UL << pageblockOrder) - 1);
            (ulong free, ulong movable, bool whole) = CountPageblock(zone, pageblock);
            ulong alike = type == MigrateType.Movable ? movable
                : from == MigrateType.Movable ? (1UL << pageblockOrder) - (free + movable)
                : 0;
            if (whole && free + alike >= 1UL << (pageblockOrder - 1))
            {
                zone.MovePageblock(pageblock, (int)type);
                (ulong claimed, int claimedOrder) = zone.FindFit(order, searchOrder, limitPfn, (int)type);
                if (claimed != ulong.MaxValue)
                {
                    zone.Counters?.Fallback(current, pageblockOrder, type, from, changedOwnership: area.TypeOf(claimed) == (int)type);
                    return (claimed, claimedOrder);
                }
            }
        }

        for (int current = searchOrder; !noFragment && current <= zone.MaxOrder; current++)
        {
            (ulong pfn, MigrateType from) = LowestFitting(area, current, order, limitPfn, type);
            if (pfn != ulong.MaxValue)
            {
                zone.Counters?.Fallback(current, pageblockOrder, type, from, changedOwnership: false);
                return (pfn, current); // stolen: it stays on its pageblock's lists
            }
        }

        return (ulong.MaxValue, -1);
    }

    // The lowest block of `current` on the first fallback list that has one under the limit.
    private static (ulong Pfn, MigrateType From) LowestFitting(FreeArea area, int current, int order, ulong limitPfn, MigrateType type)
    {
        foreach (MigrateType fallback in FallbacksOf(type))
        {
            ulong pfn = area.LowestFree(current, (int)fallback);
            if (pfn != ulong.MaxValue && pfn + (1UL << order) <= limitPfn)
            {
                return (pfn, fallback);
            }
        }

        return (ulong.MaxValue, default);
    }

    // prep_move_freepages_block: free pages and movable allocated pages of a pageblock; false when
    // the pageblock crosses the zone's edge.
    private static (ulong Free, ulong Movable, bool Whole) CountPageblock(Zone zone, ulong pageblock)
    {
        ulong end = pageblock + (1UL << zone.Area.PageblockOrder);
        if (pageblock < zone.StartPfn || end > zone.EndPfn)
        {
            return (0, 0, false);
        }

        ulong free = 0, movable = 0;
        for (ulong p = pageblock; p < end;)
        {
            (ulong unit, int unitOrder, bool isFree) = zone.FindUnit(p);
            ulong size = 1UL << unitOrder;
            if (isFree)
            {
                free += size;
            }
            else if (zone.IsMovableUnit?.Invoke(unit) == true)
            {
                movable += size;
            }

            p = unit + size;
        }

        return (free, movable, true);
    }
}
