// NativeArena.Rentals: where a rent finds its rental and where a return puts it. Whole blocks of
// orders the rental caches keep go through the calling thread's RentalCache (no lock, no atomic),
// refilled from and spilled to the allocator in batches; larger ones and requests with constraints
// go to the allocator directly; rents below a page come from the SmallAllocator. A rental whose
// owner was dropped is reclaimed here too (Abandoned). Caches drain into the allocator on demand.
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using static System.FormattableString;

namespace Buddy.Memory;

public sealed partial class NativeArena
{
    // A new owner for a rental that holds memory and no owner.
    private ArenaMemory Own(Rental rental, bool clear)
    {
        if (_checked)
        {
            rental.RentedAt = Environment.StackTrace;
        }

        var memory = new ArenaMemory(rental);
        if (clear)
        {
            memory.GetSpan().Clear();
        }

        return memory;
    }

    // A ready rental of `order` from the calling thread's cache, refilling it in a batch when empty;
    // null (or the refusal thrown) when the arena has no block of that order. (After Dispose every
    // cache is frozen: the rent goes to Refill, which throws ObjectDisposedException.)
    private Rental? TakeCachedRental(RentalCache cache, int order, bool throwOnRefusal)
    {
        if (cache.Hot.Gate.TryEnter())
        {
            int ready = cache.TryPop(order);
            if (ready >= 0)
            {
                cache.Hot.Rents++;
                cache.Hot.Gate.Exit();
                return _rentals.At(ready);
            }

            cache.Hot.Gate.Exit();
        }

        return Refill(order, throwOnRefusal);
    }

    // Refills an empty stack: the rentals other threads passed to the depot, newest first, or
    // else a batch (a quarter of the stack) from the allocator; one to rent, the rest onto the
    // cache. Only the first may fail; the batch stops at the first block the allocator refuses.
    private Rental? Refill(int order, bool throwOnRefusal)
    {
        Span<int> shared = stackalloc int[Math.Max(1, RentalCache.High(order) / 4)];
        int fromDepot = _depot.TakeNewest(order, shared);
        if (fromDepot > 0)
        {
            for (int i = fromDepot - 1; i > 0; i--) // the older first, so that the newer are on top
            {
                CacheOrRelease(_rentals.At(shared[i]));
            }

            Interlocked.Increment(ref _uncachedRents);
            return _rentals.At(shared[0]);
        }

        Rental? first = TakeRental(Request.ForOrder(order), order, throwOnRefusal);
        if (first is null)
        {
            return null;
        }

        Interlocked.Increment(ref _uncachedRents);
        for (int i = 1; i < shared.Length; i++)
        {
            if (!TryTakeBatchRental(order, out Rental? more))
            {
                break;
            }

            if (!TryCache(more))
            {
                Release(more);
                break;
            }
        }

        return first;
    }

    private void CacheOrRelease(Rental rental)
    {
        if (!TryCache(rental))
        {
            Release(rental);
        }
    }

    // Pushes a ready rental onto the calling thread's cache; false when the arena is disposed or
    // the cache is frozen. A full stack takes the slow path (TryCacheInFull).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryCache(Rental rental)
    {
        RentalCache cache = CurrentCache();
        if (!cache.Hot.Gate.TryEnter())
        {
            return false;
        }

        bool pushed = cache.TryPush(rental.Index, rental.Order);
        cache.Hot.Gate.Exit();
        return pushed || TryCacheInFull(cache, rental);
    }

    // The stack is full: the rental goes to the depot, for a thread that rents what this one
    // returns; when the depot is full too, the stack's older half goes back to the allocator to
    // make room.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TryCacheInFull(RentalCache cache, Rental rental)
    {
        if (_depot.TryPush(rental.Order, rental.Index))
        {
            return true;
        }

        if (!cache.Hot.Gate.TryEnter())
        {
            return false;
        }

        Span<int> spill = cache.SpillBuffer.AsSpan(0, RentalCache.High(rental.Order) / 2);
        int count = cache.TakeOldest(rental.Order, spill);
        bool pushed = cache.TryPush(rental.Index, rental.Order);
        cache.Hot.Gate.Exit();
        foreach (int old in spill[..count])
        {
            Release(_rentals.At(old));
        }

        return pushed;
    }

