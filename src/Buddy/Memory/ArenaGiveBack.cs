// ArenaGiveBack: returns a native arena's free memory to the operating system, as the kernel's
// free page reporting returns a guest's free pages to its host, and lets it be reused later
// (ArenaReservation re-marks a chunk resident when a rental lands in it again).
//
// What: every resident chunk that lies wholly in free blocks of order GiveBackOrder or more
// (default: the pageblock order, 2 MiB with 4 KiB pages, like page_reporting_order).
// When: a sweep runs (a) on a timer every GiveBackDelay (default 2 s, page_reporting_delay), so
// memory is given back at most one delay after it was freed; (b) at once, on the thread pool, when
// a check made every 64 rental returns finds at least GiveBackThreshold bytes resident and free;
// (c) when NativeArena.GiveBack is called. (a) and (b) only with ArenaOptions.GiveBackFreeMemory.
// How: one chunk per hold of the allocator's lock — check that the chunk is free
// (PageAllocator.IsFreeInBlocksOf), advise it (ArenaReservation.TryGiveBack: madvise DONTNEED,
// MADV_FREE or MEM_DECOMMIT), clear its resident bit — so a renter waits for at most one advice;
// up to 64 chunks that are not free are skipped per hold.
//
// Invariants:
// - Only a sweep clears resident bits, one sweep runs at a time (_sweepLock), and it holds the
//   allocator's lock from the check to the bit, so a chunk holding an allocated (or thread-cached, or depot-held)
//   block is never given back, and no block of a chunk being advised can be handed out meanwhile.
// - A sweep holds a reference on the arena's mapping (ArenaHandle.TryAcquire): it never advises
//   memory after the unmap; after the arena's Dispose no sweep starts.
// - The timer and the thread-pool item reach this object through a weak reference, so they never
//   keep an arena alive (a forgotten arena's timer dies with it); Dispose stops the timer.
// - Nothing here throws on the timer's or the pool's thread: a failure is kept in LastError and
//   the chunk stays resident.
// - Checked mode: a given-back page reads zeros, not the poison. Its poison flag is cleared when
//   its chunk turns resident again (ArenaReservation.OnResident), before any rent can check it.

namespace Buddy.Memory;

/// <summary>The give-back sweep of one native arena, its timer and its threshold check.</summary>
/// <remarks>Thread-safe.</remarks>
internal sealed class ArenaGiveBack : IDisposable
{
    private const int ChecksPerHold = 64;
    private const int ReleasesPerCheck = 64;

    private readonly PageAllocator _pages;
    private readonly ArenaHandle _handle;
    private readonly ArenaReservation _reservation;
    private readonly int _minOrder;
    private readonly ulong _threshold;
    private readonly Lock _sweepLock = new();
    private readonly WeakReference<ArenaGiveBack> _self;
    private Timer? _timer;
    private int _releases; // counted without atomics: the check needs only roughly every 64th
    private int _queued;   // 1 while a threshold sweep is queued
    private string? _lastError;

    /// <summary>Sets up the sweep; with <paramref name="automatic"/>, the timer (unless <paramref name="delay"/> is infinite) and the threshold check (unless <paramref name="threshold"/> is 0).</summary>
    public ArenaGiveBack(PageAllocator pages, ArenaHandle handle, ArenaReservation reservation, int minOrder, bool automatic, TimeSpan delay, ulong threshold)
    {
        _pages = pages;
        _handle = handle;
        _reservation = reservation;
        _minOrder = minOrder;
        _threshold = threshold;
        _self = new WeakReference<ArenaGiveBack>(this);
        if (automatic && delay != Timeout.InfiniteTimeSpan)
        {
            bool suppress = !ExecutionContext.IsFlowSuppressed(); // the timer must not capture the creator's async locals
            if (suppress)
            {
                ExecutionContext.SuppressFlow();
            }

            try
            {
                _timer = new Timer(static state => Run((WeakReference<ArenaGiveBack>)state!, queued: false), _self, delay, delay);
            }
            finally
            {
                if (suppress)
                {
                    ExecutionContext.RestoreFlow();
                }
            }
        }

        if (automatic && threshold > 0)
        {
            handle.ReleaseListener = this;
        }
    }

