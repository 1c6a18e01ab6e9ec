// FreeArea: a zone's free blocks per order and migrate type, where its other units start, and the
// migrate type of every pageblock.
//
// Invariants (checked by Zone.Validate):
// - A free block is recorded in exactly one bitmap: Free(order, type) where type is the migrate
//   type of the pageblock holding its first page (the kernel's "free pages sit on the list of
//   their pageblock's type", Linux 6.18). A free block larger than a pageblock covers pageblocks
//   of one type only.
// - For order ≥ 1, bit i of Units(order) is set iff that block is a unit that is not free:
//   allocated (by a user, a thread cache or an exact run's piece) or reserved. A block of order
//   ≥ 1 inside the zone that is neither free nor a unit is divided: its halves are examined in
//   their own right. A page (order 0) cannot be divided, so one that is not free is a unit and
//   needs no bit. So a split or a merge changes one free bit per level and nothing else; taking
//   a block of order ≥ 1 sets its unit bit once and giving it back clears it once (issue 12:
//   split bits cost two operations per level; an order-0 pair now costs no unit bit at all).
// - Without grouping by mobility there is one type (0) and no pageblock map.
// - Bit o of _ordersWithFree[type] is set iff Free(o, type) holds at least one block, so a search
//   skips empty orders with one TZCNT instead of probing every order's bitmap.
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Buddy;

/// <summary>The per-order, per-type free bitmaps, the per-order unit bitmaps and the pageblock types of one zone.</summary>
/// <remarks>
/// Indices are relative to the zone's first block at each order. Not thread-safe: the owning zone
/// serialises access.
/// </remarks>
internal sealed class FreeArea
{
    private readonly FreeBitmap[] _free;    // [order * _types + type]
    private readonly FreeBitmap?[] _units;  // per order ≥ 1: where a unit that is not free starts (_units[0] is null: a page needs none)
    private readonly ulong[] _base;
    private readonly int _types;
    private readonly PageblockTypes? _pageblockType; // null without grouping
    private readonly ulong _pageblockBase;
    private readonly ulong[] _ordersWithFree; // per type: bit o set iff that type has a free block of order o

    /// <summary>Creates empty bitmaps for pfns <c>[startPfn, endPfn)</c>, orders 0..<paramref name="maxOrder"/>.</summary>
    /// <param name="startPfn">The zone's first page frame.</param>
    /// <param name="endPfn">One past its last.</param>
    /// <param name="maxOrder">The largest order.</param>
    /// <param name="types">Migrate types kept apart (1 without grouping by mobility, 3 with).</param>
    /// <param name="pageblockOrder">log2 of the pageblock size (used when <paramref name="types"/> &gt; 1).</param>
    /// <param name="initialType">The type every pageblock starts with (the kernel boots them all movable).</param>
    /// <param name="chunks">The reserve of empty bitmap chunks this area draws on (shared by an allocator's zones); null for one of its own.</param>
    public FreeArea(ulong startPfn, ulong endPfn, int maxOrder, int types = 1, int pageblockOrder = 0, int initialType = 0, ChunkReserve? chunks = null)
    {
        Debug.Assert(endPfn > startPfn && types >= 1);
        _types = types;
        _free = new FreeBitmap[(maxOrder + 1) * types];
        _units = new FreeBitmap?[maxOrder + 1];
        _base = new ulong[maxOrder + 1];
        _ordersWithFree = new ulong[types];
        (int leaves, int inners) = PerOperation(maxOrder, types, endPfn - startPfn + (1UL << maxOrder));
        Reserve = chunks ?? new ChunkReserve(leaves, inners);
        for (int order = 0; order <= maxOrder; order++)
        {
            ulong first = startPfn >> order;
            long length = (long)(((endPfn - 1) >> order) - first + 1);
            _base[order] = first;
            for (int t = 0; t < types; t++)
            {
                _free[(order * types) + t] = new FreeBitmap(length, Reserve);
            }

            if (order > 0)
            {
                _units[order] = new FreeBitmap(length, Reserve);
            }
        }

        PageblockOrder = pageblockOrder;
        if (types > 1)
        {
            _pageblockBase = startPfn >> pageblockOrder;
            _pageblockType = new PageblockTypes((long)(((endPfn - 1) >> pageblockOrder) - _pageblockBase + 1), (byte)initialType);
        }
    }

