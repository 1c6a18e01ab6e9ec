// StartZone: one zone of a MachineStart while it is rebuilt — which pages are free, which the trace
// leaves unknown, and each pageblock's type — and the three steps that rebuild it (types, free
// blocks, what stays allocated). See MachineStart for what is exact and what is inferred.
//
// Invariants: _free and _open are disjoint; a set bit of _open is a managed page the trace never
// names that is not (yet) chosen free; reserved pages are in neither and never in a block.
using System.Numerics;

namespace Buddy.Simulation.Replay;

/// <summary>One zone's pages while its start state is rebuilt.</summary>
internal sealed class StartZone
{
    private const int Types = 4; // Unmovable, Movable, Reclaimable, HighAtomic (Isolate counts as Movable)
    private readonly ulong _start, _end;
    private readonly int _maxOrder, _pageblockOrder;
    private readonly ulong[] _free, _open, _managed, _freedFirst;
    private readonly byte[] _types; // per pageblock from _start's pageblock
    private readonly TraceTouches _touches;

    public StartZone(MachineLayout layout, TraceTouches touches, ulong start, ulong end)
    {
        _start = start;
        _end = end;
        _touches = touches;
        _maxOrder = layout.MaxOrder;
        _pageblockOrder = touches.PageblockOrder;
        int words = (int)((end - start + 63) / 64);
        (_free, _open, _managed, _freedFirst) = (new ulong[words], new ulong[words], new ulong[words], new ulong[words]);
        _types = new byte[(int)(((end - 1) >> _pageblockOrder) - (start >> _pageblockOrder) + 1)];
        Array.Fill(_types, (byte)MigrateType.Movable);
        var reserved = layout.Reserved.Select(r => (Start: r.Start >> layout.PageShift, End: r.End >> layout.PageShift)).ToArray();
        for (ulong p = start; p < end; p++)
        {
            if (reserved.Any(r => p >= r.Start && p < r.End))
            {
                continue;
            }

            Set(_managed, p);
            Set(touches.IsTouched(p) ? (touches.IsFreedFirst(p) ? _freedFirst : _free) : _open, p);
        }
    }

    /// <summary>Types the pageblocks: each non-movable type's count first to pageblocks whose first allocations were mostly of it, then to untouched ones from the zone's start.</summary>
    public void AssignPageblockTypes(IReadOnlyList<long> pageblocks)
    {
        long[] quota = new long[Types];
        for (int t = 0; t < Math.Min(pageblocks.Count, Types); t++)
        {
            quota[t] = t == (int)MigrateType.Movable ? 0 : pageblocks[t];
        }

        var assigned = new bool[_types.Length];
        for (int i = 0; i < _types.Length; i++)
        {
            ulong pfn = PageblockPfn(i);
            int u = _touches.Evidence(pfn, MigrateType.Unmovable), m = _touches.Evidence(pfn, MigrateType.Movable), r = _touches.Evidence(pfn, MigrateType.Reclaimable);
            int best = u >= r ? (int)MigrateType.Unmovable : (int)MigrateType.Reclaimable;
            if (Math.Max(u, r) > m && quota[best] > 0)
            {
                (_types[i], assigned[i]) = ((byte)best, true);
                quota[best]--;
            }
            else if (u + m + r > 0)
            {
                assigned[i] = true; // movable evidence: stays Movable
            }
        }

        for (int i = 0, t = 0; i < _types.Length && t < Types; i++)
        {
            while (t < Types && quota[t] == 0)
            {
                t++;
            }

            if (t < Types && !assigned[i])
            {
                _types[i] = (byte)t;
                quota[t]--;
            }
        }
    }

    /// <summary>Places the snapshot's free blocks (<c>counts[type][order]</c>) not already made by the trace's free pages; returns the pages that found no room.</summary>
    public long PlaceFreeBlocks(IReadOnlyList<IReadOnlyList<long>> counts)
    {
        long[,] need = new long[Types, _maxOrder + 1];
        for (int t = 0; t < counts.Count; t++)
        {
            for (int o = 0; o <= _maxOrder && o < counts[t].Count; o++)
            {
                need[t < Types ? t : (int)MigrateType.Movable, o] += counts[t][o];
            }
        }

        foreach ((ulong pfn, int order) in MaximalBlocks(_free))
        {
            int t = TypeAt(pfn);
            need[t, order] = Math.Max(0, need[t, order] - 1); // the trace's own free pages come first
        }

        long unplaced = 0;
        for (int order = _maxOrder; order >= 0; order--)
        {
            for (int t = 0; t < Types; t++)
            {
                long left = Place(order, need[t, order], t);
                left = Place(order, left, -1); // any pageblock type when its own are full
                unplaced += left << order;
            }
        }

        return unplaced;
    }

    /// <summary>Adds the allocated blocks: untouched pages not chosen free (held), and pages the trace frees first (pre-capture).</summary>
    public void CollectAllocated(List<StartBlock> held, List<StartBlock> preCapture)
    {
        foreach ((ulong pfn, int order) in MaximalBlocks(_open))
        {
            held.Add(new StartBlock(pfn, order, AllocationType(pfn)));
        }

        foreach ((ulong pfn, int order) in MaximalBlocks(_freedFirst))
        {
            preCapture.Add(new StartBlock(pfn, order, AllocationType(pfn)));
        }
    }

