// RentalDepot: an arena's shared stacks of ready rentals, one per cached order, between the
// threads' RentalCaches and the page allocator. A thread whose cache is full passes its most
// recently returned rentals here; a thread whose cache is empty takes the most recent ones back
// before it asks the allocator. So when one thread rents and another returns (a Pipe's writer and
// reader), the renter gets memory the other thread returned a few rents ago, still warm in the
// caches, instead of the allocator's lowest free blocks (ArrayPool's per-core stacks serve the
// same pattern the same way). Measured: docs/benchmarks.md, "A depot between the threads' caches".
//
// Invariants:
// - Every index on a stack is a registered rental that holds a page block of that stack's order,
//   has an even state (no owner) and holds a reference on the arena's mapping; the page
//   allocator counts its pages as allocated (as RentalCache's).
// - A stack holds at most RentalCache.High(order) rentals: the depot keeps at most 256 KiB of
//   blocks per order with 4 KiB pages.
// - Nothing joins the depot once the arena is disposed: TryPush reads the arena's retirement
//   inside the lock, and Dispose retires the arena before it empties the depot under the same lock.
namespace Buddy.Memory;

/// <summary>Ready rentals shared by an arena's threads, newest on top, one bounded stack per cached order.</summary>
/// <remarks>Thread-safe: every member takes the depot's lock.</remarks>
internal sealed class RentalDepot
{
    private readonly Lock _lock = new();
    private readonly int[][] _stacks;
    private readonly int[] _counts = new int[RentalCache.Orders];
    private readonly ArenaHandle _arena;

    /// <summary>Empty stacks for orders 0 to <see cref="RentalCache.MaxOrder"/>, for the arena whose mapping is <paramref name="arena"/>.</summary>
    public RentalDepot(ArenaHandle arena)
    {
        _arena = arena;
        _stacks = [.. Enumerable.Range(0, RentalCache.Orders).Select(order => new int[RentalCache.High(order)])];
    }

    /// <summary>Pushes the registry index of a ready rental of <paramref name="order"/>; false when the stack is full or the arena disposed (the caller gives it back to the allocator).</summary>
    public bool TryPush(int order, int rental)
    {
        lock (_lock)
        {
            ref int count = ref _counts[order];
            if (_arena.IsRetired || count == _stacks[order].Length)
            {
                return false;
            }

            _stacks[order][count++] = rental;
            return true;
        }
    }

    /// <summary>Moves up to <c>into.Length</c> rentals of <paramref name="order"/>, newest first, into <paramref name="into"/>; returns how many.</summary>
    public int TakeNewest(int order, Span<int> into)
    {
        lock (_lock)
        {
            ref int count = ref _counts[order];
            int taken = Math.Min(into.Length, count);
            for (int i = 0; i < taken; i++)
            {
                into[i] = _stacks[order][--count];
            }

            return taken;
        }
    }
}
