// RentalCache: one thread's ready rentals for one arena — rentals with a page block of order 0 to
// MaxOrder attached and no owner — so that a rent of up to 64 KiB pops one and a return pushes it
// back without a lock, an atomic instruction or the page allocator, as ArrayPool's thread-local
// buckets do for arrays. Its owner thread uses it between Gate.TryEnter and Gate.Exit; another
// thread (the arena's Dispose, or the thread attaching after this one ended) touches it only under
// the arena's cache lock with the cache frozen or its owner dead (CacheGate's handshake).
//
// Invariants:
// - Every index on a stack is a registered rental that holds a page block of that stack's order, has an even state (no
//   owner) and holds a reference on the arena's mapping; the page allocator counts its pages as
//   allocated.
// - Nothing between TryEnter and Exit takes a lock, allocates or can throw.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Buddy.Memory;

/// <summary>The fields every cached rent or return touches, on cache lines of their own (see ThreadCache's padding note).</summary>
[StructLayout(LayoutKind.Explicit, Size = 64 + 16 + (RentalCache.Orders * sizeof(int)) + 64)]
internal struct RentalCacheHot
{
    /// <summary>The owner's Busy flag and the freezer's Frozen flag.</summary>
    [FieldOffset(64)]
    public CacheGate Gate;

    /// <summary>Rents served from this cache (owner only; read as a snapshot).</summary>
    [FieldOffset(72)]
    public long Rents;

    /// <summary>Rentals on each order's stack.</summary>
    [FieldOffset(80)]
    public RentalCounts Counts;
}

/// <summary>Stack depths, one per cached order.</summary>
[InlineArray(RentalCache.Orders)]
internal struct RentalCounts
{
    private int _element;
}

/// <summary>One thread's ready rentals of one arena.</summary>
internal sealed class RentalCache
{
    /// <summary>The largest cached order: 64 KiB blocks with 4 KiB pages.</summary>
    public const int MaxOrder = 4;

    /// <summary>The largest block a cache keeps, whatever the page size.</summary>
    public const ulong MaxBytes = 64 * 1024;

    /// <summary>The number of cached orders.</summary>
    public const int Orders = MaxOrder + 1;

    /// <summary>Entries of all stacks: 64 + 32 + 16 + 8 + 4 (256 KiB of order-0 pages at most, and as much per order above).</summary>
    private const int Entries = 128 - (128 >> Orders);

    /// <summary>The stacks of registry indexes (<see cref="Rental.Index"/>: ints, so a push needs no GC write barrier), lowest order first (see <see cref="Start"/>).</summary>
    public readonly int[] Stacks = new int[Entries];

    /// <summary>The gate and the counts.</summary>
    public RentalCacheHot Hot;

    /// <summary>Creates an empty cache for <paramref name="arenaId"/>, owned by the calling thread.</summary>
    public RentalCache(int arenaId)
    {
        ArenaId = arenaId;
        Owner = Thread.CurrentThread;
    }

    /// <summary>The arena the cache belongs to.</summary>
    public int ArenaId { get; }

    /// <summary>The owner thread.</summary>
    public Thread Owner { get; }

    /// <summary>The most rentals a stack holds: 256 KiB of 4 KiB blocks, halving per order up (64, 32, 16, 8, 4).</summary>
    public static int High(int order) => 64 >> order;

    /// <summary>Where the stack of <paramref name="order"/> starts in <see cref="Stacks"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Start(int order) => 128 - (128 >> order);

    /// <summary>Owner only, inside the gate: pops the registry index of a ready rental of <paramref name="order"/>, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int TryPop(int order)
    {
        ref int count = ref Hot.Counts[order];
        int top = count - 1; // one load: reading the count back after the store would wait on it
        if (top < 0)
        {
            return -1;
        }

        count = top;
        return Stacks[Start(order) + top];
    }

    /// <summary>Owner only, inside the gate: pushes the registry index of a ready rental; false when the stack is full.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryPush(int rental, int order)
    {
        ref int count = ref Hot.Counts[order];
        int depth = count;
        if (depth >= High(order))
        {
            return false;
        }

        Stacks[Start(order) + depth] = rental;
        count = depth + 1;
        return true;
    }

    /// <summary>Owner inside the gate, or frozen: moves up to <c>into.Length</c> rentals of <paramref name="order"/>, oldest first, into <paramref name="into"/>; returns how many.</summary>
    public int TakeOldest(int order, Span<int> into)
    {
        ref int depth = ref Hot.Counts[order];
        int count = Math.Min(into.Length, depth);
        Span<int> stack = Stacks.AsSpan(Start(order), depth);
        stack[..count].CopyTo(into);
        stack[count..].CopyTo(stack);
        depth -= count;
        return count;
    }

    /// <summary>Room for one spill: half the deepest stack.</summary>
    public readonly int[] SpillBuffer = new int[64 / 2];
}
