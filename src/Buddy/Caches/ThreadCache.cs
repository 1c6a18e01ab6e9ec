// ThreadCache: one thread's cache of small free blocks for one allocator (one stack per zone,
// order 0..3 and migrate type), playing the part of the kernel's per-CPU pcp lists, which are
// per zone too: a block is cached in its own zone's stack, so a request limited to a zone (a DMA
// mask at a zone boundary) is served from the cache as readily as an unconstrained one. Its owner
// thread pushes and pops with plain loads and stores; other threads reach it only through a
// freeze (an asymmetric Dekker handshake), so the common path has no atomic instruction.
//
// The handshake is CacheGate's (see there): a freezer holds the allocator's lock.
//
// Invariants:
// - Only the owner thread writes Hot.Gate.Busy; Hot.Gate.Frozen changes only under the allocator's lock.
// - Nothing between TryEnter and Exit takes a lock, allocates or can throw: a freezer waits for
//   Exit (the allocation heads a pop marks are allocated when the page enters the cache).
// - The stacks and counts change only (a) on the owner thread with Busy = 1 and Frozen = 0 seen,
//   or (b) under the allocator's lock, by the owner thread or while the cache is frozen and idle.
// - Every pfn on a stack heads a unit of that list's order that is in no one's hands: its
//   allocation head is clear, and the allocator counts its pages as allocated (see ThreadCacheSet).
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Buddy;

/// <summary>Everything a fast-path operation reads or writes, padded onto cache lines no other object shares.</summary>
/// <remarks>
/// Two threads' caches are allocated close together on the GC heap; a field that one thread writes
/// on every operation must not share a cache line with anything another thread reads (measured:
/// without the padding two threads ran at 1.0-1.3× one thread's throughput, with it 1.9×).
/// </remarks>
[StructLayout(LayoutKind.Explicit, Size = 88 + (ThreadCache.MaxLists * sizeof(int)) + 64)]
internal struct CacheHotState
{
    /// <summary>The owner's Busy flag and the freezer's Frozen flag.</summary>
    [FieldOffset(64)]
    public CacheGate Gate;

    /// <summary>The <see cref="PageAllocator.Id"/> of the allocator the cache belongs to.</summary>
    [FieldOffset(72)]
    public int AllocatorId;

    /// <summary>The number of migrate types kept apart (1 or 3).</summary>
    [FieldOffset(76)]
    public int Types;

    /// <summary>All stacks, one after another (see <see cref="ThreadCache.Start"/>), padded at both ends.</summary>
    [FieldOffset(80)]
    public ulong[] Stacks;

    /// <summary>Blocks on each stack.</summary>
    [FieldOffset(88)]
    public CacheCounts Counts;
}

/// <summary>Stack depths for up to 6 zones × 3 types × 4 orders.</summary>
[InlineArray(ThreadCache.MaxLists)]
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

    /// <summary>The most populated zones a cache keeps stacks for (two nodes of three zones, or one of four); a layout with more runs without thread caches.</summary>
    public const int MaxZones = 6;

    /// <summary>The most stacks a cache has: <see cref="MaxZones"/> zones × 3 migrate types × 4 orders.</summary>
    public const int MaxLists = MaxZones * 3 * (MaxOrder + 1);

    /// <summary>Blocks moved per refill or spill for order 0: 32 pages.</summary>
    private const int PagesPerBatch = 32;

    /// <summary>Unused entries before the first stack and after the last: one cache line each.</summary>
    private const int Pad = 8;

    /// <summary>Entries for one (zone, type) group's four stacks: High + Batch blocks per order, 160 + 80 + 40 + 20.</summary>
    private const int GroupEntries = 5 * (PagesPerBatch + (PagesPerBatch >> 1) + (PagesPerBatch >> 2) + (PagesPerBatch >> 3));

    /// <summary>The fields every operation touches.</summary>
    public CacheHotState Hot;

    /// <summary>Creates empty stacks for <paramref name="zones"/> zones, <paramref name="types"/> migrate types and orders 0..3, owned by the calling thread.</summary>
    public ThreadCache(int allocatorId, int zones, int types)
    {
        Debug.Assert(zones * types * (MaxOrder + 1) <= MaxLists);
        Hot.AllocatorId = allocatorId;
        Hot.Types = types;
        Hot.Stacks = new ulong[Pad + (zones * types * GroupEntries) + Pad];
        Lists = zones * types * (MaxOrder + 1);
        Owner = Thread.CurrentThread;
    }

    /// <summary>The <see cref="PageAllocator.Id"/> of the allocator the cache belongs to.</summary>
    public int AllocatorId => Hot.AllocatorId;

    /// <summary>The thread that owns the cache.</summary>
    public Thread Owner { get; }

    /// <summary>The number of stacks.</summary>
    public int Lists { get; }

    /// <summary>Bytes held by the stacks.</summary>
    public long StackBytes => (long)Hot.Stacks.Length * sizeof(ulong);

    /// <summary>Pages on all stacks. Exact when frozen or read by the owner; a snapshot otherwise.</summary>
    public long CachedPages
    {
        get
        {
            long pages = 0;
            for (int list = 0; list < Lists; list++)
            {
                pages += (long)Volatile.Read(ref Hot.Counts[list]) << OrderOf(list);
            }

            return pages;
        }
    }

    /// <summary>Blocks moved per refill or spill: 32 pages' worth, at least one block.</summary>
    public static int Batch(int order) => Math.Max(1, PagesPerBatch >> order);

    /// <summary>A stack that holds this many blocks spills a batch before it takes another.</summary>
    public static int High(int order) => 4 * Batch(order);

    /// <summary>The stack index of a zone (its place among the allocator's populated zones, lowest first), type and order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int List(int zone, int order, int type) => (((zone * Hot.Types) + type) << 2) + order;

    /// <summary>The order a stack holds.</summary>
    public static int OrderOf(int list) => list & MaxOrder;

    /// <summary>The zone (place among the populated zones) a stack holds blocks of.</summary>
    public int ZoneOf(int list) => (list >> 2) / Hot.Types;

    /// <summary>Where stack <paramref name="list"/> starts in <see cref="CacheHotState.Stacks"/>: its group's start plus the stacks of the lower orders (320 - (320 >> order) entries).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Start(int list) => Pad + ((list >> 2) * GroupEntries) + (2 * 5 * PagesPerBatch) - ((2 * 5 * PagesPerBatch) >> (list & MaxOrder));

    /// <summary>Owner only: enters a fast-path operation; false when the cache is frozen (take the slow path).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryEnter()
    {
        Debug.Assert(Owner == Thread.CurrentThread);
        return Hot.Gate.TryEnter();
    }

    /// <summary>Owner only: leaves the fast-path operation.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exit() => Hot.Gate.Exit();

    /// <summary>Allocator's lock held: marks the cache frozen (call <see cref="WaitIdle"/> after a process-wide barrier).</summary>
    public void Freeze() => Hot.Gate.Freeze();

    /// <summary>Allocator's lock held, after <see cref="Freeze"/> and a process-wide barrier: waits until the owner is outside its operation.</summary>
    public void WaitIdle() => Hot.Gate.WaitIdle();

    /// <summary>Allocator's lock held: lets the owner back in.</summary>
    public void Thaw() => Hot.Gate.Thaw();
}