    /// <summary>The empty chunks this area's bitmaps draw on; an operation reserves what it needs first.</summary>
    public ChunkReserve Reserve { get; }

    /// <summary>
    /// The most new bitmap nodes one elementary take and one give-back can need in a zone of
    /// <paramref name="pages"/> pages (see <see cref="ChunkReserve"/>): a leaf and a path of inner
    /// nodes per change of a bit.
    /// </summary>
    /// <remarks>
    /// A take changes at most one free bit per order and sets one unit bit (a trim of an exact run
    /// sets one per order above 0); when it claims pageblocks for its type (types &gt; 1) it also moves
    /// their free blocks, consecutive bits at each order that span at most two leaves, cleared on
    /// one type's bitmap and set on another's: four more paths per order. A give-back clears one
    /// unit bit and at most one free bit per order (inside a folded full subtree a clear
    /// materialises its path) and sets one free bit.
    /// </remarks>
    public static (int Leaves, int Inners) PerOperation(int maxOrder, int types, ulong pages)
    {
        int freeChanges = 1 + (types > 1 ? 4 : 0) + 1; // take (with claims), give-back
        int leaves = 0, inners = 0;
        for (int order = 0; order <= maxOrder; order++)
        {
            int path = FreeBitmap.NodesPerChange((long)Math.Max(1, pages >> order)) - 1;
            int changes = freeChanges + (order > 0 ? 2 : 0); // and the unit bit, set by the take and cleared by the give-back
            leaves += changes;
            inners += changes * path;
        }

        return (leaves, inners);
    }

    /// <summary>The number of migrate types kept apart.</summary>
    public int Types => _types;

    /// <summary>log2 of the pageblock size.</summary>
    public int PageblockOrder { get; }

    /// <summary>The number of pageblocks (0 without grouping).</summary>
    public long Pageblocks => _pageblockType?.Count ?? 0;

    /// <summary>The first pfn of pageblock index 0.</summary>
    public ulong FirstPageblockPfn => _pageblockBase << PageblockOrder;

    /// <summary>Bytes of metadata held by all bitmaps and the pageblock map.</summary>
    public long MetadataBytes
    {
        get
        {
            long bytes = (_base.Length * sizeof(ulong)) + (_pageblockType?.MetadataBytes ?? 0); // the reserve is counted by its owner
            foreach (FreeBitmap b in _free)
            {
                bytes += b.MetadataBytes;
            }

            foreach (FreeBitmap? b in _units)
            {
                bytes += b?.MetadataBytes ?? 0;
            }

            return bytes;
        }
    }

    /// <summary>Free blocks of <paramref name="order"/>, all types.</summary>
    public long NrFree(int order)
    {
        long n = 0;
        for (int t = 0; t < _types; t++)
        {
            n += _free[(order * _types) + t].Count;
        }

        return n;
    }

    /// <summary>Free blocks of <paramref name="order"/> on <paramref name="type"/>'s list.</summary>
    public long NrFree(int order, int type) => _free[(order * _types) + type].Count;

    /// <summary>The migrate type of the pageblock holding <paramref name="pfn"/> (0 without grouping).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int TypeOf(ulong pfn) => _pageblockType is null ? 0 : _pageblockType[(long)((pfn >> PageblockOrder) - _pageblockBase)];

    /// <summary>Sets the migrate type of the pageblock holding <paramref name="pfn"/>; its free blocks must be moved by the caller.</summary>
    public void SetPageblockType(ulong pfn, int type)
    {
        Debug.Assert(_pageblockType is not null);
        _pageblockType!.Set((long)((pfn >> PageblockOrder) - _pageblockBase), (byte)type);
    }

    /// <summary>The type of pageblock <paramref name="index"/>.</summary>
    public int PageblockTypeAt(long index) => _pageblockType![index];

    /// <summary>Maximal runs of pageblocks of one type (index, count, type), in O(pageblocks retyped), not O(pageblocks).</summary>
    public IEnumerable<(long Start, long Count, byte Type)> PageblockRuns() => _pageblockType?.Runs() ?? [];

