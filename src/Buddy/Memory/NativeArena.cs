// NativeArena: the buddy allocator over real memory. The arena reserves one native range aligned
// to its largest block, so a block's real address is divisible by its size; blocks come out as
// Memory<byte> (ArenaMemory), Span<byte> and, for interop, raw pointers. Rents below a page take a
// small block of the kmalloc-style size classes (SmallAllocator); rents of up to 64 KiB go through
// the calling thread's RentalCache, which keeps ready rentals so that a rent and its return take
// no lock and allocate only the owner; a full cache passes returns to the arena's RentalDepot,
// where an empty one refills first (see Rental, RentalCache, RentalDepot, RentalRegistry).
//
// Invariants:
// - Every rental holding memory (rented, or ready in a cache or the depot; every movable rental) holds a
//   reference on the mapping (ArenaHandle), so Dispose stops new rents, empties the caches, and
//   the memory is unmapped only when the last rental is returned: no use of a rental after the
//   arena's disposal can fault.
// - A rental ends once: by its owner's Dispose (or last Unpin), or by the sweep after the GC found
//   its owner unreachable; either way its memory goes back to a cache or to the allocator.
// - Caches are frozen (CacheGate) only under _cachesLock, and after Dispose they stay frozen, so
//   the fast paths need not ask whether the arena was disposed; the checked mode uses no cache.
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Buddy.Memory;

/// <summary>Native memory managed by a <see cref="PageAllocator"/> and handed out as <see cref="ArenaMemory"/>.</summary>
/// <remarks>
/// Thread-safe. Disposing the arena stops new rents; its native memory is released when the last
/// rental is returned, so rentals stay valid until then. Raw blocks taken from <see cref="Pages"/>
/// directly hold no such reference: their addresses are valid only until the arena is disposed,
/// and their memory must be committed with <see cref="Commit"/> before it is touched (rents
/// commit their own).
/// </remarks>
public sealed partial class NativeArena : IDisposable
{
    /// <summary>The byte freed memory is filled with in the checked mode.</summary>
    public const byte Poison = 0xDD;

    [ThreadStatic]
    private static RentalCache? t_rentals; // the calling thread's cache of the arena it used last
    private static int s_nextId;

    private readonly int _id = Interlocked.Increment(ref s_nextId);
    private readonly ArenaHandle _handle;
    private readonly bool _checked;
    private readonly int _cacheMaxOrder;                            // the largest order a RentalCache keeps, or -1
    private readonly int _pageShift;                                // log2 of the page size: a rent's size to pages is a shift, not a division
    private readonly RentalRegistry _rentals;
    private readonly RentalDepot _depot;                            // ready rentals one thread's full cache passes to the others
    private readonly Lock _cachesLock = new();
    private RentalCache[] _caches = [];
    private RentalCache? _retiredCache;                             // after Dispose: the one frozen cache of threads that come later
    private long _uncachedRents;
    private long _forgottenRents;                                   // rents of caches whose thread ended
    private long _abandoned;
    private SmallAllocator? _small;
    private readonly Lock _checkLock = new();
    private readonly Lock _sweepLock = new();                       // one sweep at a time: only the sweep writes a rental's weak handle (Rental)
    private long _sweptAfter = -1;                                  // the collections counted when the last sweep began (Collections)
    private long _sweepEnded;                                       // when the last sweep ended (a Stopwatch timestamp)
    private long _sweepTook;                                        // how long it took (Stopwatch ticks)
    private long _sweeps;
    private readonly bool[] _poisoned = [];                         // checked mode: per page
    private readonly List<AbandonedRental> _abandonedReports = [];  // checked mode
    private readonly ConditionalWeakTable<ArenaMemory, string> _returnedAt = [];      // checked mode: first returns' stack traces
    private readonly Lock _movableLock = new();                     // taken inside the allocator's lock, never around it
    private readonly Dictionary<MovableBlock, string> _movable = []; // live movable rentals (checked mode: rent stack traces)
    private BuddyMemoryPool? _pool;
    private ArenaReservation _reservation = null!; // set by Create: which chunks are committed and resident
    private ArenaGiveBack? _giveBack;              // set by Create; null when the arena cannot give memory back (locked, heap fallback)

