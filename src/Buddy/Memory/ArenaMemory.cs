// ArenaMemory: the owner of one arena rental, as a MemoryManager<byte>. Every rent makes a new one
// over a reused Rental (the memory, a reference to this owner, a state word); it is the only
// managed allocation of a rent. One state word here holds the owner's Dispose flag and the pin
// count (and, fixed at the rent, whether the arena is checked), changed only by compare-and-swap, so that:
// - Pin is refused once disposed; Unpin without a Pin throws and leaves the count at zero;
// - the block goes back exactly once, when the state first becomes "disposed, no pins" — at
//   Dispose, or at the last Unpin after it — so a pinned block is never rented again under a pin;
// - after Dispose every access throws ObjectDisposedException. A second Dispose is a no-op, as
//   IDisposable wants (the checked mode reports it); an ArenaMemory is never reused for another
//   rental, so no stale owner — and no Memory<byte> or pin taken from it — can reach the memory
//   of a later rental, nor Dispose it.
// An owner dropped without Dispose is found by the arena's sweep after a garbage collection, and
// its memory goes back (NativeArena.AbandonedRentals counts it). The rental holds a reference on
// the arena's mapping (ArenaHandle) until its memory goes back.
using System.Buffers;

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
    private const int DisposedFlag = 1 << 30;
    private const int CheckedFlag = 1 << 29; // the arena's checked mode, kept here so that Dispose need not reach the arena to ask
    private const int PinMask = CheckedFlag - 1;

    // Two fields (32 bytes with the object header): a rent's only allocation, kept small. The
    // memory's address and length are the rental's, read only after this owner's own state says
    // the rental is still its: a disposed owner throws before it looks.
    private readonly Rental _rental;
    private int _state; // DisposedFlag | CheckedFlag | pins

    internal ArenaMemory(Rental rental, bool isChecked)
    {
        _rental = rental;
        _state = isChecked ? CheckedFlag : 0;
        rental.Begin(this);
    }

    /// <summary>The rental this owner holds.</summary>
    internal Rental Rental => _rental;



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
    public int PinCount => Volatile.Read(ref _state) & PinMask;

    /// <summary>Whether the owner disposed it (the block goes back then, or at the last unpin).</summary>
    public bool IsDisposed => (Volatile.Read(ref _state) & DisposedFlag) != 0;

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
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if ((uint)elementIndex > (uint)Length)
        {
            throw new ArgumentOutOfRangeException(nameof(elementIndex), elementIndex, $"elementIndex must be from 0 to {Length}.");
        }

        int state;
        do
        {
            state = Volatile.Read(ref _state);
            ObjectDisposedException.ThrowIf((state & DisposedFlag) != 0, this);
            if ((state & PinMask) == PinMask)
            {
                throw new InvalidOperationException($"The arena memory {this} has {PinMask} pins, the most it can count.");
            }
        }
        while (Interlocked.CompareExchange(ref _state, state + 1, state) != state);

        return new MemoryHandle((byte*)_rental.Address + elementIndex, default, this);
    }

    /// <inheritdoc/>
    /// <exception cref="InvalidOperationException">No pin is held: an Unpin without a Pin (the count stays 0).</exception>
    public override void Unpin()
    {
        int state;
        do
        {
            state = Volatile.Read(ref _state);
            if ((state & PinMask) == 0)
            {
                throw new InvalidOperationException($"Unpin without a matching Pin: the arena memory {this} is not pinned.");
            }
        }
        while (Interlocked.CompareExchange(ref _state, state - 1, state) != state);

        if (((state - 1) & ~CheckedFlag) == DisposedFlag)
        {
            _rental.Arena.Return(this); // the owner disposed it while pinned: the last pin gives the block back
        }
    }

    /// <summary>Gives the rental back (at once, or at the last <see cref="Unpin"/>); a second call does nothing.</summary>
    /// <remarks>Re-implemented to skip MemoryManager's GC.SuppressFinalize: an ArenaMemory has no finalizer.</remarks>
    void IDisposable.Dispose() => Dispose(disposing: true);

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        int state;
        do
        {
            state = Volatile.Read(ref _state);
            if ((state & DisposedFlag) != 0)
            {
                if ((state & CheckedFlag) != 0)
                {
                    _rental.Arena.DoubleReturn(this); // the checked mode reports what the normal mode forgives
                }

                return;
            }
        }
        while (Interlocked.CompareExchange(ref _state, state | DisposedFlag, state) != state);

        if ((state & CheckedFlag) != 0)
        {
            _rental.Arena.NoteReturn(this); // the stack trace a double return reports (kept beside, not in, the owner)
        }

        if ((state & PinMask) == 0)
        {
            _rental.Arena.Return(this); // not pinned: the block goes back now
        }
    }

    /// <inheritdoc/>
    public override string ToString() => IsReturned
        ? "a returned arena rental"
        : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{_rental.Length} bytes at 0x{_rental.Address:x}");

    // Disposed with no pin left: the rental has ended and its memory may be someone else's.
    private bool IsReturned => (Volatile.Read(ref _state) & ~CheckedFlag) == DisposedFlag;

    private void ThrowIfReturned() => ObjectDisposedException.ThrowIf(IsReturned, this);
}
