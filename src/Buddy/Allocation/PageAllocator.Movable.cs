// PageAllocator (mobility): the public face of movable blocks, compaction and pagetypeinfo —
// argument checks and the lock, then one call into MovableRegistry (the live handles, and how one
// moves), Compactor (the scanners and their statistics) or PageTypeCounts. PageAllocator is the
// first two's IMigrationHost: the reservations, allocation heads and callback rule they need.
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace Buddy;

public sealed partial class PageAllocator : IMigrationHost
{
    private readonly Compactor _compactor;

    /// <summary>The allocator's free blocks per migrate type and its pageblocks per type, as /proc/pagetypeinfo prints them.</summary>
    /// <remarks>Without grouping by mobility every pageblock is movable, as the kernel boots them.</remarks>
    public string PageTypeInfo()
    {
        lock (_lock)
        {
            int pageblockOrder = _layout.Mobility.PageblockOrder;
            return Kernel.PageTypeInfo.Format([.. _zones.Select(z => PageTypeCounts.Of(z, pageblockOrder))], pageblockOrder, _maxOrder + 1);
        }
    }

    /// <summary>The lock every member takes (movable handles take it too).</summary>
    internal Lock SyncRoot => _lock;

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
            RefuseInsideCallback(nameof(Free));
            Block current = block.Current;
            if (current.Owner != _id)
            {
                throw new ArgumentException($"The movable block {current} was allocated by another PageAllocator.", nameof(block));
            }

            if (!_movable.IsLive(block))
            {
                throw new ObjectDisposedException(nameof(MovableBlock), $"Double free or stale handle: the movable block {current} was already freed (or cut by a partial free).");
            }

            FreeCore(current.Pfn, current.PageCount, nameof(block), byAddressOnly: false, current.Stamp);
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
            RefuseInsideCallback(nameof(Migrate));
            ObjectDisposedException.ThrowIf(!_movable.IsLive(block), block);
            if (!block.CanMigrate)
            {
                throw new InvalidOperationException($"The block {block} cannot move: it is pinned or was allocated without a migrate callback.");
            }

            return _movable.MoveUpLocked(_zonelist.ZoneOf(block.Current.Pfn)!, block);
        }
    }

    /// <summary>Compaction runs so far, successful ones, pages scanned and pages moved.</summary>
    public CompactionStatistics GetCompactionStatistics()
    {
        lock (_lock)
        {
            return _compactor.GetStatisticsLocked();
        }
    }

    /// <summary>Compacts <paramref name="zone"/> completely: moves movable blocks up until the scanners meet.</summary>
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
            RefuseInsideCallback(nameof(Compact));
            Zone z = _zones.FirstOrDefault(x => x.Kind == zone)
                ?? throw new ArgumentException($"This machine has no {zone.KernelName()} zone with memory.", nameof(zone));
            DrainCachesLocked(); // the compactor sees cached blocks as allocated
            return _compactor.CompactFullyLocked(z);
        }
    }

    Lock IMigrationHost.SyncRoot => _lock;

    void IMigrationHost.ReserveForStepsLocked(int takes)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        ReserveForSteps(takes);
    }

    Block IMigrationHost.StartMovableAllocationLocked(ulong pfn, ulong pages)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        ulong stamp = SetHead(pfn, MigrateType.Movable);
        return new Block(pfn, pages, _pageShift, _id, stamp, MigrateType.Movable, tracked: true);
    }

    bool IMigrationHost.TryClearHeadLocked(ulong pfn)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        return TryClearHead(pfn);
    }

    void IMigrationHost.RunMigrateCallbackLocked(MovableBlock handle, Block from, Block to)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        RunMigrateCallback(handle, from, to);
    }
}