    /// <summary>Makes sure the pageblock retyping of one elementary take and one give-back allocates nothing (grouping only); may throw <see cref="OutOfMemoryException"/>, with nothing changed.</summary>
    public void EnsurePageblockSpares() => _pageblockType?.EnsureSpares(4);

    /// <summary>Whether the order-<paramref name="order"/> block at <paramref name="pfn"/> is free in its own right.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsFree(int order, ulong pfn) => FreeList(order, TypeOf(pfn)).Test(Index(order, pfn));

    /// <summary>The orders at which <paramref name="type"/> has free blocks: bit o set for order o.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong OrdersWithFree(int type) => OrderMask(type);

    /// <summary>Records a free block on its pageblock's list.</summary>
    public void AddFree(int order, ulong pfn)
    {
        int type = TypeOf(pfn);
        FreeList(order, type).Set(Index(order, pfn));
        OrderMask(type) |= 1UL << order;
    }

    /// <summary>Removes the block at <paramref name="pfn"/> from its pageblock's list if it is a free block of <paramref name="order"/>; returns whether it was (one walk: the merge's "is the buddy free? take it").</summary>
    public bool TryRemoveFree(int order, ulong pfn)
    {
        int type = TypeOf(pfn);
        FreeBitmap free = FreeList(order, type);
        if (!free.TryClear(Index(order, pfn)))
        {
            return false;
        }

        if (free.Count == 0)
        {
            OrderMask(type) &= ~(1UL << order);
        }

        return true;
    }

    /// <summary>Removes a free block from its pageblock's list.</summary>
    public void RemoveFree(int order, ulong pfn)
    {
        bool removed = TryRemoveFree(order, pfn);
        Debug.Assert(removed, "the block is not on its pageblock's free list");
    }

    /// <summary>Records <paramref name="count"/> consecutive free blocks of <paramref name="order"/> from <paramref name="pfn"/>, all in pageblocks of one type, in O(bitmap height).</summary>
    public void AddFreeRun(int order, ulong pfn, ulong count)
    {
        int type = TypeOf(pfn);
        _free[(order * _types) + type].SetRange(Index(order, pfn), (long)count);
        _ordersWithFree[type] |= 1UL << order;
    }

    /// <summary>How many consecutive blocks of <paramref name="order"/> from <paramref name="pfn"/> are free on the list of pfn's pageblock type (0 when pfn's block is not).</summary>
    public ulong FreeRun(int order, ulong pfn)
    {
        FreeBitmap free = _free[(order * _types) + TypeOf(pfn)];
        long index = Index(order, pfn);
        return free.Test(index) ? (ulong)(free.NextClear(index) - index) : 0;
    }

