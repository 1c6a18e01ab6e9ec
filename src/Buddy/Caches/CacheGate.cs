// CacheGate: the asymmetric Dekker handshake that lets one owner thread use a per-thread cache with
// plain loads and stores while another thread, holding the cache's owning lock, can stop it.
//
// The owner writes Busy = 1, then reads Frozen; if it is set the owner backs out (Busy = 0) and
// takes its locked slow path. A thread that must see or empty every cache holds the lock, writes
// Frozen = 1 on each, calls Interlocked.MemoryBarrierProcessWide (membarrier on Linux) and waits
// for Busy = 0. The barrier orders the owner's Busy store before its Frozen load on every CPU, so
// either the freezer sees Busy = 1 and waits, or the owner sees Frozen = 1 and backs out. The
// owner never takes the lock while Busy is set, so the wait always ends.
//
// Invariants: only the owner thread writes Busy; Frozen changes only under the owning lock.
// Used by ThreadCache (the page allocator's per-CPU lists) and RentalCache (a native arena's
// ready rentals); each keeps its gate on a cache line of its own.
using System.Runtime.CompilerServices;

namespace Buddy;

/// <summary>The Busy/Frozen pair of a per-thread cache (see the file comment for the protocol).</summary>
internal struct CacheGate
{
    /// <summary>1 while the owner thread is inside a fast-path operation.</summary>
    public int Busy;

    /// <summary>1 while a thread holding the owning lock has the cache frozen.</summary>
    public int Frozen;

    /// <summary>Owner only: enters a fast-path operation; false when the cache is frozen (take the slow path).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryEnter()
    {
        Volatile.Write(ref Busy, 1);
        if (Volatile.Read(ref Frozen) != 0)
        {
            Volatile.Write(ref Busy, 0);
            return false;
        }

        return true;
    }

    /// <summary>Owner only: leaves the fast-path operation.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exit() => Volatile.Write(ref Busy, 0);

    /// <summary>Owning lock held: marks the cache frozen (call <see cref="WaitIdle"/> after a process-wide barrier).</summary>
    public void Freeze() => Volatile.Write(ref Frozen, 1);

    /// <summary>Owning lock held, after <see cref="Freeze"/> and a process-wide barrier: waits until the owner is outside its operation.</summary>
    public void WaitIdle()
    {
        var spin = default(SpinWait);
        while (Volatile.Read(ref Busy) != 0)
        {
            spin.SpinOnce(sleep1Threshold: -1);
        }
    }

    /// <summary>Owning lock held: lets the owner back in.</summary>
    public void Thaw() => Volatile.Write(ref Frozen, 0);
}
