// PageAllocator (mobility and ranges): the public face of movable blocks, compaction,
// pagetypeinfo, contiguous ranges (the kernel's alloc_contig_range / CMA) and partial frees
// (split_page, then freeing page by page) — argument checks, the lock, the thread caches drained
// where a cached block would stand in the way, then one call into MovableRegistry (the live
// handles, and how one moves), Compactor, PageTypeCounts or ContiguousRanges.
using System.Diagnostics.CodeAnalysis;
using static System.FormattableString;

namespace Buddy;

public sealed partial class PageAllocator
{
    /// <summary>The allocator's free blocks per migrate type and its pageblocks per type, as /proc/pagetypeinfo prints them.</summary>
    /// <remarks>Without grouping by mobility every pageblock is movable, as the kernel boots them.</remarks>
    public string GetPageTypeInfo() => GetPageTypeInfo(mixedBlocks: false);

    /// <summary>
    /// /proc/pagetypeinfo; with <paramref name="mixedBlocks"/>, followed by "Number of mixed blocks"
    /// (pageblocks of each type holding an allocation of another type), which a kernel prints only
    /// with page_owner on — Buddy knows every allocation's type, as page_owner does. On several
    /// nodes the text repeats per node, as pagetypeinfo_show prints each node with memory in turn.
    /// </summary>
    public string GetPageTypeInfo(bool mixedBlocks)
    {
        lock (_lock)
        {
            int pageblockOrder = _layout.Mobility.PageblockOrder;
            return string.Concat(_zones.GroupBy(z => z.Node).Select(node => Kernel.PageTypeInfo.Format(
                [.. node.Select(z => PageTypeCounts.Of(z, pageblockOrder) with { MixedBlocks = mixedBlocks ? PageTypeCounts.MixedBlocks(z, _heads.MobilityOf) : null })],
                pageblockOrder,
                _maxOrder + 1)));
        }
    }

    /// <summary>Allocates a movable block the allocator may migrate; <paramref name="onMigrate"/> copies its contents when it moves.</summary>
    /// <exception cref="AllocationFailedException">The request cannot be served.</exception>
    /// <exception cref="ArgumentException">The request is invalid (exact, or an order above the maximum).</exception>
    public MovableBlock AllocateMovable(Request request, MigrateCallback onMigrate)
    {
        if (!TryAllocateMovable(request, onMigrate, out MovableBlock? block, out AllocationFailure? failure))
        {
            throw new AllocationFailedException(failure);
        }

        return block;
    }

    /// <summary>Tries to allocate a movable block; see <see cref="AllocateMovable"/>.</summary>
    public bool TryAllocateMovable(Request request, MigrateCallback onMigrate, [NotNullWhen(true)] out MovableBlock? block, [NotNullWhen(false)] out AllocationFailure? failure)
    {
        ArgumentNullException.ThrowIfNull(onMigrate);
        return TryAllocateCore(request.WithMobility(MigrateType.Movable), out _, explain: true, out failure, onMigrate, out block);
    }

    /// <summary>Frees a movable block.</summary>
    /// <exception cref="ArgumentException">The handle belongs to another allocator.</exception>
    /// <exception cref="ObjectDisposedException">The block was already freed (or cut by a partial free).</exception>
    public void Free(MovableBlock block)
    {
        ArgumentNullException.ThrowIfNull(block);
        lock (_lock)
        {
            _guard.RefuseLocked(nameof(Free));
            Block current = block.Current;
            if (current.Owner != _id)
            {
                throw new ArgumentException($"The movable block {current} was allocated by another PageAllocator.", nameof(block));
            }

            if (!_movable.IsLive(block))
            {
                throw new ObjectDisposedException(nameof(MovableBlock), $"Double free or stale handle: the movable block {current} was already freed (or cut by a partial free).");
            }

            FreeLocked(current.Pfn, current.PageCount, nameof(block), byAddressOnly: false, current.Stamp);
            _daemons?.Tick();
            CheckExpensivelyLocked();
        }
    }

    /// <summary>Moves a movable block to the highest free place above it, as the compactor would; false when there is none.</summary>
    /// <exception cref="ObjectDisposedException">The block was freed.</exception>
    /// <exception cref="InvalidOperationException">The block is pinned, or has no migrate callback.</exception>
    /// <exception cref="Exception">Whatever the migrate callback threw; the block stays where it was.</exception>
    public bool Migrate(MovableBlock block)
    {
        ArgumentNullException.ThrowIfNull(block);
        lock (_lock)
        {
            _guard.RefuseLocked(nameof(Migrate));
            ObjectDisposedException.ThrowIf(!_movable.IsLive(block), block);
            if (!block.CanMigrate)
            {
                throw new InvalidOperationException($"The block {block} cannot move: it is pinned or was allocated without a migrate callback.");
            }

            bool moved = _movable.MoveUpLocked(_zonelist.ZoneOf(block.Current.Pfn)!, block);
            CheckExpensivelyLocked();
            return moved;
        }
    }

    /// <summary>
    /// What grouping by mobility and the Linux 6.x rules did so far: fallbacks as
    /// mm_page_alloc_extfrag reports them, the compaction events of /proc/vmstat, watermark boosts,
    /// kswapd and kcompactd wakes, and the high-order atomic reserve.
    /// </summary>
    public MobilityStatistics GetMobilityStatistics()
    {
        lock (_lock)
        {
            ulong reserved = 0;
            foreach (Zone zone in _zones)
            {
                reserved += zone.ReservedHighAtomic;
            }

            return _counters.Snapshot(reserved);
        }
    }

