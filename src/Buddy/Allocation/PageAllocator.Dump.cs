// PageAllocator (state reports): per-zone statistics, the free blocks, /proc/buddyinfo, and the
// consistent read that Buddy.Diagnostics builds a whole-state dump from. Each is a snapshot taken
// under the lock.
using Buddy.Kernel;

namespace Buddy;

public sealed partial class PageAllocator
{
    /// <summary>Snapshots of every populated zone, lowest first.</summary>
    public IReadOnlyList<ZoneStats> GetZoneStats()
    {
        lock (_lock)
        {
            var stats = new ZoneStats[_zones.Length];
            for (int i = 0; i < _zones.Length; i++)
            {
                Zone z = _zones[i];
                long[] nrFree = new long[_maxOrder + 1];
                for (int order = 0; order <= _maxOrder; order++)
                {
                    nrFree[order] = z.NrFree(order);
                }

                stats[i] = new ZoneStats(z.Kind, z.StartPfn, z.EndPfn, z.PresentPages, z.ManagedPages, z.FreePages, nrFree, z.Watermarks, [.. z.LowmemReserve]);
            }

            return stats;
        }
    }

    /// <summary>The allocator's free blocks as /proc/buddyinfo shows them (node 0).</summary>
    public BuddyInfo BuddyInfo()
    {
        IReadOnlyList<ZoneStats> stats = GetZoneStats();
        return new BuddyInfo([.. stats.Select(s => new BuddyInfoZone(0, s.Name, s.FreeBlockCounts))]);
    }

    /// <summary>The free blocks of every zone, by zone, then order, then migrate type, then address (blocks in thread caches are not free).</summary>
    public IReadOnlyList<FreeBlock> GetFreeBlocks()
    {
        lock (_lock)
        {
            var list = new List<FreeBlock>();
            foreach (Zone z in _zones)
            {
                foreach ((ulong pfn, int order) in z.EnumerateFreeBlocks())
                {
                    list.Add(new FreeBlock(pfn << _pageShift, order));
                }
            }

            return list;
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
            RefuseInsideCallback(member);
            FreezeCaches();
            try
            {
                return read();
            }
            finally
            {
                ThawCaches();
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
}
