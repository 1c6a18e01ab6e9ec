// PfnRanges: a sorted, merged, immutable set of page-frame ranges with O(log n) queries.
namespace Buddy;

/// <summary>A sorted set of disjoint, non-adjacent page-frame ranges <c>[start, end)</c>.</summary>
/// <remarks>Immutable, hence thread-safe.</remarks>
internal sealed class PfnRanges
{
    private readonly ulong[] _starts;
    private readonly ulong[] _ends;

    /// <summary>Builds the set from ranges in any order; overlapping and touching ranges merge.</summary>
    public PfnRanges(IEnumerable<(ulong Start, ulong End)> ranges)
    {
        var sorted = ranges.Where(r => r.End > r.Start).OrderBy(r => r.Start).ToList();
        var starts = new List<ulong>();
        var ends = new List<ulong>();
        foreach ((ulong s, ulong e) in sorted)
        {
            if (ends.Count > 0 && s <= ends[^1])
            {
                ends[^1] = Math.Max(ends[^1], e);
            }
            else
            {
                starts.Add(s);
                ends.Add(e);
            }
        }

        _starts = [.. starts];
        _ends = [.. ends];
    }

    /// <summary>The number of pages in all ranges.</summary>
    public ulong TotalPages
    {
        get
        {
            ulong total = 0;
            for (int i = 0; i < _starts.Length; i++)
            {
                total += _ends[i] - _starts[i];
            }

            return total;
        }
    }

    /// <summary>Pages of the set that fall in <c>[start, end)</c>.</summary>
    public ulong PagesIn(ulong start, ulong end)
    {
        ulong total = 0;
        for (int i = FirstEndingAfter(start); i < _starts.Length && _starts[i] < end; i++)
        {
            total += Math.Min(end, _ends[i]) - Math.Max(start, _starts[i]);
        }

        return total;
    }

    /// <summary>Whether any page in <c>[start, end)</c> is in the set.</summary>
    public bool Intersects(ulong start, ulong end)
    {
        int i = FirstEndingAfter(start);
        return i < _starts.Length && _starts[i] < end;
    }

    /// <summary>Whether every page in <c>[start, end)</c> is in the set.</summary>
    public bool Covers(ulong start, ulong end)
    {
        int i = FirstEndingAfter(start);
        return i < _starts.Length && _starts[i] <= start && _ends[i] >= end;
    }

    /// <summary>The first range that ends after <paramref name="pfn"/> (it may contain pfn or lie above it), or (<see cref="ulong.MaxValue"/>, <see cref="ulong.MaxValue"/>).</summary>
    public (ulong Start, ulong End) NextRange(ulong pfn)
    {
        int i = FirstEndingAfter(pfn);
        return i < _starts.Length ? (_starts[i], _ends[i]) : (ulong.MaxValue, ulong.MaxValue);
    }

    /// <summary>Whether <paramref name="pfn"/> is in the set.</summary>
    public bool Contains(ulong pfn) => Covers(pfn, pfn + 1);

    // The index of the first range whose end is above pfn (binary search), or Count.
    private int FirstEndingAfter(ulong pfn)
    {
        int lo = 0, hi = _ends.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_ends[mid] > pfn)
            {
                hi = mid;
            }
            else
            {
                lo = mid + 1;
            }
        }

        return lo;
    }
}
