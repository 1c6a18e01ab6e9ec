// FreeChecks: what a refused free says. A free by address (no stamp) must give a page-aligned
// address inside the managed memory that starts a live allocation of the size it gives; a free
// through a handle whose stamp no longer matches is a double free or a stale handle. Each check
// says which rule was broken, at which address, and what became of the pages. Messages are built
// only when a check fails: the common path formats nothing, and nothing here changes the allocator.
using System.Diagnostics.CodeAnalysis;
using static System.FormattableString;

namespace Buddy;

/// <summary>The checks and messages of refused frees, over one allocator's reserved pages, exact runs and allocation heads.</summary>
internal sealed class FreeChecks(PfnRanges reserved, ExactRuns exact, AllocationHeads heads, int pageShift, int maxOrder, ulong firstPfn, ulong endPfn)
{
    /// <summary>The page frame of <paramref name="address"/>, which must be page aligned and inside the managed memory.</summary>
    /// <exception cref="ArgumentException">It is not; the message names the address.</exception>
    public ulong PfnOf(ulong address)
    {
        ulong pageSize = 1UL << pageShift;
        if ((address & (pageSize - 1)) != 0)
        {
            throw new ArgumentException(Invariant($"Address 0x{address:x} is not page aligned ({pageSize} bytes)."), nameof(address));
        }

        ulong pfn = address >> pageShift;
        if (pfn < firstPfn || pfn >= endPfn)
        {
            throw new ArgumentOutOfRangeException(nameof(address), Invariant($"Address 0x{address:x} is outside the managed memory [0x{firstPfn << pageShift:x}, 0x{endPfn << pageShift:x})."));
        }

        return pfn;
    }

    /// <summary>Returns when a free by address of <paramref name="pages"/> pages (any, when <paramref name="byAddressOnly"/>) at <paramref name="pfn"/>, in the unit found there, names the start of a live allocation of that size; else throws, saying which rule it breaks.</summary>
    /// <remarks>Exact runs that start at <paramref name="pfn"/> are the caller's: they are checked before.</remarks>
    public void ThrowIfNotAnAllocation(ulong pfn, ulong pages, bool byAddressOnly, ulong unitStart, int unitOrder, bool unitFree, string paramName)
    {
        if (!unitFree && !reserved.Contains(pfn) && exact.Count == 0 && unitStart == pfn && (byAddressOnly || pages == 1UL << unitOrder) && heads.IsSet(pfn))
        {
            return;
        }

        string at = Invariant($"0x{pfn << pageShift:x}");
        string unit = Invariant($"order-{unitOrder} block at 0x{unitStart << pageShift:x}");

        if (unitFree)
        {
            throw new ArgumentException($"Double free or never allocated: the page at {at} is free (it lies in the free {unit}).", paramName);
        }

        if (reserved.Contains(pfn))
        {
            throw new ArgumentException($"The page at {at} is reserved; it was never allocated.", paramName);
        }

        exact.ThrowIfInside(pfn, maxOrder, pageShift, at, paramName);
        if (unitStart != pfn)
        {
            throw new ArgumentException($"The address {at} is inside the allocated {unit}; free that block by its start.", paramName);
        }

        if (!heads.IsSet(pfn))
        {
            throw new ArgumentException($"Double free or never allocated: no allocation starts at {at} (its pages sit in a thread cache).", paramName);
        }

        if (!byAddressOnly && pages != 1UL << unitOrder)
        {
            string asked = PageMath.IsPowerOfTwo(pages) ? Invariant($"order {PageMath.Log2(pages)}") : Invariant($"{pages} pages");
            throw new ArgumentException(Invariant($"Wrong order: the allocation at {at} is order {unitOrder}, not {asked}."), paramName);
        }
    }

    /// <summary>Throws for a handle whose allocation of <paramref name="pages"/> pages at <paramref name="pfn"/> has ended, saying what became of its pages.</summary>
    [DoesNotReturn]
    public void ThrowStale(Zone zone, ulong pfn, ulong pages, string paramName)
    {
        (ulong unitStart, int unitOrder, bool unitFree) = zone.FindUnit(pfn);
        string now = unitFree ? Invariant($"its first page is free (in the free order-{unitOrder} block at 0x{unitStart << pageShift:x})")
            : heads.IsSet(pfn) ? "its first page now starts another allocation, which stays allocated"
            : "its pages are now in another allocation or a thread cache, which keep them";
        throw new ArgumentException(Invariant($"Double free or stale handle: the allocation of {pages} pages at 0x{pfn << pageShift:x} this handle was made for has been freed; {now}."), paramName);
    }
}