    /// <summary>The pageblocks whose type is not Movable.</summary>
    public IEnumerable<(ulong Pfn, MigrateType Type)> NonMovablePageblocks()
    {
        for (int i = 0; i < _types.Length; i++)
        {
            if (_types[i] != (byte)MigrateType.Movable)
            {
                yield return (Math.Max(PageblockPfn(i), _start), (MigrateType)_types[i]);
            }
        }
    }

    /// <summary>Free blocks per order of the rebuilt state.</summary>
    public long[] FreeBlockCounts()
    {
        long[] counts = new long[_maxOrder + 1];
        foreach ((_, int order) in MaximalBlocks(_free))
        {
            counts[order]++;
        }

        return counts;
    }

    // Chooses up to `count` free order-`order` blocks of open pages in pageblocks of `type` (-1: any),
    // lowest first, none beside a wholly free buddy; returns how many are still wanted.
    private long Place(int order, long count, int type)
    {
        ulong size = 1UL << order;
        for (ulong pfn = AlignUp(_start, size); count > 0 && pfn + size <= _end; pfn += size)
        {
            if ((type < 0 || OfType(pfn, order, type)) && All(_open, pfn, size) && !BuddyFree(pfn, order))
            {
                SetRange(_free, pfn, size, true);
                SetRange(_open, pfn, size, false);
                count--;
            }
        }

        return count;
    }

    private bool BuddyFree(ulong pfn, int order)
    {
        ulong buddy = pfn ^ (1UL << order);
        return order < _maxOrder && buddy >= _start && buddy + (1UL << order) <= _end && All(_free, buddy, 1UL << order);
    }

    private bool OfType(ulong pfn, int order, int type)
    {
        ulong step = 1UL << _pageblockOrder;
        for (ulong p = pfn & ~(step - 1); p < pfn + (1UL << order); p += step)
        {
            if (TypeAt(Math.Max(p, _start)) != type)
            {
                return false;
            }
        }

        return true;
    }

    // The maximal aligned blocks inside the zone whose pages are all set in `bits`, lowest first:
    // exactly the free blocks a buddy allocator holds for that set of free pages.
    private IEnumerable<(ulong Pfn, int Order)> MaximalBlocks(ulong[] bits)
    {
        for (ulong p = _start; p < _end;)
        {
            if (!Test(bits, p))
            {
                p = NextSet(bits, p);
                continue;
            }

            int order = 0;
            while (order < _maxOrder && (p & ((2UL << order) - 1)) == 0 && p + (2UL << order) <= _end && All(bits, p + (1UL << order), 1UL << order))
            {
                order++;
            }

            yield return (p, order);
            p += 1UL << order;
        }
    }

    private MigrateType AllocationType(ulong pfn) => TypeAt(pfn) == (int)MigrateType.HighAtomic ? MigrateType.Unmovable : (MigrateType)TypeAt(pfn);

    private int TypeAt(ulong pfn) => _types[(int)((pfn >> _pageblockOrder) - (_start >> _pageblockOrder))];

    private ulong PageblockPfn(int index) => ((_start >> _pageblockOrder) + (ulong)index) << _pageblockOrder;

    private static ulong AlignUp(ulong pfn, ulong size) => (pfn + size - 1) & ~(size - 1);

    private bool Test(ulong[] bits, ulong pfn) => (bits[(pfn - _start) >> 6] & (1UL << (int)((pfn - _start) & 63))) != 0;

    private void Set(ulong[] bits, ulong pfn) => bits[(pfn - _start) >> 6] |= 1UL << (int)((pfn - _start) & 63);

    // The first page at or after pfn whose bit is set (or the zone's end).
    private ulong NextSet(ulong[] bits, ulong pfn)
    {
        ulong i = pfn - _start;
        ulong word = bits[i >> 6] & (~0UL << (int)(i & 63));
        ulong w = i >> 6;
        while (word == 0 && ++w < (ulong)bits.Length)
        {
            word = bits[w];
        }

        return word == 0 ? _end : Math.Min(_end, _start + (w << 6) + (ulong)BitOperations.TrailingZeroCount(word));
    }

    private bool All(ulong[] bits, ulong pfn, ulong count)
    {
        for (ulong p = pfn; p < pfn + count; p++)
        {
            if ((p - _start) % 64 == 0 && p + 64 <= pfn + count)
            {
                if (bits[(p - _start) >> 6] != ~0UL)
                {
                    return false;
                }

                p += 63;
            }
            else if (!Test(bits, p))
            {
                return false;
            }
        }

        return true;
    }

    private void SetRange(ulong[] bits, ulong pfn, ulong count, bool value)
    {
        for (ulong p = pfn; p < pfn + count; p++)
        {
            if (value)
            {
                Set(bits, p);
            }
            else
            {
                bits[(p - _start) >> 6] &= ~(1UL << (int)((p - _start) & 63));
            }
        }
    }
}
