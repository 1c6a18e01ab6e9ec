// FreeArea: a zone's free blocks per order, and which blocks are split.
//
// Invariants (checked by Zone.Validate):
// - Bit i of Free(order) is set iff the order-sized block at pfn (i + base(order)) << order is a
//   free block in its own right (not part of a larger free block).
// - Bit i of Split(order) is set iff that block is divided into two halves that are managed
//   separately. A block that is neither free nor split is a unit: allocated, reserved or outside.
// - NrFree(order) equals the number of set bits of Free(order).
using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Buddy.FreeAreas;

/// <summary>The per-order free and split bitmaps of one zone (the kernel's <c>free_area[]</c>).</summary>
/// <remarks>
/// Indices are relative to the zone's first block at each order, so a zone that does not start at
/// a multiple of 2^order still indexes from 0. Not thread-safe: the owning zone serialises access.
/// </remarks>
internal sealed class FreeArea
{
    private readonly FreeBitmap[] _free;
    private readonly FreeBitmap?[] _split; // _split[0] is null: a page cannot be split
    private readonly ulong[] _base;

    /// <summary>Creates empty bitmaps for pfns <c>[startPfn, endPfn)</c> and orders 0..<paramref name="maxOrder"/>.</summary>
    public FreeArea(ulong startPfn, ulong endPfn, int maxOrder)
    {
        Debug.Assert(endPfn > startPfn);
        _free = new FreeBitmap[maxOrder + 1];
        _split = new FreeBitmap?[maxOrder + 1];
        _base = new ulong[maxOrder + 1];
        for (int order = 0; order <= maxOrder; order++)
        {
            ulong first = startPfn >> order;
            ulong last = (endPfn - 1) >> order;
            _base[order] = first;
            _free[order] = new FreeBitmap((long)(last - first + 1));
            if (order > 0)
            {
                _split[order] = new FreeBitmap((long)(last - first + 1));
            }
        }
    }

    /// <summary>The number of free blocks of <paramref name="order"/> (the kernel's <c>nr_free</c>).</summary>
    public long NrFree(int order) => _free[order].Count;

    /// <summary>Bytes of metadata held by all bitmaps.</summary>
    public long MetadataBytes
    {
        get
        {
            long bytes = _base.Length * sizeof(ulong);
            foreach (FreeBitmap b in _free)
            {
                bytes += b.MetadataBytes;
            }

            foreach (FreeBitmap? b in _split)
            {
                bytes += b?.MetadataBytes ?? 0;
            }

            return bytes;
        }
    }

    /// <summary>Whether the order-<paramref name="order"/> block at <paramref name="pfn"/> is free in its own right.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsFree(int order, ulong pfn) => _free[order].Test(Index(order, pfn));

    /// <summary>Records a free block.</summary>
    public void AddFree(int order, ulong pfn) => _free[order].Set(Index(order, pfn));

    /// <summary>Removes a free block.</summary>
    public void RemoveFree(int order, ulong pfn) => _free[order].Clear(Index(order, pfn));

    /// <summary>The pfn of the lowest free block of <paramref name="order"/>, or <see cref="ulong.MaxValue"/>.</summary>
    public ulong LowestFree(int order)
    {
        long i = _free[order].FindFirst();
        return i < 0 ? ulong.MaxValue : ((ulong)i + _base[order]) << order;
    }

    /// <summary>The pfn of the highest free block of <paramref name="order"/>, or <see cref="ulong.MaxValue"/>.</summary>
    public ulong HighestFree(int order)
    {
        long i = _free[order].FindLast();
        return i < 0 ? ulong.MaxValue : ((ulong)i + _base[order]) << order;
    }

    /// <summary>Whether the block at <paramref name="pfn"/> (order ≥ 1) is split into halves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsSplit(int order, ulong pfn) => _split[order]!.Test(Index(order, pfn));

    /// <summary>Marks a block as split.</summary>
    public void MarkSplit(int order, ulong pfn) => _split[order]!.Set(Index(order, pfn));

    /// <summary>Marks a split block whole again (its halves merged).</summary>
    public void ClearSplit(int order, ulong pfn) => _split[order]!.Clear(Index(order, pfn));

    /// <summary>The pfns of all free blocks of <paramref name="order"/>, ascending.</summary>
    public IEnumerable<ulong> EnumerateFree(int order)
    {
        ulong b = _base[order];
        foreach (long i in _free[order].EnumerateSet())
        {
            yield return ((ulong)i + b) << order;
        }
    }

    /// <summary>The pfns of all split blocks of <paramref name="order"/>, ascending.</summary>
    public IEnumerable<ulong> EnumerateSplit(int order)
    {
        ulong b = _base[order];
        foreach (long i in _split[order]!.EnumerateSet())
        {
            yield return ((ulong)i + b) << order;
        }
    }

    /// <summary>Checks every bitmap's own invariants; returns the first problem or null.</summary>
    public string? ValidateBitmaps()
    {
        for (int order = 0; order < _free.Length; order++)
        {
            string? problem = _free[order].Validate() ?? _split[order]?.Validate();
            if (problem is not null)
            {
                return $"order {order}: {problem}";
            }
        }

        return null;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long Index(int order, ulong pfn)
    {
        Debug.Assert((pfn & ((1UL << order) - 1)) == 0, "block not naturally aligned");
        return (long)((pfn >> order) - _base[order]);
    }
}
