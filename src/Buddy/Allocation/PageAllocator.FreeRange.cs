// PageAllocator.FreeRange: the façade of ContiguousRanges' free of a page range that may cover
// parts of allocations (the kernel's split_page, then freeing page by page) — argument checks,
// the lock, the range checked with the thread caches frozen and then drained, then the free.
// Every page is checked first: a refused range changes nothing, the caches included.
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
                HashSet<ulong>? cached = _threadCaches.Length == 0 ? null : [.. CachedBlocks().Select(c => c.Pfn)];
                _ranges.ThrowIfNotAllocatedLocked(start, end, cached, nameof(address));
                SpillAllCaches();
            }
            finally
            {
                ThawCaches();
            }

            _ranges.FreeLocked(start, end, ref _allocatedPages);
        }
    }
}
