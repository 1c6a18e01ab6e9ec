// PerCpuCache: one CPU's cache of small free blocks (orders 0..3, one stack per order and migrate
// type), like the kernel's per-CPU pcp lists. A slot is owned by whoever wins its Busy flag with
// one compare-and-swap; nobody waits for it — a caller that loses takes the allocator's slow path.
//
// Invariants (while Busy is held by the reader):
// - Every pfn on Stacks[list] heads an allocated unit of that list's order that is in no one's
//   hands: its head bit in the allocator is clear.
// - CachedPages is the sum of the pages on all stacks; AllocatedDelta is the pages handed out
//   through this slot minus those freed into it since the slot was last drained.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Buddy.Caches;

/// <summary>A slot's fields that change on every operation, alone on their cache lines.</summary>
[StructLayout(LayoutKind.Explicit, Size = 256)]
internal struct CacheHotState
{
    /// <summary>0 when free, 1 when held.</summary>
    [FieldOffset(128)]
    public int Busy;

    /// <summary>Pages on all stacks.</summary>
    [FieldOffset(136)]
    public long CachedPages;

    /// <summary>Pages allocated through this slot minus pages freed into it, since the last drain.</summary>
    [FieldOffset(144)]
    public long AllocatedDelta;

    /// <summary>Blocks on each stack.</summary>
    [FieldOffset(152)]
    public CacheCounts Counts;
}

/// <summary>Stack depths for up to 4 orders × 3 types.</summary>
[InlineArray(12)]
internal struct CacheCounts
{
    private int _element;
}

/// <summary>A per-CPU cache slot of small free blocks.</summary>
/// <remarks>Thread safety: guarded by <c>Hot.Busy</c>, taken with a CAS and released with a volatile write.</remarks>
internal sealed class PerCpuCache
{
    /// <summary>The largest order a cache keeps (the kernel's PAGE_ALLOC_COSTLY_ORDER).</summary>
    public const int MaxOrder = 3;

    /// <summary>Stack entries left unused at the front of each stack, so that two CPUs' stacks never share a cache line.</summary>
    public const int Pad = 8;

    /// <summary>The fields every operation writes, padded against false sharing between CPUs.</summary>
    public CacheHotState Hot;

    private readonly int _types;

    /// <summary>Creates empty stacks for orders 0..3 and <paramref name="types"/> migrate types.</summary>
    public PerCpuCache(int types)
    {
        _types = types;
        Stacks = new ulong[(MaxOrder + 1) * types][];
        for (int order = 0; order <= MaxOrder; order++)
        {
            for (int t = 0; t < types; t++)
            {
                Stacks[(order * types) + t] = new ulong[Pad + High(order) + Batch(order) + Pad];
            }
        }
    }

    /// <summary>The stacks, indexed by <see cref="List"/>; entries start at <see cref="Pad"/>.</summary>
    public ulong[][] Stacks { get; }

    /// <summary>The number of stacks.</summary>
    public int Lists => Stacks.Length;

    /// <summary>Blocks moved per refill or drain: 32 pages' worth, at least one block.</summary>
    public static int Batch(int order) => Math.Max(1, 32 >> order);

    /// <summary>A stack drains a batch once it holds more than this many blocks.</summary>
    public static int High(int order) => 4 * Batch(order);

    /// <summary>The stack index of an order and type.</summary>
    public int List(int order, int type) => (order * _types) + type;

    /// <summary>Takes the slot without waiting; false when someone else holds it.</summary>
    public bool TryEnter() => Interlocked.CompareExchange(ref Hot.Busy, 1, 0) == 0;

    /// <summary>Takes the slot, spinning until it is free (drains only).</summary>
    public void Enter()
    {
        var spin = default(SpinWait);
        while (!TryEnter())
        {
            spin.SpinOnce();
        }
    }

    /// <summary>Releases the slot.</summary>
    public void Exit() => Volatile.Write(ref Hot.Busy, 0);
}
