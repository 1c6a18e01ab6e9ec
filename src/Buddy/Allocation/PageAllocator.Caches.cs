// PageAllocator (thread caches and allocation heads): the entry points of the fast path for small
// requests that any block of one zone satisfies, over the allocator's ThreadCacheSet, and the
// per-page mark that says "an allocation starts here", which lets a free be checked without the
// allocator's lock. The set owns the caches and what they may serve; this part takes the lock
// where a cache needs it (attach, refill, spill) and refuses inside a migrate callback.
//
// Invariants:
// - A page's head is set iff a live allocation (a block, an exact run, a contiguous range, a
//   movable block) starts there. Pieces of exact runs and blocks in thread caches have none.
// - A cached block is an allocated unit to its zone: a block moves between a cache and its user
//   without touching shared counters. AllocatedPages subtracts the cached pages.
// - The owner of a cache never holds the allocator's lock inside TryEnter/Exit; everyone else
//   touches a cache only under the lock and frozen (ThreadCache explains the handshake).
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Buddy;

public sealed partial class PageAllocator
{
    /// <summary>Pages held in thread caches: neither free (buddyinfo does not count them) nor allocated. A snapshot while other threads run.</summary>
    public ulong CachedPages => (ulong)_threadCaches.CachedPages;

    /// <summary>Gives every cached block back to the zones (the kernel's drain_all_pages), waiting for threads inside a fast-path operation to leave it.</summary>
    public void DrainCaches()
    {
        lock (_lock)
        {
            _guard.RefuseLocked(nameof(DrainCaches));
            _threadCaches.DrainLocked();
            CheckExpensivelyLocked();
        }
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
        if (_threadCaches.Keeps(order, mobility))
        {
            int zone = _threadCaches.PopZone(in request, order, out ulong limitPfn);
            if (zone >= 0)
            {
                return _threadCaches.TryPop(CurrentCache(), zone, mobility, order, limitPfn, out block);
            }
        }

        block = default;
        return false;
    }

    // Serves any request a thread cache can (ThreadCacheSet.RefillZone) by popping, or refilling in
    // a batch under the lock; false sends the caller down the slow path (which also reports invalid
    // requests, and drains every cache before failing). Inlined into TryAllocate: a request the
    // caches do not keep costs a few compares.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryAllocateCached(in Request request, out Block block)
    {
        block = default;
        ulong pages = request.PagesAt(_pageShift);
        if (!_threadCaches.Keeps(pages) || request.IsExact)
        {
            return false;
        }

        int order = BitOperations.TrailingZeroCount(pages);
        int highest = _threadCaches.RefillZone(in request, order);
        return highest >= 0 && TryTakeFromCache(highest, request.Mobility, order, out block);
    }

    // This thread's stacks from `highest` down the zonelist (ThreadCacheSet.TryPopDown), else a refill.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TryTakeFromCache(int highest, MigrateType mobility, int order, out Block block)
    {
        ThreadCache cache = CurrentCache();
        return _threadCaches.TryPopDown(cache, highest, mobility, order, out block)
            || RefillAndAllocate(cache, highest, order, mobility, out block);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool RefillAndAllocate(ThreadCache cache, int highest, int order, MigrateType mobility, out Block block)
    {
        lock (_lock)
        {
            _guard.RefuseLocked("Allocate");
            _reserve.ForStepLocked();
            bool refilled = _threadCaches.RefillLocked(cache, highest, order, mobility, out block);
            CheckExpensivelyLocked();
            return refilled;
        }
    }

    // The fast free: clear the head (a second free finds it clear and goes to the slow path, which
    // reports it) and push onto this thread's stack, spilling a batch under the lock when full.
    private bool TryFreeCached(Block block)
    {
        ulong pages = block.PageCount;
        if (!_threadCaches.Keeps(pages) || block.IsTracked)
        {
            return false;
        }

        int order = BitOperations.TrailingZeroCount(pages);
        ThreadCache cache = CurrentCache();
        int list = _threadCaches.ListOf(cache, in block, order);

        // A full stack spills a batch first, so that nothing can fail once the head is cleared:
        // a spill that fails (out of memory) leaves this free undone, and says so.
        if (Volatile.Read(ref cache.Hot.Counts[list]) >= ThreadCache.High(order))
        {
            SpillBatch(cache, list, order);
        }

        return _threadCaches.TryPush(cache, list, in block);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void SpillBatch(ThreadCache cache, int list, int order)
    {
        lock (_lock)
        {
            _guard.RefuseLocked("Free"); // (a callback's own frees are refused: this one too)
            _threadCaches.SpillLocked(cache, list, ThreadCache.Batch(order));
            CheckExpensivelyLocked();
        }
    }

    // The calling thread's cache for this allocator, created on first use.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ThreadCache CurrentCache()
    {
        ThreadCache? cache = ThreadCacheSet.LastUsed;
        return cache is not null && cache.AllocatorId == _id ? cache : AttachCache();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private ThreadCache AttachCache()
    {
        if (_threadCaches.Rejoin() is { } own)
        {
            return own;
        }

        ThreadCache fresh = _threadCaches.NewCache();
        lock (_lock)
        {
            // A migrate callback's thread gets no cache (one made now would not be frozen): the
            // allocation or free it was for is refused, as on the slow path.
            _guard.RefuseLocked("Allocate or Free");
            _threadCaches.AttachLocked(fresh);
            CheckExpensivelyLocked();
        }

        return fresh;
    }
}
