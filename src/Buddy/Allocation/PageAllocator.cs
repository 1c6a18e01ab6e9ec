// PageAllocator: the façade over a machine's zones — builds them from a layout, resolves a request
// and takes it through the zonelist's passes (PageAllocator.Free.cs gives blocks back). The state
// it coordinates lives in classes of its own: Zonelist (zones, limits, placement, watermarks),
// ExactRuns, AllocationHeads, StepReserve, ThreadCacheSet, MovableRegistry, Compactor,
// ContiguousRanges and MigrateCallbackGuard. Members named *Locked run under _lock and assert it.
//
// Invariants (Validate):
// - Every managed page is in exactly one free block or one allocated unit; reserved pages only in
//   reserved units. So the allocated pages are the managed pages that are not free: no counter
//   of them is kept.
// - Each exact allocation or contiguous range (_exact: start pfn → pages) is covered by allocated units that are
//   exactly the binary decomposition of its page count, and no other allocation overlaps it.
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Buddy;

/// <summary>A zoned buddy page allocator with the Linux kernel's DMA semantics.</summary>
/// <remarks>
/// <para>
/// A request names an order or a size and, optionally, the highest zone it may use, an address
/// limit, an alignment, a boundary and exactness. The allocator walks the zones from the highest
/// allowed one down (the zonelist); a zone serves only while its free pages stay above its
/// watermark plus the lowmem reserve that protects it from requests of higher zones — first
/// against the low mark, then against min, as the kernel's fast and slow paths do. Within a zone
/// the lowest free block of the smallest sufficient order is taken and split, so placement is
/// deterministic and an address limit costs one check per order.
/// </para>
/// <para>
/// Every operation is O(max order) bitmap-word operations. Thread safety: all public members may
/// be called from any thread; one lock serialises them, except the thread-cache fast path
/// (<see cref="MachineLayout.PerCpuCaches"/>), which touches only the calling thread's cache and
/// the block's own allocation head, with plain loads and stores.
/// </para>
/// </remarks>
public sealed partial class PageAllocator
{
    private static int s_nextId;

    private readonly Lock _lock = new();
    private readonly MachineLayout _layout;
    private readonly int _id;
    private readonly int _pageShift;
    private readonly int _maxOrder;
    private readonly Zonelist _zonelist;
    private readonly Zone[] _zones; // populated zones, lowest first (the zonelist's)
    private readonly PfnRanges _reserved;
    private readonly ulong _firstPfn;
    private readonly ulong _endPfn;
    private readonly ExactRuns _exact = new();
    private readonly AllocationHeads _heads;
    private readonly StepReserve _reserve;
    private readonly MigrateCallbackGuard _guard;
    private readonly FreeChecks _freeChecks;
    private readonly MovableRegistry _movable;
    private readonly Compactor _compactor;
    private readonly MobilityCounters _counters = new();
    private readonly KernelDaemons? _daemons; // null without boosts, defrag mode or proactive compaction
    private readonly ContiguousRanges _ranges;
    private ThreadCacheSet _threadCaches; // inline, never readonly: its list of caches changes

