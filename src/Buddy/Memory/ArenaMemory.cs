// ArenaMemory: one rented arena block as a MemoryManager<byte>. One state word holds the owner's
// Dispose flag and the pin count, changed only by compare-and-swap, so that:
// - Pin is refused once disposed; Unpin without a Pin throws and leaves the count at zero;
// - the block goes back exactly once, when the state first becomes "disposed, no pins" — at
//   Dispose, or at the last Unpin after it — so a pinned block is never rented again under a pin;
// - after Dispose every access throws ObjectDisposedException. A second Dispose is a no-op, as
//   IDisposable wants (the checked mode reports it); an ArenaMemory is never reused for another
//   rental, so no Dispose of it can ever return someone else's block.
// The rental holds a reference on the arena's mapping (ArenaHandle) until its block goes back.
using System.Buffers;
using Buddy.Pages;

namespace Buddy.Memory;

/// <summary>A block of a <see cref="NativeArena"/> as <see cref="Memory{T}"/>; dispose it to give the block back.</summary>
/// <remarks>
/// Thread-safe. The memory stays valid until the rental is disposed, even after the arena is
/// disposed. Disposing while pinned defers the return to the last <see cref="Unpin"/>.
/// </remarks>
public sealed unsafe class ArenaMemory : MemoryManager<byte>
{
    private const int DisposedFlag = 1 << 30;
    private const int PinMask = DisposedFlag - 1;

    private readonly NativeArena _arena;
    private readonly Block _block;
    private int _state; // DisposedFlag | pins

    internal ArenaMemory(NativeArena arena, Block block)
    {
        _arena = arena;
        _block = block;
    }

    /// <summary>Checked mode: the stack trace of the owner's Dispose.</summary>
    internal string? ReturnedAt { get; private set; }

    /// <summary>The block behind this memory (its real address and size).</summary>
    public Block Block => _block;

    /// <summary>The length in bytes.</summary>
    public int Length => (int)_block.Size;

    /// <summary>Pins taken and not yet released.</summary>
    public int PinCount => Volatile.Read(ref _state) & PinMask;

    /// <summary>Whether the owner disposed it (the block goes back then, or at the last unpin).</summary>
    public bool IsDisposed => (Volatile.Read(ref _state) & DisposedFlag) != 0;

    /// <summary>The raw address of the first byte, for interop; valid only until disposal (or until the last pin after it).</summary>
    /// <exception cref="ObjectDisposedException">The memory was given back.</exception>
    public nint DangerousGetPointer()
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        return (nint)_block.Address;
    }

    /// <inheritdoc/>
    public override Span<byte> GetSpan()
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        return new Span<byte>((void*)_block.Address, Length);
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
                throw new InvalidOperationException($"The arena memory {_block} has {PinMask} pins, the most it can count.");
            }
        }
        while (Interlocked.CompareExchange(ref _state, state + 1, state) != state);

        return new MemoryHandle((byte*)_block.Address + elementIndex, default, this);
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
                throw new InvalidOperationException($"Unpin without a matching Pin: the arena memory {_block} is not pinned.");
            }
        }
        while (Interlocked.CompareExchange(ref _state, state - 1, state) != state);

        if (state - 1 == DisposedFlag)
        {
            _arena.Return(this); // the owner disposed it while pinned: the last pin gives the block back
        }
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        int state;
        do
        {
            state = Volatile.Read(ref _state);
            if ((state & DisposedFlag) != 0)
            {
                if (_arena.IsChecked)
                {
                    NativeArena.DoubleReturn(this); // the checked mode reports what the normal mode forgives
                }

                return;
            }
        }
        while (Interlocked.CompareExchange(ref _state, state | DisposedFlag, state) != state);

        if (_arena.IsChecked)
        {
            ReturnedAt = Environment.StackTrace;
        }

        if (state == 0)
        {
            _arena.Return(this); // not pinned: the block goes back now
        }
    }
}
