// ArenaMemory: the owner of one arena rental, as a MemoryManager<byte>. Every rent makes a new one
// over a reused Rental; it is the only managed allocation of a rent, and it holds nothing but the
// rental (24 bytes, as MemoryPool<byte>.Shared's owner). Everything about the rental — the memory,
// the Dispose flag, the pin count — is in the Rental, whose state word carries a sequence that
// moves on at every rent and every end; this owner holds the rental only while the state is rented
// and the rental's owner reference is this object (Rental.IsHeldBy). So:
// - an ArenaMemory is never reused for another rental, and once its rental ended (by its Dispose,
//   its last Unpin after it, or the sweep) it never holds it again: a stale owner — and any
//   Memory<byte> or pin taken from it — cannot reach the memory of a later rental, nor end it;
// - Dispose, Pin and Unpin change the rental's state only by compare-and-swap from a state this
//   owner held, so the block goes back exactly once, when the state first becomes "disposed, no
//   pins" — at Dispose, or at the last Unpin after it — and a pinned block is never rented again
//   under a pin; Pin is refused once disposed; Unpin without a Pin throws and changes nothing;
// - after Dispose every access throws ObjectDisposedException. A second Dispose is a no-op, as
//   IDisposable wants (the checked mode reports it).
// An owner dropped without Dispose is found by the arena's sweep after a garbage collection, and
// its memory goes back (NativeArena.AbandonedRentals counts it); an owner resurrected by a
// finalizer after that finds its rental ended and is refused like any stale owner.
using System.Buffers;
using System.Runtime.CompilerServices;

namespace Buddy.Memory;

/// <summary>A block of a <see cref="NativeArena"/> as <see cref="Memory{T}"/>; dispose it to give the block back.</summary>
/// <remarks>
/// Thread-safe. The memory stays valid until the rental is disposed, even after the arena is
/// disposed. Disposing while pinned defers the return to the last <see cref="Unpin"/>. An owner
/// that becomes unreachable without Dispose has its memory reclaimed after a garbage collection:
/// keep the owner (or a <see cref="Memory{T}"/> or pin from it) reachable while you use a
/// <see cref="Span{T}"/> or pointer taken from it, as you would keep a SafeHandle alive.
/// </remarks>
public sealed unsafe class ArenaMemory : MemoryManager<byte>, IDisposable
{
    // One field: the object is 24 bytes with its header, a rent's only allocation.
    private readonly Rental _rental;

    internal ArenaMemory(Rental rental)
    {
        _rental = rental;
        rental.Begin(this);
    }

    /// <summary>The page block behind this memory (its real address and size); empty (<see cref="Block.IsEmpty"/>) for a rental below a page, which is a small block of the arena's size classes.</summary>
    /// <exception cref="ObjectDisposedException">The rental is over (disposed, and unpinned): its block may be someone else's now.</exception>
    public Block Block
    {
        get
        {
            ThrowIfReturned();
            return _rental.Block;
        }
    }

    /// <summary>The real address of the first byte.</summary>
    /// <exception cref="ObjectDisposedException">The rental is over (disposed, and unpinned).</exception>
    public ulong Address
    {
        get
        {
            ThrowIfReturned();
            return _rental.Address;
        }
    }

    /// <summary>The length in bytes.</summary>
    /// <exception cref="ObjectDisposedException">The rental is over (disposed, and unpinned).</exception>
    public int Length
    {
        get
        {
            ThrowIfReturned();
            return _rental.Length;
        }
    }

    /// <summary>Pins taken and not yet released.</summary>
    public int PinCount
    {
        get
        {
            long state = Volatile.Read(ref _rental.State);
            return _rental.IsHeldBy(this, state) ? Rental.Pins(state) : 0;
        }
    }

    /// <summary>Whether the owner disposed it (the block goes back then, or at the last unpin).</summary>
    public bool IsDisposed
    {
        get
        {
            long state = Volatile.Read(ref _rental.State);
            return !_rental.IsHeldBy(this, state) || (state & Rental.Disposed) != 0;
        }
    }

