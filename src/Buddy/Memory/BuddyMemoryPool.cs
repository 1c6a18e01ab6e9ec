// BuddyMemoryPool: MemoryPool<byte> over a native arena, so System.IO.Pipelines and friends get
// naturally aligned, pinned-by-nature native buffers. Each buffer is an ArenaMemory (NativeArena.Rent
// by size): a new owner per rent over reused bookkeeping, served by the calling thread's cache up
// to 64 KiB; it keeps the arena's memory mapped until it is disposed, and its Dispose is idempotent.
using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Buddy.Memory;

/// <summary>A <see cref="MemoryPool{T}"/> whose buffers are blocks of a <see cref="NativeArena"/>.</summary>
/// <remarks>
/// <para>
/// A rental below a page is a small block of the kmalloc-style size classes (8 bytes to half a
/// page, the next power of two, naturally aligned to it); from a page up it is the next
/// power-of-two block of pages, naturally aligned to its size. <c>Rent(-1)</c> gives one 4 KiB
/// block; a size above <see cref="MaxBufferSize"/> throws <see cref="ArgumentOutOfRangeException"/>
/// (rent larger blocks from the arena itself).
/// </para>
/// <para>
/// Thread-safe: rent on any thread, dispose on any other. Disposing an owner twice does nothing
/// (the arena's checked mode reports it); a disposed owner, and every Memory&lt;byte&gt; or pin
/// taken from it, refuses all use with <see cref="ObjectDisposedException"/>, also after its memory
/// went to another rental. An owner dropped without Dispose is reclaimed after a garbage
/// collection (<see cref="NativeArena.AbandonedRentals"/>). Disposing the pool does not release the arena.
/// </para>
/// </remarks>
public sealed class BuddyMemoryPool : MemoryPool<byte>
{
    /// <summary>The size rented for <c>Rent(-1)</c>: one 4 KiB page.</summary>
    public const int DefaultBufferSize = 4096;

    private readonly NativeArena _arena;

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

    /// <summary>Buffers rented from the pool's arena so far, through any of its pools or <see cref="NativeArena.Rent(ulong, bool)"/> (a snapshot while other threads rent).</summary>
    public long Rentals => _arena.Rentals;

    /// <inheritdoc/>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="minBufferSize"/> is below -1 or above <see cref="MaxBufferSize"/>.</exception>
    /// <exception cref="AllocationFailedException">The arena has no block that large free.</exception>
    /// <exception cref="ObjectDisposedException">The arena was disposed (buffers rented before stay valid until disposed).</exception>
    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        return _arena.Rent((ulong)Math.Max(1, CheckSize(minBufferSize)));
    }

    // -1 means the default size; anything else must lie from 0 to MaxBufferSize (the throw is out
    // of line: its message's interpolation would otherwise cost every rent a zeroed local).
    private int CheckSize(int minBufferSize) => minBufferSize switch
    {
        -1 => DefaultBufferSize,
        >= 0 when minBufferSize <= MaxBufferSize => minBufferSize,
        _ => ThrowBadSize(minBufferSize),
    };

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int ThrowBadSize(int minBufferSize) =>
        throw new ArgumentOutOfRangeException(nameof(minBufferSize), minBufferSize, $"minBufferSize must be -1 or from 0 to {MaxBufferSize}.");

    /// <summary>Rents like <see cref="Rent"/>; false, with nothing rented, when the arena cannot serve it now (its maximum is in use).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="minBufferSize"/> is below -1 or above <see cref="MaxBufferSize"/>.</exception>
    /// <exception cref="ObjectDisposedException">The arena was disposed.</exception>
    public bool TryRent(int minBufferSize, [NotNullWhen(true)] out IMemoryOwner<byte>? owner)
    {
        int size = CheckSize(minBufferSize);
        bool rented = _arena.TryRent((ulong)Math.Max(1, size), out ArenaMemory? memory);
        owner = memory;
        return rented;
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
    }
}
