// PageAllocator.Validate: the allocator's self-check, the top of the Validate chain (FreeBitmap →
// FreeArea → Zone → PageAllocator). Zones first, then what only the allocator knows: page counts,
// exact runs made of allocated units, cached blocks owned by no one else, a head exactly at each
// live allocation's start, movable handles on their units.
using System.Diagnostics;

namespace Buddy;

public sealed partial class PageAllocator
{
    /// <summary>Checks every invariant; throws <see cref="InvalidOperationException"/> naming the first broken one.</summary>
    public void Validate()
    {
        lock (_lock)
        {
            _guard.RefuseLocked(nameof(Validate));
            _threadCaches.FreezeLocked();
            try
            {
                ValidateLocked();
            }
            finally
            {
                _threadCaches.ThawLocked();
            }
        }
    }

    // Debug builds with ExpensiveChecks on: validates the whole allocator after a slow-path
    // operation (not inside a migrate callback, whose move is half done). Lock held.
    [Conditional("DEBUG")]
    private void CheckExpensivelyLocked()
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        if (!ExpensiveChecks.Enabled || _guard.InCallbackLocked)
        {
            return;
        }

        _threadCaches.FreezeLocked();
        try
        {
            ValidateLocked();
            ExpensiveChecks.Counted();
        }
        finally
        {
            _threadCaches.ThawLocked();
        }
    }

    // The allocator's invariants, zone by zone and then across them: page counts, exact runs made
    // of allocated units, cached blocks owned by no one else, a head exactly at each live
    // allocation's start, movable handles on their units. Throws at the first broken one.
    private void ValidateLocked()
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        HashSet<ulong> units = _zonelist.Validate(_reserved, TotalPages); // the allocated units' starts
        HashSet<ulong> pieces = _exact.Validate(units, _zonelist, _maxOrder); // the units exact runs are made of
        HashSet<ulong> cached = _threadCaches.ValidateLocked(units, pieces, _movable);
        _heads.Validate(units, pieces, cached, _exact);
        _movable.ValidateLocked(units, _zonelist);
    }
}