    private NativeArena(ArenaHandle handle, ulong size, PageAllocator pages, bool isChecked)
    {
        _handle = handle;
        _rentals = new RentalRegistry(this);
        _depot = new RentalDepot(handle);
        Size = size;
        Pages = pages;
        _checked = isChecked;
        _pageShift = PageMath.Log2(pages.PageSize);
        if (isChecked)
        {
            _poisoned = new bool[size / pages.PageSize];
        }

        int maxCachedOrder = PageMath.Log2(RentalCache.MaxBytes) - PageMath.Log2(pages.PageSize);
        _cacheMaxOrder = isChecked ? -1 : Math.Min(Math.Min(RentalCache.MaxOrder, pages.MaxOrder), maxCachedOrder);
        GcSentinel.Start(this);
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
    /// Creates an arena that grows: it reserves <see cref="ArenaOptions.MaxSize"/> bytes of address
    /// space (by default <see cref="ArenaOptions.DefaultMaxSize"/>, 64 GiB) and commits memory in
    /// chunks as rentals first need it, so no size need be guessed; free memory goes back to the
    /// operating system (<see cref="ArenaOptions.GiveBackFreeMemory"/>). When the maximum is in use,
    /// a rent fails with <see cref="AllocationFailedException"/>.
    /// </summary>
    /// <exception cref="ArgumentException">An option is invalid (a locked arena needs <see cref="ArenaOptions.MaxSize"/>); the message names it, and nothing was reserved.</exception>
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
    /// MADV_DONTNEED; macOS: MADV_FREE; Windows: MEM_DECOMMIT), after emptying the threads' caches of
    /// ready rentals (<see cref="DrainCaches"/>). Later rents reuse it transparently
    /// (on Linux it reads zeros until written). Renters wait for at most one chunk's advice.
    /// </summary>
    /// <returns>The bytes given back; always 0 for a locked arena, or where arenas are heap allocations.</returns>
    /// <exception cref="ObjectDisposedException">The arena was disposed.</exception>
    public ulong GiveBack()
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (_giveBack is null)
        {
            return 0;
        }

        DrainCaches(); // the threads' ready rentals are free memory too, as the caller sees it
        return _giveBack.Sweep(thorough: true);
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
    /// <remarks>Any request the allocator takes (zones, address limits, alignment, boundaries); the block is whole pages.</remarks>
    /// <exception cref="ObjectDisposedException">The arena was disposed.</exception>
    /// <exception cref="AllocationFailedException">The request cannot be served.</exception>
    /// <exception cref="ArgumentException">The block would be larger than 2 GiB (a Memory&lt;byte&gt; cannot hold it).</exception>
    public ArenaMemory Rent(Request request, bool clear = false) => RentFor(request, clear, throwOnRefusal: true)!;

    /// <summary>
    /// Rents at least <paramref name="bytes"/> bytes: below a page, a block of the kmalloc-style size
    /// classes (8 B to half a page, naturally aligned to its class); from a page, the next
    /// power-of-two block of pages (naturally aligned). Up to 64 KiB, the calling thread's cache
    /// serves it without a lock.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The arena was disposed.</exception>
    /// <exception cref="AllocationFailedException">The arena has no block that large free.</exception>
    /// <exception cref="ArgumentException">The block would be larger than 2 GiB.</exception>
    public ArenaMemory Rent(ulong bytes, bool clear = false) => RentBytes(bytes, clear, throwOnRefusal: true)!;

    /// <summary>Rents like <see cref="Rent(ulong, bool)"/>; false, with nothing rented, when the arena cannot serve it now (its maximum is in use, or the system refused to commit memory). A refusal costs no exception.</summary>
    /// <exception cref="ObjectDisposedException">The arena was disposed.</exception>
    /// <exception cref="ArgumentException">The block would be larger than 2 GiB.</exception>
    public bool TryRent(ulong bytes, [NotNullWhen(true)] out ArenaMemory? memory, bool clear = false) =>
        (memory = RentBytes(bytes, clear, throwOnRefusal: false)) is not null;

    /// <summary>Rents like <see cref="Rent(Request, bool)"/>; false, with nothing rented, when the request cannot be served now. A refusal costs no exception.</summary>
    /// <exception cref="ObjectDisposedException">The arena was disposed.</exception>
    /// <exception cref="ArgumentException">The request is invalid for the arena, or the block would be larger than 2 GiB.</exception>
    public bool TryRent(Request request, [NotNullWhen(true)] out ArenaMemory? memory, bool clear = false) =>
        (memory = RentFor(request, clear, throwOnRefusal: false)) is not null;

    // Every rent: null, with nothing taken, when the arena cannot serve it now, or with
    // `throwOnRefusal` (Rent) an AllocationFailedException saying why, thrown where the refusal
    // is found. Misuse (a disposed arena, an invalid request, a block too large) throws either
    // way. Inlined into Rent and TryRent: the cached case is the pool's every rent.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ArenaMemory? RentBytes(ulong bytes, bool clear, bool throwOnRefusal)
    {
        // The thread-static first, whatever the size: read on every path, it lets the JIT share the
        // lookup with the return's when a rent and its Dispose inline into one method, as it shares
        // ArrayPool's between its Rent and Return (a thread-static lookup is a call on Linux). Only
        // a cached rent attaches a cache to the thread.
        RentalCache? last = t_rentals;
        if (bytes < (1UL << _pageShift) && bytes <= SmallAllocator.MaxSize)
        {
            return OwnOrNull(TakeSmallRental(Math.Max(1, bytes), throwOnRefusal), clear);
        }

        int order = PageMath.OrderForPages(((bytes - 1) >> _pageShift) + 1);
        return order <= _cacheMaxOrder
            ? OwnOrNull(TakeCachedRental(CacheOf(last), order, throwOnRefusal), clear)
            : RentFor(Request.ForBytes(bytes), clear, throwOnRefusal);
    }

    private ArenaMemory? RentFor(Request request, bool clear, bool throwOnRefusal)
    {
        Rental? rental = TakeRental(request, Rental.Uncached, throwOnRefusal);
        if (rental is null)
        {
            return null;
        }

        Interlocked.Increment(ref _uncachedRents);
        return Own(rental, clear);
    }

    private ArenaMemory? OwnOrNull(Rental? rental, bool clear) => rental is null ? null : Own(rental, clear);

    /// <summary>Rentals whose owner was garbage-collected without Dispose; their memory was given back.</summary>
    public long AbandonedRentals => Interlocked.Read(ref _abandoned);

    /// <summary>Rentals so far (through <see cref="Rent(ulong, bool)"/>, <see cref="Rent(Request, bool)"/> and the arena's pools); a snapshot while other threads rent.</summary>
    public long Rentals
    {
        get
        {
            lock (_cachesLock) // a cache whose thread ended moves its rents to _forgottenRents under it
            {
                long total = Interlocked.Read(ref _uncachedRents) + _forgottenRents;
                foreach (RentalCache cache in _caches)
                {
                    total += Volatile.Read(ref cache.Hot.Rents);
                }

                return total;
            }
        }
    }

    /// <summary>
    /// Gives back the memory of every rental whose owner the garbage collector found unreachable
    /// (dropped without Dispose). Runs by itself after every garbage collection; an owner is found
    /// by the second collection after its rent. Returns how many rentals it reclaimed.
    /// </summary>
    public int ReclaimAbandoned()
    {
        // One sweep at a time (the GC sentinel's, a rent that found no memory, a caller's): two
        // sweeps demoting the same rental could leave a past owner in its weak handle while a new
        // one rents it, and an owner is recognized by that handle once demoted.
        lock (_sweepLock)
        {
            return SweepLocked();
        }
    }

    private int SweepLocked()
    {
        Volatile.Write(ref _sweptAfter, Collections());
        long start = Stopwatch.GetTimestamp();
        _sweeps++;
        int reclaimed = 0;
        try
        {
            foreach (Rental rental in _rentals.All())
            {
                long state = Volatile.Read(ref rental.State);
                if ((state & Rental.Rented) != 0 && rental.OwnerIsGone(state) && rental.TryReclaim(state))
                {
                    Abandoned(rental);
                    reclaimed++;
                }
            }
        }
        finally
        {
            long end = Stopwatch.GetTimestamp();
            Volatile.Write(ref _sweepTook, end - start);
            Volatile.Write(ref _sweepEnded, end);
        }

        return reclaimed;
    }

    /// <summary>Checked mode: the rentals reclaimed from owners dropped without Dispose, each with the stack trace of its rent (<see cref="AbandonedRentals"/> counts them in any mode).</summary>
    public IReadOnlyList<AbandonedRental> GetAbandonedRentals()
    {
        lock (_checkLock)
        {
            return [.. _abandonedReports];
        }
    }

    /// <summary>The thread caches listed now (threads that rented a cached size since their last cleanup).</summary>
    internal int CacheCount => Volatile.Read(ref _caches).Length;

    /// <summary>Sweeps so far (the GC sentinel's, refused rents', callers').</summary>
    internal long Sweeps
    {
        get
        {
            lock (_sweepLock)
            {
                return _sweeps;
            }
        }
    }

    // A refused rent's sweep, unless one ran just now: a sweep finds an owner gone only after a
    // collection cleared its weak handle, and it demotes the owners rented since the last one (so
    // that the next collection can find them gone). So a refusal sweeps when a collection began
    // since the last sweep began, or once the time since that sweep ended is 16 times what it
    // took: near a full arena every refused rent walked every rental before, one sweep after
    // another, and now refusals spend at most about a sixteenth of their time sweeping. (A
    // background collection is counted when it begins and clears handles when it ends: the
    // time rule, or the sentinel's sweep after it, finds what it cleared.)
    // The rule is asked again once the sweep lock is held: threads refused while a sweep ran
    // would otherwise each sweep again in turn, right after it.
    private int ReclaimAbandonedAfterRefusal()
    {
        if (!SweepIsDue())
        {
            return 0;
        }

        lock (_sweepLock)
        {
            return SweepIsDue() ? SweepLocked() : 0;
        }
    }

    private bool SweepIsDue() =>
        Collections() != Volatile.Read(ref _sweptAfter)
        || Stopwatch.GetTimestamp() - Volatile.Read(ref _sweepEnded) >= 16 * Volatile.Read(ref _sweepTook);

    // Every collection moves this count on (each generation's count is monotonic).
    private static long Collections() => (long)GC.CollectionCount(0) + GC.CollectionCount(1) + GC.CollectionCount(2);

    /// <summary>The GC sentinel's sweep: never throws on the finalizer thread (a failure is traced).</summary>
    internal void SweepAfterCollection()
    {
        try
        {
            ReclaimAbandoned();
        }
#pragma warning disable CA1031 // An exception escaping a finalizer ends the process: the sweep reports it instead.
        catch (Exception e)
#pragma warning restore CA1031
        {
            System.Diagnostics.Trace.TraceError($"Buddy: reclaiming abandoned arena rentals failed: {e.Message}");
        }
    }

    /// <summary>
    /// Rents a movable block: the allocator may migrate it (compaction, contiguous ranges), copying
    /// its bytes; reach them through <see cref="Pin"/>, never through a remembered address. Give it
    /// back with <see cref="Return(MovableBlock)"/>, which keeps the arena's memory mapped until then.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The arena was disposed.</exception>
    /// <exception cref="AllocationFailedException">The request cannot be served.</exception>
    public MovableBlock RentMovable(Request request)
    {
        _handle.Acquire();
        try
        {
            MovableBlock block = AllocateMovableCommitted(request);
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
    public ArenaPin Pin(MovableBlock block)
    {
        ArgumentNullException.ThrowIfNull(block);
        ThrowIfNotRented(block);
        return new ArenaPin(block); // pins first: a racing Return then finds it pinned, or this finds it freed
    }

    /// <summary>Gives a movable rental back.</summary>
    /// <exception cref="ArgumentException">The block is not a live movable rental of this arena (returned twice, or rented elsewhere); nothing changes.</exception>
    /// <exception cref="InvalidOperationException">The block is pinned: dispose its pins first; nothing changes.</exception>
    public void Return(MovableBlock block)
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

    private static readonly MigrateCallback s_copy = static (_, from, to) =>
    {
        unsafe
        {
            Buffer.MemoryCopy((void*)from.Address, (void*)to.Address, (long)to.Size, (long)from.Size);
        }
    };

    /// <summary>Whether the arena runs in the checked mode.</summary>
    public bool IsChecked => _checked;

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
        DrainCaches();
        if (_checked)
        {
            ThrowIfLeakedAs("are live as the arena is disposed; its memory stays mapped until they are returned");
        }
    }

    // After the owner swapped in the end of its rental (its Dispose, or its last Unpin after
    // Dispose): the memory goes to the calling thread's cache when it has room, else back to the
    // allocator. No one else can reach the rental now (the sweep sees it ended).
    internal void Return(Rental rental)
    {
        if (_checked)
        {
            PoisonReturned(rental);
        }

        rental.ForgetOwner();
        if (rental.Order < 0 || !TryCache(rental))
        {
            Release(rental);
        }
    }

    // A block for a rental, checked (size, poison) before anyone sees it; false when the allocator
    // has none (after reclaiming abandoned rentals and trying once more) or the system refused to
    // commit it (the block went back), or with `throwOnRefusal` an AllocationFailedException saying why.
    private bool TryRentBlock(Request request, bool throwOnRefusal, out Block block)
    {
        if (!Pages.TryAllocate(request, out block) && (ReclaimAbandonedAfterRefusal() == 0 || !Pages.TryAllocate(request, out block)))
        {
            if (!throwOnRefusal)
            {
                return false;
            }

            block = Pages.Allocate(request); // throws, saying why (or, freed meanwhile, serves it)
        }

        // One bit test, or the first use of its chunks commits them (by reference and in pages: a
        // copy of the block and two shifts cost more than the test, measured).
        if (!_reservation.IsResident(block.Pfn, block.PageCount) && !TryMakeResident(block, throwOnRefusal))
        {
            block = default;
            return false;
        }

        if (block.Size > int.MaxValue)
        {
            Pages.Free(block);
            throw new ArgumentException("A block larger than 2 GiB does not fit a Memory<byte>; use the allocator and raw pointers.", nameof(request));
        }

        if (_checked)
        {
            CheckPoison(block); // throws on a write after free, after giving the block back
        }

        return true;
    }

    // Commits the block's chunks (first use, or reuse after a give-back); a refusal gives the block back.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TryMakeResident(Block block, bool throwOnRefusal)
    {
        if (_reservation.TryMakeResident(block.Address, block.Size, out string? error))
        {
            return true;
        }

        Pages.Free(block);
        return throwOnRefusal
            ? throw new AllocationFailedException($"Cannot rent {block}: the operating system refused to commit its memory ({error}). The block was given back; the allocator is as it was.")
            : false;
    }

    // A movable rental commits the whole arena first: a move (compaction, a contiguous range,
    // Pages.Migrate) may land a block in any free chunk without a rent to commit it.
    private MovableBlock AllocateMovableCommitted(Request request)
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

        MovableBlock block = Pages.AllocateMovable(request, s_copy);
        Block at = block.Block;
        if (!_reservation.IsResident(at.Pfn, at.PageCount))
        {
            _reservation.TryMakeResident(at.Address, at.Size, out _); // everything is committed: this only counts it resident
        }

        return block;
    }

}