    /// <summary>The allocator's operations so far as its kernel daemons count time (allocations and frees under the lock); 0 without daemon work.</summary>
    internal long DaemonClock => _daemons?.Clock ?? 0;

    /// <summary>Compaction runs so far, successful ones, pages scanned and pages moved.</summary>
    public CompactionStatistics GetCompactionStatistics()
    {
        lock (_lock)
        {
            return _compactor.GetStatisticsLocked();
        }
    }

    /// <summary>Compacts <paramref name="zone"/> completely (on several nodes, the lowest node's zone of that kind): moves movable blocks up until the scanners meet.</summary>
    /// <exception cref="ArgumentException">The machine has no such zone, or does not group by mobility.</exception>
    /// <exception cref="Exception">A migrate callback threw; that block stays where it was.</exception>
    public CompactionResult Compact(ZoneKind zone)
    {
        if (!_layout.Mobility.GroupByMobility)
        {
            throw new ArgumentException("Compaction needs grouping by mobility (MachineLayout.Mobility).", nameof(zone));
        }

        lock (_lock)
        {
            _guard.RefuseLocked(nameof(Compact));
            Zone z = _zones.FirstOrDefault(x => x.Kind == zone)
                ?? throw new ArgumentException($"This machine has no {zone.KernelName()} zone with memory.", nameof(zone));
            _threadCaches.DrainLocked(); // the compactor sees cached blocks as allocated
            CompactionResult result = _compactor.CompactFullyLocked(z);
            CheckExpensivelyLocked();
            return result;
        }
    }

    /// <summary>
    /// Allocates <paramref name="pages"/> contiguous pages aligned to <paramref name="alignmentBytes"/>
    /// bytes (0: to a page), wholly at or below <paramref name="maxAddress"/>, migrating movable blocks out of the way.
    /// </summary>
    /// <exception cref="AllocationFailedException">No range can be made free.</exception>
    /// <exception cref="ArgumentException">Zero pages, or an alignment that is not a power of two.</exception>
    public Block AllocateContiguous(ulong pages, ulong alignmentBytes = 0, ulong maxAddress = ulong.MaxValue)
    {
        if (!TryAllocateContiguous(pages, alignmentBytes, maxAddress, out Block block, out AllocationFailure? failure))
        {
            throw new AllocationFailedException(failure);
        }

        return block;
    }

    /// <summary>
    /// Tries to allocate <paramref name="pages"/> contiguous pages aligned to <paramref name="alignmentBytes"/>
    /// bytes (0: to a page), wholly at or below <paramref name="maxAddress"/>; on failure <paramref name="failure"/> says why.
    /// </summary>
    /// <exception cref="ArgumentException">Zero pages, or an alignment that is not a power of two.</exception>
    /// <exception cref="Exception">A migrate callback threw; that block stays where it was, blocks moved before it stay moved.</exception>
    public bool TryAllocateContiguous(ulong pages, ulong alignmentBytes, ulong maxAddress, out Block block, [NotNullWhen(false)] out AllocationFailure? failure)
    {
        if (pages == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(pages), pages, "pages must be at least one.");
        }

        if (alignmentBytes != 0 && !PageMath.IsPowerOfTwo(alignmentBytes))
        {
            throw new ArgumentException($"alignmentBytes must be a power of two, not {alignmentBytes}.", nameof(alignmentBytes));
        }

        lock (_lock)
        {
            _guard.RefuseLocked(nameof(AllocateContiguous));
            _threadCaches.DrainLocked(); // cached blocks would block a range (alloc_contig_range drains pcp too)
            bool claimed = _ranges.TryClaimLocked(pages, alignmentBytes, maxAddress, out block, out failure);
            CheckExpensivelyLocked();
            return claimed;
        }
    }

    /// <summary>
    /// Frees exactly the <paramref name="pageCount"/> pages from <paramref name="address"/>, which may
    /// cover parts of allocations (the kernel's split_page, then freeing page by page): allocated
    /// blocks that the range cuts are split, and the pages outside the range stay allocated as
    /// blocks of their own. An exact allocation the range touches becomes plain blocks likewise.
    /// </summary>
    /// <exception cref="ArgumentException">A page in the range is free, reserved or outside memory; nothing changes.</exception>
    public void FreeRange(ulong address, ulong pageCount)
    {
        if (pageCount == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(pageCount), pageCount, "pageCount must be at least one.");
        }

        lock (_lock)
        {
            _guard.RefuseLocked(nameof(FreeRange));
            ulong start = _freeChecks.PfnOf(address);
            ulong end = start + pageCount;
            if (end > _endPfn || end < start)
            {
                throw new ArgumentOutOfRangeException(nameof(pageCount), Invariant($"{pageCount} pages from 0x{address:x} run past the end of memory 0x{_layout.EndAddress:x}."));
            }

            // Check everything first, with the caches frozen (a cached block is free to the caller):
            // a refused range changes nothing, the caches included. Then drain, still frozen.
            _threadCaches.FreezeLocked();
            try
            {
                HashSet<ulong>? cached = _threadCaches.Length == 0 ? null : [.. _threadCaches.CachedBlocksLocked().Select(c => c.Pfn)];
                _ranges.ThrowIfNotAllocatedLocked(start, end, cached, nameof(address));
                _threadCaches.SpillAllLocked();
            }
            finally
            {
                _threadCaches.ThawLocked();
            }

            _ranges.FreeLocked(start, end);
            CheckExpensivelyLocked();
        }
    }
}