    /// <summary>The raw address of the first byte, for interop; valid only until disposal (or until the last pin after it).</summary>
    /// <exception cref="ObjectDisposedException">The memory was given back.</exception>
    public nint DangerousGetPointer()
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        return (nint)_rental.Address;
    }

    /// <inheritdoc/>
    public override Span<byte> GetSpan()
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        return new Span<byte>((void*)_rental.Address, _rental.Length);
    }

    /// <inheritdoc/>
    /// <exception cref="ObjectDisposedException">The memory was disposed.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elementIndex"/> is not from 0 to <see cref="Length"/>.</exception>
    public override MemoryHandle Pin(int elementIndex = 0)
    {
        Rental rental = _rental;
        long state;
        do
        {
            state = Volatile.Read(ref rental.State);
            ObjectDisposedException.ThrowIf(!rental.IsHeldBy(this, state) || (state & Rental.Disposed) != 0, this);
            if ((uint)elementIndex > (uint)rental.Length)
            {
                throw new ArgumentOutOfRangeException(nameof(elementIndex), elementIndex, $"elementIndex must be from 0 to {rental.Length}.");
            }

            if (Rental.Pins(state) == Rental.MaxPins)
            {
                throw new InvalidOperationException($"The arena memory {this} has {Rental.MaxPins} pins, the most it can count.");
            }
        }
        while (Interlocked.CompareExchange(ref rental.State, state + Rental.PinUnit, state) != state);

        return new MemoryHandle((byte*)rental.Address + elementIndex, default, this);
    }

    /// <inheritdoc/>
    /// <exception cref="InvalidOperationException">No pin is held: an Unpin without a Pin (the count stays 0).</exception>
    public override void Unpin()
    {
        Rental rental = _rental;
        long state;
        long next;
        do
        {
            state = Volatile.Read(ref rental.State);
            if (!rental.IsHeldBy(this, state) || Rental.Pins(state) == 0)
            {
                throw new InvalidOperationException($"Unpin without a matching Pin: the arena memory {this} is not pinned.");
            }

            next = Rental.Pins(state) == 1 && (state & Rental.Disposed) != 0 ? Rental.Ended(state) : state - Rental.PinUnit;
        }
        while (Interlocked.CompareExchange(ref rental.State, next, state) != state);

        if ((next & Rental.Rented) == 0)
        {
            rental.Arena.Return(rental); // the owner disposed it while pinned: the last pin gives the block back
        }
    }

    /// <summary>Gives the rental back (at once, or at the last <see cref="Unpin"/>); a second call does nothing.</summary>
    /// <remarks>Re-implemented to skip MemoryManager's GC.SuppressFinalize: an ArenaMemory has no finalizer.</remarks>
    void IDisposable.Dispose() => Dispose(disposing: true);

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        // The usual case first, small enough to inline: held by this owner, no pin, not checked.
        Rental rental = _rental;
        long state = Volatile.Read(ref rental.State);
        if ((state & Rental.OwnerBits) == Rental.Rented && !rental.IsChecked && ReferenceEquals(Volatile.Read(ref rental.Strong), this)
            && Interlocked.CompareExchange(ref rental.State, Rental.Ended(state), state) == state)
        {
            rental.Arena.Return(rental);
            return;
        }

        DisposeSlowly();
    }

    // Dispose of a pinned, demoted or checked rental, or a second Dispose, or after a race.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void DisposeSlowly()
    {
        Rental rental = _rental;
        long state;
        long next;
        do
        {
            state = Volatile.Read(ref rental.State);
            if (!rental.IsHeldBy(this, state) || (state & Rental.Disposed) != 0)
            {
                if (rental.IsChecked)
                {
                    rental.Arena.DoubleReturn(this); // the checked mode reports what the normal mode forgives
                }

                return;
            }

            next = Rental.Pins(state) == 0 ? Rental.Ended(state) : state | Rental.Disposed;
        }
        while (Interlocked.CompareExchange(ref rental.State, next, state) != state);

        if (rental.IsChecked)
        {
            rental.Arena.NoteReturn(this); // the stack trace a double return reports (kept beside, not in, the owner)
        }

        if ((next & Rental.Rented) == 0)
        {
            rental.Arena.Return(rental); // not pinned: the block goes back now
        }
    }

    /// <inheritdoc/>
    public override string ToString() => IsReturned
        ? "a returned arena rental"
        : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{_rental.Length} bytes at 0x{_rental.Address:x}");

    // The rental has ended (disposed with no pin left, or reclaimed) and its memory may be someone else's.
    private bool IsReturned => !_rental.IsHeldBy(this, Volatile.Read(ref _rental.State));

    private void ThrowIfReturned() => ObjectDisposedException.ThrowIf(IsReturned, this);
}
