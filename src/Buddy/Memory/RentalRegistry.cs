// RentalRegistry: every Rental an arena has made, and the ones holding no memory (spares). The
// sweep walks all of them to find rentals whose owner the GC collected without Dispose; a rental
// is never removed, so a snapshot (the array and its count, read under the lock) stays valid while
// the registry grows. GcSentinel runs the sweep after every garbage collection, on the finalizer
// thread, as long as its arena lives and its memory is mapped.
//
// Invariants: every Rental of the arena is in _all exactly once; a spare holds no memory, has an
// even state and is in no thread's cache; rentals live as long as their arena (a rental's weak
// handle is freed by its finalizer, when the arena and its rentals are collected together).
using System.Runtime.InteropServices;

namespace Buddy.Memory;

/// <summary>All rentals of one arena, and the spares among them.</summary>
internal sealed class RentalRegistry(NativeArena arena)
{
    private readonly Lock _lock = new();
    private readonly Stack<Rental> _spares = new();
    private Rental[] _all = new Rental[64];
    private int _count;

    /// <summary>A rental holding no memory: a spare, or a new one.</summary>
    public Rental TakeSpare()
    {
        lock (_lock)
        {
            if (_spares.TryPop(out Rental? spare))
            {
                return spare;
            }

            var fresh = new Rental(arena, _count);
            if (_count == _all.Length)
            {
                Rental[] grown = new Rental[_count * 2];
                _all.CopyTo(grown, 0);
                Volatile.Write(ref _all, grown); // readers by index see either array, both complete up to the index
            }

            _all[_count++] = fresh;
            return fresh;
        }
    }

    /// <summary>The rental at <paramref name="index"/> (one a thread cache holds: registered before it was cached).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public Rental At(int index) => Volatile.Read(ref _all)[index];

    /// <summary>Takes back a rental whose memory went back to the allocator.</summary>
    public void ReturnSpare(Rental rental)
    {
        lock (_lock)
        {
            _spares.Push(rental);
        }
    }

    /// <summary>Every rental made so far (entries past the count are not rentals).</summary>
    public ReadOnlySpan<Rental> All()
    {
        lock (_lock)
        {
            return _all.AsSpan(0, _count);
        }
    }
}

/// <summary>An object that dies with every garbage collection and runs its arena's sweep when finalized, then leaves a successor for the next one.</summary>
/// <remarks>
/// It reaches its arena through a weak GCHandle, not a WeakReference: a WeakReference is itself
/// finalizable and, dying in the same collection, may have freed its handle before this runs.
/// </remarks>
internal sealed class GcSentinel
{
    private readonly GCHandle _arena;

    private GcSentinel(GCHandle arena) => _arena = arena;

    /// <summary>Starts the chain for <paramref name="arena"/>.</summary>
    public static void Start(NativeArena arena) => _ = new GcSentinel(GCHandle.Alloc(arena, GCHandleType.Weak));

    /// <summary>Runs on the finalizer thread after the collection that found this object dead.</summary>
    ~GcSentinel()
    {
        if (_arena.Target is not NativeArena arena || arena.IsMemoryReleased)
        {
            _arena.Free(); // the arena is gone: the chain ends
            return;
        }

        arena.SweepAfterCollection();
        _ = new GcSentinel(_arena);
    }
}
