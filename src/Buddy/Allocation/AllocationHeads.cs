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
// Chunks of 4,096 pages are allocated on first use and reached through a sparse directory, so a
// huge, idle address space costs only its top table (at most 4,096 references, 32 KiB). Up to
// 2^24 pages (4,096 chunks) the top table holds the chunks themselves: the fast path loads one
// chunk reference, as a dense table would. A larger space puts directory levels between the top
// table and the chunks: nodes of 512 references (4 KiB), as few levels as keep the top table at
// 4,096 entries or fewer (one level up to 2^33 pages, three for 2^50), each node allocated on
// first use. Every change is a plain store of a whole stamp: under the allocator's lock, or, on
// the thread caches' fast path, by the one thread whose hands the block is in (the user's, a
// thread cache's, or the allocator's under its lock). Two threads that free the same block at the
// same instant race on its stamp (the caller's data race; a free after a free is always caught).
//
// Nothing is allocated in the middle of an operation: EnsureSpare puts in hand everything one Set
// can need (a chunk and a node for every directory level), EnsureChunk makes a page's whole path
// exist, and every allocation calls Faults.BeforeMetadataAllocation first. A Set that must
// allocate and fails leaves every stamp as it was (directory nodes installed on the way stay,
// empty, as they would after any later Set).
//
// The stamps of a chunk are stored transposed: page c's stamp sits at (c mod 64) * 64 + c / 64,
// so consecutive pages lie 512 bytes apart and the 8 stamps sharing a cache line belong to pages
// 64 apart. Threads refill their caches with runs of neighbouring pages; stored in page order,
// two threads working on neighbouring runs would write the same cache line on every operation
// (false sharing that cost two threads all their scaling). A guard of one cache line before and
// after the stamps keeps the GC's neighbours of a chunk off the first and last lines.
//
// Invariants: a directory node or chunk, once published with a CAS, is never replaced or
// removed; at directory depth d the entries of the top table and of the nodes of levels below d
// are nodes, those of the last level (of the top table when d = 0) are chunks; a page's mark is
// non-zero exactly while a live allocation starts at it; a page whose chunk does not exist has
// stamp 0.
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Buddy;