    /// <summary>Creates an allocator over <paramref name="layout"/> with every unreserved page free.</summary>
    /// <exception cref="ArgumentException">The layout is invalid; the message names the setting.</exception>
    public PageAllocator(MachineLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        layout.Validate();
        _layout = layout;
        _id = Interlocked.Increment(ref s_nextId);
        _pageShift = layout.PageShift;
        _maxOrder = layout.MaxOrder;
        _firstPfn = layout.BaseAddress >> _pageShift;
        _endPfn = layout.EndAddress >> _pageShift;
        _reserved = new PfnRanges(layout.Reserved.Select(r => (r.Start >> _pageShift, (r.End + layout.PageSize - 1) >> _pageShift)));

        bool grouping = layout.Mobility.GroupByMobility;
        int types = !grouping ? 1 : layout.Mobility.HighAtomicReserve ? MobilityRules.TypesWithHighAtomic : MobilityRules.Types;
        (int leaves, int inners) = FreeArea.PerOperation(_maxOrder, types, _endPfn - _firstPfn + (1UL << _maxOrder));
        var chunks = new ChunkReserve(leaves, inners);
        _zonelist = Zonelist.Build(layout, _reserved, chunks, pfn => _movable!.ContainsKey(pfn), _counters); // asked only after construction
        _zones = _zonelist.Zones;
        _heads = new AllocationHeads(_endPfn - _firstPfn, _firstPfn);
        _reserve = new StepReserve(_lock, chunks, _heads, _zones, grouping, _firstPfn, _endPfn);
        _guard = new MigrateCallbackGuard(_lock, () => _threadCaches.Own());
        _freeChecks = new FreeChecks(_reserved, _exact, _heads, _pageShift, _maxOrder, _firstPfn, _endPfn);
        _movable = new MovableRegistry(_lock, _reserve, _heads, _guard, _id, _pageShift);
        _compactor = new Compactor(_lock, _reserve, _movable, _zonelist, layout, _counters);
        _daemons = KernelDaemons.AnyWork(layout.Mobility) ? new KernelDaemons(_zonelist, _compactor, _counters, () => _threadCaches.DrainLocked(), layout.Mobility) : null;
        _ranges = new ContiguousRanges(_lock, _reserve, _heads, _movable, _zonelist, _exact, _reserved, _maxOrder, _pageShift, _id);
        _threadCaches = new ThreadCacheSet(layout, _id, _lock, _zonelist, _heads, chunks);

        _zonelist.SetWatermarks(layout);
        BuddyMetrics.Register(this);
    }

    /// <summary>This allocator's number (the "allocator" tag of its metrics).</summary>
    public int Id => _id;

    /// <summary>The layout this allocator manages.</summary>
    public MachineLayout Layout => _layout;

    /// <summary>The page size in bytes.</summary>
    public ulong PageSize => _layout.PageSize;

    /// <summary>The largest order.</summary>
    public int MaxOrder => _maxOrder;

    /// <summary>Pages present (managed and reserved).</summary>
    public ulong TotalPages => _endPfn - _firstPfn;

    /// <summary>Pages reserved at construction.</summary>
    public ulong ReservedPages => _reserved.TotalPages;

    /// <summary>Pages in free blocks.</summary>
    public ulong FreePages
    {
        get
        {
            lock (_lock)
            {
                return _zonelist.FreePages;
            }
        }
    }

    /// <summary>Pages handed out and not yet freed.</summary>
    public ulong AllocatedPages
    {
        get
        {
            lock (_lock)
            {
                ulong inUnits = _zonelist.PagesInUnits;
                return inUnits - Math.Min(CachedPages, inUnits);
            }
        }
    }

    /// <summary>Bytes of allocator metadata (free and unit bitmaps, allocation heads, pageblock types, thread-cache stacks), excluding per-allocation bookkeeping of exact and movable blocks.</summary>
    public long MetadataBytes
    {
        get
        {
            lock (_lock)
            {
                return _heads.MetadataBytes + _reserve.Bytes + _threadCaches.StackBytesLocked + _zonelist.MetadataBytes;
            }
        }
    }

    /// <summary>Allocates a block or throws.</summary>
    /// <exception cref="AllocationFailedException">The request cannot be served; the message says why.</exception>
    /// <exception cref="ArgumentException">The request is invalid for this allocator (e.g. an order above <see cref="MaxOrder"/>).</exception>
    public Block Allocate(Request request)
    {
        if (TryPopCached(in request, out Block block))
        {
            return block;
        }

        return AllocateSlow(request);
    }

    /// <summary>Tries to allocate a block; returns <see langword="false"/> when the request cannot be served now.</summary>
    /// <exception cref="ArgumentException">The request is invalid for this allocator.</exception>
    public bool TryAllocate(Request request, out Block block) =>
        TryPopCached(in request, out block) || TryAllocateCached(in request, out block) || TryAllocateCore(request, out block, explain: false, out _, null, out _);

