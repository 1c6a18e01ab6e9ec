// ThreadCacheSet: the thread caches of one allocator, as a set. It decides what a cache may serve
// (orders 0..MaxOrder, migrate types kept apart or not, and which zone's stack a request or a
// block belongs to); it keeps the list of caches (a thread attaches on first use, an ended
// thread's cache is emptied and forgotten); and it pops and pushes on the fast path, stamping or
// clearing the block's allocation head inside the gate. ThreadCacheSet.Locked.cs has what the
// holder of the allocator's lock does to the caches (refill, spill, freeze, thaw, drain, list).
// PageAllocator.Caches keeps the entry points that take the lock and refuse a call from inside
// a migrate callback.
//
// Protocol: ThreadCache's (CacheGate's asymmetric handshake). The owner of a cache uses it between
// TryEnter and Exit with plain loads and stores; everyone else only under the allocator's lock
// with the cache frozen (FreezeLocked, then ThawLocked).
//
// Invariants:
// - _caches lists every cache of this allocator (copy on write, under the lock); a cache whose
//   thread has ended is emptied and removed by the next drain or the next thread to attach.
// - A cached block is an allocated unit to its zone: a block moves between a cache and its user
//   without touching shared counters, and PageAllocator.AllocatedPages subtracts CachedPages.
// - A block leaves a stack with its head stamped and joins one with its head cleared, both
//   between TryEnter and Exit, where nothing takes a lock, allocates or throws: a refill makes
//   each batch block's head chunk exist before the block joins a stack.
// - The owner of a cache never holds the allocator's lock inside TryEnter/Exit.
//
// A struct held inline in its allocator (a field that is never readonly: the list of caches
// changes, and a readonly field would hand every call a copy), so that the fast path reads the
// set's fields at a fixed offset from the allocator, as it did when they were the allocator's own.
// Measured (issue 14; one process loading the builds side by side, 250 interleaved rounds per
// run, six to nine runs, on two shared cores): against the fields living in PageAllocator, the order-0
// pair cost 0.97-1.07× as a struct and 1.00-1.06× as a class behind a readonly field, the mixed
// step 1.02-1.10× and 1.00-1.14×, while the old build against itself gave 0.94-1.00× and
// 0.98-1.07×: no difference beyond noise; the pair's fastest rounds were 22.5-23.2 ns as a
// struct, 23.7-24.0 ns as a class, 21.3-23.6 ns before. The pair loop compiles (FullOpts) to 354
// instructions as a struct, 355 as a class, 348 before. The struct stays: it spares the class's
// dependent load of the set before its first field, as AllocationHeads does.
using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Buddy;

/// <summary>The thread caches of one <see cref="PageAllocator"/>: what they serve, their list, the fast path's pop and push, and the lock holder's refill, spill, freeze, thaw and drain.</summary>
/// <remarks>Thread safety: see the file comment. Members named *Locked need the allocator's lock; the others are the fast path's, for the calling thread's own cache.</remarks>
internal partial struct ThreadCacheSet
{
    [ThreadStatic]
    private static ThreadCache? t_cache; // the calling thread's cache of the allocator it used last

    private readonly int _allocatorId;
    private readonly int _pageShift;
    private readonly int _types;               // migrate types kept apart: 1 or MobilityRules.Types
    private readonly int _topZone;             // an unplaced request's preferred zone's place among them (the lowest node's highest zone up to Normal)
    private readonly int _topMovableZone;      // the same for a movable request (which may use a Movable zone)
    private readonly int[] _zoneByLayoutIndex; // at [layout index + 1]: that zone's place among the populated zones; at [0]: -1
    private readonly bool _watermarks;
    private readonly Lock _lock;               // the allocator's
    private readonly Zonelist _zonelist;
    private readonly Zone[] _zones;            // populated zones, lowest first: a stack's zone is its place here
    private readonly AllocationHeads _heads;   // the allocator's (a copy of the handle: the same stamps)
    private readonly ChunkReserve _chunks;     // the allocator's bitmap nodes in hand
    private ThreadCache[] _caches = [];

    /// <summary>Caches for <paramref name="layout"/>'s allocator (none unless <see cref="MachineLayout.PerCpuCaches"/>), over its zonelist, allocation heads and chunk reserve, guarded by its lock.</summary>
    public ThreadCacheSet(MachineLayout layout, int allocatorId, Lock allocatorLock, Zonelist zonelist, AllocationHeads heads, ChunkReserve chunks)
    {
        _allocatorId = allocatorId;
        _pageShift = layout.PageShift;
        _watermarks = layout.Watermarks.Enabled;
        _lock = allocatorLock;
        _zonelist = zonelist;
        Zone[] zones = zonelist.Zones;
        _zones = zones;
        _heads = heads;
        _chunks = chunks;
        _zoneByLayoutIndex = [];
        _topZone = -1;
        _topMovableZone = -1;
        if (layout.PerCpuCaches && zones.Length <= ThreadCache.MaxZones)
        {
            MaxOrder = Math.Min(ThreadCache.MaxOrder, layout.MaxOrder);
            _types = layout.Mobility.GroupByMobility ? MobilityRules.Types : 1;
            _zoneByLayoutIndex = [-1, .. Enumerable.Range(0, zonelist.Count).Select(i => zonelist[i] is { } z ? Array.IndexOf(zones, z) : -1)];
            _topZone = PreferredZone(zonelist, Zonelist.RouteKey(default));
            _topMovableZone = PreferredZone(zonelist, Zonelist.RouteKey(default(Request).WithMobility(MigrateType.Movable)));
        }
    }

