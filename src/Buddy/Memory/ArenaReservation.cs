// ArenaReservation: a native arena's address range as a grid of chunks, and the operating-system
// calls that reserve, commit, give back and release it. The arena reserves its whole maximum as
// address space only, commits a chunk when a rental first lands in it, and gives free chunks
// back (ArenaGiveBack decides which and when; this class does the call and the bookkeeping).
//
// Per chunk c (ChunkBytes: the largest block, clamped to 64 KiB..2 MiB and to at least a page;
// the last chunk may be short) two bits:
// - Committed(c): the chunk is readable and writable. Set only under _commitLock, after the OS
//   call succeeded. Cleared only by a Windows decommit (give-back) of a wholly free chunk, under
//   the allocator's lock, and never once moves are possible (see NoteMovesPossible).
// - Resident(c): a rental has used the chunk since its commit or its last give-back (so it may
//   hold pages). Resident implies Committed. Set (atomically) under _commitLock by a thread that
//   holds an allocated block in c, after the commit; cleared (atomically) only by the give-back,
//   under the allocator's lock, while c lies wholly in free blocks.
// Hence a chunk that holds an allocated block is never given back, and the rent path's bit test
// (IsResident, no lock) can trust a set bit: it was set after the commit, and it cannot be cleared
// while the tester holds its block. A clear bit sends the renter to TryMakeResident.
// - Checked mode: OnResident clears the poison flags of a chunk before it turns resident, so a
//   given-back page (zeros) is not mistaken for a write after free.
// - CommittedBytes and ResidentBytes are the byte sums of the two bitmaps.
// - A failed commit changes no Resident bit: chunks committed before the failure in the same call
//   stay committed (and are counted), nothing else changed; the caller gives its block back.
// Locks: _commitLock may be held while OnResident takes the arena's poison lock; nothing holds
// the allocator's lock while it waits for _commitLock (the give-back never takes it).
//
// Per OS. Linux: mmap PROT_NONE with MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE, commit = mprotect
// RW, give back = madvise(MADV_DONTNEED) (the chunk stays RW; it reads zeros and faults pages in
// on write), release = munmap. macOS: the same with macOS's MAP_ANON and madvise(MADV_FREE) (the
// pages keep their contents until the kernel takes them). Windows: VirtualAlloc MEM_RESERVE
// (re-reserved at an aligned address when the alignment exceeds the 64 KiB granularity), commit =
// MEM_COMMIT, give back = VirtualFree MEM_DECOMMIT (recommitted by the next rent) — or MEM_RESET
// once moves are possible, since a move may land in any free chunk without a rent — and release =
// MEM_RELEASE. Elsewhere (e.g. FreeBSD): NativeMemory.AlignedAlloc of the whole size, counted as
// committed and resident, never given back. Only the Linux paths run in CI.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Buddy.Memory;

/// <summary>How an arena's memory was obtained, and so how it is committed, given back and released.</summary>
internal enum ArenaMapping
{
    /// <summary>mmap (Linux, macOS).</summary>
    Mmap,

    /// <summary>VirtualAlloc (Windows).</summary>
    Windows,

    /// <summary>NativeMemory.AlignedAlloc (other systems): committed from the start, never given back.</summary>
    Heap,
}

/// <summary>The chunk grid of a native arena: what is committed and what is resident, and the OS calls behind them.</summary>
/// <remarks>
/// Linux reserves with mmap PROT_NONE and MAP_NORESERVE, commits with mprotect and gives back with
/// madvise(MADV_DONTNEED); macOS the same with MADV_FREE; Windows with VirtualAlloc MEM_RESERVE,
/// MEM_COMMIT and VirtualFree MEM_DECOMMIT. Other systems fall back to one aligned heap allocation
/// that is committed and resident from the start and never given back. Thread-safe.
/// </remarks>
internal sealed class ArenaReservation
{
    /// <summary>The largest chunk: the x86-64 huge page, so a chunk committed with THP advice can be one huge page.</summary>
    public const ulong MaxChunkBytes = 2 * Units.MiB;

