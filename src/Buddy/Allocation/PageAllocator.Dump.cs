// PageAllocator (dump): the whole state as an AllocatorDump, for maps and reports.
using Buddy.Dumps;
using Buddy.Mobility;
using Buddy.Pages;
using Buddy.Zones;

namespace Buddy;

public sealed partial class PageAllocator
{
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
