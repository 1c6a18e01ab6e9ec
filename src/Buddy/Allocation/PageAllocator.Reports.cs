// PageAllocator (state reports): per-zone statistics, the free blocks, /proc/buddyinfo, the
// consistent read that Buddy.Diagnostics builds a whole-state dump from (each a snapshot taken
// under the lock), and the one question a native arena asks before it gives memory back.
using System.Diagnostics;
using Buddy.Kernel;

namespace Buddy;

public sealed partial class PageAllocator
{
    /// <summary>Snapshots of every populated zone by node, then kind (address order: a node's zones are contiguous), lowest first.</summary>
    public IReadOnlyList<ZoneStats> GetZoneStats()
    {
        lock (_lock)
        {
            return [.. _zones.Select(z => z.Snapshot())];
        }
    }

    /// <summary>The allocator's free blocks as /proc/buddyinfo shows them: populated zones by node, then kind.</summary>
    public BuddyInfo GetBuddyInfo()
    {
        IReadOnlyList<ZoneStats> stats = GetZoneStats();
        return new BuddyInfo([.. stats.Select(s => new BuddyInfoZone(s.Node, s.Name, s.FreeBlockCounts))]);
    }

    /// <summary>The free blocks of every zone, by zone, then order, then migrate type, then address (blocks in thread caches are not free).</summary>
    public IReadOnlyList<FreeBlock> GetFreeBlocks()
    {
        lock (_lock)
        {
            return [.. _zones.SelectMany(z => z.EnumerateFreeBlocks()).Select(b => new FreeBlock(b.Pfn << _pageShift, b.Order))];
        }
    }

    /// <summary>
    /// Runs <paramref name="read"/> under the lock with every thread cache frozen, so that it sees one
    /// consistent state: no thread moves a block between its cache and its user meanwhile. For
    /// snapshots built outside this class (<see cref="Diagnostics.AllocatorDumps.Dump"/>).
    /// </summary>
    internal T ReadConsistent<T>(string member, Func<T> read)
    {
        lock (_lock)
        {
            _guard.RefuseLocked(member);
            _threadCaches.FreezeLocked();
            try
            {
                return read();
            }
            finally
            {
                _threadCaches.ThawLocked();
            }
        }
    }

    // What a consistent read may look at (lock held, caches frozen).
    internal IReadOnlyList<Zone> ZonesLocked => _zones;

    internal ulong FirstPfn => _firstPfn;

    internal ulong EndPfn => _endPfn;

    internal bool IsReservedUnit(ulong pfn) => _reserved.Contains(pfn);

    // The pages of the allocation that starts at head: its exact run, or the whole unit of the given size.
    internal ulong AllocatedPagesAt(ulong head, ulong unitPages) => _exact.TryGetPages(head, out ulong run) ? run : unitPages;

    internal bool IsHead(ulong pfn) => _heads.IsSet(pfn);

    // Every cached block with its stack's order and zone.
    internal IEnumerable<(ulong Pfn, int Order, Zone Zone)> CachedBlocksLocked() => _threadCaches.CachedBlocksLocked();

    internal MigrateType MobilityOfHead(ulong pfn) => _heads.MobilityOf(pfn) ?? MigrateType.Unmovable;

    /// <summary>The lock every member takes (movable handles and native arenas take it too).</summary>
    internal Lock SyncRoot => _lock;

    /// <summary>For fault-injection tests: drops every bitmap chunk in hand, so that the next step that needs one must allocate.</summary>
    internal void DropReservedChunks()
    {
        lock (_lock)
        {
            _reserve.DropChunksLocked();
        }
    }

    /// <summary>
    /// Whether every page of [<paramref name="address"/>, <paramref name="address"/> + <paramref name="bytes"/>)
    /// lies in a free block of order <paramref name="minOrder"/> or more. Lock held (<see cref="SyncRoot"/>).
    /// </summary>
    /// <remarks>
    /// The arena keeps the lock while it advises the range, so no block of it can be handed out
    /// meanwhile. A block in a thread cache counts as allocated (it is on no free list), so a
    /// cached block's memory is never given back. O(max order) per free block the range spans.
    /// </remarks>
    internal bool IsFreeInBlocksOf(ulong address, ulong bytes, int minOrder)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        return _zonelist.IsFreeInBlocksOf(address >> _pageShift, (address + bytes + PageSize - 1) >> _pageShift, minOrder);
    }
}