    // A rental holding a block for `request` (a reference on the mapping taken); null (or the
    // refusal thrown), with nothing taken, when the allocator cannot serve it even after
    // reclaiming abandoned rentals.
    private Rental? TakeRental(Request request, int order, bool throwOnRefusal)
    {
        _handle.Acquire(); // the block's reference on the mapping, released when it goes back
        Rental? rental = null;
        try
        {
            if (TryRentBlock(request, throwOnRefusal, out Block block))
            {
                rental = _rentals.TakeSpare();
                rental.Attach(block, order);
            }

            return rental;
        }
        finally
        {
            if (rental is null)
            {
                _handle.Release();
            }
        }
    }

    // One more block of `order` for a refill batch, or false (no memory, or the arena disposed).
    private bool TryTakeBatchRental(int order, [NotNullWhen(true)] out Rental? rental)
    {
        rental = null;
        if (IsDisposed || !Pages.TryAllocate(Request.ForOrder(order), out Block block))
        {
            return false;
        }

        if (!_reservation.IsResident(block.Pfn, block.PageCount) && !_reservation.TryMakeResident(block.Address, block.Size, out _))
        {
            Pages.Free(block); // a batch is not worth a failure: the rent itself already has its block
            return false;
        }

        if (!_handle.TryAcquire()) // disposed since the check above: the batch ends, the rent it is for goes on
        {
            Pages.Free(block);
            return false;
        }

        rental = _rentals.TakeSpare();
        rental.Attach(block, order);
        return true;
    }

    // A rental holding a small block of at least `bytes` bytes; null (or the refusal thrown), with
    // nothing taken, when no slab page could be had (even after reclaiming abandoned rentals) or
    // committed.
    private Rental? TakeSmallRental(ulong bytes, bool throwOnRefusal)
    {
        _handle.Acquire();
        Rental? rental = null;
        try
        {
            SmallAllocator small = Volatile.Read(ref _small) ?? CreateSmall();
            if (!small.TryAllocate(bytes, out PoolBlock block, out AllocationFailure? why)
                && (ReclaimAbandonedAfterRefusal() == 0 || !small.TryAllocate(bytes, out block, out why))) // as a page rent does
            {
                return throwOnRefusal ? throw new AllocationFailedException(why) : null;
            }

            ulong pfn = block.Address >> _pageShift; // the arena's pfns are its real addresses in pages
            if (!_reservation.IsResident(pfn, 1) && !_reservation.TryMakeResident(block.Address & ~(Pages.PageSize - 1), Pages.PageSize, out string? error))
            {
                small.Free(block);
                return throwOnRefusal
                    ? throw new AllocationFailedException($"Cannot rent {bytes} bytes: the operating system refused to commit the memory of their slab page ({error}). Nothing is rented.")
                    : null;
            }

            if (_checked)
            {
                ForgetPoison(block.Address & ~(Pages.PageSize - 1), Pages.PageSize); // a slab page is written by its small blocks: no page check applies to it
            }

            rental = _rentals.TakeSpare();
            rental.Attach(block);
            Interlocked.Increment(ref _uncachedRents);
            return rental;
        }
        finally
        {
            if (rental is null)
            {
                _handle.Release();
            }
        }
    }

    private SmallAllocator CreateSmall()
    {
        lock (_checkLock)
        {
            return _small ??= new SmallAllocator(Pages);
        }
    }

    // Gives a rental's memory back to the allocator, the rental to the spares, and its reference
    // on the mapping back (the last one, after Dispose, unmaps the arena). Never inlined: it is
    // the slow path of every return, and inlined it crowds the fast one's registers.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Release(Rental rental)
    {
        try
        {
            if (rental.Small.IsEmpty)
            {
                Pages.Free(rental.Block);
            }
            else
            {
                _small!.Free(rental.Small);
            }
        }
        finally
        {
            rental.Detach();
            _rentals.ReturnSpare(rental);
            _handle.Release(); // the rental is over even if the allocator refused its block
        }
    }

    // The sweep's end of a rental whose owner was collected.
    private void Abandoned(Rental rental)
    {
        Interlocked.Increment(ref _abandoned);
        BuddyMetrics.CountAbandonedRental();
        if (_checked)
        {
            lock (_checkLock)
            {
                _abandonedReports.Add(new AbandonedRental(rental.Block.IsEmpty ? Invariant($"{rental.Length} bytes at 0x{rental.Address:x}") : rental.Block.ToString(), rental.RentedAt ?? ""));
            }

            PoisonReturned(rental);
        }

        Release(rental);
    }

