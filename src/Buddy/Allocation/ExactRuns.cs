// ExactRuns: the allocations that are not one buddy block — exact allocations (alloc_pages_exact:
// the first n pages of a 2^order block, the tail given back) and contiguous ranges
// (alloc_contig_range) — each made of the aligned pieces of its page count, freed whole by its
// start only, or turned into plain blocks by a free of a page range that touches it
// (RemoveTouching; ContiguousRanges).
//
// Invariants (PageAllocator.Validate checks them against the zones):
// - _pages maps each run's start pfn to its page count; its pieces (PageMath.AlignedPieces) are
//   allocated units, and only the start carries an allocation head.
// - _ranges is the subset of starts that are contiguous ranges (their messages name them so).
// - Room for one more run is made before the step that adds it (ReserveOne): adding allocates nothing.
using System.Collections;
using System.Diagnostics;
using static System.FormattableString;

namespace Buddy;

/// <summary>The exact allocations and contiguous ranges of one allocator, by start pfn.</summary>
/// <remarks>Not thread-safe: the allocator's lock serialises access.</remarks>
internal sealed class ExactRuns : IEnumerable<KeyValuePair<ulong, ulong>>
{
    private readonly Dictionary<ulong, ulong> _pages = [];
    private readonly HashSet<ulong> _ranges = [];

    /// <summary>The number of runs.</summary>
    public int Count => _pages.Count;

    /// <summary>Whether a run starts at <paramref name="start"/>.</summary>
    public bool Contains(ulong start) => _pages.ContainsKey(start);

    /// <summary>The page count of the run starting at <paramref name="start"/>, if one does.</summary>
    public bool TryGetPages(ulong start, out ulong pages) => _pages.TryGetValue(start, out pages);

    /// <summary>Makes room for one more run, so that <see cref="Add"/> allocates nothing.</summary>
    public void ReserveOne()
    {
        _pages.EnsureCapacity(_pages.Count + 1);
        _ranges.EnsureCapacity(_ranges.Count + 1);
    }

    /// <summary>Records a run of <paramref name="pages"/> pages from <paramref name="start"/>; <paramref name="range"/> for a contiguous range.</summary>
    public void Add(ulong start, ulong pages, bool range)
    {
        _pages.Add(start, pages);
        if (range)
        {
            _ranges.Add(start);
        }
    }

    /// <summary>Forgets the run starting at <paramref name="start"/> (its pieces are freed or become plain blocks).</summary>
    public void Remove(ulong start)
    {
        _pages.Remove(start);
        _ranges.Remove(start);
    }

    /// <summary>The start of every piece of every run that overlaps [<paramref name="start"/>, <paramref name="end"/>).</summary>
    public IEnumerable<ulong> PiecesTouching(ulong start, ulong end, int maxOrder)
    {
        foreach ((ulong runStart, ulong runPages) in _pages)
        {
            if (Overlaps(runStart, runPages, start, end))
            {
                foreach ((ulong piece, _) in PageMath.AlignedPieces(runStart, runPages, maxOrder))
                {
                    yield return piece;
                }
            }
        }
    }

    /// <summary>Forgets every run that overlaps [<paramref name="start"/>, <paramref name="end"/>) and returns them as (start, pages): their pieces stay allocated, as plain blocks.</summary>
    public List<(ulong Start, ulong Pages)> RemoveTouching(ulong start, ulong end)
    {
        var touching = new List<(ulong Start, ulong Pages)>();
        foreach ((ulong runStart, ulong runPages) in _pages)
        {
            if (Overlaps(runStart, runPages, start, end))
            {
                touching.Add((runStart, runPages));
            }
        }

        foreach ((ulong runStart, _) in touching)
        {
            Remove(runStart);
        }

        return touching;
    }

    /// <summary>
    /// Throws when page <paramref name="pfn"/> lies inside a run without being its start, naming the
    /// run (<paramref name="at"/> is the address as the caller prints it).
    /// </summary>
    public void ThrowIfInside(ulong pfn, int maxOrder, int pageShift, string at, string paramName)
    {
        if (_pages.Count == 0)
        {
            return;
        }

        for (int m = 1; m <= maxOrder; m++)
        {
            ulong start = pfn & ~((1UL << m) - 1);
            if (start != pfn && _pages.TryGetValue(start, out ulong runPages) && pfn < start + runPages)
            {
                throw new ArgumentException(Invariant($"The address {at} is inside the exact allocation at 0x{start << pageShift:x} ({runPages} pages); free it by its start."), paramName);
            }
        }

        foreach (ulong start in _ranges)
        {
            if (start < pfn && pfn < start + _pages[start])
            {
                throw new ArgumentException(Invariant($"The address {at} is inside the contiguous range at 0x{start << pageShift:x} ({_pages[start]} pages); free it by its start."), paramName);
            }
        }
    }

    private static bool Overlaps(ulong runStart, ulong runPages, ulong start, ulong end) => runStart < end && runStart + runPages > start;

    /// <summary>Frees the run that starts at <paramref name="start"/> in <paramref name="zone"/>: forgets it, clears its head and gives back its pieces (room for a give-back each reserved first).</summary>
    public void Free(Zone zone, ulong start, AllocationHeads heads, StepReserve reserve, int maxOrder)
    {
        reserve.ForStepsLocked(maxOrder + 2);
        ulong pages = _pages[start];
        Remove(start);
        heads.TryClear(start);
        foreach ((ulong pfn, int order) in PageMath.AlignedPieces(start, pages, maxOrder))
        {
            Debug.Assert(zone.FindUnit(pfn) == (pfn, order, false));
            zone.Release(pfn, order);
        }

        reserve.TrimLocked();
    }

    /// <summary>Throws unless every run is made of allocated units (starts in <paramref name="units"/>) that are exactly its aligned pieces; returns the pieces' starts.</summary>
    public HashSet<ulong> Validate(HashSet<ulong> units, Zonelist zonelist, int maxOrder)
    {
        var pieces = new HashSet<ulong>();
        foreach ((ulong start, ulong pages) in _pages)
        {
            foreach ((ulong pfn, int order) in PageMath.AlignedPieces(start, pages, maxOrder))
            {
                (ulong unitStart, int unitOrder, bool free) = zonelist.ZoneOf(pfn)!.FindUnit(pfn);
                if (free || unitStart != pfn || unitOrder != order || !units.Contains(pfn))
                {
                    throw new InvalidOperationException(Invariant($"Invariant broken: exact allocation at pfn 0x{start:x} ({pages} pages) is not made of allocated units (pfn 0x{pfn:x}, order {order})."));
                }

                pieces.Add(pfn);
            }
        }

        return pieces;
    }

    /// <summary>The runs as (start, pages).</summary>
    public Dictionary<ulong, ulong>.Enumerator GetEnumerator() => _pages.GetEnumerator();

    IEnumerator<KeyValuePair<ulong, ulong>> IEnumerable<KeyValuePair<ulong, ulong>>.GetEnumerator() => GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
