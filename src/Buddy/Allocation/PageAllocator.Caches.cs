// PageAllocator (per-CPU caches and allocation heads): the fast path for unconstrained small
// requests, and the one bit per page that says "an allocation starts here", which lets a free
// be checked without the allocator's lock.
//
// Invariants:
// - A page's head bit is set iff a live allocation (a block, an exact run, a contiguous range, a
//   movable block) starts there. Pieces of exact runs and blocks in per-CPU caches have none.
// - Lock order: a cache slot may be held while taking the allocator's lock, never the other way
//   round; code that holds the allocator's lock only ever tries a slot (DrainCaches).
using System.Numerics;
using Buddy.Caches;
using Buddy.Mobility;
using Buddy.Pages;
using Buddy.Zones;

namespace Buddy.Allocation;

public sealed partial class PageAllocator
{
    private readonly AllocationHeads _heads;
    private readonly PerCpuCache[]? _caches;
    private readonly int _cacheMask;

    /// <summary>Pages held in per-CPU caches: neither free (buddyinfo does not count them) nor allocated.</summary>
    public ulong CachedPages
    {
        get
        {
            long total = 0;
            foreach (PerCpuCache c in _caches ?? [])
            {
                total += Volatile.Read(ref c.Hot.CachedPages);
            }

            return (ulong)total;
        }
    }

    /// <summary>Gives every cached block back to the zones (the kernel's drain_all_pages). Slots in use right now are skipped.</summary>
    public void DrainCaches()
    {
        lock (_lock)
        {
            DrainCachesLocked();
        }
    }