/// <summary>Allocation-start stamps (mobility and generation), lazily allocated in 4,096-page chunks under a sparse directory.</summary>
/// <remarks>
/// A struct held in a readonly field of its allocator, so that the fast path reaches the top table
/// in one load. Chunks and directory nodes appear through <see cref="Interlocked.CompareExchange{T}(ref T, T, T)"/>.
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
    private const int TopShift = 12;   // the top table holds at most 4,096 entries
    private const int NodeShift = 9;   // a directory node holds 512 entries
    private const int NodeMask = (1 << NodeShift) - 1;
    private static readonly Slot[] s_noFlat = new Slot[1]; // the fast path's table above depth 0: its sentinel only
    private readonly Slot[] _top;      // chunks (depth 0) or level-1 nodes, then a sentinel that stays null
    private readonly Slot[] _flat;     // _top at depth 0, else s_noFlat: the fast path's one table
    private readonly Slot[] _spare;    // [0]: a chunk in hand; [k]: a node in hand for level k (1..depth)
    private readonly int _depth;       // directory levels between the top table and the chunks
    private readonly int _topShift;    // log2 of the pages under one top entry: ChunkShift + NodeShift × depth
    private readonly ulong _firstPfn;  // the page whose stamp is at index 0

    /// <summary>Creates the stamps for the <paramref name="pages"/> pages from <paramref name="firstPfn"/>, all clear.</summary>
    public AllocationHeads(ulong pages, ulong firstPfn = 0)
    {
        _firstPfn = firstPfn;
        ulong chunks = (pages + ChunkMask) >> ChunkShift;
        while (chunks > (1UL << (TopShift + (NodeShift * _depth))))
        {
            _depth++;
        }

        _topShift = ChunkShift + (NodeShift * _depth);
        _top = new Slot[(pages == 0 ? 0 : ((pages - 1) >> _topShift) + 1) + 1];
        _flat = _depth == 0 ? _top : s_noFlat;
        _spare = new Slot[1 + _depth];
    }

    /// <summary>Whether everything one <see cref="Set"/> can need (a chunk and a node per directory level) is in hand.</summary>
    public bool HasSpare
    {
        get
        {
            for (int kind = 0; kind < _spare.Length; kind++)
            {
                if (Volatile.Read(ref _spare[kind].Value) is null)
                {
                    return false;
                }
            }

            return true;
        }
    }

    /// <summary>Puts in hand whatever <see cref="HasSpare"/> finds missing; may throw <see cref="OutOfMemoryException"/> (what was put in hand before stays).</summary>
    public void EnsureSpare()
    {
        for (int kind = 0; kind < _spare.Length; kind++)
        {
            if (Volatile.Read(ref _spare[kind].Value) is null)
            {
                Interlocked.CompareExchange(ref _spare[kind].Value, NewPiece(kind), null);
            }
        }
    }

    /// <summary>Whether page <paramref name="pfn"/>'s chunk exists.</summary>
    public bool HasChunk(ulong pfn) => Find(pfn - _firstPfn) is not null;

    /// <summary>Bytes held: the top table, the directory nodes, the chunks in use and those in hand.</summary>
    public long MetadataBytes
    {
        get
        {
            long bytes = SizeOf(_top);
            foreach (Slot slot in _spare)
            {
                bytes += SizeOf(slot.Value);
            }

            foreach (object piece in Pieces(_top, _depth))
            {
                bytes += SizeOf(piece);
            }

            return bytes;
        }
    }

    /// <summary>Starts an allocation of <paramref name="mobility"/> at page <paramref name="pfn"/>: the next generation, marked; returns its stamp.</summary>
    /// <remarks>Installs the page's chunk (and directory nodes) if missing, from those in hand (<see cref="EnsureSpare"/>) or else the heap.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Set(ulong pfn, MigrateType mobility)
    {
        ulong index = pfn - _firstPfn;
        return FindFlat(index) is { } chunk ? SetIn(chunk, index, mobility) : SetSlow(index, mobility);
    }

    /// <summary>Ends the allocation whose handle carries <paramref name="stamp"/>; false (nothing changes) when no live allocation with that stamp starts at page <paramref name="pfn"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryClear(ulong pfn, ulong stamp)
    {
        ulong index = pfn - _firstPfn;
        return FindFlat(index) is { } chunk ? TryClearIn(chunk, index, stamp) : TryClearSlow(index, stamp);
    }

    /// <summary>Ends whatever live allocation starts at page <paramref name="pfn"/> (a free by address, which carries no stamp); false when none does.</summary>
    public bool TryClear(ulong pfn)
    {
        ulong stamp = StampOf(pfn);
        return (stamp & MarkMask) != 0 && TryClear(pfn, stamp);
    }

    /// <summary>Installs the chunk of page <paramref name="pfn"/> and its directory path now if missing (from those in hand, if any), so that a later <see cref="Set"/> allocates nothing.</summary>
    public void EnsureChunk(ulong pfn)
    {
        ulong index = pfn - _firstPfn;
        if (Find(index) is null)
        {
            Publish(index);
        }
    }

    /// <summary>Whether page <paramref name="pfn"/> starts a live allocation.</summary>
    public bool IsSet(ulong pfn) => (StampOf(pfn) & MarkMask) != 0;

    /// <summary>The stamp of page <paramref name="pfn"/> (0 for a page of a chunk never used).</summary>
    public ulong StampOf(ulong pfn)
    {
        ulong index = pfn - _firstPfn;
        ulong[]? chunk = Find(index);
        return chunk is null ? 0 : Stamp(chunk, index);
    }

    /// <summary>The mobility of the allocation starting at page <paramref name="pfn"/>, or null.</summary>
    public MigrateType? MobilityOf(ulong pfn) => (StampOf(pfn) & MarkMask) is var m and not 0 ? (MigrateType)(m - 1) : null;

    /// <summary>The number of marks (for validation); walks only the chunks that exist.</summary>
    public ulong Count()
    {
        ulong count = 0;
        foreach (object piece in Pieces(_top, _depth))
        {
            if (piece is ulong[] chunk)
            {
                foreach (ulong stamp in chunk)
                {
                    count += (stamp & MarkMask) != 0 ? 1UL : 0UL; // the guards stay zero
                }
            }
        }

        return count;
    }

    /// <summary>
    /// Throws unless the marks are exactly the starts of live allocations: the allocated
    /// <paramref name="units"/> that are no exact run's piece and sit in no thread cache, and the
    /// runs' starts (for validation).
    /// </summary>
    public void Validate(HashSet<ulong> units, HashSet<ulong> pieces, HashSet<ulong> cached, ExactRuns exact)
    {
        ulong expected = (ulong)exact.Count;
        foreach (ulong unit in units)
        {
            bool head = IsSet(unit);
            bool owned = !pieces.Contains(unit) && !cached.Contains(unit);
            bool shouldBe = owned || exact.Contains(unit);
            if (head != shouldBe)
            {
                throw new InvalidOperationException(FormattableString.Invariant($"Invariant broken: the allocation head of pfn 0x{unit:x} is {(head ? "set" : "clear")} but should be {(shouldBe ? "set" : "clear")}."));
            }

            expected += owned ? 1UL : 0UL;
        }

        ulong marks = Count();
        if (marks != expected)
        {
            throw new InvalidOperationException(FormattableString.Invariant($"Invariant broken: {marks} allocation heads are set but {expected} allocations are live."));
        }
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

    // Set in a chunk that exists.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong SetIn(ulong[] chunk, ulong index, MigrateType mobility)
    {
        ref ulong stamp = ref Stamp(chunk, index);
        ulong next = Next(stamp, mobility);
        stamp = next;
        return next;
    }

    // TryClear in a chunk that exists.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryClearIn(ulong[] chunk, ulong index, ulong stamp)
    {
        ref ulong current = ref Stamp(chunk, index);
        if (current != stamp || (stamp & MarkMask) == 0)
        {
            return false;
        }

        current = stamp & ~MarkMask;
        return true;
    }

    // Set where the top table does not hold the chunk: through the directory, installing what is
    // missing. Out of line and called last, so that the inlined fast path keeps nothing live across
    // a call (which would cost it spills to the stack).
    [MethodImpl(MethodImplOptions.NoInlining)]
    private ulong SetSlow(ulong index, MigrateType mobility) => SetIn(Find(index) ?? Publish(index), index, mobility);

    // TryClear where the top table does not hold the chunk (out of line, as SetSlow).
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TryClearSlow(ulong index, ulong stamp) => Find(index) is { } chunk && TryClearIn(chunk, index, stamp);

    // Page `index`'s chunk, or null.
    private ulong[]? Find(ulong index) => FindFlat(index) ?? FindDeep(index);

    // Page `index`'s chunk if the top table holds it, or null: one load up to 2^24 pages. An index
    // beyond the table reads its null sentinel (a conditional move, not a branch), and so does
    // every index of a larger space, whose fast-path table is s_noFlat: both go to the slow path.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong[]? FindFlat(ulong index)
    {
        Slot[] flat = _flat;
        nint i = (nint)Math.Min(index >> ChunkShift, (ulong)flat.Length - 1);
        return Unsafe.As<ulong[]?>(Volatile.Read(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(flat), i).Value));
    }

    // Page `index`'s chunk through the directory levels, or null where the path ends early.
    private ulong[]? FindDeep(ulong index)
    {
        object? entry = Volatile.Read(ref TopSlot(index).Value);
        for (int shift = _topShift - NodeShift; entry is not null && shift >= ChunkShift; shift -= NodeShift)
        {
            entry = Volatile.Read(ref Unsafe.As<Slot[]>(entry)[(index >> shift) & NodeMask].Value);
        }

        return Unsafe.As<ulong[]?>(entry);
    }

    // The top table's entry for page `index`; throws beyond the space (the sentinel is not an entry).
    private ref Slot TopSlot(ulong index)
    {
        ulong i = index >> _topShift;
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(i, (ulong)_top.Length - 1, nameof(index));
        return ref _top[i];
    }

    // Installs whatever is missing on page `index`'s path, from what is in hand or else the heap.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private ulong[] Publish(ulong index)
    {
        ref Slot slot = ref TopSlot(index);
        for (int level = 1, shift = _topShift - NodeShift; level <= _depth; level++, shift -= NodeShift)
        {
            Slot[] node = Unsafe.As<Slot[]>(Volatile.Read(ref slot.Value) ?? Install(ref slot.Value, level));
            slot = ref node[(index >> shift) & NodeMask];
        }

        return Unsafe.As<ulong[]>(Volatile.Read(ref slot.Value) ?? Install(ref slot.Value, 0));
    }

    // Publishes the piece in hand of `kind` (0: a chunk, k: a level-k node), or a new one, into the
    // empty `target`; returns what `target` holds. A piece that loses the race goes back in hand.
    private object Install(ref object? target, int kind)
    {
        object fresh = Interlocked.Exchange(ref _spare[kind].Value, null) ?? NewPiece(kind);
        object? winner = Interlocked.CompareExchange(ref target, fresh, null);
        if (winner is null)
        {
            return fresh;
        }

        Interlocked.CompareExchange(ref _spare[kind].Value, fresh, null);
        return winner;
    }

    // A new chunk (kind 0) or directory node (kind > 0), all clear.
    private static object NewPiece(int kind)
    {
        Faults.BeforeMetadataAllocation();
        return kind == 0 ? new ulong[Guard + (1 << ChunkShift) + Guard] : new Slot[1 << NodeShift];
    }

    // Every node and chunk under `node` (whose entries are `levels` levels above the chunks).
    private static IEnumerable<object> Pieces(Slot[] node, int levels)
    {
        for (int i = 0; i < node.Length; i++)
        {
            object? entry = Volatile.Read(ref node[i].Value);
            if (entry is null)
            {
                continue;
            }

            yield return entry;
            if (levels > 0)
            {
                foreach (object piece in Pieces(Unsafe.As<Slot[]>(entry), levels - 1))
                {
                    yield return piece;
                }
            }
        }
    }

    // Bytes of a table, node or chunk (references and stamps, as allocated).
    private static long SizeOf(object? piece) => piece switch
    {
        ulong[] chunk => (long)chunk.Length * sizeof(ulong),
        Slot[] table => (long)table.Length * IntPtr.Size,
        _ => 0,
    };

    // One entry of the top table, a node or the spare: a struct, so that taking a reference to it
    // needs no array-covariance check (an object?[] element would).
    private struct Slot
    {
        public object? Value;
    }
}
