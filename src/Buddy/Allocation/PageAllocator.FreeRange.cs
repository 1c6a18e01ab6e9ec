// PageAllocator.FreeRange: frees exactly a page range that may cover parts of allocations (the
// kernel's split_page, then freeing page by page). Units the range cuts are split and their halves
// stamped anew; pages outside the range stay allocated as blocks of their own; an exact allocation
// it touches becomes plain blocks. Every page is checked first: a refused range changes nothing.
using static System.FormattableString;

namespace Buddy;

public sealed partial class PageAllocator
{
    /// <summary>
    /// Frees exactly the <paramref name="pageCount"/> pages from <paramref name="address"/>, which may
    /// cover parts of allocations (the kernel's split_page, then freeing page by page): allocated
    /// blocks that the range cuts are split, and the pages outside the range stay allocated as
    /// blocks of their own. An exact allocation the range touches becomes plain blocks likewise.
    /// </summary>
    /// <exception cref="ArgumentException">A page in the range is free, reserved or outside memory; nothing changes.</exception>
    public void FreeRange(ulong address, ulong pageCount)
    {
        if (pageCount == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(pageCount), pageCount, "pageCount must be at least one.");
        }

        lock (_lock)
        {
            RefuseInsideCallback(nameof(FreeRange));
            ulong start = CheckAddress(address);
            ulong end = start + pageCount;
            if (end > _endPfn || end < start)
            {
                throw new ArgumentOutOfRangeException(nameof(pageCount), Invariant($"{pageCount} pages from 0x{address:x} run past the end of memory 0x{_layout.EndAddress:x}."));
            }

            // Check everything first, with the caches frozen (a cached block is free to the caller):
            // a refused range changes nothing, the caches included. Then drain, still frozen.
            FreezeCaches();
            try
            {
                CheckRangeAllocated(start, end, nameof(address));
                SpillAllCaches();
            }
            finally
            {
                ThawCaches();
            }

            ReserveCutHeads(start, end); // the heads this may set, before anything changes
            if (_exact.Count > 0)
            {
                foreach ((ulong runStart, ulong runPages) in _exact.ToList())
                {
                    if (runStart < end && runStart + runPages > start)
                    {
                        _exact.Remove(runStart); // its pieces stay allocated as plain blocks
                        MigrateType mobility = MobilityOfHead(runStart);
                        foreach ((ulong piece, _) in PageMath.AlignedPieces(runStart, runPages, _maxOrder))
                        {
                            SetHead(piece, mobility);
                        }
                    }
                }
            }

            for (ulong p = start; p < end;)
            {
                ReserveForStep(); // a fault between steps leaves the pages freed so far freed
                Zone zone = _zonelist.ZoneOf(p)!;
                (ulong unitStart, int unitOrder, _) = zone.FindUnit(p);
                ulong unitEnd = unitStart + (1UL << unitOrder);
                if (_movable.Remove(unitStart, out MovableBlock? handle))
                {
                    handle.MarkFreed(); // cut or freed: what is left stays allocated and no longer moves
                }

                if (unitStart >= start && unitEnd <= end)
                {
                    TryClearHead(unitStart);
                    zone.Release(unitStart, unitOrder);
                    _allocatedPages -= 1UL << unitOrder;
                    p = unitEnd;
                }
                else
                {
                    // The range cuts it: look again at the halves, each an allocation of its own with a
                    // new stamp (the cut block's handle names neither).
                    MigrateType mobility = MobilityOfHead(unitStart);
                    zone.SplitAllocated(unitStart, unitOrder);
                    SetHead(unitStart, mobility);
                    SetHead(unitStart + (1UL << (unitOrder - 1)), mobility);
                }
            }
        }
    }

    // Makes the head chunks exist for every page FreeRange may stamp: the pieces of the exact runs
    // it touches, and the halves of the units it cuts, which hold one of its two edges (at each
    // order, the block holding the edge and its upper half). O(max order) pages per run and edge,
    // whatever the range's length. Lock held.
    private void ReserveCutHeads(ulong start, ulong end)
    {
        foreach (ulong edge in (ReadOnlySpan<ulong>)[start, end - 1])
        {
            for (int order = 0; order < _maxOrder; order++)
            {
                ulong unit = edge & ~((2UL << order) - 1);
                ReserveHead(unit);
                ReserveHead(unit + (1UL << order));
            }
        }

        foreach ((ulong runStart, ulong runPages) in _exact)
        {
            if (runStart < end && runStart + runPages > start)
            {
                foreach ((ulong piece, _) in PageMath.AlignedPieces(runStart, runPages, _maxOrder))
                {
                    ReserveHead(piece);
                }
            }
        }
    }

    // Every page of [start, end) must be in an allocated unit that no thread cache holds. Lock held, caches frozen.
    private void CheckRangeAllocated(ulong start, ulong end, string paramName)
    {
        HashSet<ulong>? cached = _threadCaches.Length == 0 ? null : [.. CachedBlocks().Select(c => c.Pfn)];
        for (ulong p = start; p < end;)
        {
            Zone zone = _zonelist.ZoneOf(p)!;
            (ulong unitStart, int unitOrder, bool free) = zone.FindUnit(p);
            bool inCache = cached?.Contains(unitStart) == true;
            if (free || inCache || _reserved.Contains(unitStart))
            {
                string what = free || inCache ? "free" : "reserved";
                throw new ArgumentException(Invariant($"The page at 0x{p << _pageShift:x} is {what}; only allocated pages can be freed. Nothing was freed."), paramName);
            }

            p = unitStart + (1UL << unitOrder);
        }
    }
}
