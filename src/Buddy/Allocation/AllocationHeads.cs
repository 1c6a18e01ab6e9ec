// AllocationHeads: one bit per page that says "a live allocation starts here", readable and
// writable without the allocator's lock (atomic word operations), in chunks allocated on first
// use so that a huge, idle address space costs only its chunk table.
//
// Invariant: a chunk, once published with a CAS, is never replaced; a bit is set exactly while a
// live allocation starts at its page.
using System.Numerics;

namespace Buddy.Allocation;

/// <summary>Allocation-start bits per page, lock-free, lazily allocated in 32,768-page chunks.</summary>
/// <remarks>Thread-safe: chunks appear through <see cref="Interlocked.CompareExchange{T}(ref T, T, T)"/>, bits change through Interlocked And/Or.</remarks>
internal sealed class AllocationHeads
{
    private const int ChunkShift = 15;               // pages per chunk
    private const int WordsPerChunk = 1 << (ChunkShift - 6);
    private readonly ulong[]?[] _chunks;

    /// <summary>Creates the bits for <paramref name="pages"/> pages, all clear.</summary>
    public AllocationHeads(ulong pages) => _chunks = new ulong[]?[(pages + (1UL << ChunkShift) - 1) >> ChunkShift];

    /// <summary>Bytes held: the chunk table and the chunks in use.</summary>
    public long MetadataBytes
    {
        get
        {
            long bytes = (long)_chunks.Length * IntPtr.Size;
            foreach (ulong[]? chunk in _chunks)
            {
                bytes += chunk is null ? 0 : WordsPerChunk * sizeof(ulong);
            }

            return bytes;
        }
    }

    /// <summary>Sets the bit of page <paramref name="index"/>.</summary>
    public void Set(ulong index)
    {
        ulong[] chunk = _chunks[index >> ChunkShift] ?? Publish(index >> ChunkShift);
        Interlocked.Or(ref chunk[(index >> 6) & (WordsPerChunk - 1)], 1UL << (int)index);
    }

    /// <summary>Clears the bit of page <paramref name="index"/>; false when it was not set.</summary>
    public bool TryClear(ulong index)
    {
        ulong[]? chunk = Volatile.Read(ref _chunks[index >> ChunkShift]);
        if (chunk is null)
        {
            return false;
        }

        ulong bit = 1UL << (int)index;
        return (Interlocked.And(ref chunk[(index >> 6) & (WordsPerChunk - 1)], ~bit) & bit) != 0;
    }

    /// <summary>Whether the bit of page <paramref name="index"/> is set.</summary>
    public bool IsSet(ulong index)
    {
        ulong[]? chunk = Volatile.Read(ref _chunks[index >> ChunkShift]);
        return chunk is not null && (Volatile.Read(ref chunk[(index >> 6) & (WordsPerChunk - 1)]) & (1UL << (int)index)) != 0;
    }

    /// <summary>The number of set bits (for validation).</summary>
    public ulong Count()
    {
        ulong count = 0;
        foreach (ulong[]? chunk in _chunks)
        {
            foreach (ulong word in chunk ?? [])
            {
                count += (ulong)BitOperations.PopCount(word);
            }
        }

        return count;
    }

    private ulong[] Publish(ulong chunkIndex)
    {
        var fresh = new ulong[WordsPerChunk];
        return Interlocked.CompareExchange(ref _chunks[chunkIndex], fresh, null) ?? fresh;
    }
}
