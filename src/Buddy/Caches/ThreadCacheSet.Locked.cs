// ThreadCacheSet (the lock holder's side): what a thread holding the allocator's lock does to the
// caches: attach a thread's new cache, refill a stack with a batch, spill a batch or a whole cache
// back to the zones, freeze and thaw every cache, drain them, list the cached blocks, and forget
// the caches of ended threads. ThreadCacheSet.cs has the state and the owner's fast path.
//
// Invariants (besides ThreadCacheSet.cs's): every member here runs with the lock held; a cache is
// changed here only by its owner, or while it is frozen, or after its owner has ended; a fault
// part-way through a spill leaves the blocks given back so far given back and counted so; a
// refill's batch is optional and stops rather than allocate.
using System.Diagnostics;
using static System.FormattableString;

namespace Buddy;

internal partial struct ThreadCacheSet
{
    /// <summary>Bytes held by every cache's stacks. Lock held.</summary>
    public readonly long StackBytesLocked
    {
        get
        {
            Debug.Assert(_lock.IsHeldByCurrentThread);
            long bytes = 0;
            foreach (ThreadCache c in _caches)
            {
                bytes += c.StackBytes;
            }

            return bytes;
        }
    }

    /// <summary>Adds the calling thread's <paramref name="fresh"/> cache and makes it its current one, first forgetting the caches of ended threads. Lock held.</summary>
    public void AttachLocked(ThreadCache fresh)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        ForgetEndedThreadsLocked();
        _caches = [.. _caches, fresh];
        t_cache = fresh;
    }

    /// <summary>
    /// Refills from the first zone of the zonelist that passes its watermark (low, then min), as the
    /// kernel's rmqueue_bulk: one check, then a batch from that zone into that zone's stack; hands
    /// out the first block, stamped. Lock held, with a step reserved (PageAllocator.ReserveForStep).
    /// </summary>
    public readonly bool RefillLocked(ThreadCache cache, int route, int order, MigrateType mobility, out Block block)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        block = default;
        (ulong pfn, Zone? zone) = _watermarks
            ? _zonelist.Take(order, order, ulong.MaxValue, route, WatermarkKind.Low, AllocationPriority.Normal, mobility)
            : (ulong.MaxValue, null);
        if (zone is null)
        {
            (pfn, zone) = _zonelist.Take(order, order, ulong.MaxValue, route, _watermarks ? WatermarkKind.Min : WatermarkKind.None, AllocationPriority.Normal, mobility);
        }

        if (zone is null)
        {
            return false;
        }

        ulong stamp = _heads.Set(pfn, mobility); // the head chunk in hand, if it needs one
        int cacheZone = _zoneByLayoutIndex[zone.Index + 1];
        if (TryTopUpForBatch())
        {
            FillBatchLocked(cache, zone, cache.List(cacheZone, order, TypeOf(mobility)), order, mobility);
        }

        block = new Block(pfn, 1UL << order, _pageShift, _allocatorId, stamp, mobility, zoneHint: cacheZone);
        BuddyMetrics.CountAllocation();
        return true;
    }

    /// <summary>
    /// Gives <paramref name="count"/> blocks (the oldest, at the bottom of the stack) of stack
    /// <paramref name="list"/> back to its zone. Lock held, and the cache is the caller's own or
    /// frozen. A fault part-way leaves the blocks given back so far given back.
    /// </summary>
    public readonly void SpillLocked(ThreadCache cache, int list, int count)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        int order = ThreadCache.OrderOf(list);
        Span<ulong> stack = cache.Hot.Stacks.AsSpan(ThreadCache.Start(list));
        ref int depth = ref cache.Hot.Counts[list];
        count = Math.Min(count, depth);
        Zone zone = _zones[cache.ZoneOf(list)];
        int released = 0;
        try
        {
            for (; released < count; released++)
            {
                _chunks.EnsureOperation(); // may throw: the blocks given back so far stay given back
                zone.Release(stack[released], order);
            }
        }
        finally
        {
            stack[released..depth].CopyTo(stack);
            depth -= released;
        }
    }

    /// <summary>
    /// Stops every other thread's fast path on this allocator until <see cref="ThawLocked"/>: after
    /// this, every cache is idle and stays so while the lock is held. The calling thread's own cache
    /// needs no freeze (its owner is here, outside any fast-path operation). Lock held.
    /// </summary>
    public readonly void FreezeLocked()
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        Thread me = Thread.CurrentThread;
        bool others = false;
        foreach (ThreadCache c in _caches)
        {
            if (c.Owner != me)
            {
                c.Freeze();
                others = true;
            }
        }

        if (!others)
        {
            return;
        }

        Interlocked.MemoryBarrierProcessWide();
        foreach (ThreadCache c in _caches)
        {
            if (c.Owner != me)
            {
                c.WaitIdle();
            }
        }
    }

    /// <summary>Lets the owners back in. Lock held.</summary>
    public readonly void ThawLocked()
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        foreach (ThreadCache c in _caches)
        {
            c.Thaw();
        }
    }

    /// <summary>Empties every cache, and forgets those whose thread has ended. Lock held.</summary>
    public void DrainLocked()
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        if (_caches.Length == 0)
        {
            return;
        }

        FreezeLocked();
        try
        {
            SpillAllLocked();
        }
        finally
        {
            ThawLocked();
        }
    }

    /// <summary>Empties every cache and forgets those of ended threads. Lock held, caches frozen.</summary>
    public void SpillAllLocked()
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        foreach (ThreadCache cache in _caches)
        {
            SpillWholeLocked(cache);
        }

        ForgetEndedThreadsLocked();
    }

    // Empties and forgets the caches of threads that have ended (an ended thread is in no
    // fast-path operation, so no freeze is needed). Runs whenever a thread attaches a cache, so
    // that a program that starts many short threads keeps neither their pages nor their caches.
    // Each cache is asked once whether its thread is alive: a thread that ended between two looks
    // would drop out of the list without being spilled, its pages lost. Lock held.
    private void ForgetEndedThreadsLocked()
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        List<ThreadCache>? kept = null;
        for (int i = 0; i < _caches.Length; i++)
        {
            ThreadCache cache = _caches[i];
            if (cache.Owner.IsAlive)
            {
                kept?.Add(cache);
                continue;
            }

            kept ??= [.. _caches.AsSpan(0, i)];
            SpillWholeLocked(cache);
        }

        if (kept is not null)
        {
            _caches = [.. kept];
        }
    }

    // Gives every block of every stack of `cache` back. Lock held, the cache frozen or its owner ended.
    private readonly void SpillWholeLocked(ThreadCache cache)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        for (int list = 0; list < cache.Lists; list++)
        {
            SpillLocked(cache, list, cache.Hot.Counts[list]);
        }
    }

    // Tops stack `list` up with blocks taken from `zone` until it holds a batch (counting the block
    // just handed out), stopping rather than allocating: the batch is optional. Lock held.
    private readonly void FillBatchLocked(ThreadCache cache, Zone zone, int list, int order, MigrateType mobility)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        ulong[] stacks = cache.Hot.Stacks;
        int start = ThreadCache.Start(list);
        ref int count = ref cache.Hot.Counts[list];
        for (int i = count + 1; i < ThreadCache.Batch(order) && _chunks.HasOperation && zone.Take(order, order, ulong.MaxValue, mobility) is var more && more != ulong.MaxValue; i++)
        {
            // The fast path will mark this page between TryEnter and Exit, where nothing may
            // throw (a freezer would wait for ever): its mark's chunk must exist before then,
            // and making it must not allocate here (a batch is not worth a failure half-way).
            if (!_heads.HasChunk(more) && !_heads.HasSpare)
            {
                zone.Release(more, order); // the reserve still holds a give-back's chunk
                break;
            }

            _heads.EnsureChunk(more);
            stacks[start + count++] = more;
        }
    }

    // The requested block is taken and marked; the batch that follows is optional. Refills the
    // reserves it may draw on (a take's worth of chunks, a head chunk in hand); if memory is short
    // the batch is skipped rather than failing a request that is already served.
    private readonly bool TryTopUpForBatch()
    {
        try
        {
            _chunks.EnsureOperation();
            _heads.EnsureSpare();
            return true;
        }
        catch (OutOfMemoryException)
        {
            return false;
        }
    }

    /// <summary>Throws unless every cached block is an allocated unit (in <paramref name="units"/>) of its stack's order and zone, in one cache once, owned by no one else (no exact run's piece, no movable block); returns their starts. Lock held and caches frozen.</summary>
    public readonly HashSet<ulong> ValidateLocked(HashSet<ulong> units, HashSet<ulong> pieces, MovableRegistry movable)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        var cached = new HashSet<ulong>();
        foreach ((ulong pfn, int order, Zone zone) in CachedBlocksLocked())
        {
            if (!units.Contains(pfn) || _zonelist.ZoneOf(pfn) != zone || zone.FindUnit(pfn) != (pfn, order, false) || pieces.Contains(pfn) || movable.ContainsKey(pfn) || !cached.Add(pfn))
            {
                throw new InvalidOperationException(Invariant($"Invariant broken: the block at pfn 0x{pfn:x} cached as an order-{order} block of zone {zone.Name} is not an allocated unit of that order and zone owned by no one else (or is cached twice)."));
            }
        }

        return cached;
    }
}
