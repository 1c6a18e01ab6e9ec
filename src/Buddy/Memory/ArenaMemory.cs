// ArenaMemory: one rented arena block as a MemoryManager<byte>. GetSpan takes no lock; Pin accepts
// offsets 0..Length and counts pins; Dispose returns the block once, and after it every access
// throws ObjectDisposedException.
using System.Buffers;
using Buddy.Pages;

namespace Buddy.Memory;

/// <summary>A block of a <see cref="NativeArena"/> as <see cref="Memory{T}"/>; dispose it to give the block back.</summary>
/// <remarks>Thread-safe for concurrent reads of its span and pins; dispose from one owner.</remarks>
public sealed unsafe class ArenaMemory : MemoryManager<byte>
{
    private readonly NativeArena _arena;
    private readonly Block _block;
    private int _disposed;
    private int _pins;

    internal ArenaMemory(NativeArena arena, Block block)
    {
        _arena = arena;
        _block = block;
    }

    /// <summary>Checked mode: the stack trace of the return.</summary>
    internal string? ReturnedAt { get; set; }

    /// <summary>The block behind this memory (its real address and size).</summary>
    public Block Block => _block;

    /// <summary>The length in bytes.</summary>
    public int Length => (int)_block.Size;

    /// <summary>Pins taken and not yet released.</summary>
    public int PinCount => Volatile.Read(ref _pins);

    /// <summary>Whether the block was given back.</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>The raw address of the first byte, for interop; valid only until disposal.</summary>
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
    public override MemoryHandle Pin(int elementIndex = 0)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if ((uint)elementIndex > (uint)Length)
        {
            throw new ArgumentOutOfRangeException(nameof(elementIndex), elementIndex, $"elementIndex must be from 0 to {Length}.");
        }

        Interlocked.Increment(ref _pins);
        return new MemoryHandle((byte*)_block.Address + elementIndex, default, this);
    }

    /// <inheritdoc/>
    public override void Unpin() => Interlocked.Decrement(ref _pins);

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _arena.Return(this);
        }
        else if (_arena.IsChecked)
        {
            NativeArena.DoubleReturn(this); // the checked mode reports what the normal mode forgives
        }
    }
}
