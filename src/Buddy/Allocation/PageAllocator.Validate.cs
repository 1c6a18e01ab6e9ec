// PageAllocator.Validate: the allocator's self-check, the top of the Validate chain (FreeBitmap →
// FreeArea → Zone → PageAllocator). Zones first, then what only the allocator knows: page counts,
// exact runs made of allocated units, cached blocks owned by no one else, a head exactly at each
// live allocation's start, movable handles on their units.
using System.Diagnostics;
using static System.FormattableString;

namespace Buddy;

public sealed partial class PageAllocator
{
    /// <summary>Checks every invariant; throws <see cref="InvalidOperationException"/> naming the first broken one.</summary>
    public void Validate()
    {
        lock (_lock)
        {
            RefuseInsideCallback(nameof(Validate));
            FreezeCaches();
            try
            {
                ValidateLocked();
            }
            finally
            {
                ThawCaches();
            }
        }
    }

    // The allocator's invariants, zone by zone and then across them: page counts, exact runs made
    // of allocated units, cached blocks owned by no one else, a head exactly at each live
    // allocation's start, movable handles on their units. Throws at the first broken one.
    private void ValidateLocked()
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        HashSet<ulong> units = ValidateZonesLocked();
        var pieces = new HashSet<ulong>(); // the units exact runs are made of
        foreach ((ulong start, ulong pages) in _exact)
        {
            foreach ((ulong pfn, int order) in PageMath.AlignedPieces(start, pages, _maxOrder))
            {
                (ulong unitStart, int unitOrder, bool free) = _zonelist.ZoneOf(pfn)!.FindUnit(pfn);
                if (free || unitStart != pfn || unitOrder != order || !units.Contains(pfn))
                {
                    throw new InvalidOperationException(Invariant($"Invariant broken: exact allocation at pfn 0x{start:x} ({pages} pages) is not made of allocated units (pfn 0x{pfn:x}, order {order})."));
                }

                pieces.Add(pfn);
            }
        }

        HashSet<ulong> cached = ValidateCachedLocked(units, pieces);
        ValidateHeadsLocked(units, pieces, cached);
        _movable.ValidateLocked(units, _zonelist);
    }

    // Every zone's own invariants, and the page counts across zones; returns the starts of the
    // allocated (not reserved) units.
    private HashSet<ulong> ValidateZonesLocked()
    {
        ulong allocated = 0, reservedInUnits = 0, managed = 0;
        var units = new HashSet<ulong>();
        foreach (Zone z in _zones)
        {
            managed += z.ManagedPages;
            string? problem = z.Validate(_reserved, (start, order, count) =>
            {
                if (_reserved.Covers(start, start + (count << order)))
                {
                    reservedInUnits += count << order;
                }
                else
                {
                    allocated += 1UL << order;
                    units.Add(start);
                }
            });
            if (problem is not null)
            {
                throw new InvalidOperationException("Invariant broken: " + problem);
            }
        }

        if (allocated != _allocatedPages)
        {
            throw new InvalidOperationException(Invariant($"Invariant broken: {_allocatedPages} pages are counted as allocated but allocated units hold {allocated}."));
        }

        if (reservedInUnits != _reserved.TotalPages || managed + reservedInUnits != TotalPages)
        {
            throw new InvalidOperationException(Invariant($"Invariant broken: reserved units hold {reservedInUnits} pages, the layout reserves {_reserved.TotalPages}; managed {managed} of {TotalPages}."));
        }

        return units;
    }

    // Cached blocks: allocated units of their stack's order, each in one cache once, owned by no
    // allocation. Returns their starts.
    private HashSet<ulong> ValidateCachedLocked(HashSet<ulong> units, HashSet<ulong> pieces)
    {
        var cached = new HashSet<ulong>();
        foreach ((ulong pfn, int order, Zone zone) in CachedBlocks())
        {
            if (!units.Contains(pfn) || _zonelist.ZoneOf(pfn) != zone || zone.FindUnit(pfn) != (pfn, order, false) || pieces.Contains(pfn) || _movable.ContainsKey(pfn) || !cached.Add(pfn))
            {
                throw new InvalidOperationException(Invariant($"Invariant broken: the block at pfn 0x{pfn:x} cached as an order-{order} block of zone {zone.Name} is not an allocated unit of that order and zone owned by no one else (or is cached twice)."));
            }
        }

        return cached;
    }

    // Head bits: exactly the starts of live allocations (plain units that are no exact run's piece
    // and sit in no cache, and the runs' starts).
    private void ValidateHeadsLocked(HashSet<ulong> units, HashSet<ulong> pieces, HashSet<ulong> cached)
    {
        ulong expected = (ulong)_exact.Count;
        foreach (ulong unit in units)
        {
            bool head = IsHead(unit);
            bool owned = !pieces.Contains(unit) && !cached.Contains(unit);
            bool shouldBe = owned || _exact.Contains(unit);
            if (head != shouldBe)
            {
                throw new InvalidOperationException(Invariant($"Invariant broken: the allocation head of pfn 0x{unit:x} is {(head ? "set" : "clear")} but should be {(shouldBe ? "set" : "clear")}."));
            }

            expected += owned ? 1UL : 0UL;
        }

        ulong heads = _heads.Count();
        if (heads != expected)
        {
            throw new InvalidOperationException(Invariant($"Invariant broken: {heads} allocation heads are set but {expected} allocations are live."));
        }
    }
}
