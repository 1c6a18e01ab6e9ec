// Zone.Validate: the zone's self-check, the first link of the allocator's Validate chain. It walks
// down from every max-order block to the units (a block with a free or a unit bit) and checks the
// invariants stated in Zone.cs: every page in exactly one unit, free blocks whole and unmerged
// with a free buddy, no bit below a unit, free runs on one type's list, and the counts of free
// pages and reachable bits.
using System.Globalization;

namespace Buddy;

/// <summary>The zone's invariant check.</summary>
internal sealed partial class Zone
{
    /// <summary>
    /// Checks every invariant of the zone; <paramref name="reserved"/> tells reserved pages, and
    /// <paramref name="onUnit"/> sees each non-free unit (start, order, 1), or a run of reserved
    /// max-order units (start, max order, count), so the caller can account for it.
    /// </summary>
    /// <remarks>O(units + free blocks below the max order + runs): runs of free or reserved max-order blocks are checked as one.</remarks>
    public string? Validate(PfnRanges reserved, Action<ulong, int, ulong> onUnit)
    {
        string? problem = _area.ValidateBitmaps();
        if (problem is not null)
        {
            return $"zone {Name}: {problem}";
        }

        ulong free = 0;
        ulong visited = 0;
        ulong size = 1UL << _maxOrder;
        List<ulong>? typeChanges = null; // pfns where the pageblock type changes, made on first need
        for (ulong root = StartPfn & ~(size - 1); root < EndPfn;)
        {
            ulong step = size;
            bool inside = root >= StartPfn && root + size <= EndPfn;
            ulong freeRun = inside ? _area.FreeRun(_maxOrder, root) : 0;
            ulong reservedRun = inside && freeRun == 0 ? ReservedRun(root, reserved) : 0;
            if (freeRun > 0)
            {
                step = freeRun << _maxOrder;
                problem = ValidateFreeRun(root, freeRun, reserved, ref typeChanges);
                visited += freeRun;
                free += step;
            }
            else if (reservedRun > 1)
            {
                step = reservedRun << _maxOrder;
                problem = _area.AnyFreeIn(_maxOrder, root, root + step) || (_maxOrder > 0 && _area.UnitRun(_maxOrder, root) < reservedRun)
                    ? $"the reserved max-order blocks from pfn 0x{root:x} are not all units, or a free block lies among them" : null;
                visited += _maxOrder > 0 ? reservedRun : 0;
                onUnit(root, _maxOrder, reservedRun);
            }
            else
            {
                problem = ValidateNode(root, _maxOrder, reserved, onUnit, ref free, ref visited);
            }

            if (problem is not null)
            {
                return $"zone {Name}: {problem}";
            }

            root += step;
        }

        // Every set bit must have been reached from a root: count them against what the walk saw.
        long freeBits = 0, unitBits = 0;
        for (int order = 0; order <= _maxOrder; order++)
        {
            freeBits += _area.NrFree(order);
            unitBits += _area.UnitCount(order);
        }

        if (visited != (ulong)(freeBits + unitBits))
        {
            return $"zone {Name}: {freeBits + unitBits} free or unit bits are set but {visited} are reachable from the roots";
        }

        problem = ValidateHighAtomicReserve();
        if (problem is not null)
        {
            return $"zone {Name}: {problem}";
        }

        ulong counted = 0;
        for (int order = 0; order <= _maxOrder; order++)
        {
            counted += (ulong)_area.NrFree(order) << order;
        }

        if (free != FreePages || counted != FreePages)
        {
            return string.Create(CultureInfo.InvariantCulture, $"zone {Name}: FreePages is {FreePages} but the free blocks hold {free} pages (counts say {counted})");
        }

        return null;
    }

    // nr_reserved_highatomic is the pages of the zone's MIGRATE_HIGHATOMIC pageblocks.
    private string? ValidateHighAtomicReserve()
    {
        ulong pageblocks = 0;
        foreach ((long _, long count, byte type) in _area.PageblockRuns())
        {
            pageblocks += type == (byte)MigrateType.HighAtomic ? (ulong)count : 0;
        }

        ulong pages = Grouped ? pageblocks << _area.PageblockOrder : 0;
        return pages == ReservedHighAtomic ? null
            : string.Create(CultureInfo.InvariantCulture, $"ReservedHighAtomic is {ReservedHighAtomic} pages but {pageblocks} pageblocks are MIGRATE_HIGHATOMIC");
    }

