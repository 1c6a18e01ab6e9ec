// PageAllocator (thread caches and allocation heads): the fast path for small requests that any
// block of one zone satisfies, and the per-page mark that says "an allocation starts here", which
// lets a free be checked without the allocator's lock.
//
// Invariants:
// - A page's head is set iff a live allocation (a block, an exact run, a contiguous range, a
//   movable block) starts there. Pieces of exact runs and blocks in thread caches have none.
// - _allocatedPages counts the pages of allocated units, cached ones included: a block moves
//   between a cache and its user without touching shared counters. AllocatedPages subtracts the
//   cached pages.
// - _threadCaches lists every cache of this allocator (copy on write, under the lock); a cache
//   whose thread has ended is emptied and removed by the next drain or the next thread to attach.
// - The owner of a cache never holds the allocator's lock inside TryEnter/Exit; everyone else
//   touches a cache only under the lock and frozen (ThreadCache explains the handshake).
using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Buddy;

public sealed partial class PageAllocator
{
    [ThreadStatic]
    private static ThreadCache? t_cache; // the calling thread's cache of the allocator it used last

    private readonly AllocationHeads _heads;
    private readonly int _cacheMaxOrder = -1; // the largest cached order; -1 without caches
    private readonly int _cacheTypes;
    private readonly int[] _cacheZoneByLayoutIndex = []; // at [layout index + 1]: that zone's place among the populated zones; at [0]: -1
    private readonly int _topCacheZone;                  // its place among the populated zones
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
            RefuseInsideCallback(nameof(DrainCaches));
            DrainCachesLocked();
        }
    }

    // Serves any request a thread cache can (see CacheZone) by popping, or refilling in a batch
    // under the lock; false sends the caller down the slow path (which also reports invalid
    // requests, and drains every cache before failing).
    private bool TryAllocateCached(in Request request, out Block block)
    {
        block = default;
        ulong pages = request.PagesAt(_pageShift);
        if (_cacheMaxOrder < 0 || pages > (1UL << _cacheMaxOrder) || (pages & (pages - 1)) != 0 || request.IsExact)
        {
            return false;
        }

        int order = BitOperations.TrailingZeroCount(pages);
        int zone = CacheZone(request, order);
        return zone >= 0 && TryTakeFromCache(zone, request.Mobility, order, out block);
    }

    // The zone whose cache can refill for a request for a whole order-`order` block (its layout
    // index), or -1: normal priority, an alignment and boundary the block meets by itself, not a
    // movable block the allocator must track, and a highest allowed zone that lies wholly below
    // the address limit (so that any block of that zone will do, as with the kernel's per-zone pcp
    // lists). A limit that cuts through the zone is served from the cache only when the block on
    // top of the stack lies below it (TryPopCached); otherwise the slow path searches below the
    // limit. The zone is the one Zonelist.Placement finds.
    private int CacheZone(in Request request, int order)
    {
        if (request.IsShaped)
        {
            ulong blockBytes = PageSize << order;
            if (request.Priority != AllocationPriority.Normal || request.Alignment > blockBytes || (request.Boundary != 0 && request.Boundary < blockBytes))
            {
                return -1;
            }
        }

        if (request.Mobility == MigrateType.Movable && _cacheTypes != 1)
        {
            return -1;
        }

        int zone = _zonelist.Placement(request.ZonePlusOne, _zonelist.LimitPfn(request.HasLimit, request.RawMaxAddress), order, out ulong cutPfn);
        return cutPfn == ulong.MaxValue ? zone : -1;
    }

    private int CacheType(MigrateType mobility) => _cacheTypes == 1 ? 0 : (int)mobility;

    // The place among the populated zones of the zone holding `pfn`.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int CacheZoneOf(ulong pfn)
    {
        int z = _zones.Length - 1;
        while (z > 0 && pfn < _zones[z].StartPfn)
        {
            z--;
        }

        return z;
    }

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

        var fresh = new ThreadCache(_id, _zones.Length, _cacheTypes);
        lock (_lock)
        {
            // A migrate callback's thread gets no cache (one made now would not be frozen): the
            // allocation or free it was for is refused, as on the slow path.
            RefuseInsideCallback("Allocate or Free");
            ForgetEndedThreads();
            _threadCaches = [.. _threadCaches, fresh];
        }

        return t_cache = fresh;
    }

    // The first thing every allocation tries: a small order with at most a zone and an address
    // limit (see Request.PlacedOrder), popped from this thread's stack for its zone, with no
    // refill. Small enough to inline into Allocate: the request's fields go by value, so the
    // caller's request is never address-exposed.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryPopCached(in Request request, out Block block)
    {
        int order = request.PlacedOrder;
        MigrateType mobility = request.Mobility;
        // (uint)order < _cacheMaxOrder + 1 also rejects order -1 and every order without caches (-1).
        if ((uint)order < (uint)(_cacheMaxOrder + 1) && (mobility != MigrateType.Movable || _cacheTypes == 1))
        {
            ulong limitPfn = ulong.MaxValue;
            int zone = request.IsPlaced ? _cacheZoneByLayoutIndex[_zonelist.Placement(request.ZonePlusOne, _zonelist.LimitPfn(request.HasLimit, request.RawMaxAddress), order, out limitPfn) + 1] : _topCacheZone;
            if (zone >= 0)
            {
                return TryPop(CurrentCache(), zone, mobility, order, limitPfn, out block);
            }
        }

        block = default;
        return false;
    }

    // Walks the zonelist from `highest` (a layout index from CacheZone) as get_page_from_freelist
    // does, each zone's stack first: a zone below its low watermark (read without the lock, as the
    // kernel's zone_watermark_fast reads its counters) is passed over for the next one down; the
    // first zone that passes serves from its stack, or the refill (under the lock) takes a batch.
    private bool TryTakeFromCache(int highest, MigrateType mobility, int order, out Block block)
    {
        ThreadCache cache = CurrentCache();
        for (int i = highest; i >= 0; i--)
        {
            if (_zonelist[i] is not { } zone)
            {
                continue;
            }

            if (TryPop(cache, _cacheZoneByLayoutIndex[i + 1], mobility, order, ulong.MaxValue, out block))
            {
                return true;
            }

            if (CouldServe(zone, order, highest))
            {
                break;
            }
        }

        return RefillAndAllocate(cache, highest, order, mobility, out block);
    }

    // Whether a refill would take from this zone (a lockless estimate; the refill checks again).
    private bool CouldServe(Zone zone, int order, int highest) => _layout.Watermarks.Enabled
        ? Zonelist.WatermarkOk(zone, order, WatermarkKind.Low, highest, AllocationPriority.Normal)
        : zone.FreePages >= 1UL << order;

    // Pops a block from the owner's stack without any lock, if the one on top lies below limitPfn;
    // false when the stack is empty or frozen, or its top block is not below the limit.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryPop(ThreadCache cache, int cacheZone, MigrateType mobility, int order, ulong limitPfn, out Block block)
    {
        int list = cache.List(cacheZone, order, CacheType(mobility));
        if (cache.TryEnter())
        {
            ref int count = ref cache.Hot.Counts[list];
            ulong pfn;
            if (count > 0 && (pfn = cache.Hot.Stacks[ThreadCache.Start(list) + count - 1]) + (1UL << order) <= limitPfn)
            {
                count--;
                ulong stamp = _heads.Set(pfn - _firstPfn, mobility);
                cache.Exit();
                block = new Block(pfn, 1UL << order, _pageShift, _id, stamp, mobility, zoneHint: cacheZone);
                BuddyMetrics.CountAllocation();
                return true;
            }

            cache.Exit();
        }

        block = default;
        return false;
    }

    // Refills from the first zone of the zonelist that passes its watermark (low, then min), as the
    // kernel's rmqueue_bulk: one check, then a batch from that zone, into that zone's stack; then
    // pops one block. All under the lock.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool RefillAndAllocate(ThreadCache cache, int highest, int order, MigrateType mobility, out Block block)
    {
        block = default;
        lock (_lock)
        {
            RefuseInsideCallback("Allocate");
            ReserveForStep();
            bool watermarks = _layout.Watermarks.Enabled;
            (ulong pfn, Zone? zone) = watermarks
                ? _zonelist.Take(order, order, ulong.MaxValue, highest, WatermarkKind.Low, AllocationPriority.Normal, mobility)
                : (ulong.MaxValue, null);
            if (zone is null)
            {
                (pfn, zone) = _zonelist.Take(order, order, ulong.MaxValue, highest, watermarks ? WatermarkKind.Min : WatermarkKind.None, AllocationPriority.Normal, mobility);
            }

            if (zone is null)
            {
                return false;
            }

            int list = cache.List(_cacheZoneByLayoutIndex[zone.Index + 1], order, CacheType(mobility));
            ulong[] stacks = cache.Hot.Stacks;
            int start = ThreadCache.Start(list);
            ref int count = ref cache.Hot.Counts[list];
            _allocatedPages += 1UL << order;
            ulong stamp = SetHead(pfn, mobility); // the head chunk in hand, if it needs one
            bool batch = TryTopUpForBatch();
            for (int i = count + 1; batch && i < ThreadCache.Batch(order) && CanTakeWithoutAllocating() && zone.Take(order, order, ulong.MaxValue, mobility) is var more && more != ulong.MaxValue; i++)
            {
                // The fast path will mark this page between TryEnter and Exit, where nothing may
                // throw (a freezer would wait for ever): its mark's chunk must exist before then,
                // and making it must not allocate here (a batch is not worth a failure half-way).
                if (!_heads.HasChunk(more - _firstPfn) && !_heads.HasSpare)
                {
                    zone.Release(more, order); // the reserve still holds a give-back's chunk
                    break;
                }

                _heads.EnsureChunk(more - _firstPfn);
                stacks[start + count++] = more;
                _allocatedPages += 1UL << order;
            }

            block = new Block(pfn, 1UL << order, _pageShift, _id, stamp, mobility, zoneHint: _cacheZoneByLayoutIndex[zone.Index + 1]);
            BuddyMetrics.CountAllocation();
            return true;
        }
    }

    // The fast free: clear the head (a second free finds it clear and goes to the slow path, which
    // reports it) and push onto this thread's stack, spilling a batch under the lock when full.
    private bool TryFreeCached(Block block)
    {
        ulong pages = block.PageCount;
        if (_cacheMaxOrder < 0 || pages > (1UL << _cacheMaxOrder) || (pages & (pages - 1)) != 0 || block.IsTracked)
        {
            return false;
        }

        int order = BitOperations.TrailingZeroCount(pages);
        int zone = block.ZoneHint;
        if (zone < 0)
        {
            zone = CacheZoneOf(block.Pfn);
        }

        Debug.Assert(zone == CacheZoneOf(block.Pfn));
        ThreadCache cache = CurrentCache();
        int list = cache.List(zone, order, CacheType(block.Mobility));

        // A full stack spills a batch first, so that nothing can fail once the head is cleared:
        // a spill that fails (out of memory) leaves this free undone, and says so.
        if (Volatile.Read(ref cache.Hot.Counts[list]) >= ThreadCache.High(order))
        {
            SpillBatch(cache, list, order);
        }

        if (!cache.TryEnter())
        {
            return false;
        }

        if (!_heads.TryClear(block.Pfn - _firstPfn, block.Stamp))
        {
            cache.Exit();
            return false;
        }

        ref int count = ref cache.Hot.Counts[list];
        cache.Hot.Stacks[ThreadCache.Start(list) + count++] = block.Pfn;
        cache.Exit();
        return true;
    }

    // The requested block is taken and marked; the batch that follows is optional. Refills the
    // reserves it may draw on; if memory is short the batch is skipped rather than failing a
    // request that is already served.
    private bool TryTopUpForBatch()
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

    // Whether one more block can join a refill batch without allocating (a batch is not worth an
    // allocation that could fail half-way): a take's worth of chunks and a give-back's in hand.
    private bool CanTakeWithoutAllocating() => _chunks.HasOperation;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void SpillBatch(ThreadCache cache, int list, int order)
    {
        lock (_lock)
        {
            RefuseInsideCallback("Free"); // (a callback's own frees are refused: this one too)
            Spill(cache, list, order, ThreadCache.Batch(order));
        }
    }

    // Gives `count` blocks (the oldest, at the bottom of the stack) back to the zones. Lock held,
    // and the cache is the caller's own or frozen.
    private void Spill(ThreadCache cache, int list, int order, int count)
    {
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
            _allocatedPages -= (ulong)released << order;
        }
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
            SpillAllCaches();
        }
        finally
        {
            ThawCaches();
        }
    }

    // Empties every cache and forgets those of ended threads. Lock held, caches frozen.
    private void SpillAllCaches()
    {
        foreach (ThreadCache cache in _threadCaches)
        {
            for (int list = 0; list < cache.Lists; list++)
            {
                Spill(cache, list, ThreadCache.OrderOf(list), cache.Hot.Counts[list]);
            }
        }

        ForgetEndedThreads();
    }

    // Empties and forgets the caches of threads that have ended (an ended thread is in no
    // fast-path operation, so no freeze is needed). Lock held. Runs whenever a thread attaches a
    // cache, so that a program that starts many short threads keeps neither their pages nor their caches.
    private void ForgetEndedThreads()
    {
        if (!Array.Exists(_threadCaches, c => !c.Owner.IsAlive))
        {
            return;
        }

        foreach (ThreadCache ended in Array.FindAll(_threadCaches, c => !c.Owner.IsAlive))
        {
            for (int list = 0; list < ended.Lists; list++)
            {
                Spill(ended, list, ThreadCache.OrderOf(list), ended.Hot.Counts[list]);
            }
        }

        _threadCaches = Array.FindAll(_threadCaches, c => c.Owner.IsAlive);
    }

    // Every cached block with its stack's order and zone. Lock held and caches frozen.
    internal IEnumerable<(ulong Pfn, int Order, Zone Zone)> CachedBlocks()
    {
        foreach (ThreadCache cache in _threadCaches)
        {
            for (int list = 0; list < cache.Lists; list++)
            {
                for (int i = 0; i < cache.Hot.Counts[list]; i++)
                {
                    yield return (cache.Hot.Stacks[ThreadCache.Start(list) + i], ThreadCache.OrderOf(list), _zones[cache.ZoneOf(list)]);
                }
            }
        }
    }

    // Starts an allocation at pfn; returns the stamp its handle carries.
    private ulong SetHead(ulong pfn, MigrateType mobility) => _heads.Set(pfn - _firstPfn, mobility);

    internal MigrateType MobilityOfHead(ulong pfn) => _heads.MobilityOf(pfn - _firstPfn) ?? MigrateType.Unmovable;

    // Clears the head; false when it was not set (nothing changes then).
    private bool TryClearHead(ulong pfn) => _heads.TryClear(pfn - _firstPfn);

    internal bool IsHead(ulong pfn) => _heads.IsSet(pfn - _firstPfn);

    private ulong StampOf(ulong pfn) => _heads.StampOf(pfn - _firstPfn);
}