    // The calling thread's cache for this arena, created on first use.
    private RentalCache CurrentCache() => CacheOf(t_rentals);

    // The calling thread's cache of this arena, given the one it used last (t_rentals).
    private RentalCache CacheOf(RentalCache? last) => last is not null && last.ArenaId == _id ? last : AttachCache();

    private RentalCache AttachCache()
    {
        Thread me = Thread.CurrentThread;
        foreach (RentalCache c in Volatile.Read(ref _caches))
        {
            if (c.Owner == me)
            {
                return t_rentals = c;
            }
        }

        lock (_cachesLock)
        {
            if (IsDisposed)
            {
                // Nothing joins the caches after Dispose: every thread that comes later shares one
                // frozen cache, listed nowhere, which no rent or return enters (a rent then throws
                // ObjectDisposedException, a return gives the block back to the allocator).
                if (_retiredCache is null)
                {
                    _retiredCache = new RentalCache(_id);
                    _retiredCache.Hot.Gate.Freeze();
                }

                return t_rentals = _retiredCache;
            }

            // Each cache is asked once whether its thread is alive: a thread that ended between two
            // looks would drop out of the list without being emptied, its ready rentals lost.
            var kept = new List<RentalCache>(_caches.Length + 1);
            foreach (RentalCache cache in _caches)
            {
                if (cache.Owner.IsAlive)
                {
                    kept.Add(cache);
                }
                else
                {
                    Empty(cache); // its thread has ended: no one is inside it
                    _forgottenRents += cache.Hot.Rents;
                }
            }

            var fresh = new RentalCache(_id);
            kept.Add(fresh);
            _caches = [.. kept];
            return t_rentals = fresh;
        }
    }

    /// <summary>
    /// Gives every ready rental in the threads' caches and in the arena's depot back to the allocator, so that its free
    /// pages count them (as <see cref="PageAllocator.DrainCaches"/> does for its per-CPU lists).
    /// Dispose does it too; threads keep renting meanwhile and refill their caches as they need.
    /// </summary>
    // CacheGate's handshake: freezes every cache, waits for owners inside an operation, empties
    // them and lets the owners in again (after Dispose they find the arena disposed and give
    // their returns straight back).
    public void DrainCaches()
    {
        lock (_cachesLock)
        {
            if (_caches.Length > 0)
            {
                foreach (RentalCache cache in _caches)
                {
                    cache.Hot.Gate.Freeze();
                }

                Interlocked.MemoryBarrierProcessWide();
                foreach (RentalCache cache in _caches)
                {
                    cache.Hot.Gate.WaitIdle();
                    Empty(cache);
                    if (!IsDisposed)
                    {
                        cache.Hot.Gate.Thaw(); // after Dispose (which retires first) the caches stay frozen: rents and returns pass them by
                    }
                }
            }

            EmptyDepot();
        }
    }

    // Gives back every ready rental in the depot: one take per order, as deep as the deepest stack
    // (threads may pass it more meanwhile, unless the arena is disposed; a drain is a moment's).
    private void EmptyDepot()
    {
        Span<int> taken = stackalloc int[RentalCache.High(0)];
        for (int order = 0; order < RentalCache.Orders; order++)
        {
            foreach (int rental in taken[.._depot.TakeNewest(order, taken)])
            {
                Release(_rentals.At(rental));
            }
        }
    }

    // Gives back every ready rental of a cache that is frozen and idle, or whose thread has ended.
    private void Empty(RentalCache cache)
    {
        var all = new int[RentalCache.High(0)];
        for (int order = 0; order < RentalCache.Orders; order++)
        {
            int count = cache.TakeOldest(order, all);
            foreach (int rental in all.AsSpan(0, count))
            {
                Release(_rentals.At(rental));
            }
        }
    }

    // Checked mode: fills a returned page block with the poison and marks its pages.
    private void PoisonReturned(Rental rental)
    {
        if (rental.Block.IsEmpty)
        {
            return; // small blocks share pages with others: not poisoned
        }

        Block block = rental.Block;
        lock (_checkLock)
        {
            unsafe
            {
                new Span<byte>((void*)block.Address, (int)block.Size).Fill(Poison);
            }

            ulong first = (block.Address - BaseAddress) / Pages.PageSize;
            _poisoned.AsSpan((int)first, (int)block.PageCount).Fill(true);
        }
    }
}
