// PageAllocator (thread caches and allocation heads): the fast path for unconstrained small
// requests, and the per-page mark that says "an allocation starts here", which lets a free be
// checked without the allocator's lock.
//
// Invariants:
// - A page's head is set iff a live allocation (a block, an exact run, a contiguous range, a
//   movable block) starts there. Pieces of exact runs and blocks in thread caches have none.
// - _allocatedPages counts the pages of allocated units, cached ones included: a block moves
//   between a cache and its user without touching shared counters. AllocatedPages subtracts the
//   cached pages.
// - _threadCaches lists every cache of this allocator (copy on write, under the lock); a cache
//   whose thread has ended is removed by the next drain, once empty.
// - The owner of a cache never holds the allocator's lock inside TryEnter/Exit; everyone else
//   touches a cache only under the lock and frozen (ThreadCache explains the handshake).
using System.Runtime.CompilerServices;
using Buddy.Caches;
using Buddy.Mobility;
using Buddy.Pages;
using Buddy.Zones;

namespace Buddy.Allocation;

public sealed partial class PageAllocator
{
    [ThreadStatic]
    private static ThreadCache? t_cache; // the calling thread's cache of the allocator it used last

    private readonly AllocationHeads _heads;
    private readonly int _cacheMaxOrder = -1; // the largest cached order; -1 without caches
    private readonly int _cacheTypes;
    private ThreadCache[] _threadCaches = [];

    /// <summary>Pages held in thread caches: neither free (buddyinfo does not count them) nor allocated. A snapshot while other threads run.</summary>
    public ulong CachedPages
    {
        get
        {
            long total = 0;
            foreach (ThreadCache c in Volatile.Read(ref _threadCaches))
            {
                total += c.CachedPages;
            }

            return (ulong)total;
        }
    }

    /// <summary>Gives every cached block back to the zones (the kernel's drain_all_pages), waiting for threads inside a fast-path operation to leave it.</summary>
    public void DrainCaches()
    {
        lock (_lock)
        {
            DrainCachesLocked();
        }
    }

    // Whether the request can come from a thread cache: a whole block of order 0..3 that any zone
    // may serve, with no limit, alignment or boundary it does not meet by itself, at normal
    // priority, and not a movable block the allocator must track.
    private bool Cacheable(in Request request, ulong pages, int order) =>
        order <= _cacheMaxOrder && pages == 1UL << order
        && (request.Zone is null || request.Zone == _layout.Zones[^1].Kind)
        && request.MaxAddress is null && request.Boundary == 0 && request.Priority == AllocationPriority.Normal
        && request.Alignment <= (PageSize << order)
        && !(request.Mobility == MigrateType.Movable && _layout.Mobility.GroupByMobility);

    private int CacheType(MigrateType mobility) => _cacheTypes == 1 ? 0 : (int)mobility;

