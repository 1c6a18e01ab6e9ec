// PageAllocator (contiguous ranges): the façade of ContiguousRanges' claim, like the kernel's
// alloc_contig_range / CMA — argument checks, the lock, the thread caches drained (a cached block
// would stand in a range's way), then the claim. Also the allocator internals a range operation
// needs (IRangeHost, implemented explicitly): reserves, allocation heads, and the movable blocks,
// whose target search and move are the migration mechanism of PageAllocator.Movable.cs.
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace Buddy;

public sealed partial class PageAllocator : IRangeHost
{
    private readonly ContiguousRanges _ranges;

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
            RefuseInsideCallback(nameof(AllocateContiguous));
            DrainCachesLocked(); // cached blocks would block a range (alloc_contig_range drains pcp too)
            return _ranges.TryClaimLocked(pages, alignmentBytes, maxAddress, ref _allocatedPages, out block, out failure);
        }
    }

    Lock IRangeHost.SyncRoot => _lock;

    void IRangeHost.ReserveForStepsLocked(int takes)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        ReserveForSteps(takes);
    }

    void IRangeHost.ReserveHeadLocked(ulong pfn)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        ReserveHead(pfn);
    }

    void IRangeHost.TrimReservesLocked()
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        TrimReserves();
    }

    ulong IRangeHost.SetHeadLocked(ulong pfn, MigrateType mobility)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        return SetHead(pfn, mobility);
    }

    bool IRangeHost.TryClearHeadLocked(ulong pfn)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        return TryClearHead(pfn);
    }

    MigrateType IRangeHost.MobilityOfHeadLocked(ulong pfn)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        return MobilityOfHead(pfn);
    }

    bool IRangeHost.TryGetMovableLocked(ulong pfn, [MaybeNullWhen(false)] out MovableBlock handle)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        return _movable.TryGetValue(pfn, out handle);
    }

    void IRangeHost.ForgetMovableLocked(ulong pfn)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        if (_movable.Remove(pfn, out MovableBlock? handle))
        {
            handle.MarkFreed();
        }
    }

    ulong IRangeHost.FindMigrationTargetLocked(Zone zone, int order, ulong above, ulong below, bool anyPageblock)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        return MigrationTargets.FindHighest(zone, order, above, below, anyPageblock);
    }

    void IRangeHost.MoveToTakenTargetLocked(Zone zone, MovableBlock handle, ulong target)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        _movable.MoveLocked(zone, handle, target, targetTaken: true);
    }
}