    /// <summary>Tries to allocate a block; on failure <paramref name="failure"/> says why.</summary>
    /// <exception cref="ArgumentException">The request is invalid for this allocator.</exception>
    public bool TryAllocate(Request request, out Block block, [NotNullWhen(false)] out AllocationFailure? failure)
    {
        failure = null;
        return TryPopCached(in request, out block) || TryAllocateCached(in request, out block) || TryAllocateCore(request, out block, explain: true, out failure, null, out _);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private Block AllocateSlow(Request request)
    {
        if (!TryAllocateCached(in request, out Block block) && !TryAllocateCore(request, out block, explain: true, out AllocationFailure? failure, null, out _))
        {
            throw new AllocationFailedException(failure!); // explain: true always says why
        }

        return block;
    }

    // A request, as a story: resolve it (order, limit, boundary, alignment) → under the lock, the
    // highest zone it may use → reserve what the step may need → take a block through the
    // zonelist's passes → commit (exact tail, stamp, handle), or explain the failure.
    private bool TryAllocateCore(Request request, out Block block, bool explain, out AllocationFailure? failure, MigrateCallback? onMigrate, out MovableBlock? handle)
    {
        handle = null;
        block = default;
        if (!ResolvedRequest.TryResolve(request, _pageShift, _maxOrder, _zonelist, explain, out ResolvedRequest r, out failure))
        {
            return false;
        }

        lock (_lock)
        {
            _guard.RefuseLocked(nameof(Allocate));
            _daemons?.RunDueLocked(); // before anything is taken: a migrate callback that throws loses nothing
            int highest = _zonelist.Placement(Zonelist.RouteKey(request), r.LimitPfn, r.Order, out _); // the route: preferred node and highest zone kind
            if (highest < 0)
            {
                failure = explain ? AllocationFailure.Unsatisfiable(request, "no zone the request may use has memory below its address limit") : null;
                return false;
            }

            _reserve.ForStepLocked();
            bool tracked = ReserveForCommitLocked(request, r, onMigrate, out handle);
            (ulong pfn, Zone? from) = TakeThroughPassesLocked(r, highest, request.Priority, request.Mobility);
            if (from is null)
            {
                handle = null;
                failure = FailedLocked(request, r, highest, explain);
                _daemons?.Tick();
                CheckExpensivelyLocked();
                return false;
            }

            block = CommitLocked(pfn, from, r, request.Mobility, tracked, handle);
            _daemons?.Tick();
            CheckExpensivelyLocked();
            return true;
        }
    }

    // Makes room for what the commit records, before anything is taken (nothing after the take may
    // allocate): an exact run's entry, a movable block's handle. Returns whether the block is tracked.
    private bool ReserveForCommitLocked(in Request request, in ResolvedRequest r, MigrateCallback? onMigrate, out MovableBlock? handle)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        handle = null;
        bool tracked = request.Mobility == MigrateType.Movable && (_layout.Mobility.GroupByMobility || onMigrate is not null);
        if (r.Exact)
        {
            _exact.ReserveOne();
        }

        if (tracked)
        {
            _movable.ReserveOne();
            handle = new MovableBlock(_guard, onMigrate);
        }

        return tracked;
    }