    /// <summary>The smallest chunk: an arena of tiny blocks must not split its mapping into one VMA per page (vm.max_map_count).</summary>
    public const ulong MinChunkBytes = 64 * Units.KiB;

    private readonly ArenaHandle _handle;
    private readonly ArenaMapping _mapping;
    private readonly ulong _base;
    private readonly ulong _size;
    private readonly ulong _chunkBytes;
    private readonly int _chunkShift;
    private readonly ulong _basePfn;     // the rent path's check works in pages: no shifts from pfn to address
    private readonly ulong _chunkPages;
    private readonly int _chunkPageShift;
    private readonly long _chunks;
    private readonly ulong[] _committed;
    private readonly ulong[] _resident;
    private readonly Lock _commitLock = new();
    private long _committedBytes;
    private long _residentBytes;
    private bool _allCommitted;          // under _commitLock
    private volatile bool _movesPossible; // set under the allocator's lock; read by the give-back under it

    /// <summary>Makes the grid of a fresh reservation: nothing committed, nothing resident (a heap fallback: everything both).</summary>
    public ArenaReservation(ArenaHandle handle, ulong start, ulong size, ulong chunkBytes, int pageShift, int allocatorId)
    {
        _handle = handle;
        ArenaMapping mapping = _mapping = handle.Mapping;
        _base = start;
        _size = size;
        _chunkBytes = chunkBytes;
        _chunkShift = BitOperations.Log2(chunkBytes);
        _basePfn = start >> pageShift;
        _chunkPageShift = _chunkShift - pageShift; // a chunk holds whole pages (ChunkBytesFor)
        _chunkPages = 1UL << _chunkPageShift;
        _chunks = (long)((size + chunkBytes - 1) >> _chunkShift);
        long words = (_chunks + 63) >> 6;
        if (words > Array.MaxLength)
        {
            throw new InsufficientMemoryException($"An arena of {size} bytes has {_chunks} chunks of {chunkBytes} bytes, more than one bitmap can count.");
        }

        _committed = new ulong[words];
        _resident = new ulong[words];
        AllocatorId = allocatorId;
        if (mapping == ArenaMapping.Heap)
        {
            _allCommitted = true;
            _movesPossible = true;
            SetAll(_committed, ref _committedBytes);
            SetAll(_resident, ref _residentBytes);
        }
    }

    /// <summary>Checked mode: called under the commit lock with a chunk's range just before it turns resident.</summary>
    public Action<ulong, ulong>? OnResident { get; set; }

    /// <summary>The number of the arena's allocator (the "allocator" tag of the metrics).</summary>
    public int AllocatorId { get; }

    /// <summary>Whether the memory was unmapped (the arena disposed and its last rental returned).</summary>
    public bool IsReleased => _handle.IsReleased;

    /// <summary>The bytes of one chunk (the last may be shorter).</summary>
    public ulong ChunkBytes => _chunkBytes;

    /// <summary>Whether free chunks can be given back (not for the heap fallback).</summary>
    public bool CanGiveBack => _mapping != ArenaMapping.Heap;

    /// <summary>Bytes committed (readable and writable).</summary>
    public ulong CommittedBytes => (ulong)Volatile.Read(ref _committedBytes);

    /// <summary>Bytes of chunks a rental used since their commit or last give-back.</summary>
    public ulong ResidentBytes => (ulong)Volatile.Read(ref _residentBytes);

    /// <summary>The chunk size of an arena: its largest block (or its alignment, when smaller), clamped to [max(64 KiB, page, OS page), max(2 MiB, that)].</summary>
    public static ulong ChunkBytesFor(ulong pageSize, ulong largestBlock, ulong alignment)
    {
        ulong lower = Math.Max(Math.Max(pageSize, (ulong)Environment.SystemPageSize), MinChunkBytes);
        ulong upper = Math.Max(MaxChunkBytes, lower);
        return Math.Clamp(Math.Min(largestBlock, alignment), lower, upper);
    }

