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
// - Nothing joins the depot once the arena is disposed: Push reads the arena's retirement inside
//   the lock, and Dispose retires the arena before it empties the depot under the same lock.
namespace Buddy.Memory;

/// <summary>Ready rentals shared by an arena's threads, newest on top, one bounded stack per cached order.</summary>
/// <remarks>Thread-safe: every member takes the depot's lock.</remarks>
internal sealed class RentalDepot
{
    private readonly Lock _lock = new();
    private readonly int[][] _stacks;
    private readonly int[] _counts = new int[RentalCache.Orders];
    private readonly Func<bool> _retired;

    /// <summary>Empty stacks for orders 0 to <see cref="RentalCache.MaxOrder"/>; <paramref name="retired"/> says whether the arena is disposed.</summary>
    public RentalDepot(Func<bool> retired)
    {
        _retired = retired;
        _stacks = [.. Enumerable.Range(0, RentalCache.Orders).Select(order => new int[RentalCache.High(order)])];
    }

    /// <summary>Ready rentals held now (a snapshot while other threads run).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _counts.Sum();
            }
        }
    }

    /// <summary>
    /// Pushes the registry indexes of ready rentals of <paramref name="order"/>, oldest first, as far
    /// as there is room and the arena is not disposed; returns how many it took (a prefix of
    /// <paramref name="rentals"/>). The caller gives the rest back to the allocator.
    /// </summary>
    public int Push(int order, ReadOnlySpan<int> rentals)
    {
        lock (_lock)
        {
            if (_retired())
            {
                return 0;
            }

            int[] stack = _stacks[order];
            ref int count = ref _counts[order];
            int taken = Math.Min(rentals.Length, stack.Length - count);
            rentals[..taken].CopyTo(stack.AsSpan(count));
            count += taken;
            return taken;
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
