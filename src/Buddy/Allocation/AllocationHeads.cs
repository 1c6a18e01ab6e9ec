// AllocationHeads: two bits per page that say "a live allocation starts here, with this
// mobility" (0: none; else MigrateType + 1), readable and writable without the allocator's lock
// (atomic word operations), in chunks allocated on first use so that a huge, idle address space
// costs only its chunk table.
//
// Invariant: a chunk, once published with a CAS, is never replaced; a page's field is non-zero
// exactly while a live allocation starts at it.
using System.Numerics;
using Buddy.Mobility;

namespace Buddy.Allocation;

/// <summary>Allocation-start marks with their mobility, per page, lock-free, lazily allocated in 16,384-page chunks.</summary>
/// <remarks>Thread-safe: chunks appear through <see cref="Interlocked.CompareExchange{T}(ref T, T, T)"/>, fields change through Interlocked And/Or.</remarks>
internal sealed class AllocationHeads
{
    private const int ChunkShift = 14;                   // pages per chunk
    private const int WordsPerChunk = 1 << (ChunkShift - 5); // 32 pages per word
    private readonly ulong[]?[] _chunks;

    /// <summary>Creates the marks for <paramref name="pages"/> pages, all clear.</summary>
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

    /// <summary>Marks page <paramref name="index"/> as the start of an allocation of <paramref name="mobility"/>.</summary>
    public void Set(ulong index, MigrateType mobility)
    {
        ulong[] chunk = _chunks[index >> ChunkShift] ?? Publish(index >> ChunkShift);
        Interlocked.Or(ref chunk[(index >> 5) & (WordsPerChunk - 1)], ((ulong)mobility + 1) << Shift(index));
    }

    /// <summary>Clears the mark of page <paramref name="index"/>; false when there was none.</summary>
    public bool TryClear(ulong index)
    {
        ulong[]? chunk = Volatile.Read(ref _chunks[index >> ChunkShift]);
        if (chunk is null)
        {
            return false;
        }

        ulong mask = 3UL << Shift(index);
        return (Interlocked.And(ref chunk[(index >> 5) & (WordsPerChunk - 1)], ~mask) & mask) != 0;
    }

    /// <summary>Whether page <paramref name="index"/> starts a live allocation.</summary>
    public bool IsSet(ulong index) => Field(index) != 0;

    /// <summary>The mobility of the allocation starting at page <paramref name="index"/>, or null.</summary>
    public MigrateType? MobilityOf(ulong index) => Field(index) is var f and not 0 ? (MigrateType)(f - 1) : null;

    /// <summary>The number of marks (for validation).</summary>
    public ulong Count()
    {
        ulong count = 0;
        foreach (ulong[]? chunk in _chunks)
        {
            foreach (ulong word in chunk ?? [])
            {
                // A field is non-zero when either of its two bits is set.
                ulong any = (word | (word >> 1)) & 0x5555_5555_5555_5555UL;
                count += (ulong)BitOperations.PopCount(any);
            }
        }

        return count;
    }

    private static int Shift(ulong index) => (int)(index & 31) * 2;

    private ulong Field(ulong index)
    {
        ulong[]? chunk = Volatile.Read(ref _chunks[index >> ChunkShift]);
        return chunk is null ? 0 : (Volatile.Read(ref chunk[(index >> 5) & (WordsPerChunk - 1)]) >> Shift(index)) & 3;
    }

    private ulong[] Publish(ulong chunkIndex)
    {
        var fresh = new ulong[WordsPerChunk];
        return Interlocked.CompareExchange(ref _chunks[chunkIndex], fresh, null) ?? fresh;
    }
}
