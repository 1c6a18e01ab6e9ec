// ChunkReserve: the empty bitmap chunks an allocator keeps in hand for all its zones, so that no
// operation has to allocate memory half-way through. An operation first makes sure the reserve
// holds as many chunks as the operation can possibly need (Ensure: this may throw OutOfMemoryException, while
// nothing has changed yet); the bitmaps then take chunks from the reserve instead of the heap.
//
// Why the bound holds: PerOperation is the number of bitmaps of one zone, (max order + 1) × types
// + max order. One elementary step (take a block, give one back) sets at most one free bit and
// one split bit per order, all in the bitmaps of one migrate type. A take that claims a pageblock
// for its type also moves the pageblock's free blocks into that type's bitmaps: at each order they
// are consecutive bits, which may straddle one chunk boundary (a zone need not start on a chunk's
// worth of pages), so at most two chunks more per order. In all at most 3 × (max order + 1) +
// max order chunks, within PerOperation whenever types are kept apart (3), and at most
// 2 × max order + 1 without grouping, where nothing is claimed. Empty chunks come back here (up to
// a cap), which also spares the GC the common split/merge churn.
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

    /// <summary>Drops every chunk (fault-injection tests).</summary>
    public void Clear() => _chunks.Clear();

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
