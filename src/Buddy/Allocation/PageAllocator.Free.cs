// PageAllocator.Free: every free checks first, then changes. A handle's free matches its stamp
// with the live one (a second free or a stale handle is refused, saying what became of the pages);
// a free by address must name the first page of a live allocation of the size it gives. Then the
// unit goes back to its zone (or its thread's cache), merging with its free buddies.
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using static System.FormattableString;

namespace Buddy;

public sealed partial class PageAllocator
{
    /// <summary>Frees a block handed out by this allocator.</summary>
    /// <exception cref="ArgumentException">The block is not a live allocation of this allocator; nothing changes.</exception>
    public void Free(Block block)
    {
        if (block.Owner != _id)
        {
            ThrowNotOurs(block);
        }

        if (!TryFreeCached(block))
        {
            FreeSlow(block);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void FreeSlow(Block block)
    {
        lock (_lock)
        {
            FreeCore(block.Pfn, block.PageCount, nameof(block), byAddressOnly: false, block.Stamp);
        }
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowNotOurs(Block block) => throw new ArgumentException(
        block.IsEmpty ? "The block is the default value, not an allocation." : $"The block {block} was allocated by another PageAllocator.", nameof(block));

    /// <summary>Frees the allocation that starts at <paramref name="address"/> (a power-of-two or exact block).</summary>
    /// <exception cref="ArgumentException">No allocation starts there; nothing changes.</exception>
    public void Free(ulong address)
    {
        lock (_lock)
        {
            FreeCore(CheckAddress(address), 0, nameof(address), byAddressOnly: true, stamp: 0);
        }
    }

    /// <summary>Frees the order-<paramref name="order"/> block at <paramref name="address"/> (the kernel's free_pages).</summary>
    /// <exception cref="ArgumentException">No order-<paramref name="order"/> allocation starts there; nothing changes.</exception>
    public void Free(ulong address, int order)
    {
        if ((uint)order > (uint)_maxOrder)
        {
            throw new ArgumentOutOfRangeException(nameof(order), order, $"order must be from 0 to {_maxOrder}.");
        }

        lock (_lock)
        {
            FreeCore(CheckAddress(address), 1UL << order, nameof(order), byAddressOnly: false, stamp: 0);
        }
    }

    private ulong CheckAddress(ulong address)
    {
        if ((address & (PageSize - 1)) != 0)
        {
            throw new ArgumentException(Invariant($"Address 0x{address:x} is not page aligned ({PageSize} bytes)."), nameof(address));
        }

        ulong pfn = address >> _pageShift;
        if (pfn < _firstPfn || pfn >= _endPfn)
        {
            throw new ArgumentOutOfRangeException(nameof(address), Invariant($"Address 0x{address:x} is outside the managed memory [0x{_layout.BaseAddress:x}, 0x{_layout.EndAddress:x})."));
        }

        return pfn;
    }

    // Frees the allocation at pfn after checking that it is one. pages == 0 (by address only)
    // takes whatever starts there; otherwise the allocation must have exactly that many pages.
    // A non-zero stamp comes from a handle: the live allocation at pfn must be the handle's own.
    private void FreeCore(ulong pfn, ulong pages, string paramName, bool byAddressOnly, ulong stamp)
    {
        RefuseInsideCallback(nameof(Free));
        ReserveForStep();
        Zone? zone = pfn >= _firstPfn && pfn < _endPfn ? _zonelist.ZoneOf(pfn) : null;
        if (zone is null)
        {
            throw new ArgumentException(Invariant($"Page 0x{pfn << _pageShift:x} is outside the managed memory."), paramName);
        }

        if (stamp != 0)
        {
            if (StampOf(pfn) != stamp)
            {
                ThrowStale(zone, pfn, pages, paramName);
            }

            FreeLive(zone, pfn, pages, stamp);
            return;
        }

        (ulong unitStart, int unitOrder, bool unitFree) = zone.FindUnit(pfn);
        if (_exact.Count > 0 && !unitFree && !_reserved.Contains(pfn) && _exact.TryGetPages(pfn, out ulong exactPages))
        {
            if (!byAddressOnly && pages != exactPages)
            {
                throw new ArgumentException(Invariant($"Wrong size: the allocation at 0x{pfn << _pageShift:x} is an exact block of {exactPages} pages, not {pages}."), paramName);
            }

            _chunks.EnsureOperations(_maxOrder + 2); // a give-back per piece
            FreeExact(zone, pfn, exactPages);
            TrimReserves();
            return;
        }

        ThrowIfNotAnAllocation(pfn, pages, byAddressOnly, unitStart, unitOrder, unitFree, paramName);
        _movable.Unregister(pfn);
        TryClearHead(pfn);
        zone.Release(pfn, unitOrder);
        _allocatedPages -= 1UL << unitOrder;
    }

    // A free by address (no stamp) must name the first page of a live allocation of the size it
    // gives: say which rule the address breaks, or return. Messages are built only when a check
    // fails: the common path formats nothing. Exact runs that start at pfn were handled before.
    private void ThrowIfNotAnAllocation(ulong pfn, ulong pages, bool byAddressOnly, ulong unitStart, int unitOrder, bool unitFree, string paramName)
    {
        if (!unitFree && !_reserved.Contains(pfn) && _exact.Count == 0 && unitStart == pfn && (byAddressOnly || pages == 1UL << unitOrder) && IsHead(pfn))
        {
            return;
        }

        string at = Invariant($"0x{pfn << _pageShift:x}");
        string unit = Invariant($"order-{unitOrder} block at 0x{unitStart << _pageShift:x}");

        if (unitFree)
        {
            throw new ArgumentException($"Double free or never allocated: the page at {at} is free (it lies in the free {unit}).", paramName);
        }

        if (_reserved.Contains(pfn))
        {
            throw new ArgumentException($"The page at {at} is reserved; it was never allocated.", paramName);
        }

        _exact.ThrowIfInside(pfn, _maxOrder, _pageShift, at, paramName);
        if (unitStart != pfn)
        {
            throw new ArgumentException($"The address {at} is inside the allocated {unit}; free that block by its start.", paramName);
        }

        if (!IsHead(pfn))
        {
            throw new ArgumentException($"Double free or never allocated: no allocation starts at {at} (its pages sit in a thread cache).", paramName);
        }

        if (!byAddressOnly && pages != 1UL << unitOrder)
        {
            string asked = PageMath.IsPowerOfTwo(pages) ? Invariant($"order {PageMath.Log2(pages)}") : Invariant($"{pages} pages");
            throw new ArgumentException(Invariant($"Wrong order: the allocation at {at} is order {unitOrder}, not {asked}."), paramName);
        }
    }

    // Frees the live allocation a handle's stamp was just matched with: its stamp proves that an
    // allocation of exactly `pages` pages starts at pfn (a FreeRange that cuts it, a migration that
    // moves it, re-stamp it), so the unit need not be looked up, nor the stamp read again to clear it.
    private void FreeLive(Zone zone, ulong pfn, ulong pages, ulong stamp)
    {
        if (_exact.Count > 0 && _exact.TryGetPages(pfn, out ulong exactPages))
        {
            Debug.Assert(exactPages == pages);
            _chunks.EnsureOperations(_maxOrder + 2); // a give-back per piece
            FreeExact(zone, pfn, exactPages);
            TrimReserves();
            return;
        }

        int order = PageMath.Log2(pages);
        Debug.Assert(zone.FindUnit(pfn) == (pfn, order, false), "a live stamp names an allocated unit of the handle's order");
        _movable.Unregister(pfn);
        bool cleared = _heads.TryClear(pfn - _firstPfn, stamp);
        Debug.Assert(cleared, "the stamp was matched under the lock");
        zone.Release(pfn, order);
        _allocatedPages -= pages;
    }

    // A handle whose allocation has ended: say what became of its pages.
    [DoesNotReturn]
    private void ThrowStale(Zone zone, ulong pfn, ulong pages, string paramName)
    {
        (ulong unitStart, int unitOrder, bool unitFree) = zone.FindUnit(pfn);
        string now = unitFree ? Invariant($"its first page is free (in the free order-{unitOrder} block at 0x{unitStart << _pageShift:x})")
            : IsHead(pfn) ? "its first page now starts another allocation, which stays allocated"
            : "its pages are now in another allocation or a thread cache, which keep them";
        throw new ArgumentException(Invariant($"Double free or stale handle: the allocation of {pages} pages at 0x{pfn << _pageShift:x} this handle was made for has been freed; {now}."), paramName);
    }

    private void FreeExact(Zone zone, ulong start, ulong pages)
    {
        _exact.Remove(start);
        TryClearHead(start);
        foreach ((ulong pfn, int order) in PageMath.AlignedPieces(start, pages, _maxOrder))
        {
            Debug.Assert(zone.FindUnit(pfn) == (pfn, order, false));
            zone.Release(pfn, order);
        }

        _allocatedPages -= pages;
    }
}