    private static PerCpuCache[]? CreateCaches(MachineLayout layout, out int mask)
    {
        mask = 0;
        if (!layout.PerCpuCaches)
        {
            return null;
        }

        int slots = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, Environment.ProcessorCount));
        mask = slots - 1;
        int types = layout.Mobility.GroupByMobility ? MobilityRules.Types : 1;
        var caches = new PerCpuCache[slots];
        for (int i = 0; i < slots; i++)
        {
            caches[i] = new PerCpuCache(types);
        }

        return caches;
    }

    // Whether the request can come from a per-CPU cache: a whole block of order 0..3 that any
    // zone may serve, with no limit, alignment or boundary it does not meet by itself, at normal
    // priority, and not a movable block the allocator must track.
    private bool Cacheable(in Request request, ulong pages, int order) =>
        _caches is not null && order <= PerCpuCache.MaxOrder && pages == 1UL << order
        && (request.Zone is null || request.Zone == _layout.Zones[^1].Kind)
        && request.MaxAddress is null && request.Boundary == 0 && request.Priority == AllocationPriority.Normal
        && request.Alignment <= (PageSize << order)
        && !(request.Mobility == MigrateType.Movable && _layout.Mobility.GroupByMobility);

    private int CacheType(MigrateType mobility) => _layout.Mobility.GroupByMobility ? (int)mobility : 0;

    // The fast allocation: pop from this CPU's stack (refilled in a batch under the lock when
    // empty). False sends the caller down the slow path.
    private bool TryAllocateCached(MigrateType mobility, int order, out Block block)
    {
        block = default;
        PerCpuCache cache = _caches![Thread.GetCurrentProcessorId() & _cacheMask];
        if (!cache.TryEnter())
        {
            return false;
        }

        try
        {
            int list = cache.List(order, CacheType(mobility));
            if (cache.Hot.Counts[list] == 0 && !Refill(cache, list, order, mobility))
            {
                return false;
            }

            ulong pfn = cache.Stacks[list][PerCpuCache.Pad + --cache.Hot.Counts[list]];
            cache.Hot.CachedPages -= 1L << order;
            cache.Hot.AllocatedDelta += 1L << order;
            SetHead(pfn, mobility);
            block = new Block(pfn, 1UL << order, _pageShift, _id, mobility);
            return true;
        }
        finally
        {
            cache.Exit();
        }
    }

    // The fast free: clear the head bit (a second free finds it clear and goes to the slow path,
    // which reports it) and push onto this CPU's stack, draining a batch when it is full.
    private bool TryFreeCached(in Block block)
    {
        int order = block.Order;
        if (_caches is null || order > Math.Min(PerCpuCache.MaxOrder, _maxOrder) || block.PageCount != 1UL << order || block.IsTracked)
        {
            return false;
        }

        PerCpuCache cache = _caches[Thread.GetCurrentProcessorId() & _cacheMask];
        if (!cache.TryEnter())
        {
            return false;
        }

        try
        {
            if (!TryClearHead(block.Pfn))
            {
                return false;
            }

            int list = cache.List(order, CacheType(block.Mobility));
            cache.Stacks[list][PerCpuCache.Pad + cache.Hot.Counts[list]++] = block.Pfn;
            cache.Hot.CachedPages += 1L << order;
            cache.Hot.AllocatedDelta -= 1L << order;
            if (cache.Hot.Counts[list] > PerCpuCache.High(order))
            {
                lock (_lock)
                {
                    Spill(cache, list, order, PerCpuCache.Batch(order));
                }
            }

            return true;
        }
        finally
        {
            cache.Exit();
        }
    }

    // Takes a batch of blocks for one stack through the ordinary zonelist walk (watermarks apply).
    private bool Refill(PerCpuCache cache, int list, int order, MigrateType mobility)
    {
        lock (_lock)
        {
            int highest = _zoneByLayoutIndex.Length - 1;
            bool watermarks = _layout.Watermarks.Enabled;
            for (int i = 0; i < PerCpuCache.Batch(order); i++)
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

                cache.Stacks[list][PerCpuCache.Pad + cache.Hot.Counts[list]++] = pfn;
                cache.Hot.CachedPages += 1L << order;
            }

            return cache.Hot.Counts[list] > 0;
        }
    }

    // Gives `count` blocks (the oldest, at the bottom of the stack) back to the zones. Lock held.
    private void Spill(PerCpuCache cache, int list, int order, int count)
    {
        ulong[] stack = cache.Stacks[list];
        count = Math.Min(count, cache.Hot.Counts[list]);
        for (int i = 0; i < count; i++)
        {
            ulong pfn = stack[PerCpuCache.Pad + i];
            ZoneOf(pfn)!.Release(pfn, order);
        }

        Array.Copy(stack, PerCpuCache.Pad + count, stack, PerCpuCache.Pad, cache.Hot.Counts[list] - count);
        cache.Hot.Counts[list] -= count;
        cache.Hot.CachedPages -= (long)count << order;
    }

    // Empties every cache slot that is not in use; true when all were emptied. Lock held.
    private bool DrainCachesLocked()
    {
        bool all = true;
        foreach (PerCpuCache cache in _caches ?? [])
        {
            if (!cache.TryEnter())
            {
                all = false;
                continue;
            }

            for (int list = 0; list < cache.Lists; list++)
            {
                int order = list / (cache.Lists / (PerCpuCache.MaxOrder + 1));
                Spill(cache, list, order, cache.Hot.Counts[list]);
            }

            _allocatedPages = (ulong)((long)_allocatedPages + cache.Hot.AllocatedDelta);
            cache.Hot.AllocatedDelta = 0;
            cache.Exit();
        }

        return all;
    }

    private void SetHead(ulong pfn, MigrateType mobility) => _heads.Set(pfn - _firstPfn, mobility);

    private MigrateType MobilityOfHead(ulong pfn) => _heads.MobilityOf(pfn - _firstPfn) ?? MigrateType.Unmovable;

    // Clears the head bit; false when it was not set (nothing changes then).
    private bool TryClearHead(ulong pfn) => _heads.TryClear(pfn - _firstPfn);

    private bool IsHead(ulong pfn) => _heads.IsSet(pfn - _firstPfn);
}
