// PoolBlock: the handle of one block of a DmaPool (and so of a SmallAllocator size class). A value:
// copying it does not copy ownership. It carries the pool's identity and the generation its slot
// had when it was handed out; a free checks both, so a handle kept past its free — a double free
// or a stale handle whose slot now holds another allocation — is refused, never frees the other.
using System.Globalization;

namespace Buddy.Memory;

/// <summary>A block handed out by a <see cref="DmaPool"/> or a <see cref="SmallAllocator"/>; give it back with their Free.</summary>
public readonly struct PoolBlock : IEquatable<PoolBlock>
{
    internal PoolBlock(ulong address, ulong size, int poolId, ulong generation)
    {
        Address = address;
        Size = size;
        PoolId = poolId;
        Generation = generation;
    }

    /// <summary>The address of the first byte.</summary>
    public ulong Address { get; }

    /// <summary>The block size in bytes (the pool's block size).</summary>
    public ulong Size { get; }

    /// <summary>The allocation's identity within its pool: every allocation gets a new one (never 0).</summary>
    public ulong Generation { get; }

    /// <summary>Whether this is the default value rather than a block from a pool.</summary>
    public bool IsEmpty => Generation == 0;

    /// <summary>The <see cref="DmaPool"/> that handed the block out (its process-wide number).</summary>
    internal int PoolId { get; }

    /// <inheritdoc/>
    public bool Equals(PoolBlock other) => Address == other.Address && PoolId == other.PoolId && Generation == other.Generation;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is PoolBlock other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Address, PoolId, Generation);

    /// <summary>Equality of two handles.</summary>
    public static bool operator ==(PoolBlock left, PoolBlock right) => left.Equals(right);

    /// <summary>Inequality of two handles.</summary>
    public static bool operator !=(PoolBlock left, PoolBlock right) => !left.Equals(right);

    /// <inheritdoc/>
    public override string ToString() => IsEmpty
        ? "(no block)"
        : string.Create(CultureInfo.InvariantCulture, $"0x{Address:x} ({Size} bytes, generation {Generation})");
}
