// ArenaPin: access to a movable arena block's bytes. A movable block may be migrated (its bytes
// copied elsewhere) whenever it is not pinned, so its bytes are reachable only through a pin.
// The span stays valid while the pin lives, even after the arena's disposal: the arena refuses to
// take back a pinned rental, and the rental keeps the arena's memory mapped.

namespace Buddy.Memory;

/// <summary>A pin on a movable arena block: while it lives the block stays put and <see cref="Span"/> is valid.</summary>
/// <remarks>Dispose it to let the block move again. Not thread-safe: one owner.</remarks>
public sealed unsafe class ArenaPin : IDisposable
{
    private readonly MovableBlock _block;
    private readonly ulong _address;
    private readonly int _length;
    private bool _disposed;

    internal ArenaPin(MovableBlock block)
    {
        block.Pin();
        _block = block;
        _address = block.Block.Address; // read after pinning: it cannot change now
        _length = (int)block.Block.Size;
    }

    /// <summary>The bytes, valid until the pin is disposed.</summary>
    /// <exception cref="ObjectDisposedException">The pin was disposed.</exception>
    public Span<byte> Span
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return new Span<byte>((void*)_address, _length);
        }
    }

    /// <summary>The address while pinned.</summary>
    public ulong Address => _address;

    /// <inheritdoc/>
    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            _block.Unpin();
        }
    }
}
