// PageAllocator (state reports): per-zone statistics, the free blocks, /proc/buddyinfo, and the
// whole state as an AllocatorDump, for maps and reports. Each is a snapshot taken under the lock.
using Buddy.Dumps;
using Buddy.Kernel;
using Buddy.Zones;

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
        return new BuddyInfo([.. stats.Select(s => new BuddyInfoZone(0, s.Name, s.FreeBlocks))]);
    }

    /// <summary>Free blocks of every zone: (address, order), by zone, then order, then migrate type, then address.</summary>
    public IReadOnlyList<(ulong Address, int Order)> GetFreeBlocks()
    {
        lock (_lock)
        {
            var list = new List<(ulong, int)>();
            foreach (Zone z in _zones)
            {
                foreach ((ulong pfn, int order) in z.EnumerateFreeBlocks())
                {
                    list.Add((pfn << _pageShift, order));
                }
            }

            return list;
        }
    }

    /// <summary>A snapshot of every zone, free block, allocation, cached block and reserved range.</summary>
    public AllocatorDump Dump()
    {
        lock (_lock)
        {
            RefuseInsideCallback(nameof(Dump));
            FreezeCaches(); // a consistent picture: no thread moves a block between its cache and its user meanwhile
            try
            {
                return DumpLocked();
            }
            finally
            {
                ThawCaches();
            }
        }
    }

    private AllocatorDump DumpLocked()
    {
        var cached = new List<DumpRun>();
        var cachedStarts = new HashSet<ulong>();
        foreach ((ulong pfn, int order, _) in CachedBlocks())
        {
            cached.Add(new DumpRun(pfn, 1UL << order));
            cachedStarts.Add(pfn);
        }

        var free = new List<DumpRun>();
        var allocated = new List<DumpRun>();
        var zones = new List<DumpZone>();
        foreach (Zone z in _zones)
        {
            string types = "";
            if (z.Grouped)
            {
                var letters = new char[z.Area.Pageblocks];
                for (int i = 0; i < letters.Length; i++)
                {
                    letters[i] = "UMR"[z.Area.PageblockTypeAt(i)];
                }

                types = new string(letters);
            }

            zones.Add(new DumpZone(z.Name, z.StartPfn, z.EndPfn, types));
            for (ulong p = z.StartPfn; p < z.EndPfn;)
            {
                (ulong unit, int order, bool isFree) = z.FindUnit(p);
                ulong size = 1UL << order;
                ulong start = Math.Max(unit, z.StartPfn);
                if (isFree)
                {
                    free.Add(new DumpRun(unit, size, (MigrateType)z.Area.TypeOf(unit)));
                }
                else if (!_reserved.Contains(unit) && !cachedStarts.Contains(unit) && IsHead(unit))
                {
                    ulong pages = _exact.TryGetPages(unit, out ulong run) ? run : size;
                    allocated.Add(new DumpRun(unit, pages, MobilityOfHead(unit)));
                }

                p = start + size;
            }
        }

        return new AllocatorDump
        {
            PageSize = PageSize,
            MaxOrder = _maxOrder,
            PageblockOrder = _layout.Mobility.GroupByMobility ? _layout.Mobility.PageblockOrder : null,
            FirstPfn = _firstPfn,
            EndPfn = _endPfn,
            Zones = zones,
            Reserved = [.. _layout.Reserved.Select(r => new DumpRun(r.Start >> _pageShift, ((r.End + PageSize - 1) >> _pageShift) - (r.Start >> _pageShift)))],
            Free = free,
            Allocated = allocated,
            Cached = cached,
        };
    }
}
