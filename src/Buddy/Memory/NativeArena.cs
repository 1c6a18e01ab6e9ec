// NativeArena: the buddy allocator over real memory. The arena reserves one native range aligned
// to its largest block, so a block's real address is divisible by its size; blocks come out as
// Memory<byte> (ArenaMemory), Span<byte> and, for interop, raw pointers. Invariant: every live
// rental (ArenaMemory, and so every pool buffer and pipe segment; every movable rental) holds a
// reference on the mapping (ArenaHandle), so Dispose stops new rents and the memory is unmapped
// only when the last rental is returned: no use of a rental after the arena's disposal can fault.
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Buddy.Allocation;
using Buddy.Pages;
using Buddy.Zones;

namespace Buddy.Memory;

/// <summary>Native memory managed by a <see cref="PageAllocator"/> and handed out as <see cref="ArenaMemory"/>.</summary>
/// <remarks>
/// Thread-safe. Disposing the arena stops new rents; its native memory is released when the last
/// rental is returned, so rentals stay valid until then. Raw blocks taken from <see cref="Pages"/>
/// directly hold no such reference: their addresses are valid only until the arena is disposed.
/// </remarks>
public sealed class NativeArena : IDisposable
{
    /// <summary>The byte freed memory is filled with in the checked mode.</summary>
    public const byte Poison = 0xDD;

    private readonly ArenaHandle _handle;
    private readonly bool _checked;
    private readonly Lock _checkLock = new();
    private readonly bool[] _poisoned = [];                         // checked mode: per page
    private readonly Dictionary<ArenaMemory, string> _live = [];    // checked mode: rent stack traces
    private readonly Lock _movableLock = new();                     // taken inside the allocator's lock, never around it
    private readonly Dictionary<Mobility.MovableBlock, string> _movable = []; // live movable rentals (checked mode: rent stack traces)
    private BuddyMemoryPool? _pool;
    private ArenaReservation _reservation = null!; // set by Create: which chunks are committed and resident
    private ArenaGiveBack? _giveBack;              // set by Create; null when the arena cannot give memory back (locked, heap fallback)

    private NativeArena(ArenaHandle handle, ulong size, PageAllocator pages, bool isChecked)
    {
        _handle = handle;
        Size = size;
        Pages = pages;
        _checked = isChecked;
        if (isChecked)
        {
            _poisoned = new bool[size / pages.PageSize];
        }
    }

    /// <summary>The real address of the arena's first byte (aligned to the largest block).</summary>
    public ulong BaseAddress => Pages.Layout.BaseAddress;

    /// <summary>The arena's size in bytes.</summary>
    public ulong Size { get; }

    /// <summary>The allocator over the arena's real addresses.</summary>
    public PageAllocator Pages { get; }

    /// <summary>A <see cref="System.Buffers.MemoryPool{T}"/> over the arena (created on first use).</summary>
    public BuddyMemoryPool Pool => _pool ??= new BuddyMemoryPool(this);

    /// <summary>
    /// Creates an arena that grows: it reserves <see cref="ArenaOptions.MaximumSize"/> bytes of address
    /// space (by default <see cref="ArenaOptions.DefaultMaximumSize"/>, 64 GiB) and commits memory in
    /// chunks as rentals first need it, so no size need be guessed; free memory goes back to the
    /// operating system (<see cref="ArenaOptions.GiveBackFreeMemory"/>). When the maximum is in use,
    /// a rent fails with <see cref="AllocationFailedException"/>.
    /// </summary>
    /// <exception cref="ArgumentException">An option is invalid (a locked arena needs <see cref="ArenaOptions.MaximumSize"/>); the message names it, and nothing was reserved.</exception>
    /// <exception cref="InsufficientMemoryException">The address space cannot be reserved (or, for a locked arena, committed).</exception>
    public static NativeArena Create(ArenaOptions? options = null)
    {
        options ??= new ArenaOptions();
        return Create(options.CheckGrowable(), options); // every rule before anything is reserved
    }

