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
// Within a chunk the marks are stored transposed: page c's byte sits at (c mod 64) * 64 + c / 64,
// so consecutive pages lie 64 bytes apart and the 64 marks sharing a cache line belong to pages
// 64 apart. Threads refill their caches with runs of neighbouring pages; stored in page
// order, two threads working on neighbouring runs would write the same cache line on every
// operation (false sharing that cost two threads all their scaling in `buddy bench`). A guard of
// one cache line before and after the marks keeps the GC's neighbours of a chunk (another
// thread's objects) off the first and last lines of marks.
//
// Invariant: a chunk, once published with a CAS, is never replaced; a page's byte is non-zero
// exactly while a live allocation starts at it.
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Buddy.Mobility;

namespace Buddy.Allocation;

/// <summary>Allocation-start marks with their mobility, one byte per page, lazily allocated in 4,096-page chunks.</summary>
/// <remarks>
/// A struct held in a readonly field of its allocator, so that the fast path reaches the chunk
/// table in one load. Thread-safe for distinct pages: chunks appear through
/// <see cref="Interlocked.CompareExchange{T}(ref T, T, T)"/>, marks change with plain byte stores.
/// </remarks>
internal readonly struct AllocationHeads
{
    private const int ChunkShift = 12; // pages per chunk: a 64 × 64 square of marks
    private const int ChunkMask = (1 << ChunkShift) - 1;
    private const int Guard = 64;      // unused bytes before and after a chunk's marks: whatever the GC puts next to a chunk never shares a cache line with a mark
    private readonly byte[]?[] _chunks;

    /// <summary>Creates the marks for <paramref name="pages"/> pages, all clear.</summary>
    public AllocationHeads(ulong pages) => _chunks = new byte[]?[(pages + ChunkMask) >> ChunkShift];

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
        Mark(chunk, index) = (byte)((int)mobility + 1);
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

        ref byte mark = ref Mark(chunk, index);
        if (mark == 0)
        {
            return false;
        }

        mark = 0;
        return true;
    }

    /// <summary>Whether page <paramref name="index"/> starts a live allocation.</summary>
    public bool IsSet(ulong index) => MarkOf(index) != 0;

    /// <summary>The mobility of the allocation starting at page <paramref name="index"/>, or null.</summary>
    public MigrateType? MobilityOf(ulong index) => MarkOf(index) is var m and not 0 ? (MigrateType)(m - 1) : null;

    /// <summary>The number of marks (for validation).</summary>
    public ulong Count()
    {
        ulong count = 0;
        foreach (byte[]? chunk in _chunks)
        {
            if (chunk is not null)
            {
                count += (ulong)(chunk.Length - chunk.AsSpan().Count((byte)0)); // the guards stay zero
            }
        }

        return count;
    }

    private int MarkOf(ulong index)
    {
        byte[]? chunk = Volatile.Read(ref _chunks[index >> ChunkShift]);
        return chunk is null ? 0 : Mark(chunk, index);
    }

    // Page `index`'s mark in its chunk, transposed (see the file comment). Every chunk holds
    // exactly 1 << ChunkShift marks after its guard and the slot is below that, so no bounds check is needed.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref byte Mark(byte[] chunk, ulong index)
    {
        Debug.Assert(chunk.Length == Guard + (1 << ChunkShift) + Guard);
        nuint slot = (nuint)(Guard + ((((uint)index & 63) << 6) | (((uint)index & ChunkMask) >> 6)));
        return ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(chunk), slot);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private byte[] Publish(ulong chunkIndex)
    {
        var fresh = new byte[Guard + (1 << ChunkShift) + Guard];
        return Interlocked.CompareExchange(ref _chunks[chunkIndex], fresh, null) ?? fresh;
    }
}
