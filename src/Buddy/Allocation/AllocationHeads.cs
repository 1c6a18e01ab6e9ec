// AllocationHeads: per page, one 64-bit stamp that says whether a live allocation starts there,
// with which mobility, and which allocation it is. A handle (Block) carries the stamp its
// allocation was given; a free checks it, so a second free and a free through a stale handle
// (one whose pages have since gone to another allocation) are refused alike, on the fast path
// as on the slow one, for the price of the old "is a head set" check: one load, one compare, one
// store.
//
// A stamp is (generation << 3) | mark. mark is 0 when no live allocation starts at the page, else
// MigrateType + 1. generation counts the allocations that have started at the page (61 bits): a
// free keeps it and clears the mark; the next allocation there increments it. So a handle's stamp
// matches only its own allocation: at one allocation per nanosecond on one page, the generation
// would take 73 years to wrap (32 bits wrapped in half a minute of a hot loop, measured).
//
// Chunks of 4,096 pages are allocated on first use, so a huge, idle address space costs only its
// chunk table. Every change is a plain store of a whole stamp: under the allocator's lock, or, on
// the thread caches' fast path, by the one thread whose hands the block is in (the user's, a
// thread cache's, or the allocator's under its lock). Two threads that free the same block at the
// same instant race on its stamp (the caller's data race; a free after a free is always caught).
//
// The stamps of a chunk are stored transposed: page c's stamp sits at (c mod 64) * 64 + c / 64,
// so consecutive pages lie 512 bytes apart and the 8 stamps sharing a cache line belong to pages
// 64 apart. Threads refill their caches with runs of neighbouring pages; stored in page order,
// two threads working on neighbouring runs would write the same cache line on every operation
// (false sharing that cost two threads all their scaling). A guard of one cache line before and
// after the stamps keeps the GC's neighbours of a chunk off the first and last lines.
//
// Invariant: a chunk, once published with a CAS, is never replaced; a page's mark is non-zero
// exactly while a live allocation starts at it.
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Buddy.Mobility;

namespace Buddy.Allocation;