    /// <summary>
    /// Reserves <paramref name="size"/> bytes of address space — the arena's maximum — and commits it in
    /// chunks as rentals first need them (Linux: mmap PROT_NONE with MAP_NORESERVE, then mprotect; see
    /// <see cref="Create(ArenaOptions?)"/>). A locked arena (<see cref="ArenaOptions.Lock"/>) commits and locks it all up front.
    /// </summary>
    /// <exception cref="ArgumentException">The size or an option is invalid; the message names it, and nothing was reserved.</exception>
    /// <exception cref="InsufficientMemoryException">The memory cannot be reserved (or, for a locked arena, committed).</exception>
    public static NativeArena Create(ulong size, ArenaOptions? options = null)
    {
        options ??= new ArenaOptions();
        options.CheckFor(size); // every rule before anything is reserved
        ulong alignment = options.AlignmentFor(size);
        ArenaHandle handle = ArenaHandle.Reserve((nuint)size, (nuint)alignment);
        try
        {
            ulong start = (ulong)handle.DangerousGetHandle();
            MachineLayout layout = options.LayoutAt(start, size);
            var pages = new PageAllocator(layout);
            ulong chunk = ArenaReservation.ChunkBytesFor(options.PageSize, options.PageSize << options.MaxOrder, alignment);
            var reservation = new ArenaReservation(handle, start, size, chunk, layout.PageShift, pages.Id);
            if (OperatingSystem.IsLinux() && options.TransparentHugePages)
            {
                NativeMethods.Madvise((nint)start, (nuint)size, NativeMethods.MadvHugePage);
            }

            if (options.Lock)
            {
                if (!reservation.TryCommitAll(out string? error))
                {
                    throw new InsufficientMemoryException($"A locked arena commits its whole {size} bytes up front, and the commit failed: {error}");
                }

                if (OperatingSystem.IsLinux() && NativeMethods.Mlock((nint)start, (nuint)size) != 0)
                {
                    throw new InvalidOperationException($"mlock of {size} bytes failed: {Marshal.GetLastPInvokeErrorMessage()} (needs CAP_IPC_LOCK or a large enough RLIMIT_MEMLOCK).");
                }

                reservation.MarkAllResident();
            }

            var arena = new NativeArena(handle, size, pages, options.Checked);
            arena._reservation = reservation;
            if (options.Checked)
            {
                reservation.OnResident = arena.ForgetPoison;
            }

            if (!options.Lock && reservation.CanGiveBack)
            {
                arena._giveBack = new ArenaGiveBack(pages, handle, reservation, options.GiveBackOrderOrDefault,
                    options.GiveBackFreeMemory, options.GiveBackDelay, options.GiveBackThreshold);
            }

            BuddyMetrics.Register(reservation);
            return arena;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Bytes of the arena committed and used by rentals since their last give-back, in whole chunks:
    /// at most the arena's share of the process's resident memory (0 once the memory is released).
    /// </summary>
    public ulong ResidentBytes => IsMemoryReleased ? 0 : _reservation.ResidentBytes;

    /// <summary>Bytes of the arena committed (readable and writable; on Windows, charged against the commit limit); at most <see cref="Size"/>.</summary>
    public ulong CommittedBytes => IsMemoryReleased ? 0 : _reservation.CommittedBytes;

    /// <summary>
    /// Gives the arena's free memory back to the operating system now: every resident chunk that lies
    /// wholly in free blocks of <see cref="ArenaOptions.GiveBackOrder"/> or more (Linux: madvise
    /// MADV_DONTNEED; macOS: MADV_FREE; Windows: MEM_DECOMMIT). Later rents reuse it transparently
    /// (on Linux it reads zeros until written). Renters wait for at most one chunk's advice.
    /// </summary>
    /// <returns>The bytes given back; always 0 for a locked arena, or where arenas are heap allocations.</returns>
    /// <exception cref="ObjectDisposedException">The arena was disposed.</exception>
    public ulong GiveBack()
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        return _giveBack?.Sweep(thorough: true) ?? 0;
    }

    /// <summary>
    /// Makes a block taken from <see cref="Pages"/> directly (not rented) usable: commits the chunks it
    /// lies in and counts them resident. Rents do this themselves; a raw block must not be touched before.
    /// </summary>
    /// <exception cref="ArgumentException">The block is not an allocation of this arena's allocator.</exception>
    /// <exception cref="ObjectDisposedException">The arena was disposed.</exception>
    /// <exception cref="InsufficientMemoryException">The operating system refused the commit; the block stays allocated (it is the caller's).</exception>
    public void Commit(Block block)
    {
        if (block.Owner != Pages.Id)
        {
            throw new ArgumentException($"The block {block} is not an allocation of this arena's allocator.", nameof(block));
        }

        if (!_handle.TryAcquire())
        {
            ObjectDisposedException.ThrowIf(true, this);
        }

        try
        {
            if (!_reservation.IsResident(block.Pfn, block.PageCount) && !_reservation.TryMakeResident(block.Address, block.Size, out string? error))
            {
                throw new InsufficientMemoryException($"Committing the memory of {block} failed: {error}");
            }
        }
        finally
        {
            _handle.ReleaseQuietly();
        }
    }

    /// <summary>The last refusal of the operating system to take memory back (the memory stayed resident), or of a background give-back; null when none.</summary>
    internal string? LastGiveBackError => _giveBack?.LastError;

    /// <summary>Whether the arena was disposed: it rents nothing more; its memory stays mapped until the last rental is returned.</summary>
    public bool IsDisposed => _handle.IsRetired;

    /// <summary>Whether the native memory was given back: disposed, and the last rental returned.</summary>
    internal bool IsMemoryReleased => _handle.IsReleased;

    /// <summary>Rents a block for <paramref name="request"/> as <see cref="ArenaMemory"/>; <paramref name="clear"/> zeroes it.</summary>
    /// <exception cref="ObjectDisposedException">The arena was disposed.</exception>
    /// <exception cref="AllocationFailedException">The request cannot be served.</exception>
    /// <exception cref="ArgumentException">The block would be larger than 2 GiB (a Memory&lt;byte&gt; cannot hold it).</exception>
    public ArenaMemory Rent(Request request, bool clear = false)
    {
        _handle.Acquire(); // the rental's reference on the mapping, released when its block goes back
        try
        {
            ArenaMemory memory = new(this, RentBlock(request));
            if (_checked)
            {
                lock (_checkLock)
                {
                    _live.Add(memory, Environment.StackTrace);
                }
            }

            if (clear)
            {
                memory.GetSpan().Clear();
            }

            return memory;
        }
        catch
        {
            _handle.Release();
            throw;
        }
    }

    /// <summary>Rents at least <paramref name="bytes"/> bytes (the next power-of-two block).</summary>
    /// <exception cref="ObjectDisposedException">The arena was disposed.</exception>
    public ArenaMemory Rent(ulong bytes, bool clear = false) => Rent(Request.ForBytes(bytes), clear);

    /// <summary>
    /// Rents a movable block: the allocator may migrate it (compaction, contiguous ranges), copying
    /// its bytes; reach them through <see cref="Pin"/>, never through a remembered address. Give it
    /// back with <see cref="Return(Mobility.MovableBlock)"/>, which keeps the arena's memory mapped until then.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The arena was disposed.</exception>
    /// <exception cref="AllocationFailedException">The request cannot be served.</exception>
    public Mobility.MovableBlock RentMovable(Request request)
    {
        _handle.Acquire();
        try
        {
            Mobility.MovableBlock block = AllocateMovableCommitted(request);
            lock (_movableLock)
            {
                _movable.Add(block, _checked ? Environment.StackTrace : "");
            }

            return block;
        }
        catch
        {
            _handle.Release();
            throw;
        }
    }

    /// <summary>Pins a movable rental and gives access to its bytes until the pin is disposed (also after the arena's disposal).</summary>
    /// <exception cref="ArgumentException">The block is not a live movable rental of this arena (returned, or rented elsewhere).</exception>
    /// <exception cref="ObjectDisposedException">The block was freed behind the arena's back.</exception>
    public ArenaPin Pin(Mobility.MovableBlock block)
    {
        ArgumentNullException.ThrowIfNull(block);
        ThrowIfNotRented(block);
        return new ArenaPin(block); // pins first: a racing Return then finds it pinned, or this finds it freed
    }

    /// <summary>Gives a movable rental back.</summary>
    /// <exception cref="ArgumentException">The block is not a live movable rental of this arena (returned twice, or rented elsewhere); nothing changes.</exception>
    /// <exception cref="InvalidOperationException">The block is pinned: dispose its pins first; nothing changes.</exception>
    public void Return(Mobility.MovableBlock block)
    {
        ArgumentNullException.ThrowIfNull(block);
        lock (Pages.SyncRoot) // no pin can start between the check and the free
        {
            ThrowIfNotRented(block);
            if (block.IsPinned)
            {
                throw new InvalidOperationException($"The movable block {block} is pinned; dispose its pins before returning it.");
            }

            Pages.Free(block);
            lock (_movableLock)
            {
                _movable.Remove(block);
            }
        }

        _handle.Release();
    }

    private static readonly Mobility.MigrateCallback s_copy = static (_, from, to) =>
    {
        unsafe
        {
            Buffer.MemoryCopy((void*)from.Address, (void*)to.Address, (long)to.Size, (long)from.Size);
        }
    };

    /// <summary>Whether the arena runs in the checked mode.</summary>
    public bool IsChecked => _checked;

    /// <summary>The rentals not given back: in the checked mode every one with the stack trace of its rent; otherwise the movable ones (with an empty trace).</summary>
    public IReadOnlyList<(Block Block, string RentedAt)> LiveRentals()
    {
        List<(Block, string)> live;
        lock (_checkLock)
        {
            live = [.. _live.Select(kv => (kv.Key.Block, kv.Value))];
        }

        lock (_movableLock)
        {
            live.AddRange(_movable.Select(kv => (kv.Key.Current, kv.Value)));
        }

        return live;
    }

    /// <summary>Checked mode: throws when rentals were not given back, naming each with its rent's stack trace.</summary>
    /// <exception cref="InvalidOperationException">Some rentals leaked.</exception>
    public void ThrowIfLeaked() => ThrowIfLeakedAs("were not returned");

    /// <summary>
    /// Disposes the arena: it rents nothing more, and its memory is unmapped when the last rental
    /// (<see cref="ArenaMemory"/>, pipe segment, pin or movable rental) is returned — at once when
    /// none is live. Rentals stay usable until then. A second call does nothing.
    /// </summary>
    /// <exception cref="InvalidOperationException">Checked mode: rentals were live, named with their rents' stack traces (the arena is disposed all the same).</exception>
    public void Dispose()
    {
        if (!_handle.Retire())
        {
            return;
        }

        _giveBack?.Dispose(); // no more sweeps on a timer (one under way finishes; it holds the mapping)
        if (_checked)
        {
            ThrowIfLeakedAs("are live as the arena is disposed; its memory stays mapped until they are returned");
        }
    }

    internal void Return(ArenaMemory memory)
    {
        Block block = memory.Block;
        if (_checked)
        {
            lock (_checkLock)
            {
                _live.Remove(memory);
                unsafe
                {
                    new Span<byte>((void*)block.Address, (int)block.Size).Fill(Poison);
                }

                ulong first = (block.Address - BaseAddress) / Pages.PageSize;
                _poisoned.AsSpan((int)first, (int)block.PageCount).Fill(true);
            }
        }

        try
        {
            Pages.Free(block);
        }
        finally
        {
            _handle.Release(); // the rental is over even if the allocator refused its block
        }
    }

    /// <summary>Checked mode: a second return of <paramref name="memory"/>.</summary>
    internal static void DoubleReturn(ArenaMemory memory) =>
        throw new InvalidOperationException($"Double return: the arena block {memory.Block} was returned twice; the first return was at:\n{memory.ReturnedAt}");

    // A block for a rental, checked (size, poison) before anyone sees it; on a refusal it went back.
    private Block RentBlock(Request request)
    {
        Block block = Pages.Allocate(request);
        EnsureResident(block); // one bit test, or the first use of its chunks commits them; on a refusal the block went back
        if (block.Size > int.MaxValue)
        {
            Pages.Free(block);
            throw new ArgumentException("A block larger than 2 GiB does not fit a Memory<byte>; use the allocator and raw pointers.", nameof(request));
        }

        if (_checked)
        {
            CheckPoison(block); // throws on a write after free, after giving the block back
        }

        return block;
    }

    // The rent path's commit check: one bit test when the block's chunk is resident (by reference
    // and in pages: a copy of the block and two shifts cost more than the test, measured).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void EnsureResident(in Block block)
    {
        if (!_reservation.IsResident(block.Pfn, block.PageCount))
        {
            MakeResident(block);
        }
    }

    // Commits the block's chunks (first use, or reuse after a give-back); a refusal gives the block back and throws.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void MakeResident(Block block)
    {
        if (!_reservation.TryMakeResident(block.Address, block.Size, out string? error))
        {
            Pages.Free(block);
            throw new AllocationFailedException($"Cannot rent {block}: the operating system refused to commit its memory ({error}). The block was given back; the allocator is as it was.");
        }
    }

    // A movable rental commits the whole arena first: a move (compaction, a contiguous range,
    // Pages.Migrate) may land a block in any free chunk without a rent to commit it.
    private Mobility.MovableBlock AllocateMovableCommitted(Request request)
    {
        if (!_reservation.AllCommitted)
        {
            lock (Pages.SyncRoot)
            {
                _reservation.NoteMovesPossible(); // a give-back that decommits has finished by now, and none decommits after
            }

            if (!_reservation.TryCommitAll(out string? error))
            {
                throw new AllocationFailedException($"Cannot rent a movable block for {request}: a movable rental needs the whole arena ({Size} bytes) committed, since moves may land anywhere, and the operating system refused ({error}). Nothing was allocated.");
            }
        }

        Mobility.MovableBlock block = Pages.AllocateMovable(request, s_copy);
        Block at = block.Block;
        if (!_reservation.IsResident(at.Pfn, at.PageCount))
        {
            _reservation.TryMakeResident(at.Address, at.Size, out _); // everything is committed: this only counts it resident
        }

        return block;
    }

    // Checked mode: a chunk turning resident again was given back, so its pages read zeros, not the
    // poison; forget their flags (under the commit lock, before any rent in the chunk can check them).
    private void ForgetPoison(ulong address, ulong bytes)
    {
        lock (_checkLock)
        {
            ulong first = (address - BaseAddress) / Pages.PageSize;
            ulong count = (bytes + Pages.PageSize - 1) / Pages.PageSize;
            _poisoned.AsSpan((int)first, (int)count).Clear();
        }
    }

    private void ThrowIfNotRented(Mobility.MovableBlock block)
    {
        lock (_movableLock)
        {
            if (!_movable.ContainsKey(block))
            {
                throw new ArgumentException($"The movable block {block} is not a live rental of this arena: it was returned, or rented elsewhere.", nameof(block));
            }
        }
    }

    private void ThrowIfLeakedAs(string what)
    {
        IReadOnlyList<(Block Block, string RentedAt)> live = LiveRentals();
        if (_checked && live.Count > 0)
        {
            throw new InvalidOperationException($"{live.Count} arena rental(s) {what}:\n" + string.Join("\n", live.Select(l => $"{l.Block}, rented at:\n{l.RentedAt}")));
        }
    }

    // Checked mode: the poisoned pages of a fresh block must still hold the poison.
    private unsafe void CheckPoison(Block block)
    {
        lock (_checkLock)
        {
            ulong first = (block.Address - BaseAddress) / Pages.PageSize;
            for (ulong p = 0; p < block.PageCount; p++)
            {
                if (!_poisoned[first + p])
                {
                    continue;
                }

                _poisoned[first + p] = false;
                var page = new ReadOnlySpan<byte>((void*)(block.Address + (p * Pages.PageSize)), (int)Pages.PageSize);
                int changed = page.IndexOfAnyExcept(Poison);
                if (changed >= 0)
                {
                    ulong address = block.Address + (p * Pages.PageSize) + (ulong)changed;
                    Pages.Free(block);
                    throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                        $"Write after free: the byte at 0x{address:x} was changed after its block was returned (it holds 0x{page[changed]:x2}, not the poison 0x{Poison:x2})."));
                }
            }
        }
    }
}