    /// <summary>The largest cached order; -1 without caches.</summary>
    public int MaxOrder { get; } = -1;

    /// <summary>The calling thread's cache of the allocator it used last (compare its <see cref="ThreadCache.AllocatorId"/>).</summary>
    public static ThreadCache? LastUsed
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => t_cache;
    }

    /// <summary>The number of caches attached.</summary>
    public readonly int Length => _caches.Length;

    /// <summary>Pages on every stack: a snapshot while other threads run.</summary>
    public long CachedPages
    {
        get
        {
            long total = 0;
            foreach (ThreadCache c in Volatile.Read(ref _caches))
            {
                total += c.CachedPages;
            }

            return total;
        }
    }

    /// <summary>Every cache (without allocating). Lock held.</summary>
    public readonly ArraySegment<ThreadCache>.Enumerator GetEnumerator() => new ArraySegment<ThreadCache>(_caches).GetEnumerator();

    /// <summary>Whether the caches keep blocks of <paramref name="pages"/> pages (a power of two up to order <see cref="MaxOrder"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool Keeps(ulong pages) => MaxOrder >= 0 && pages <= (1UL << MaxOrder) && (pages & (pages - 1)) == 0;

    /// <summary>Whether the caches keep order-<paramref name="order"/> blocks of <paramref name="mobility"/>; false for order -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool Keeps(int order, MigrateType mobility) =>
        (uint)order < (uint)(MaxOrder + 1) && (mobility != MigrateType.Movable || _types == 1); // also false for every order without caches (MaxOrder -1)

    /// <summary>The zone hint a block taken from <paramref name="zone"/> carries (its stack's zone), or -1 without caches.</summary>
    public readonly int ZoneHintOf(Zone zone) => MaxOrder < 0 ? -1 : _zoneByLayoutIndex[zone.Index + 1];

    /// <summary>
    /// For a request of an order-<paramref name="order"/> block that the caches keep, with at most
    /// a zone and an address limit (<see cref="Request.PlacedOrder"/>): the stack's zone it pops
    /// from, or -1 when the limit allows no zone. <paramref name="limitPfn"/> is where the limit
    /// cuts through that zone (ulong.MaxValue: any of its blocks will do).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly int PopZone(in Request request, int order, out ulong limitPfn)
    {
        limitPfn = ulong.MaxValue;
        if (!request.IsPlaced)
        {
            return request.Mobility == MigrateType.Movable ? _topMovableZone : _topZone;
        }

        int route = _zonelist.Placement(Zonelist.RouteKey(in request), _zonelist.LimitPfn(request.HasLimit, request.RawMaxAddress), order, out limitPfn);
        return route < 0 ? -1 : _zoneByLayoutIndex[_zonelist.First(route) + 1];
    }

    // The cache zone of the route's preferred zone for a request with this key and no limit.
    private readonly int PreferredZone(Zonelist zonelist, int key)
    {
        int route = zonelist.Placement(key, ulong.MaxValue, 0, out _);
        return route < 0 ? -1 : _zoneByLayoutIndex[zonelist.First(route) + 1];
    }

    /// <summary>
    /// The route (<see cref="Zonelist.Placement"/>) whose caches may refill for <paramref name="request"/>, a whole block
    /// of a cached order <paramref name="order"/> (not exact), or -1. It must also ask for normal
    /// priority, an alignment and boundary the block meets by itself, not a movable block the
    /// allocator must track, and a highest allowed zone that lies wholly below the address limit
    /// (so that any block of that zone will do, as with the kernel's per-zone pcp lists). A limit
    /// that cuts through the zone is served from the cache only when the block on top of the stack
    /// lies below it (<see cref="PopZone"/>); otherwise the slow path searches below the limit. The
    /// zone is the one <see cref="Zonelist.Placement"/> finds.
    /// </summary>
    public readonly int RefillZone(in Request request, int order)
    {
        if (request.IsShaped)
        {
            ulong blockBytes = (1UL << _pageShift) << order;
            if (request.Priority != AllocationPriority.Normal || request.Alignment > blockBytes || (request.Boundary != 0 && request.Boundary < blockBytes))
            {
                return -1;
            }
        }

        if (request.Mobility == MigrateType.Movable && _types != 1)
        {
            return -1;
        }

        int route = _zonelist.Placement(Zonelist.RouteKey(in request), _zonelist.LimitPfn(request.HasLimit, request.RawMaxAddress), order, out ulong cutPfn);
        return cutPfn == ulong.MaxValue ? route : -1;
    }

    /// <summary>The stack <paramref name="block"/> (of a cached order) goes back to: its zone's, type's and order's.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly int ListOf(ThreadCache cache, in Block block, int order)
    {
        int zone = block.ZoneHint;
        if (zone < 0)
        {
            zone = ZoneOf(block.Pfn);
        }

        Debug.Assert(zone == ZoneOf(block.Pfn));
        return cache.List(zone, order, TypeOf(block.Mobility));
    }

    /// <summary>
    /// Owner only: pops a block from its stack for <paramref name="zone"/> without any lock, if the
    /// one on top lies below <paramref name="limitPfn"/>, and stamps its head; false when the stack
    /// is empty or frozen, or its top block is not below the limit.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool TryPop(ThreadCache cache, int zone, MigrateType mobility, int order, ulong limitPfn, out Block block)
    {
        int list = cache.List(zone, order, TypeOf(mobility));
        if (cache.TryEnter())
        {
            ref int count = ref cache.Hot.Counts[list];
            ulong pfn;
            if (count > 0 && (pfn = cache.Hot.Stacks[ThreadCache.Start(list) + count - 1]) + (1UL << order) <= limitPfn)
            {
                count--;
                ulong stamp = _heads.Set(pfn, mobility);
                cache.Exit();
                block = new Block(pfn, 1UL << order, _pageShift, _allocatorId, stamp, mobility, zoneHint: zone);
                BuddyMetrics.CountAllocation();
                return true;
            }

            cache.Exit();
        }

        block = default;
        return false;
    }

    /// <summary>
    /// Owner only: walks the zonelist along <paramref name="route"/> as get_page_from_freelist
    /// does, each zone's stack first: a zone below its low watermark (read without the lock, as the
    /// kernel's zone_watermark_fast reads its counters) is passed over for the next one down. False
    /// at the first zone that passes (the refill takes from there) or at the end of the list.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool TryPopDown(ThreadCache cache, int route, MigrateType mobility, int order, out Block block)
    {
        int kind = Zonelist.KindOf(route);
        foreach (int i in _zonelist.Walk(route))
        {
            if (TryPop(cache, _zoneByLayoutIndex[i + 1], mobility, order, ulong.MaxValue, out block))
            {
                return true;
            }

            if (CouldServe(_zonelist[i]!, order, kind))
            {
                break;
            }
        }

        block = default;
        return false;
    }

    /// <summary>
    /// Owner only: clears <paramref name="block"/>'s head and pushes it on stack
    /// <paramref name="list"/>; false, with nothing changed, when the cache is frozen or the stamp
    /// is not the live one (a second free: the slow path reports it). The stack has room
    /// (the caller spilled a full one).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool TryPush(ThreadCache cache, int list, in Block block)
    {
        if (!cache.TryEnter())
        {
            return false;
        }

        if (!_heads.TryClear(block.Pfn, block.Stamp))
        {
            cache.Exit();
            return false;
        }

        ref int count = ref cache.Hot.Counts[list];
        cache.Hot.Stacks[ThreadCache.Start(list) + count++] = block.Pfn;
        cache.Exit();
        return true;
    }

    /// <summary>The calling thread's cache found in the list (without the lock) and made its current one; null when it has none.</summary>
    public ThreadCache? Rejoin() => Own() is { } own ? t_cache = own : null;

    /// <summary>The calling thread's cache in the list, if it has one (read without the lock: the list is copied on write).</summary>
    public ThreadCache? Own()
    {
        Thread me = Thread.CurrentThread;
        foreach (ThreadCache c in Volatile.Read(ref _caches))
        {
            if (c.Owner == me)
            {
                return c;
            }
        }

        return null;
    }

    /// <summary>A new, empty cache owned by the calling thread, for <see cref="AttachLocked"/>.</summary>
    public readonly ThreadCache NewCache() => new(_allocatorId, _zones.Length, _types);

    /// <summary>Every cached block with its stack's order and zone. Lock held and caches frozen.</summary>
    public readonly IEnumerable<(ulong Pfn, int Order, Zone Zone)> CachedBlocksLocked()
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        foreach (ThreadCache cache in _caches)
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

    // Whether a refill would take from this zone (a lockless estimate; the refill checks again).
    private readonly bool CouldServe(Zone zone, int order, int highestKind) => _watermarks
        ? Zonelist.WatermarkOk(zone, order, WatermarkKind.Low, highestKind, AllocationPriority.Normal)
        : zone.FreePages >= 1UL << order;

    private readonly int TypeOf(MigrateType mobility) => _types == 1 ? 0 : (int)mobility;

    // The place among the populated zones of the zone holding `pfn`.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private readonly int ZoneOf(ulong pfn)
    {
        int z = _zones.Length - 1;
        while (z > 0 && pfn < _zones[z].StartPfn)
        {
            z--;
        }

        return z;
    }
}
