// AllocationHeads: one byte per page that says "a live allocation starts here, with this
// mobility" (0: none; else MigrateType + 1), read and written without the allocator's lock, in
// chunks allocated on first use so that a huge, idle address space costs only its chunk table.
//
// A byte, not two bits: a byte store never disturbs its neighbours, so a thread can set or clear
// its own block's mark with a plain store while other threads mark theirs (bits would share a
// word and need an atomic read-modify-write, which costs more than the rest of the fast path).
// A mark changes only while its block is in one thread's hands: the user's, a thread cache's, or
// the allocator's under its lock. Two threads that free the same block at the same moment race
// on its mark (that is the caller's data race; a free after a free is always caught).
//
// Within a full chunk the marks are stored transposed: page c's byte sits at (c mod 64) * 256 +
// c / 64, so consecutive pages lie 256 bytes apart and the 64 marks sharing a cache line belong
// to pages 64 apart. Threads refill their caches with runs of neighbouring pages; stored in page
// order, two threads working on neighbouring runs would write the same cache line on every
// operation (false sharing that cost two threads all their scaling in `buddy bench`).
//
// Invariant: a chunk, once published with a CAS, is never replaced; a page's byte is non-zero
// exactly while a live allocation starts at it.
using System.Runtime.CompilerServices;
using Buddy.Mobility;

namespace Buddy.Allocation;

/// <summary>Allocation-start marks with their mobility, one byte per page, lazily allocated in 16,384-page chunks.</summary>
/// <remarks>Thread-safe for distinct pages: chunks appear through <see cref="Interlocked.CompareExchange{T}(ref T, T, T)"/>, marks change with plain byte stores.</remarks>
internal sealed class AllocationHeads
{
    private const int ChunkShift = 14; // pages per chunk
    private const int ChunkMask = (1 << ChunkShift) - 1;
    private readonly byte[]?[] _chunks;
    private readonly ulong _pages;

    /// <summary>Creates the marks for <paramref name="pages"/> pages, all clear.</summary>
    public AllocationHeads(ulong pages)
    {
        _pages = pages;
        _chunks = new byte[]?[(pages + ChunkMask) >> ChunkShift];
    }

    /// <summary>Bytes held: the chunk table and the chunks in use.</summary>
    public long MetadataBytes
    {
        get
        {
            long bytes = (long)_chunks.Length * IntPtr.Size;
            foreach (byte[]? chunk in _chunks)
            {
                bytes += chunk?.Length ?? 0;
            }

            return bytes;
        }
    }

    /// <summary>Marks page <paramref name="index"/> as the start of an allocation of <paramref name="mobility"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Set(ulong index, MigrateType mobility)
    {
        byte[] chunk = Volatile.Read(ref _chunks[index >> ChunkShift]) ?? Publish(index >> ChunkShift);
        chunk[Slot(chunk, index)] = (byte)((int)mobility + 1);
    }

    /// <summary>Clears the mark of page <paramref name="index"/>; false when there was none.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryClear(ulong index)
    {
        byte[]? chunk = Volatile.Read(ref _chunks[index >> ChunkShift]);
        if (chunk is null)
        {
            return false;
        }

        ref byte mark = ref chunk[Slot(chunk, index)];
        if (mark == 0)
        {
            return false;
        }

        mark = 0;
        return true;
    }

    /// <summary>Whether page <paramref name="index"/> starts a live allocation.</summary>
    public bool IsSet(ulong index) => Mark(index) != 0;

    /// <summary>The mobility of the allocation starting at page <paramref name="index"/>, or null.</summary>
    public MigrateType? MobilityOf(ulong index) => Mark(index) is var m and not 0 ? (MigrateType)(m - 1) : null;

    /// <summary>The number of marks (for validation).</summary>
    public ulong Count()
    {
        ulong count = 0;
        foreach (byte[]? chunk in _chunks)
        {
            if (chunk is not null)
            {
                count += (ulong)(chunk.Length - chunk.AsSpan().Count((byte)0));
            }
        }

        return count;
    }

    private int Mark(ulong index)
    {
        byte[]? chunk = Volatile.Read(ref _chunks[index >> ChunkShift]);
        return chunk is null ? 0 : chunk[Slot(chunk, index)];
    }

    // Where page `index`'s mark lives in its chunk: transposed in a full chunk, in page order in a
    // short last chunk.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Slot(byte[] chunk, ulong index)
    {
        int c = (int)index & ChunkMask;
        return chunk.Length == 1 << ChunkShift ? ((c & 63) << (ChunkShift - 6)) | (c >> 6) : c;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private byte[] Publish(ulong chunkIndex)
    {
        var fresh = new byte[Math.Min(1UL << ChunkShift, _pages - (chunkIndex << ChunkShift))]; // the last chunk may be short
        return Interlocked.CompareExchange(ref _chunks[chunkIndex], fresh, null) ?? fresh;
    }
}
