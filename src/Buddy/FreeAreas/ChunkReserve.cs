// ChunkReserve: the empty bitmap chunks an allocator keeps in hand for all its zones, so that no
// operation has to allocate memory half-way through. An operation first makes sure the reserve
// holds as many chunks as the operation can possibly need (Ensure: this may throw OutOfMemoryException, while
// nothing has changed yet); the bitmaps then take chunks from the reserve instead of the heap.
//
// Why the bound holds: one elementary zone operation (take a block, give one back, move a
// pageblock's free blocks to another type) sets at most one bit region per bitmap that can need a
// new chunk — a block and all its buddies lie in one naturally aligned max-order block, whose bits
// at any order fit one 4,096-bit chunk when max order is at most 12, and a pageblock's free blocks
// likewise — so it needs at most one chunk per bitmap of the zone. Empty chunks come back here
// (up to a cap), which also spares the GC the common split/merge churn.
//
// Invariants: every chunk held is all zeros; Count <= the cap after Trim.
using Buddy.Allocation;

namespace Buddy.FreeAreas;

/// <summary>A stack of zeroed 64-word chunks shared by the bitmaps of an allocator's zones.</summary>
internal sealed class ChunkReserve
{
    /// <summary>Words per chunk.</summary>
    public const int ChunkWords = 64;

    private readonly Stack<ulong[]> _chunks;

    /// <summary>Creates an empty reserve for operations that need at most <paramref name="perOperation"/> chunks each.</summary>
    public ChunkReserve(int perOperation)
    {
        PerOperation = perOperation;
        _chunks = new Stack<ulong[]>(Cap); // Give never grows it, so never allocates
    }

    /// <summary>The most chunks one elementary operation can need.</summary>
    public int PerOperation { get; }

    /// <summary>How many returned chunks the reserve keeps: two operations' worth.</summary>
    public int Cap => 2 * (PerOperation + 1);

    /// <summary>Chunks in hand.</summary>
    public int Count => _chunks.Count;

    /// <summary>Bytes held.</summary>
    public long Bytes => (long)_chunks.Count * ChunkWords * sizeof(ulong);

    /// <summary>Makes sure at least <paramref name="count"/> chunks are in hand; may throw <see cref="OutOfMemoryException"/>, with nothing else changed.</summary>
    public void Ensure(int count)
    {
        if (_chunks.Count >= count)
        {
            return;
        }

        _chunks.EnsureCapacity(count);
        while (_chunks.Count < count)
        {
            _chunks.Push(NewChunk());
        }
    }

    /// <summary>A zeroed chunk: from the reserve, or (when an operation was not reserved for) from the heap.</summary>
    public ulong[] Take() => _chunks.TryPop(out ulong[]? chunk) ? chunk : NewChunk();

    /// <summary>Makes sure one elementary take and one give-back can run without allocating.</summary>
    public void EnsureOperation() => Ensure(PerOperation + 1);

    /// <summary>Takes back an all-zero chunk, keeping at most <see cref="Cap"/>.</summary>
    public void Give(ulong[] chunk)
    {
        if (_chunks.Count < Cap)
        {
            _chunks.Push(chunk);
        }
    }

    /// <summary>Drops chunks above <see cref="Cap"/> (after an operation that reserved many).</summary>
    public void Trim()
    {
        while (_chunks.Count > Cap)
        {
            _chunks.Pop();
        }
    }

    private static ulong[] NewChunk()
    {
        Faults.BeforeMetadataAllocation();
        return new ulong[ChunkWords];
    }
}
