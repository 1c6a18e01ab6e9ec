// ThreadCache: one thread's cache of small free blocks for one allocator (orders 0..3, one stack
// per order and migrate type), playing the part of the kernel's per-CPU pcp lists. Its owner
// thread pushes and pops with plain loads and stores; other threads reach it only through a
// freeze (an asymmetric Dekker handshake), so the common path has no atomic instruction.
//
// The handshake. The owner writes Busy = 1, then reads Frozen; if it is set the owner backs out
// (Busy = 0) and takes the allocator's locked slow path. A thread that must see or empty every
// cache holds the allocator's lock, writes Frozen = 1 on each, calls
// Interlocked.MemoryBarrierProcessWide (membarrier on Linux) and waits for Busy = 0. The barrier
// orders the owner's Busy store before its Frozen load on every CPU, so either the freezer sees
// Busy = 1 and waits, or the owner sees Frozen = 1 and backs out. The owner never takes the lock
// while Busy is set, so the wait always ends.
//
// Invariants:
// - Only the owner thread writes Busy; Frozen changes only under the allocator's lock.
// - The stacks and counts change only (a) on the owner thread with Busy = 1 and Frozen = 0 seen,
//   or (b) under the allocator's lock, by the owner thread or while the cache is frozen and idle.
// - Every pfn on a stack heads a unit of that list's order that is in no one's hands: its
//   allocation head is clear, and the allocator counts its pages as allocated (see PageAllocator.Caches).
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Buddy.Caches;

/// <summary>A cache's fields that change on every operation, padded onto cache lines of their own.</summary>
[StructLayout(LayoutKind.Explicit, Size = 192)]
internal struct CacheHotState
{
    /// <summary>1 while the owner thread is inside a fast-path operation.</summary>
    [FieldOffset(64)]
    public int Busy;

    /// <summary>1 while a thread holding the allocator's lock has the cache frozen.</summary>
    [FieldOffset(68)]
    public int Frozen;

    /// <summary>Blocks on each stack.</summary>
    [FieldOffset(72)]
    public CacheCounts Counts;
}

/// <summary>Stack depths for up to 4 orders × 3 types.</summary>
[InlineArray(12)]
internal struct CacheCounts
{
    private int _element;
}

/// <summary>One thread's cache of small free blocks for one allocator.</summary>
/// <remarks>Thread safety: see the file comment; the owner thread uses it freely between <see cref="TryEnter"/> and <see cref="Exit"/>, everyone else only while holding the allocator's lock with the cache frozen.</remarks>
internal sealed class ThreadCache
{
    /// <summary>The largest order a cache keeps (the kernel's PAGE_ALLOC_COSTLY_ORDER).</summary>
    public const int MaxOrder = 3;

    /// <summary>Blocks moved per refill or spill for order 0: 32 pages.</summary>
    private const int PagesPerBatch = 32;

    /// <summary>The fields every operation writes.</summary>
    public CacheHotState Hot;

    /// <summary>Creates empty stacks for orders 0..3 and <paramref name="types"/> migrate types, owned by the calling thread.</summary>
    public ThreadCache(int allocatorId, int types)
    {
        AllocatorId = allocatorId;
        Types = types;
        Owner = Thread.CurrentThread;
        Stacks = new ulong[(MaxOrder + 1) * types][];
        for (int list = 0; list < Stacks.Length; list++)
        {
            int order = list / types;
            Stacks[list] = new ulong[High(order) + Batch(order)];
        }
    }

    /// <summary>The <see cref="Allocation.PageAllocator.Id"/> of the allocator the cache belongs to.</summary>
    public int AllocatorId { get; }

    /// <summary>The thread that owns the cache.</summary>
    public Thread Owner { get; }

    /// <summary>The number of migrate types kept apart.</summary>
    public int Types { get; }

    /// <summary>The stacks, indexed by <see cref="List"/>.</summary>
    public ulong[][] Stacks { get; }

    /// <summary>Pages on all stacks. Exact when frozen or read by the owner; a snapshot otherwise.</summary>
    public long CachedPages
    {
        get
        {
            long pages = 0;
            for (int list = 0; list < Stacks.Length; list++)
            {
                pages += (long)Volatile.Read(ref Hot.Counts[list]) << OrderOf(list);
            }

            return pages;
        }
    }

    /// <summary>Blocks moved per refill or spill: 32 pages' worth, at least one block.</summary>
    public static int Batch(int order) => Math.Max(1, PagesPerBatch >> order);

    /// <summary>A stack spills a batch once it holds more than this many blocks.</summary>
    public static int High(int order) => 4 * Batch(order);

    /// <summary>The stack index of an order and type.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int List(int order, int type) => (order * Types) + type;

    /// <summary>The order a stack holds.</summary>
    public int OrderOf(int list) => list / Types;

    /// <summary>Owner only: enters a fast-path operation; false when the cache is frozen (take the slow path).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryEnter()
    {
        Debug.Assert(Owner == Thread.CurrentThread);
        Volatile.Write(ref Hot.Busy, 1);
        if (Volatile.Read(ref Hot.Frozen) != 0)
        {
            Volatile.Write(ref Hot.Busy, 0);
            return false;
        }

        return true;
    }

    /// <summary>Owner only: leaves the fast-path operation.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exit() => Volatile.Write(ref Hot.Busy, 0);

    /// <summary>Allocator's lock held: marks the cache frozen (call <see cref="WaitIdle"/> after a process-wide barrier).</summary>
    public void Freeze() => Volatile.Write(ref Hot.Frozen, 1);

    /// <summary>Allocator's lock held, after <see cref="Freeze"/> and a process-wide barrier: waits until the owner is outside its operation.</summary>
    public void WaitIdle()
    {
        var spin = default(SpinWait);
        while (Volatile.Read(ref Hot.Busy) != 0)
        {
            spin.SpinOnce(sleep1Threshold: -1);
        }
    }

    /// <summary>Allocator's lock held: lets the owner back in.</summary>
    public void Thaw() => Volatile.Write(ref Hot.Frozen, 0);
}
