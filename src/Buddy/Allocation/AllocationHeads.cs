// AllocationHeads: per page, a mark that says "a live allocation starts here, with this mobility"
// (0: none; else MigrateType + 1), in chunks allocated on first use so that a huge, idle address
// space costs only its chunk table. Two layouts, chosen once per allocator:
//
// - Packed (no thread caches): two bits per page, four pages to a byte. Every change happens
//   under the allocator's lock, so a plain read-modify-write of the byte is safe.
// - Concurrent (thread caches): one byte per page. The fast path sets and clears marks without
//   the lock, from several threads at once; a byte store never disturbs its neighbours, so each
//   thread marks its own block with a plain store (bits sharing a byte would need an atomic
//   read-modify-write, which costs more than the rest of the fast path and does not scale). A
//   mark changes only while its block is in one thread's hands: the user's, a thread cache's, or
//   the allocator's under its lock. Two threads that free the same block at the same instant race
//   on its mark (the caller's data race; a free after a free is always caught).
//
//   The bytes of a chunk are stored transposed: page c's byte sits at (c mod 64) * 64 + c / 64,
//   so consecutive pages lie 64 bytes apart and the 64 marks sharing a cache line belong to pages
//   64 apart. Threads refill their caches with runs of neighbouring pages; stored in page order,
//   two threads working on neighbouring runs would write the same cache line on every operation
//   (false sharing that cost two threads all their scaling). A guard of one cache line before and
//   after the marks keeps the GC's neighbours of a chunk off the first and last lines of marks.
//
// Invariant: a chunk, once published with a CAS, is never replaced; a page's mark is non-zero
// exactly while a live allocation starts at it.
using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Buddy.Mobility;

namespace Buddy.Allocation;

/// <summary>Allocation-start marks with their mobility, lazily allocated in 4,096-page chunks: two bits per page, or one byte per page when marks change without the lock.</summary>
/// <remarks>
/// A struct held in a readonly field of its allocator, so that the fast path reaches the chunk
/// table in one load. Chunks appear through <see cref="Interlocked.CompareExchange{T}(ref T, T, T)"/>.
/// Packed marks change only under the allocator's lock; concurrent marks change with plain byte
/// stores and are thread-safe for distinct pages.
/// </remarks>
internal readonly struct AllocationHeads
{
    private const int ChunkShift = 12; // pages per chunk: a 64 × 64 square of concurrent marks
    private const int ChunkMask = (1 << ChunkShift) - 1;
    private const int Guard = 64;      // concurrent chunks: unused bytes before and after the marks
    private readonly byte[]?[] _chunks;
    private readonly bool _concurrent;

    /// <summary>Creates the marks for <paramref name="pages"/> pages, all clear; <paramref name="concurrent"/> for a byte per page that threads may change without the lock.</summary>
    public AllocationHeads(ulong pages, bool concurrent)
    {
        _chunks = new byte[]?[(pages + ChunkMask) >> ChunkShift];
        _concurrent = concurrent;
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
        int mark = (int)mobility + 1;
        if (_concurrent)
        {
            Byte(chunk, index) = (byte)mark;
        }
        else
        {
            ref byte packed = ref Byte(chunk, index);
            int shift = Shift(index);
            packed = (byte)((packed & ~(3 << shift)) | (mark << shift));
        }
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

        ref byte b = ref Byte(chunk, index);
        if (_concurrent)
        {
            if (b == 0)
            {
                return false;
            }

            b = 0;
            return true;
        }

        int shift = Shift(index);
        if (((b >> shift) & 3) == 0)
        {
            return false;
        }

        b = (byte)(b & ~(3 << shift));
        return true;
    }

    /// <summary>Concurrent layout only (the thread caches' fast path): <see cref="Set"/> as one plain byte store.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetConcurrent(ulong index, MigrateType mobility)
    {
        Debug.Assert(_concurrent);
        byte[] chunk = Volatile.Read(ref _chunks[index >> ChunkShift]) ?? Publish(index >> ChunkShift);
        ConcurrentByte(chunk, index) = (byte)((int)mobility + 1);
    }

    /// <summary>Concurrent layout only (the thread caches' fast path): <see cref="TryClear"/> as one plain load and store.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryClearConcurrent(ulong index)
    {
        Debug.Assert(_concurrent);
        byte[]? chunk = Volatile.Read(ref _chunks[index >> ChunkShift]);
        if (chunk is null)
        {
            return false;
        }

        ref byte mark = ref ConcurrentByte(chunk, index);
        if (mark == 0)
        {
            return false;
        }

        mark = 0;
        return true;
    }

    /// <summary>Allocates the chunk of page <paramref name="index"/> now if it is missing, so that a later <see cref="SetConcurrent"/> allocates nothing.</summary>
    public void EnsureChunk(ulong index)
    {
        if (Volatile.Read(ref _chunks[index >> ChunkShift]) is null)
        {
            Publish(index >> ChunkShift);
        }
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
            if (chunk is null)
            {
                continue;
            }

            if (_concurrent)
            {
                count += (ulong)(chunk.Length - chunk.AsSpan().Count((byte)0)); // the guards stay zero
                continue;
            }

            foreach (byte b in chunk)
            {
                // A field is non-zero when either of its two bits is set.
                count += (ulong)BitOperations.PopCount((uint)((b | (b >> 1)) & 0x55));
            }
        }

        return count;
    }

    private int MarkOf(ulong index)
    {
        byte[]? chunk = Volatile.Read(ref _chunks[index >> ChunkShift]);
        return chunk is null ? 0 : _concurrent ? Byte(chunk, index) : (Byte(chunk, index) >> Shift(index)) & 3;
    }

    // Packed: where page `index`'s two bits sit in its byte.
    private static int Shift(ulong index) => (int)(index & 3) * 2;

    // The byte holding page `index`'s mark: transposed after the guard in a concurrent chunk
    // (see the file comment), index / 4 in a packed one. Every chunk has exactly the size its
    // layout needs and the offset is below it, so no bounds check is needed.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref byte Byte(byte[] chunk, ulong index)
    {
        if (_concurrent)
        {
            return ref ConcurrentByte(chunk, index);
        }

        nuint offset = (nuint)(((uint)index & ChunkMask) >> 2);
        Debug.Assert(offset < (nuint)chunk.Length);
        return ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(chunk), offset);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref byte ConcurrentByte(byte[] chunk, ulong index)
    {
        nuint offset = (nuint)(Guard + ((((uint)index & 63) << 6) | (((uint)index & ChunkMask) >> 6)));
        Debug.Assert(offset < (nuint)chunk.Length);
        return ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(chunk), offset);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private byte[] Publish(ulong chunkIndex)
    {
        var fresh = new byte[_concurrent ? Guard + (1 << ChunkShift) + Guard : (1 << ChunkShift) / 4];
        return Interlocked.CompareExchange(ref _chunks[chunkIndex], fresh, null) ?? fresh;
    }
}