    /// <summary>The last OS refusal of a give-back (the chunk stayed resident), or of a background sweep; null when none.</summary>
    public string? LastError => Volatile.Read(ref _lastError);

    /// <summary>Gives back every resident chunk that is free now; returns the bytes given back (0 after the arena's disposal).</summary>
    /// <param name="thorough">Walk every resident chunk; otherwise skip the walk when the arena's free resident bytes cannot fill a chunk.</param>
    public ulong Sweep(bool thorough)
    {
        lock (_sweepLock)
        {
            if (!_handle.TryAcquire())
            {
                return 0;
            }

            try
            {
                if (!thorough && FreeResidentEstimate() < _reservation.ChunkBytes)
                {
                    return 0;
                }

                ulong given = 0;
                long chunk = _reservation.NextResident(0);
                while (chunk >= 0)
                {
                    lock (_pages.SyncRoot)
                    {
                        for (int checks = 0; chunk >= 0 && checks < ChecksPerHold; checks++)
                        {
                            (ulong start, ulong length) = _reservation.RangeOf(chunk);
                            long current = chunk;
                            chunk = _reservation.NextResident(chunk + 1);
                            if (_pages.IsFreeInBlocksOf(start, length, _minOrder))
                            {
                                if (_reservation.TryGiveBack(current, out ulong bytes, out string? error))
                                {
                                    given += bytes;
                                }
                                else
                                {
                                    Volatile.Write(ref _lastError, error);
                                }

                                break; // one advice per hold of the lock
                            }
                        }
                    }
                }

                if (given > 0 && BuddyMetrics.ArenaGivenBack.Enabled)
                {
                    BuddyMetrics.ArenaGivenBack.Add((long)given, new KeyValuePair<string, object?>("allocator", _pages.Id));
                }

                return given;
            }
            finally
            {
                _handle.ReleaseQuietly(); // the last reference after the arena's disposal unmaps here
            }
        }
    }

    /// <summary>Called by the arena's handle after every rental's release: every 64th, checks the threshold and queues a sweep.</summary>
    public void OnRentalReleased()
    {
        if (++_releases % ReleasesPerCheck != 0 || Volatile.Read(ref _queued) != 0 || _handle.IsRetired)
        {
            return;
        }

        if (FreeResidentEstimate() >= _threshold && Interlocked.Exchange(ref _queued, 1) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static self => Run(self, queued: true), _self, preferLocal: false);
        }
    }

    /// <summary>Stops the timer and the threshold check (a sweep under way finishes; none starts after the arena's disposal).</summary>
    public void Dispose()
    {
        _handle.ReleaseListener = null;
        Interlocked.Exchange(ref _timer, null)?.Dispose();
    }

    // The timer's and the pool's entry: never throws, never keeps the arena alive.
    private static void Run(WeakReference<ArenaGiveBack> self, bool queued)
    {
        if (!self.TryGetTarget(out ArenaGiveBack? giveBack))
        {
            return;
        }

        try
        {
            giveBack.Sweep(thorough: false);
        }
#pragma warning disable CA1031 // a background sweep must not take the process down; the failure is kept
        catch (Exception e)
#pragma warning restore CA1031
        {
            Volatile.Write(ref giveBack._lastError, $"{e.GetType().Name}: {e.Message}");
        }
        finally
        {
            if (queued)
            {
                Volatile.Write(ref giveBack._queued, 0);
            }
        }
    }

    // Resident bytes not in use (allocated or cached): a lower bound on what a sweep can find, as
    // every block a rental holds lies in resident chunks (moves into given-back chunks excepted).
    private ulong FreeResidentEstimate()
    {
        ulong resident = _reservation.ResidentBytes;
        ulong inUse = (_pages.TotalPages - _pages.FreePages) * _pages.PageSize;
        return resident > inUse ? resident - inUse : 0;
    }
}