    // The calling thread's cache for this allocator, created on first use.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ThreadCache CurrentCache()
    {
        ThreadCache? cache = t_cache;
        return cache is not null && cache.AllocatorId == _id ? cache : AttachCache();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private ThreadCache AttachCache()
    {
        Thread me = Thread.CurrentThread;
        foreach (ThreadCache c in Volatile.Read(ref _threadCaches))
        {
            if (c.Owner == me)
            {
                return t_cache = c;
            }
        }

        var fresh = new ThreadCache(_id, _cacheTypes);
        lock (_lock)
        {
            _threadCaches = [.. _threadCaches, fresh];
        }

        return t_cache = fresh;
    }

    // The first thing every allocation tries: a bare small order (see Request.BareOrder) popped
    // from this thread's stack, with no refill. Small enough to inline into Allocate.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryPopCached(in Request request, out Block block)
    {
        int order = request.BareOrder;
        MigrateType mobility = request.Mobility;
        if ((uint)order <= (uint)_cacheMaxOrder && (mobility != MigrateType.Movable || _cacheTypes == 1))
        {
            return TryPop(CurrentCache(), mobility, order, out block);
        }

        block = default;
        return false;
    }

    // The fast allocation for any cacheable request: pop, or refill an empty stack in a batch
    // under the lock. False sends the caller down the slow path (which drains every cache before failing).
    private bool TryAllocateCached(MigrateType mobility, int order, out Block block)
    {
        ThreadCache cache = CurrentCache();
        return TryPop(cache, mobility, order, out block) || RefillAndAllocate(cache, cache.List(order, CacheType(mobility)), order, mobility, out block);
    }

    // Pops a block from the owner's stack without any lock; false when the stack is empty or frozen.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryPop(ThreadCache cache, MigrateType mobility, int order, out Block block)
    {
        int list = cache.List(order, CacheType(mobility));
        if (cache.TryEnter())
        {
            ref int count = ref cache.Hot.Counts[list];
            if (count > 0)
            {
                ulong pfn = cache.Stacks[list][--count];
                _heads.Set(pfn - _firstPfn, mobility);
                cache.Exit();
                block = new Block(pfn, 1UL << order, _pageShift, _id, mobility);
                BuddyMetrics.CountAllocation();
                return true;
            }

            cache.Exit();
        }

        block = default;
        return false;
    }

    // Refills the stack (when empty) with a batch taken through the ordinary zonelist walk
    // (watermarks apply) and pops one block, all under the lock.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool RefillAndAllocate(ThreadCache cache, int list, int order, MigrateType mobility, out Block block)
    {
        block = default;
        lock (_lock)
        {
            ref int count = ref cache.Hot.Counts[list];
            int highest = _zoneByLayoutIndex.Length - 1;
            bool watermarks = _layout.Watermarks.Enabled;
            for (int i = count; i < ThreadCache.Batch(order); i++)
            {
                (ulong pfn, Zone? zone) = watermarks
                    ? TakeFromZonelist(order, order, ulong.MaxValue, highest, WatermarkKind.Low, AllocationPriority.Normal, mobility)
                    : (ulong.MaxValue, null);
                if (zone is null)
                {
                    (pfn, zone) = TakeFromZonelist(order, order, ulong.MaxValue, highest, watermarks ? WatermarkKind.Min : WatermarkKind.None, AllocationPriority.Normal, mobility);
                }

                if (zone is null)
                {
                    break;
                }

                cache.Stacks[list][count++] = pfn;
                _allocatedPages += 1UL << order;
            }

            if (count == 0)
            {
                return false;
            }

            ulong taken = cache.Stacks[list][--count];
            SetHead(taken, mobility);
            block = new Block(taken, 1UL << order, _pageShift, _id, mobility);
            BuddyMetrics.CountAllocation();
            return true;
        }
    }

    // The fast free: clear the head (a second free finds it clear and goes to the slow path, which
    // reports it) and push onto this thread's stack, spilling a batch under the lock when full.
    private bool TryFreeCached(in Block block)
    {
        int order = block.Order;
        if (order > _cacheMaxOrder || block.PageCount != 1UL << order || block.IsTracked)
        {
            return false;
        }

        ThreadCache cache = CurrentCache();
        if (!cache.TryEnter())
        {
            return false;
        }

        if (!_heads.TryClear(block.Pfn - _firstPfn))
        {
            cache.Exit();
            return false;
        }

        int list = cache.List(order, CacheType(block.Mobility));
        ref int count = ref cache.Hot.Counts[list];
        cache.Stacks[list][count++] = block.Pfn;
        bool full = count > ThreadCache.High(order);
        cache.Exit();
        if (full)
        {
            SpillBatch(cache, list, order);
        }

        return true;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void SpillBatch(ThreadCache cache, int list, int order)
    {
        lock (_lock)
        {
            Spill(cache, list, order, ThreadCache.Batch(order));
        }
    }

    // Gives `count` blocks (the oldest, at the bottom of the stack) back to the zones. Lock held,
    // and the cache is the caller's own or frozen.
    private void Spill(ThreadCache cache, int list, int order, int count)
    {
        ulong[] stack = cache.Stacks[list];
        ref int depth = ref cache.Hot.Counts[list];
        count = Math.Min(count, depth);
        for (int i = 0; i < count; i++)
        {
            ZoneOf(stack[i])!.Release(stack[i], order);
        }

        Array.Copy(stack, count, stack, 0, depth - count);
        depth -= count;
        _allocatedPages -= (ulong)count << order;
    }

    // Stops every other thread's fast path on this allocator until ThawCaches: after this, every
    // cache is idle and stays so while the lock is held. Lock held. The calling thread's own cache
    // needs no freeze (its owner is here, outside any fast-path operation).
    private void FreezeCaches()
    {
        Thread me = Thread.CurrentThread;
        bool others = false;
        foreach (ThreadCache c in _threadCaches)
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
        foreach (ThreadCache c in _threadCaches)
        {
            if (c.Owner != me)
            {
                c.WaitIdle();
            }
        }
    }

    // Lets the owners back in. Lock held.
    private void ThawCaches()
    {
        foreach (ThreadCache c in _threadCaches)
        {
            c.Thaw();
        }
    }

    // Empties every cache, and forgets those whose thread has ended. Lock held.
    private void DrainCachesLocked()
    {
        if (_threadCaches.Length == 0)
        {
            return;
        }

        FreezeCaches();
        try
        {
            foreach (ThreadCache cache in _threadCaches)
            {
                for (int list = 0; list < cache.Stacks.Length; list++)
                {
                    Spill(cache, list, cache.OrderOf(list), cache.Hot.Counts[list]);
                }
            }
        }
        finally
        {
            ThawCaches();
        }

        if (Array.Exists(_threadCaches, c => !c.Owner.IsAlive))
        {
            _threadCaches = Array.FindAll(_threadCaches, c => c.Owner.IsAlive);
        }
    }

    // Every cached block as (pfn, order). Lock held and caches frozen.
    private IEnumerable<(ulong Pfn, int Order)> CachedBlocks()
    {
        foreach (ThreadCache cache in _threadCaches)
        {
            for (int list = 0; list < cache.Stacks.Length; list++)
            {
                for (int i = 0; i < cache.Hot.Counts[list]; i++)
                {
                    yield return (cache.Stacks[list][i], cache.OrderOf(list));
                }
            }
        }
    }

    private void SetHead(ulong pfn, MigrateType mobility) => _heads.Set(pfn - _firstPfn, mobility);

    private MigrateType MobilityOfHead(ulong pfn) => _heads.MobilityOf(pfn - _firstPfn) ?? MigrateType.Unmovable;

    // Clears the head; false when it was not set (nothing changes then).
    private bool TryClearHead(ulong pfn) => _heads.TryClear(pfn - _firstPfn);

    private bool IsHead(ulong pfn) => _heads.IsSet(pfn - _firstPfn);
}