    // The allocation's passes (Linux 6.18 __alloc_pages: get_page_from_freelist's fast path, then
    // __alloc_pages_slowpath): the low watermark for every request, with ALLOC_NOFRAGMENT first when
    // the rules say so and again without it; then the min mark (lowered by the request's priority,
    // with ALLOC_HIGHATOMIC for a high-order atomic request); then after giving back part of the
    // highatomic reserve and draining the caches (direct reclaim's retry); then after direct
    // compaction; then, before failing, the whole highatomic reserve and (defrag_mode) mixing types.
    // Returns (ulong.MaxValue, null) when every pass fails.
    private (ulong Pfn, Zone? Zone) TakeThroughPassesLocked(in ResolvedRequest r, int highest, AllocationPriority priority, MigrateType type)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        MobilitySettings rules = _layout.Mobility;
        WatermarkKind last = !_layout.Watermarks.Enabled || priority == AllocationPriority.NoWatermarks ? WatermarkKind.None : WatermarkKind.Min;
        AllocFlags fast = FastPathFlags(highest);
        AllocFlags local = (fast & AllocFlags.NoFragment) != 0 && !rules.DefragMode && _zonelist.Nodes.Count > 1 ? AllocFlags.LocalNode : AllocFlags.None;
        AllocFlags slow = SlowPathFlags(r.Order, priority);
        (ulong Pfn, Zone? Zone) taken = (ulong.MaxValue, null);
        if (priority != AllocationPriority.NoWatermarks)
        {
            // The fast path: the low mark (none when watermarks are off; then the pass differs from
            // the slow path's first only by its flags, and runs only when they differ).
            WatermarkKind low = last == WatermarkKind.None ? WatermarkKind.None : WatermarkKind.Low;
            if (low != WatermarkKind.None || fast != slow)
            {
                taken = Take(r, highest, low, priority, type, fast | local);
            }

            if (taken.Zone is null && (fast & AllocFlags.NoFragment) != 0 && !rules.DefragMode)
            {
                taken = Take(r, highest, low, priority, type, fast & ~AllocFlags.NoFragment);
            }
        }

        bool slowPath = taken.Zone is null;
        if (slowPath)
        {
            if (rules.DefragMode)
            {
                _daemons?.WantKcompactd(); // wake_all_kswapds at max(order, pageblock_order)
            }

            taken = Take(r, highest, last, priority, type, slow);
        }

        bool reclaims = priority < AllocationPriority.Atomic; // may enter direct reclaim
        bool unreserved = taken.Zone is null && reclaims && UnreserveLocked(highest, type, force: false);
        if (taken.Zone is null && (unreserved || CachedPages > 0))
        {
            _threadCaches.DrainLocked(); // cached pages must not make a request fail
            _reserve.ForStepLocked();
            taken = Take(r, highest, last, priority, type, slow);
        }

        if (taken.Zone is null && r.Order > 0 && rules.Compaction && reclaims)
        {
            // Direct compaction blocks, so a request that may not (GFP_ATOMIC) never runs it
            // (__alloc_pages_slowpath compacts only with __GFP_DIRECT_RECLAIM).
            _threadCaches.DrainLocked(); // the compactor sees cached blocks as allocated
            (bool ran, bool compacted) = _compactor.DirectCompactLocked(r.Order, r.SearchOrder, r.LimitPfn, highest);
            if (compacted)
            {
                _reserve.ForStepLocked();
                taken = Take(r, highest, last, priority, type, slow);
            }

            _counters.CompactStall += ran ? 1 : 0;
            _counters.CompactSuccess += ran && taken.Zone is not null ? 1 : 0;
            _counters.CompactFail += ran && taken.Zone is null ? 1 : 0;
        }

        while (taken.Zone is null && reclaims && UnreserveLocked(highest, type, force: true))
        {
            _reserve.ForStepLocked();
            taken = Take(r, highest, last, priority, type, slow); // should_reclaim_retry: exhaust the reserve before OOM
        }

        if (taken.Zone is null && (slow & AllocFlags.NoFragment) != 0)
        {
            slow &= ~AllocFlags.NoFragment; // defrag_mode: mix types only rather than fail
            _reserve.ForStepLocked();
            taken = Take(r, highest, last, priority, type, slow);
        }

        if (taken.Zone is { } zone && slowPath && (slow & AllocFlags.HighAtomic) != 0)
        {
            _reserve.ForStepLocked(); // reserve_highatomic_pageblock moves the pageblock's free blocks
            HighAtomicReserve.Reserve(zone, taken.Pfn, r.Order);
        }

