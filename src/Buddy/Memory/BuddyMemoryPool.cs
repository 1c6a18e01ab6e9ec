// BuddyMemoryPool: MemoryPool<byte> over a native arena, so System.IO.Pipelines and friends get
// naturally aligned, pinned-by-nature native buffers. Each buffer is an ArenaMemory, so it keeps
// the arena's memory mapped until it is disposed, and its Dispose is idempotent.
using System.Buffers;

namespace Buddy.Memory;

/// <summary>A <see cref="MemoryPool{T}"/> whose buffers are blocks of a <see cref="NativeArena"/>.</summary>
/// <remarks>
/// A rental is the next power-of-two block (at least one page) and is naturally aligned. Thread-safe.
/// Disposing the pool does not release the arena.
/// </remarks>
public sealed class BuddyMemoryPool : MemoryPool<byte>
{
    /// <summary>The size rented for <c>Rent(-1)</c>: one 4 KiB page.</summary>
    public const int DefaultBufferSize = 4096;

    private readonly NativeArena _arena;
    private long _rentals;

    /// <summary>Creates a pool over <paramref name="arena"/>; buffers up to <paramref name="maxBufferSize"/> bytes (default: the arena's largest block, at most 1 GiB).</summary>
    public BuddyMemoryPool(NativeArena arena, int maxBufferSize = 0)
    {
        ArgumentNullException.ThrowIfNull(arena);
        _arena = arena;
        ulong largest = arena.Pages.PageSize << arena.Pages.MaxOrder;
        MaxBufferSize = maxBufferSize > 0 ? maxBufferSize : (int)Math.Min(largest, 1UL << 30);
        if ((ulong)MaxBufferSize > largest)
        {
            throw new ArgumentOutOfRangeException(nameof(maxBufferSize), maxBufferSize, $"maxBufferSize cannot exceed the arena's largest block ({largest} bytes).");
        }
    }

    /// <inheritdoc/>
    public override int MaxBufferSize { get; }

    /// <summary>Buffers rented so far.</summary>
    public long Rentals => Interlocked.Read(ref _rentals);

    /// <inheritdoc/>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="minBufferSize"/> is below -1 or above <see cref="MaxBufferSize"/>.</exception>
    /// <exception cref="Allocation.AllocationFailedException">The arena has no block that large free.</exception>
    /// <exception cref="ObjectDisposedException">The arena was disposed (buffers rented before stay valid until disposed).</exception>
    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        if (minBufferSize == -1)
        {
            minBufferSize = DefaultBufferSize;
        }
        else if (minBufferSize < 0 || minBufferSize > MaxBufferSize)
        {
            throw new ArgumentOutOfRangeException(nameof(minBufferSize), minBufferSize, $"minBufferSize must be -1 or from 0 to {MaxBufferSize}.");
        }

        ArenaMemory buffer = _arena.Rent((ulong)Math.Max(1, minBufferSize));
        Interlocked.Increment(ref _rentals);
        return buffer;
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
    }
}