    /// <summary>The rent path's check: whether every chunk of the <paramref name="pages"/> pages at <paramref name="pfn"/> is resident (one bit test for a block no larger than a chunk).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsResident(ulong pfn, ulong pages)
    {
        ulong chunk = (pfn - _basePfn) >> _chunkPageShift;
        return pages <= _chunkPages // a naturally aligned block no larger than a chunk lies in one
            ? (Volatile.Read(ref _resident[(int)(chunk >> 6)]) & (1UL << (int)chunk)) != 0
            : AllResident((long)chunk, (long)((pfn + pages - 1 - _basePfn) >> _chunkPageShift));
    }

    /// <summary>
    /// Commits the chunks of the block at <paramref name="address"/> that are not committed and marks
    /// them all resident. The caller holds the block. False (and <paramref name="error"/>) when the
    /// OS refuses a commit: then no chunk turned resident.
    /// </summary>
    public bool TryMakeResident(ulong address, ulong size, out string? error)
    {
        long first = ChunkOf(address), last = ChunkOf(address + size - 1);
        lock (_commitLock)
        {
            for (long c = first; c <= last; c++)
            {
                if (!Test(_committed, c))
                {
                    (ulong start, ulong length) = RangeOf(c);
                    if (!Commit(start, length, out error))
                    {
                        return false;
                    }

                    Set(_committed, c);
                    Interlocked.Add(ref _committedBytes, (long)length);
                }
            }

            for (long c = first; c <= last; c++)
            {
                if (!Test(_resident, c))
                {
                    (ulong start, ulong length) = RangeOf(c);
                    OnResident?.Invoke(start, length);
                    Set(_resident, c);
                    Interlocked.Add(ref _residentBytes, (long)length);
                }
            }
        }

        error = null;
        return true;
    }

    /// <summary>Commits the whole reservation (once); false and <paramref name="error"/> when the OS refuses (nothing changed).</summary>
    public bool TryCommitAll(out string? error)
    {
        lock (_commitLock)
        {
            error = null;
            if (_allCommitted)
            {
                return true;
            }

            if (!Commit(_base, _size, out error))
            {
                return false;
            }

            _allCommitted = true;
            SetAll(_committed, ref _committedBytes);
            return true;
        }
    }

    /// <summary>Whether the whole reservation is committed.</summary>
    public bool AllCommitted
    {
        get
        {
            lock (_commitLock)
            {
                return _allCommitted;
            }
        }
    }

    /// <summary>Marks every chunk resident (a locked arena: mlock faulted everything in).</summary>
    public void MarkAllResident()
    {
        lock (_commitLock)
        {
            SetAll(_resident, ref _residentBytes);
        }
    }

    /// <summary>
    /// From now on blocks may move into any free chunk without a rent, so a give-back must leave
    /// chunks committed (Windows resets instead of decommitting). Call under the allocator's lock,
    /// before committing everything: a give-back that read the old value has finished by then.
    /// </summary>
    public void NoteMovesPossible() => _movesPossible = true;

    /// <summary>The first resident chunk at or after <paramref name="from"/>; -1 when none.</summary>
    public long NextResident(long from)
    {
        for (long w = from >> 6; w < _resident.Length && from < _chunks; w++)
        {
            ulong bits = Volatile.Read(ref _resident[w]);
            if (w == from >> 6)
            {
                bits &= ~0UL << (int)(from & 63);
            }

            if (bits != 0)
            {
                return (w << 6) + BitOperations.TrailingZeroCount(bits);
            }
        }

        return -1;
    }

    /// <summary>The address and length of chunk <paramref name="chunk"/>.</summary>
    public (ulong Start, ulong Length) RangeOf(long chunk)
    {
        ulong offset = (ulong)chunk << _chunkShift;
        return (_base + offset, Math.Min(_chunkBytes, _size - offset));
    }