        return taken;
    }

    // One pass of the zone walk (the caller has the step's bitmap nodes in hand).
    private (ulong Pfn, Zone? Zone) Take(in ResolvedRequest r, int highest, WatermarkKind mark, AllocationPriority priority, MigrateType type, AllocFlags flags) =>
        _zonelist.Take(r.Order, r.SearchOrder, r.LimitPfn, highest, mark, priority, type, flags);

    // unreserve_highatomic_pageblock, with the nodes its pageblock move needs in hand.
    private bool UnreserveLocked(int highest, MigrateType type, bool force)
    {
        if (!_layout.Mobility.HighAtomicReserve)
        {
            return false;
        }

        _reserve.ForStepLocked();
        return HighAtomicReserve.Unreserve(_zonelist, highest, type, force);
    }

    // alloc_flags_nofragment: with the Linux 6.x rules, a request whose preferred zone is Normal
    // (on several nodes, with its node's DMA32 populated; every request under vm.defrag_mode) avoids
    // mixing types in its first pass; on several nodes that pass stays on the preferred node
    // (get_page_from_freelist retries without ALLOC_NOFRAGMENT on meeting a remote zone).
    private AllocFlags FastPathFlags(int route) =>
        _layout.Mobility.DefragMode || (_layout.Mobility.NoFragment && _zonelist.PreferredIsNormal(route))
            ? AllocFlags.NoFragment
            : AllocFlags.None;

    // gfp_to_alloc_flags: an atomic request may not block (ALLOC_NON_BLOCK) and, above order 0 with
    // the reserve, is ALLOC_HIGHATOMIC; defrag_mode keeps ALLOC_NOFRAGMENT in the slow path.
    private AllocFlags SlowPathFlags(int order, AllocationPriority priority)
    {
        AllocFlags flags = _layout.Mobility.DefragMode ? AllocFlags.NoFragment : AllocFlags.None;
        if (priority == AllocationPriority.Atomic)
        {
            flags |= AllocFlags.NonBlock;
            if (order > 0 && _layout.Mobility.HighAtomicReserve)
            {
                flags |= AllocFlags.HighAtomic;
            }
        }

        return flags;
    }

    // Why the request failed (built only when asked for, or when the failure metric listens).
    private AllocationFailure? FailedLocked(in Request request, in ResolvedRequest r, int highest, bool explain)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        AllocationFailure? failure = explain || BuddyMetrics.Failures.Enabled ? _zonelist.Explain(request, r.Order, r.SearchOrder, r.LimitPfn, highest, r.Pages, _layout.Watermarks.Enabled) : null;
        if (BuddyMetrics.Failures.Enabled)
        {
            BuddyMetrics.Failures.Add(1, new KeyValuePair<string, object?>("reason", failure!.Reason.ToString()));
        }

        return failure;
    }

    // Records the taken block as an allocation: an exact run keeps its first pages and frees the
    // tail; the first page gets the allocation's stamp; a tracked movable block gets its handle.
    private Block CommitLocked(ulong pfn, Zone from, in ResolvedRequest r, MigrateType type, bool tracked, MovableBlock? handle)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        ulong pages = 1UL << r.Order;
        if (r.Exact)
        {
            from.TrimTail(pfn, r.Order, r.Pages);
            _exact.Add(pfn, r.Pages, range: false);
            pages = r.Pages;
        }

        ulong stamp = _heads.Set(pfn, type);
        BuddyMetrics.CountAllocation();

        // Movable blocks are tracked where it matters: for grouping (claims count them) and for
        // migration (a handle with a callback).
        var block = new Block(pfn, pages, _pageShift, _id, stamp, type, tracked, _threadCaches.ZoneHintOf(from));
        if (handle is not null)
        {
            _movable.Register(handle, block);
        }

        return block;
    }
}