    private string? ValidateNode(ulong start, int order, PfnRanges reserved, Action<ulong, int, ulong> onUnit, ref ulong free, ref ulong visited)
    {
        ulong end = start + (1UL << order);
        if (end <= StartPfn || start >= EndPfn)
        {
            return null; // wholly outside the zone
        }

        bool inside = start >= StartPfn && end <= EndPfn;
        bool isFree = inside && _area.IsFree(order, start);
        bool isUnit = inside && _area.IsUnit(order, start); // at order 0: a page that is not free
        string where = string.Create(CultureInfo.InvariantCulture, $"order-{order} block at pfn 0x{start:x}");
        if (!inside)
        {
            // Crosses the zone edge: must be divided; its halves are examined on their own.
            return order == 0 ? $"{where} crosses the zone edge" : ValidateHalves(start, order, reserved, onUnit, ref free, ref visited);
        }

        if (isFree && isUnit)
        {
            return $"{where} is both free and an allocated or reserved unit";
        }

        if (isFree)
        {
            visited++;
            free += 1UL << order;
            if (Grouped && order > _area.PageblockOrder)
            {
                for (ulong p = start; p < end; p += 1UL << _area.PageblockOrder)
                {
                    if (_area.TypeOf(p) != _area.TypeOf(start))
                    {
                        return $"{where} is free but spans pageblocks of different types";
                    }
                }
            }

            if (reserved.Intersects(start, end))
            {
                return $"{where} is free but holds reserved pages";
            }

            return FindBitBelow(start, order);
        }

        if (isUnit)
        {
            // A unit: reserved whole, or allocated with no reserved page in it.
            visited += order > 0 ? 1UL : 0UL; // a page's unit has no bit to count
            if (reserved.Intersects(start, end) && !reserved.Covers(start, end))
            {
                return $"{where} mixes reserved and unreserved pages";
            }

            onUnit(start, order, 1);
            return FindBitBelow(start, order);
        }

        // Divided: its halves are units or divided in turn, and never two free halves that may merge.
        ulong half = 1UL << (order - 1);
        if (_area.IsFree(order - 1, start) && _area.IsFree(order - 1, start + half) && MayMerge(start, start + half, order - 1))
        {
            return $"{where} has two free halves that were not merged";
        }

        return ValidateHalves(start, order, reserved, onUnit, ref free, ref visited);
    }

    private string? ValidateHalves(ulong start, int order, PfnRanges reserved, Action<ulong, int, ulong> onUnit, ref ulong free, ref ulong visited)
    {
        ulong half = 1UL << (order - 1);
        return ValidateNode(start, order - 1, reserved, onUnit, ref free, ref visited)
            ?? ValidateNode(start + half, order - 1, reserved, onUnit, ref free, ref visited);
    }

    // The number of max-order blocks from root that lie wholly inside the zone and wholly in one reserved range.
    private ulong ReservedRun(ulong root, PfnRanges reserved)
    {
        (ulong start, ulong end) = reserved.NextRange(root);
        ulong size = 1UL << _maxOrder;
        return start > root || end < root + size ? 0 : ((Math.Min(end, EndPfn) & ~(size - 1)) - root) >> _maxOrder;
    }

    // A run of free max-order blocks on one type's list: no reserved page in it, and (grouping by
    // mobility) no pageblock type change inside any of its blocks. Bits below the blocks are caught
    // by the count of reachable bits in Validate.
    private string? ValidateFreeRun(ulong root, ulong count, PfnRanges reserved, ref List<ulong>? typeChanges)
    {
        ulong end = root + (count << _maxOrder);
        if (reserved.Intersects(root, end))
        {
            return $"the free max-order blocks from pfn 0x{root:x} to 0x{end:x} hold reserved pages";
        }

        if (Grouped && _maxOrder > _area.PageblockOrder)
        {
            typeChanges ??= [.. _area.PageblockRuns().Skip(1).Select(r => (((ulong)r.Start << _area.PageblockOrder) + _area.FirstPageblockPfn))];
            int i = typeChanges.BinarySearch(root + 1);
            for (i = i < 0 ? ~i : i; i < typeChanges.Count && typeChanges[i] < end; i++)
            {
                if ((typeChanges[i] & ((1UL << _maxOrder) - 1)) != 0)
                {
                    return string.Create(CultureInfo.InvariantCulture, $"order-{_maxOrder} block at pfn 0x{typeChanges[i] & ~((1UL << _maxOrder) - 1):x} is free but spans pageblocks of different types");
                }
            }
        }

        return null;
    }

    // Within a unit no descendant may carry a bit; probing the first descendant at each order is
    // enough here because the global bit count in Validate catches any stray bit elsewhere.
    private string? FindBitBelow(ulong start, int order)
    {
        for (int o = order - 1; o >= 0; o--)
        {
            if (_area.IsFree(o, start) || (o > 0 && _area.IsUnit(o, start)))
            {
                return string.Create(CultureInfo.InvariantCulture, $"order-{o} block at pfn 0x{start:x} has a bit set inside a larger unit");
            }
        }

        return null;
    }
}