    /// <summary>
    /// Gives a resident chunk's memory back to the OS and marks it not resident. Call under the
    /// allocator's lock, with the chunk wholly in free blocks. False and <paramref name="error"/>
    /// when the OS refuses (the chunk stays resident).
    /// </summary>
    public bool TryGiveBack(long chunk, out ulong bytes, out string? error)
    {
        (ulong start, ulong length) = RangeOf(chunk);
        bytes = 0;
        error = null;
        bool decommitted = false;
        switch (_mapping)
        {
            case ArenaMapping.Mmap:
                int advice = OperatingSystem.IsMacOS() ? NativeMethods.MacMadvFree : NativeMethods.MadvDontNeed;
                if (NativeMethods.Madvise((nint)start, (nuint)length, advice) != 0)
                {
                    error = $"madvise of {length} bytes at 0x{start:x} failed: {Marshal.GetLastPInvokeErrorMessage()}";
                    return false;
                }

                break;
            case ArenaMapping.Windows when _movesPossible:
                if (NativeMethods.VirtualAlloc((nint)start, (nuint)length, NativeMethods.WinMemReset, NativeMethods.WinPageReadWrite) == 0)
                {
                    error = $"VirtualAlloc(MEM_RESET) of {length} bytes at 0x{start:x} failed: {Marshal.GetLastPInvokeErrorMessage()}";
                    return false;
                }

                break;
            case ArenaMapping.Windows:
                if (NativeMethods.VirtualFree((nint)start, (nuint)length, NativeMethods.WinMemDecommit) == 0)
                {
                    error = $"VirtualFree(MEM_DECOMMIT) of {length} bytes at 0x{start:x} failed: {Marshal.GetLastPInvokeErrorMessage()}";
                    return false;
                }

                decommitted = true;
                break;
            default:
                error = "this system's arenas are heap allocations, which cannot be given back";
                return false;
        }

        if (decommitted)
        {
            Clear(_committed, chunk);
            Interlocked.Add(ref _committedBytes, -(long)length);
        }

        Clear(_resident, chunk);
        Interlocked.Add(ref _residentBytes, -(long)length);
        bytes = length;
        return true;
    }

    /// <summary>Reserves <paramref name="length"/> bytes of address space aligned to <paramref name="alignment"/> (a power of two); nothing is committed.</summary>
    /// <exception cref="InsufficientMemoryException">The address space cannot be reserved; the message says why.</exception>
    public static unsafe nint Reserve(nuint length, nuint alignment, out ArenaMapping mapping)
    {
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
        {
            mapping = ArenaMapping.Mmap;
            int flags = OperatingSystem.IsLinux()
                ? NativeMethods.MapPrivate | NativeMethods.MapAnonymous | NativeMethods.MapNoReserve
                : NativeMethods.MapPrivate | NativeMethods.MacMapAnonymous;

            // Over-reserve by the alignment, then give back the unaligned head and the tail.
            nuint reserve = length + alignment;
            nint raw = NativeMethods.Mmap(0, reserve, NativeMethods.ProtNone, flags, -1, 0);
            if (raw == NativeMethods.MapFailed)
            {
                throw new InsufficientMemoryException($"mmap of {reserve} bytes of address space failed: {Marshal.GetLastPInvokeErrorMessage()}");
            }

            nuint start = ((nuint)raw + alignment - 1) & ~(alignment - 1);
            nuint head = start - (nuint)raw;
            nuint tail = reserve - head - length;
            if (head > 0)
            {
                NativeMethods.Munmap(raw, head);
            }

            if (tail > 0)
            {
                NativeMethods.Munmap((nint)(start + length), tail);
            }

            return (nint)start;
        }

        if (OperatingSystem.IsWindows())
        {
            mapping = ArenaMapping.Windows;
            return ReserveOnWindows(length, alignment);
        }

        mapping = ArenaMapping.Heap;
        void* p = NativeMemory.AlignedAlloc(length, alignment);
        if (p == null)
        {
            throw new InsufficientMemoryException($"NativeMemory.AlignedAlloc of {length} bytes aligned to {alignment} failed.");
        }

        return (nint)p;
    }

    /// <summary>Gives the whole reservation back to the OS (once, when the last rental is returned).</summary>
    public static unsafe bool Release(nint address, nuint length, ArenaMapping mapping) => mapping switch
    {
        ArenaMapping.Mmap => NativeMethods.Munmap(address, length) == 0,
        ArenaMapping.Windows => NativeMethods.VirtualFree(address, 0, NativeMethods.WinMemRelease) != 0,
        _ => FreeHeap(address),
    };

    private static unsafe bool FreeHeap(nint address)
    {
        NativeMemory.AlignedFree((void*)address);
        return true;
    }