/// <summary>Allocation-start stamps (mobility and generation), lazily allocated in 4,096-page chunks.</summary>
/// <remarks>
/// A struct held in a readonly field of its allocator, so that the fast path reaches the chunk
/// table in one load. Chunks appear through <see cref="Interlocked.CompareExchange{T}(ref T, T, T)"/>.
/// Stamps change with plain stores and are thread-safe for distinct pages.
/// </remarks>
internal readonly struct AllocationHeads
{
    /// <summary>The bits of a stamp that hold the mark (MigrateType + 1, or 0).</summary>
    public const ulong MarkMask = 7;

    private const int GenerationShift = 3;
    private const int ChunkShift = 12; // pages per chunk: a 64 × 64 square of stamps
    private const int ChunkMask = (1 << ChunkShift) - 1;
    private const int Guard = 8;       // unused stamps (one cache line) before and after a chunk's
    private readonly ulong[]?[] _chunks;
    private readonly ulong[]?[] _spare; // [0]: a chunk in hand, so that starting an allocation never has to allocate

    /// <summary>Creates the stamps for <paramref name="pages"/> pages, all clear.</summary>
    public AllocationHeads(ulong pages)
    {
        _chunks = new ulong[]?[(pages + ChunkMask) >> ChunkShift];
        _spare = new ulong[]?[1];
    }

    /// <summary>Whether a chunk is in hand for the next page that needs one.</summary>
    public bool HasSpare => Volatile.Read(ref _spare[0]) is not null;

    /// <summary>Puts a chunk in hand if there is none; may throw <see cref="OutOfMemoryException"/> (nothing else changes).</summary>
    public void EnsureSpare()
    {
        if (Volatile.Read(ref _spare[0]) is null)
        {
            Interlocked.CompareExchange(ref _spare[0], NewChunk(), null);
        }
    }

    /// <summary>Whether page <paramref name="index"/>'s chunk exists.</summary>
    public bool HasChunk(ulong index) => Volatile.Read(ref _chunks[index >> ChunkShift]) is not null;

    /// <summary>Bytes held: the chunk table and the chunks in use.</summary>
    public long MetadataBytes
    {
        get
        {
            long bytes = ((long)_chunks.Length * IntPtr.Size) + ((long)(_spare[0]?.Length ?? 0) * sizeof(ulong));
            foreach (ulong[]? chunk in _chunks)
            {
                bytes += (long)(chunk?.Length ?? 0) * sizeof(ulong);
            }

            return bytes;
        }
    }

    /// <summary>Starts an allocation of <paramref name="mobility"/> at page <paramref name="index"/>: the next generation, marked; returns its stamp.</summary>
    /// <remarks>Installs the page's chunk if it is missing, from the chunk in hand (<see cref="EnsureSpare"/>) or else the heap.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Set(ulong index, MigrateType mobility)
    {
        ulong[] chunk = Volatile.Read(ref _chunks[index >> ChunkShift]) ?? Publish(index >> ChunkShift);
        ref ulong stamp = ref Stamp(chunk, index);
        ulong next = Next(stamp, mobility);
        stamp = next;
        return next;
    }

    /// <summary>Ends the allocation whose handle carries <paramref name="stamp"/>; false (nothing changes) when no live allocation with that stamp starts at page <paramref name="index"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryClear(ulong index, ulong stamp)
    {
        ulong[]? chunk = Volatile.Read(ref _chunks[index >> ChunkShift]);
        if (chunk is null)
        {
            return false;
        }

        ref ulong current = ref Stamp(chunk, index);
        if (current != stamp || (stamp & MarkMask) == 0)
        {
            return false;
        }

        current = stamp & ~MarkMask;
        return true;
    }

    /// <summary>Ends whatever live allocation starts at page <paramref name="index"/> (a free by address, which carries no stamp); false when none does.</summary>
    public bool TryClear(ulong index)
    {
        ulong stamp = StampOf(index);
        return (stamp & MarkMask) != 0 && TryClear(index, stamp);
    }

    /// <summary>Installs the chunk of page <paramref name="index"/> now if it is missing (from the chunk in hand, if any), so that a later <see cref="Set"/> allocates nothing.</summary>
    public void EnsureChunk(ulong index)
    {
        if (Volatile.Read(ref _chunks[index >> ChunkShift]) is null)
        {
            Publish(index >> ChunkShift);
        }
    }

    /// <summary>Whether page <paramref name="index"/> starts a live allocation.</summary>
    public bool IsSet(ulong index) => (StampOf(index) & MarkMask) != 0;

    /// <summary>The stamp of page <paramref name="index"/> (0 for a page of a chunk never used).</summary>
    public ulong StampOf(ulong index)
    {
        ulong[]? chunk = Volatile.Read(ref _chunks[index >> ChunkShift]);
        return chunk is null ? 0 : Stamp(chunk, index);
    }

    /// <summary>The mobility of the allocation starting at page <paramref name="index"/>, or null.</summary>
    public MigrateType? MobilityOf(ulong index) => (StampOf(index) & MarkMask) is var m and not 0 ? (MigrateType)(m - 1) : null;

    /// <summary>The number of marks (for validation).</summary>
    public ulong Count()
    {
        ulong count = 0;
        foreach (ulong[]? chunk in _chunks)
        {
            if (chunk is null)
            {
                continue;
            }

            foreach (ulong stamp in chunk)
            {
                count += (stamp & MarkMask) != 0 ? 1UL : 0UL; // the guards stay zero
            }
        }

        return count;
    }

    // The stamp after `stamp` for an allocation of `mobility`: one more generation, marked.
    private static ulong Next(ulong stamp, MigrateType mobility) =>
        (((stamp >> GenerationShift) + 1) << GenerationShift) | ((ulong)mobility + 1);

    // Page `index`'s stamp: transposed after the guard (see the file comment). Every chunk has
    // exactly the size the layout needs and the offset is below it, so no bounds check is needed.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref ulong Stamp(ulong[] chunk, ulong index)
    {
        nuint offset = (nuint)(Guard + ((((uint)index & 63) << 6) | (((uint)index & ChunkMask) >> 6)));
        Debug.Assert(offset < (nuint)chunk.Length);
        return ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(chunk), offset);
    }

    // Installs the chunk in hand (or, where none was put in hand, a new one) for chunkIndex.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private ulong[] Publish(ulong chunkIndex)
    {
        ulong[] fresh = Interlocked.Exchange(ref _spare[0], null) ?? NewChunk();
        return Interlocked.CompareExchange(ref _chunks[chunkIndex], fresh, null) ?? fresh;
    }

    private static ulong[] NewChunk()
    {
        Faults.BeforeMetadataAllocation();
        return new ulong[Guard + (1 << ChunkShift) + Guard];
    }
}
