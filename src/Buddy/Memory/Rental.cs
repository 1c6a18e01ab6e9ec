// Rental: the reusable bookkeeping of one arena rental. It holds the memory a rental covers (a
// page block, or a small block of the arena's size classes), a weak handle on the ArenaMemory that
// currently owns it, and a state word. A rent allocates only its owner (an ArenaMemory, new for
// every rental and never reused, so a disposed owner stays disposed and cannot reach the memory
// of whoever rents next); everything else here is reused, which keeps a rent cheap and lets the
// sweep (RentalRegistry) find owners that were garbage-collected without Dispose.
//
// State: (sequence << 1) | rented. Each transition adds one. A rental ends once: by its owner's
// Dispose (a plain store: while the owner is reachable no sweep can end it), or by the sweep's CAS
// from the word it read, once the owner is gone. A sweep that read "rented" and then found no
// owner frees nothing if the rental ended (and perhaps began again) in between: the word moved on.
//
// The owner reference. A rent stores the owner in a plain field (Strong): setting a weak GCHandle
// is a runtime call, most rentals end long before the next collection, and a strong
// reference from the rental cannot hide an abandoned owner for long because the sweep, after each
// collection, demotes every strong reference it finds to the weak handle (Demote). An owner
// dropped without Dispose is therefore reclaimed after the second collection that follows its rent.
//
// Invariants:
// - The state is odd exactly while an owner holds the rental: from Begin to the owner's Dispose
//   (or its last Unpin after Dispose), or until the sweep reclaims it.
// - While rented, the owner is in Strong, or (once demoted) Strong is null and Weak's target is
//   the owner or null (the owner was collected). Begin sets Strong before publishing the odd
//   state; the owner's End publishes the even state before clearing Strong.
// - Memory fields (Block, Small, Address, Length, Order) change only while the state is even, by
//   the one thread holding the rental (a cache's owner, or the arena under its lock).
// - A rental holding memory holds one reference on the arena's mapping (ArenaHandle), taken when
//   the memory is attached and released when it goes back to the allocator.
using System.Runtime.InteropServices;

namespace Buddy.Memory;

/// <summary>One rental's memory, owner handle and state, reused from rental to rental.</summary>
internal sealed class Rental
{
    /// <summary>The order of a page block kept in a thread's rental cache; <see cref="Uncached"/> for other memory.</summary>
    public const int Uncached = -1;

    /// <summary>The (sequence &lt;&lt; 1) | rented word.</summary>
    public long State;

    /// <summary>Creates a rental of <paramref name="arena"/> holding no memory; <paramref name="index"/> is its place in the arena's registry.</summary>
    public Rental(NativeArena arena, int index)
    {
        Arena = arena;
        Index = index;
    }

    /// <summary>The arena it belongs to.</summary>
    public NativeArena Arena { get; }

    /// <summary>Its place in the arena's registry (what a thread cache's stacks hold).</summary>
    public int Index { get; }

    /// <summary>The page block, for page rentals (empty for small ones).</summary>
    public Block Block;

    /// <summary>The small block, for rentals below a page (empty for page ones).</summary>
    public PoolBlock Small;

    /// <summary>The first byte's address.</summary>
    public ulong Address;

    /// <summary>The length in bytes a Memory&lt;byte&gt; over it has.</summary>
    public int Length;

    /// <summary>The cache order of its page block (0 to <see cref="RentalCache.MaxOrder"/>), or <see cref="Uncached"/>.</summary>
    public int Order = Uncached;

    /// <summary>Checked mode: the stack trace of the current rent.</summary>
    public string? RentedAt;

    /// <summary>The current owner until the sweep demotes it (see the file comment).</summary>
    public ArenaMemory? Strong;

    /// <summary>A weak handle on the current owner once demoted (an <see cref="ArenaMemory"/>).</summary>
    public GCHandle Weak = GCHandle.Alloc(null, GCHandleType.Weak);

    /// <summary>Frees the weak handle when the rental (and so its arena) is collected.</summary>
    ~Rental()
    {
        if (Weak.IsAllocated)
        {
            Weak.Free();
        }
    }

    /// <summary>Whether an owner holds it now (a snapshot while other threads run).</summary>
    public bool IsRented => (Volatile.Read(ref State) & 1) != 0;

    /// <summary>Attaches a page block.</summary>
    public void Attach(Block block, int order)
    {
        Block = block;
        Small = default;
        Address = block.Address;
        Length = (int)block.Size;
        Order = order;
    }

    /// <summary>Attaches a small block.</summary>
    public void Attach(PoolBlock small)
    {
        Block = default;
        Small = small;
        Address = small.Address;
        Length = (int)small.Size;
        Order = Uncached;
    }

    /// <summary>Forgets the memory (it went back to the allocator).</summary>
    public void Detach()
    {
        Block = default;
        Small = default;
        Address = 0;
        Length = 0;
        Order = Uncached;
        RentedAt = null;
    }

    /// <summary>Starts a rental for <paramref name="owner"/>.</summary>
    public void Begin(ArenaMemory owner)
    {
        Strong = owner;                  // before the odd state: a sweep that sees it rented finds this owner
        Volatile.Write(ref State, State + 1);
    }

    /// <summary>Owner's end of the rental: only the owner can end it while it is reachable, so a plain read and store will do.</summary>
    public void End()
    {
        Volatile.Write(ref State, State + 1);
        Volatile.Write(ref Strong, null); // after the even state: a sweep that still saw it rented finds no owner only once it ended
    }

    /// <summary>
    /// The sweep's look at a rental it read as <paramref name="rented"/>: moves a strong owner to the
    /// weak handle (false: look again after the next collection), or reports whether the owner is
    /// gone (true: reclaim it with <see cref="TryReclaim"/>, which fails if the rental ended meanwhile).
    /// </summary>
    public bool OwnerIsGone(long rented)
    {
        if (Volatile.Read(ref Strong) is { } owner)
        {
            Weak.Target = owner;
            Interlocked.CompareExchange(ref Strong, null, owner); // fails only if the rental ended (and began again)
            return false;
        }

        return (rented & 1) != 0 && Weak.Target is null;
    }

    /// <summary>The sweep's end of the rental: true when the rental still was <paramref name="rented"/> and now is ended.</summary>
    public bool TryReclaim(long rented) => Interlocked.CompareExchange(ref State, rented + 1, rented) == rented;
}