    // VirtualAlloc aligns a reservation to 64 KiB only: reserve enough to find an aligned start,
    // release it and reserve again exactly there (another thread may take the place between; retry).
    private static nint ReserveOnWindows(nuint length, nuint alignment)
    {
        const nuint Granularity = 64 * 1024;
        if (alignment <= Granularity)
        {
            nint p = NativeMethods.VirtualAlloc(0, length, NativeMethods.WinMemReserve, NativeMethods.WinPageNoAccess);
            return p != 0 ? p : throw ReserveFailed(length);
        }

        for (int attempt = 0; attempt < 16; attempt++)
        {
            nint raw = NativeMethods.VirtualAlloc(0, length + alignment, NativeMethods.WinMemReserve, NativeMethods.WinPageNoAccess);
            if (raw == 0)
            {
                throw ReserveFailed(length + alignment);
            }

            nuint start = ((nuint)raw + alignment - 1) & ~(alignment - 1);
            NativeMethods.VirtualFree(raw, 0, NativeMethods.WinMemRelease);
            nint p = NativeMethods.VirtualAlloc((nint)start, length, NativeMethods.WinMemReserve, NativeMethods.WinPageNoAccess);
            if (p == (nint)start)
            {
                return p;
            }

            if (p != 0)
            {
                NativeMethods.VirtualFree(p, 0, NativeMethods.WinMemRelease);
            }
        }

        throw new InsufficientMemoryException($"VirtualAlloc could not reserve {length} bytes aligned to {alignment}: other threads kept taking the aligned place.");
    }

    private static InsufficientMemoryException ReserveFailed(nuint bytes) =>
        new($"VirtualAlloc(MEM_RESERVE) of {bytes} bytes failed: {Marshal.GetLastPInvokeErrorMessage()}");

    // Makes [start, start + length) readable and writable.
    private bool Commit(ulong start, ulong length, out string? error)
    {
        error = null;
        if (Faults.CommitFails())
        {
            error = "Cannot allocate memory (injected fault)";
            return false;
        }

        switch (_mapping)
        {
            case ArenaMapping.Mmap:
                if (NativeMethods.Mprotect((nint)start, (nuint)length, NativeMethods.ProtRead | NativeMethods.ProtWrite) != 0)
                {
                    error = $"mprotect(PROT_READ|PROT_WRITE) of {length} bytes at 0x{start:x} failed: {Marshal.GetLastPInvokeErrorMessage()}";
                    return false;
                }

                return true;
            case ArenaMapping.Windows:
                if (NativeMethods.VirtualAlloc((nint)start, (nuint)length, NativeMethods.WinMemCommit, NativeMethods.WinPageReadWrite) == 0)
                {
                    error = $"VirtualAlloc(MEM_COMMIT) of {length} bytes at 0x{start:x} failed: {Marshal.GetLastPInvokeErrorMessage()}";
                    return false;
                }

                return true;
            default:
                return true;
        }
    }

    private long ChunkOf(ulong address) => (long)((address - _base) >> _chunkShift);

    private bool AllResident(long first, long last)
    {
        for (long c = first; c <= last; c++)
        {
            if (!Test(_resident, c))
            {
                return false;
            }
        }

        return true;
    }

    // Sets every chunk's bit; the bitmap then counts the whole size. Under _commitLock or before publication.
    private void SetAll(ulong[] bits, ref long bytes)
    {
        for (long w = 0; w < bits.Length; w++)
        {
            long valid = Math.Min(64, _chunks - (w << 6));
            Interlocked.Or(ref bits[w], valid == 64 ? ~0UL : (1UL << (int)valid) - 1);
        }

        Volatile.Write(ref bytes, (long)_size);
    }

    private static bool Test(ulong[] bits, long index) => (Volatile.Read(ref bits[index >> 6]) & (1UL << (int)index)) != 0;

    private static void Set(ulong[] bits, long index) => Interlocked.Or(ref bits[index >> 6], 1UL << (int)index);

    private static void Clear(ulong[] bits, long index) => Interlocked.And(ref bits[index >> 6], ~(1UL << (int)index));
}