    /// <summary>Whether any free block of <paramref name="order"/> (any type) starts in [<paramref name="fromPfn"/>, <paramref name="toPfn"/>).</summary>
    public bool AnyFreeIn(int order, ulong fromPfn, ulong toPfn)
    {
        long from = Index(order, fromPfn), to = Index(order, toPfn);
        for (int t = 0; t < _types; t++)
        {
            long next = _free[(order * _types) + t].NextSet(from);
            if (next >= 0 && next < to)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The pfn of the lowest free block of <paramref name="order"/> on <paramref name="type"/>'s list, or <see cref="ulong.MaxValue"/>.</summary>
    public ulong LowestFree(int order, int type)
    {
        long i = FreeList(order, type).FindFirst();
        return i < 0 ? ulong.MaxValue : ((ulong)i + Base(order)) << order;
    }

    /// <summary>The pfn of the highest free block of <paramref name="order"/> and <paramref name="type"/> that starts below <paramref name="pfnLimit"/>, or <see cref="ulong.MaxValue"/>.</summary>
    public ulong HighestFreeBelow(int order, int type, ulong pfnLimit)
    {
        if (pfnLimit <= _base[order] << order)
        {
            return ulong.MaxValue;
        }

        ulong limitIndex = ((pfnLimit - 1) >> order) - _base[order] + 1;
        long i = _free[(order * _types) + type].FindLastBefore((long)Math.Min(limitIndex, (ulong)long.MaxValue));
        return i < 0 ? ulong.MaxValue : ((ulong)i + _base[order]) << order;
    }

    /// <summary>Whether a unit that is not free (allocated or reserved) starts at <paramref name="pfn"/> with <paramref name="order"/>; at order 0, whether the page is not free.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsUnit(int order, ulong pfn) => order == 0 ? !IsFree(0, pfn) : Units(order).Test(Index(order, pfn));

    /// <summary>Records the start of a unit that is not free (nothing at order 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void MarkUnit(int order, ulong pfn)
    {
        if (order > 0)
        {
            Units(order).Set(Index(order, pfn));
        }
    }

    /// <summary>Forgets the start of a unit (it is freed, or divided into smaller units); nothing at order 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ClearUnit(int order, ulong pfn)
    {
        if (order > 0)
        {
            Units(order).Clear(Index(order, pfn));
        }
    }

    /// <summary>Records <paramref name="count"/> consecutive units of <paramref name="order"/> from <paramref name="pfn"/> (reserved max-order blocks), in O(bitmap height); nothing at order 0.</summary>
    public void MarkUnitRun(int order, ulong pfn, ulong count)
    {
        if (order > 0)
        {
            Units(order).SetRange(Index(order, pfn), (long)count);
        }
    }

    /// <summary>How many consecutive units of <paramref name="order"/> ≥ 1 start at <paramref name="pfn"/> and after it (0 when none starts there).</summary>
    public ulong UnitRun(int order, ulong pfn)
    {
        FreeBitmap units = Units(order);
        long index = Index(order, pfn);
        return units.Test(index) ? (ulong)(units.NextClear(index) - index) : 0;
    }

    /// <summary>The pfns of all free blocks of <paramref name="order"/> and <paramref name="type"/>, ascending.</summary>
    public IEnumerable<ulong> EnumerateFree(int order, int type)
    {
        ulong b = _base[order];
        foreach (long i in _free[(order * _types) + type].EnumerateSet())
        {
            yield return ((ulong)i + b) << order;
        }
    }

    /// <summary>The number of unit bits of <paramref name="order"/> (units that are not free; 0 at order 0, which keeps no bits).</summary>
    public long UnitCount(int order) => _units[order]?.Count ?? 0;

    /// <summary>Checks every bitmap's own invariants and the per-type order masks; returns the first problem or null.</summary>
    public string? ValidateBitmaps()
    {
        for (int order = 0; order < _base.Length; order++)
        {
            for (int t = 0; t < _types; t++)
            {
                string? problem = _free[(order * _types) + t].Validate();
                if (problem is not null)
                {
                    return $"order {order} type {t}: {problem}";
                }

                if (((_ordersWithFree[t] >> order) & 1) != (_free[(order * _types) + t].Count > 0 ? 1UL : 0UL))
                {
                    return $"order {order} type {t}: the order mask disagrees with the bitmap's count";
                }
            }

            string? units = _units[order]?.Validate();
            if (units is not null)
            {
                return $"order {order} units: {units}";
            }
        }

        return null;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long Index(int order, ulong pfn)
    {
        Debug.Assert((pfn & ((1UL << order) - 1)) == 0, "block not naturally aligned");
        return (long)((pfn >> order) - Base(order));
    }

    // The per-order and per-type arrays are read without bounds checks on the take and give-back
    // paths, which touch several of them at every level: the zone passes orders 0..max order only
    // and types come from the pageblock map or MigrateType, both below _types.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private FreeBitmap FreeList(int order, int type)
    {
        Debug.Assert((uint)order < (uint)_base.Length && (uint)type < (uint)_types);
        return Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_free), (order * _types) + type);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private FreeBitmap Units(int order)
    {
        Debug.Assert(order > 0 && order < _units.Length);
        return Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_units), order)!;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong Base(int order)
    {
        Debug.Assert((uint)order < (uint)_base.Length);
        return Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_base), order);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref ulong OrderMask(int type)
    {
        Debug.Assert((uint)type < (uint)_types);
        return ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_ordersWithFree), type);
    }
}
