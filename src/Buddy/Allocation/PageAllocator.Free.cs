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
            FreeLocked(block.Pfn, block.PageCount, nameof(block), byAddressOnly: false, block.Stamp);
            _daemons?.Tick();
            CheckExpensivelyLocked();
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
            FreeLocked(_freeChecks.PfnOf(address), 0, nameof(address), byAddressOnly: true, stamp: 0);
            _daemons?.Tick();
            CheckExpensivelyLocked();
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
            FreeLocked(_freeChecks.PfnOf(address), 1UL << order, nameof(order), byAddressOnly: false, stamp: 0);
            _daemons?.Tick();
            CheckExpensivelyLocked();
        }
    }

    // Frees the allocation at pfn after checking that it is one. pages == 0 (by address only)
    // takes whatever starts there; otherwise the allocation must have exactly that many pages.
    // A non-zero stamp comes from a handle: the live allocation at pfn must be the handle's own.
    private void FreeLocked(ulong pfn, ulong pages, string paramName, bool byAddressOnly, ulong stamp)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        _guard.RefuseLocked(nameof(Free));
        _reserve.ForStepLocked();
        Zone? zone = pfn >= _firstPfn && pfn < _endPfn ? _zonelist.ZoneOf(pfn) : null;
        if (zone is null)
        {
            throw new ArgumentException(Invariant($"Page 0x{pfn << _pageShift:x} is outside the managed memory."), paramName);
        }

        if (stamp != 0)
        {
            if (_heads.StampOf(pfn) != stamp)
            {
                _freeChecks.ThrowStale(zone, pfn, pages, paramName);
            }

            FreeLiveLocked(zone, pfn, pages, stamp);
            return;
        }

        (ulong unitStart, int unitOrder, bool unitFree) = zone.FindUnit(pfn);
        if (_exact.Count > 0 && !unitFree && !_reserved.Contains(pfn) && _exact.TryGetPages(pfn, out ulong exactPages))
        {
            if (!byAddressOnly && pages != exactPages)
            {
                throw new ArgumentException(Invariant($"Wrong size: the allocation at 0x{pfn << _pageShift:x} is an exact block of {exactPages} pages, not {pages}."), paramName);
            }

            _exact.Free(zone, pfn, _heads, _reserve, _maxOrder);
            return;
        }

        _freeChecks.ThrowIfNotAnAllocation(pfn, pages, byAddressOnly, unitStart, unitOrder, unitFree, paramName);
        _movable.Unregister(pfn);
        _heads.TryClear(pfn);
        zone.Release(pfn, unitOrder);
    }

    // Frees the live allocation a handle's stamp was just matched with: its stamp proves that an
    // allocation of exactly `pages` pages starts at pfn (a FreeRange that cuts it, a migration that
    // moves it, re-stamp it), so the unit need not be looked up, nor the stamp read again to clear it.
    private void FreeLiveLocked(Zone zone, ulong pfn, ulong pages, ulong stamp)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        if (_exact.Count > 0 && _exact.TryGetPages(pfn, out ulong exactPages))
        {
            Debug.Assert(exactPages == pages);
            _exact.Free(zone, pfn, _heads, _reserve, _maxOrder);
            return;
        }

        int order = PageMath.Log2(pages);
        Debug.Assert(zone.FindUnit(pfn) == (pfn, order, false), "a live stamp names an allocated unit of the handle's order");
        _movable.Unregister(pfn);
        bool cleared = _heads.TryClear(pfn, stamp);
        Debug.Assert(cleared, "the stamp was matched under the lock");
        zone.Release(pfn, order);
    }
}
