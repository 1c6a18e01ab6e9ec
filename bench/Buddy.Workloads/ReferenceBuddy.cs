// ReferenceBuddy: the textbook buddy allocator — one free list per order, a state byte per page,
// one lock — as a yardstick for benchmarks. Deliberately straightforward; not used by Buddy.
using System.Diagnostics;

namespace Buddy.Bench;

/// <summary>A straightforward buddy allocator over page numbers: free lists per order and one lock.</summary>
/// <remarks>
/// Each order's free list is an array-backed list with an index per page for O(1) removal of a
/// buddy; a page's state byte says whether it heads a free block and of which order. Thread-safe
/// through one lock. No zones, constraints or checks beyond a debug assert.
/// </remarks>
public sealed class ReferenceBuddy
{
    private const byte NotFreeHead = 0xFF;
    private readonly Lock _lock = new();
    private readonly int _maxOrder;
    private readonly List<int>[] _free;
    private readonly int[] _position; // index of a free block's head in its order's list
    private readonly byte[] _freeOrder; // NotFreeHead, or the order of the free block this page heads

    /// <summary>Creates the allocator over <paramref name="pages"/> pages (a multiple of 2^<paramref name="maxOrder"/>).</summary>
    public ReferenceBuddy(int pages, int maxOrder)
    {
        if (pages <= 0 || pages % (1 << maxOrder) != 0)
        {
            throw new ArgumentException($"pages must be a positive multiple of 2^{maxOrder}.", nameof(pages));
        }

        _maxOrder = maxOrder;
        _free = new List<int>[maxOrder + 1];
        for (int o = 0; o <= maxOrder; o++)
        {
            _free[o] = [];
        }

        _position = new int[pages];
        _freeOrder = new byte[pages];
        _freeOrder.AsSpan().Fill(NotFreeHead);
        for (int p = 0; p < pages; p += 1 << maxOrder)
        {
            Push(p, maxOrder);
        }
    }

    /// <summary>Allocates a block of 2^<paramref name="order"/> pages; returns its first page or -1.</summary>
    public int Allocate(int order)
    {
        lock (_lock)
        {
            int current = order;
            while (current <= _maxOrder && _free[current].Count == 0)
            {
                current++;
            }

            if (current > _maxOrder)
            {
                return -1;
            }

            int page = _free[current][^1];
            Remove(page, current);
            while (current > order)
            {
                current--;
                Push(page + (1 << current), current);
            }

            return page;
        }
    }

    /// <summary>Frees the block of 2^<paramref name="order"/> pages at <paramref name="page"/>.</summary>
    public void Free(int page, int order)
    {
        lock (_lock)
        {
            while (order < _maxOrder)
            {
                int buddy = page ^ (1 << order);
                if (_freeOrder[buddy] != order)
                {
                    break;
                }

                Remove(buddy, order);
                page &= ~(1 << order);
                order++;
            }

            Push(page, order);
        }
    }

    private void Push(int page, int order)
    {
        Debug.Assert(_freeOrder[page] == NotFreeHead);
        _position[page] = _free[order].Count;
        _free[order].Add(page);
        _freeOrder[page] = (byte)order;
    }

    private void Remove(int page, int order)
    {
        List<int> list = _free[order];
        int at = _position[page];
        int last = list[^1];
        list[at] = last;
        _position[last] = at;
        list.RemoveAt(list.Count - 1);
        _freeOrder[page] = NotFreeHead;
    }
}
