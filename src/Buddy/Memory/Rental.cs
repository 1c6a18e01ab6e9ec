// Rental: the reusable bookkeeping of one arena rental. It holds the memory a rental covers (a
// page block, or a small block of the arena's size classes), a reference to the ArenaMemory that
// currently owns it, and a state word. A rent allocates only its owner (an ArenaMemory, new for
// every rental and never reused); everything else here is reused, which keeps a rent cheap and
// lets the sweep (RentalRegistry) find owners that were garbage-collected without Dispose.
//
// State: sequence << 32 | pins << 2 | disposed << 1 | rented. The sequence moves on at every Begin
// and every end, so a word read once never comes back. Begin is a plain store (the one thread
// holding a ready rental); every other change is a compare-and-swap from a word read before: the
// owner's Dispose, Pin and Unpin (which check first that the word is rented and the rental's
// owner is that owner: IsHeldBy), and the sweep's reclaim once the owner is gone. A rental ends
// exactly once: whoever swaps the rented word for an ended one gives the memory back; a
// sweep that read "rented" and found no owner frees nothing if the rental ended meanwhile, and an
// owner resurrected by a finalizer after the sweep reclaimed its rental holds it no more.
//
// The owner reference. A rent stores the owner in a plain field (Strong): setting a weak GCHandle
// is a runtime call, most rentals end long before the next collection, and a strong
// reference from the rental cannot hide an abandoned owner for long because the sweep, after each
// collection, demotes every strong reference it finds to the weak handle (OwnerIsGone). An owner
// dropped without Dispose is therefore reclaimed after the second collection that follows its rent.
//
// Invariants:
// - The state is rented exactly while an owner holds the rental: from Begin to the end swapped in
//   by the owner (its Dispose, or its last Unpin after Dispose) or by the sweep.
// - While rented, the owner is in Strong, or (once demoted) Strong is null and Weak's target is
//   the owner or null (the owner was collected). Only the sweep writes Weak, one sweep at a time
//   (NativeArena.ReclaimAbandoned's lock), and it sets Weak before it clears Strong. Begin sets
//   Strong before publishing the rented state; the owner's end publishes the ended state before
//   clearing Strong (NativeArena.Return), and the rental is ready for another rent only after that.
// - Pins and the disposed flag are zero in every state that is not rented.
// - Memory fields (Block, Small, Address, Length, Order) change only while the state is ended, by
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

    /// <summary>The state bit set while an owner holds the rental.</summary>
    public const long Rented = 1;

    /// <summary>The state bit set once the owner disposed it with pins left (the last Unpin ends it).</summary>
    public const long Disposed = 2;

    /// <summary>One pin, in the state word.</summary>
    public const long PinUnit = 4;

    /// <summary>The most pins one rental counts.</summary>
    public const int MaxPins = (1 << 30) - 1;

    /// <summary>The rented bit, the disposed bit and the pins: <see cref="Rented"/> alone when an owner holds the rental, unpinned and not disposed.</summary>
    public const long OwnerBits = PinBits | Disposed | Rented;

    private const long PinBits = (long)MaxPins * PinUnit;
    private const long SequenceUnit = 1L << 32;
    private const long SequenceBits = ~(SequenceUnit - 1);

    /// <summary>The sequence &lt;&lt; 32 | pins &lt;&lt; 2 | disposed &lt;&lt; 1 | rented word (see the file comment).</summary>
    public long State;

    /// <summary>Creates a rental of <paramref name="arena"/> holding no memory; <paramref name="index"/> is its place in the arena's registry.</summary>
    public Rental(NativeArena arena, int index)
    {
        Arena = arena;
        Index = index;
        IsChecked = arena.IsChecked;
    }

    /// <summary>Whether its arena runs in the checked mode (read by the owner without reaching the arena).</summary>
    public bool IsChecked { get; }

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
    public bool IsRented => (Volatile.Read(ref State) & Rented) != 0;

    /// <summary>The pins counted in <paramref name="state"/>.</summary>
    public static int Pins(long state) => (int)((ulong)(state & PinBits) >> 2);

    /// <summary>The word that ends the rental in <paramref name="state"/>: the next sequence, no owner, no pins.</summary>
    public static long Ended(long state) => (state & SequenceBits) + SequenceUnit;

    /// <summary>
    /// Whether <paramref name="owner"/> holds the rental in <paramref name="state"/>, a word read just
    /// before: it is rented and its owner reference is <paramref name="owner"/>. A demoted owner is
    /// confirmed by the word's sequence being unchanged after the weak handle is read (a weak target
    /// outlives the rental it was set for until the next demotion); its pins may have changed
    /// meanwhile, by the same owner on another thread.
    /// </summary>
    public bool IsHeldBy(ArenaMemory owner, long state)
    {
        if ((state & Rented) == 0)
        {
            return false;
        }

        if (Volatile.Read(ref Strong) is { } strong)
        {
            return ReferenceEquals(strong, owner); // Strong holds an owner only from its Begin to its end: never a stale one in a later rental
        }

        // (The handle is freed only by the finalizer of a rental no live arena reaches, whose
        // owner a finalizer may still dispose: then no one holds it.)
        return Weak.IsAllocated && ReferenceEquals(Weak.Target, owner) && (Volatile.Read(ref State) & SequenceBits) == (state & SequenceBits);
    }

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

    /// <summary>Starts a rental for <paramref name="owner"/> (the calling thread holds the ready rental: a plain store will do).</summary>
    public void Begin(ArenaMemory owner)
    {
        Strong = owner;                  // before the rented state: a sweep that sees it rented finds this owner
        Volatile.Write(ref State, (State & SequenceBits) + SequenceUnit + Rented);
    }

    /// <summary>After the owner's end was swapped in: forgets the owner (the rental may be rented again only after this).</summary>
    public void ForgetOwner() => Volatile.Write(ref Strong, null);

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

        return (rented & Rented) != 0 && Weak.Target is null;
    }

    /// <summary>The sweep's end of the rental: true when the rental still was <paramref name="rented"/> and now is ended.</summary>
    public bool TryReclaim(long rented) => Interlocked.CompareExchange(ref State, Ended(rented), rented) == rented;
}
