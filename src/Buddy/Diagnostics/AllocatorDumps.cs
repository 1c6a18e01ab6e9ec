// AllocatorDumps: PageAllocator.Dump(), the whole state of an allocator as an AllocatorDump. It reads
// the allocator through PageAllocator.ReadConsistent (lock held, thread caches frozen), walks every
// zone unit by unit, and sorts each unit into free, allocated (from its head, with its mobility and
// exact length), cached or reserved. Diagnostics sits above the core: the core knows nothing of dumps.
namespace Buddy.Diagnostics;

/// <summary>Whole-state snapshots of a <see cref="PageAllocator"/>.</summary>
public static class AllocatorDumps
{
    /// <summary>A snapshot of every zone, free block, allocation, cached block and reserved range.</summary>
    /// <param name="pages">The allocator to read.</param>
    public static AllocatorDump Dump(this PageAllocator pages)
    {
        ArgumentNullException.ThrowIfNull(pages);
        return pages.ReadConsistent(nameof(Dump), () => Capture(pages));
    }

    private static AllocatorDump Capture(PageAllocator pages)
    {
        var cached = new List<DumpRun>();
        var cachedStarts = new HashSet<ulong>();
        foreach ((ulong pfn, int order, _) in pages.CachedBlocksLocked())
        {
            cached.Add(new DumpRun(pfn, 1UL << order));
            cachedStarts.Add(pfn);
        }

        var free = new List<DumpRun>();
        var allocated = new List<DumpRun>();
        var zones = new List<DumpZone>();
        foreach (Zone z in pages.ZonesLocked)
        {
            zones.Add(new DumpZone(z.Name, z.StartPfn, z.EndPfn, PageblockLetters(z)));
            for (ulong p = z.StartPfn; p < z.EndPfn;)
            {
                (ulong unit, int order, bool isFree) = z.FindUnit(p);
                ulong size = 1UL << order;
                if (isFree)
                {
                    free.Add(new DumpRun(unit, size, (MigrateType)z.Area.TypeOf(unit)));
                }
                else if (!pages.IsReservedUnit(unit) && !cachedStarts.Contains(unit) && pages.IsHead(unit))
                {
                    allocated.Add(new DumpRun(unit, pages.AllocatedPagesAt(unit, size), pages.MobilityOfHead(unit)));
                }

                p = Math.Max(unit, z.StartPfn) + size;
            }
        }

        MachineLayout layout = pages.Layout;
        ulong pageSize = pages.PageSize;
        return new AllocatorDump
        {
            PageSize = pageSize,
            MaxOrder = pages.MaxOrder,
            PageblockOrder = layout.Mobility.GroupByMobility ? layout.Mobility.PageblockOrder : null,
            FirstPfn = pages.FirstPfn,
            EndPfn = pages.EndPfn,
            Zones = zones,
            Reserved = [.. layout.Reserved.Select(r => new DumpRun(r.Start / pageSize, (r.End + pageSize - 1) / pageSize - r.Start / pageSize))],
            Free = free,
            Allocated = allocated,
            Cached = cached,
        };
    }

    // One letter per pageblock (U unmovable, M movable, R reclaimable); empty without grouping.
    private static string PageblockLetters(Zone z)
    {
        if (!z.Grouped)
        {
            return "";
        }

        var letters = new char[z.Area.Pageblocks];
        for (int i = 0; i < letters.Length; i++)
        {
            letters[i] = "UMRH"[z.Area.PageblockTypeAt(i)];
        }

        return new string(letters);
    }
}
