// PageAllocator (compaction): a migration scanner walks up from the zone's start and moves every
// movable, unpinned block it meets to the highest free place above it (the free scanner's side),
// until a free block of the wanted order appears or no free place is left above the migration
// scanner — the scanners have met (Linux 6.18 mm/compaction.c, greedy and synchronous). The
// migration scanner remembers where it stopped, as the kernel's cached pfn does, and starts over
// once the scanners have met.
using Buddy.Kernel;

namespace Buddy;

public sealed partial class PageAllocator
{
    private readonly Dictionary<Zone, ulong> _scanners = [];
    private long _compactions, _compactionSuccesses;
    private ulong _compactionPagesMoved, _compactionPagesScanned;

    /// <summary>Compaction runs so far, successful ones, pages scanned and pages moved.</summary>
    public (long Runs, long Successes, ulong PagesScanned, ulong PagesMoved) CompactionStats
    {
        get
        {
            lock (_lock)
            {
                return (_compactions, _compactionSuccesses, _compactionPagesScanned, _compactionPagesMoved);
            }
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
            _scanners.Remove(z);
            DrainCachesLocked();
            return CompactZone(z, order: -1);
        }
    }

    // Direct compaction: for each zone of the zonelist where compaction is suitable, compact until a
    // block of the order is free; true when one appeared.
    private bool DirectCompact(int order, int searchOrder, ulong limitPfn, int highest)
    {
        DrainCachesLocked();
        for (int i = highest; i >= 0; i--)
        {
            Zone? zone = _zonelist[i];
            if (zone is null || zone.StartPfn + (1UL << order) > limitPfn || !CompactionSuitable(zone, searchOrder, highest))
            {
                continue;
            }

            // First with the kernel's block suitability (targets in movable pageblocks only), then
            // at MIN_COMPACT_PRIORITY, which ignores it (compact_zone_order's ignore_block_suitable):
            // free pages in any pageblock may then take movable blocks.
            if (CompactZone(zone, searchOrder).Outcome == CompactionOutcome.Success
                || CompactZone(zone, searchOrder, ignoreBlockSuitable: true).Outcome == CompactionOutcome.Success)
            {
                return true;
            }
        }

        return false;
    }

    // compaction_suitable: enough free pages for the migration targets (order-0 watermark plus
    // compact_gap = 2 << order), and above order 3 a fragmentation index over the threshold (a
    // failure for lack of memory is not compaction's to fix).
    private bool CompactionSuitable(Zone zone, int order, int highest)
    {
        if (_layout.Watermarks.Enabled)
        {
            ulong mark = zone.Watermarks.Min + (2UL << order) + (order > 3 ? zone.Watermarks.Low - zone.Watermarks.Min : 0);
            if (zone.FreePages <= mark + zone.LowmemReserve[highest])
            {
                return false;
            }
        }

        if (order > 3)
        {
            long[] nrFree = new long[_maxOrder + 1];
            for (int o = 0; o <= _maxOrder; o++)
            {
                nrFree[o] = zone.NrFree(o);
            }

            int index = FragmentationIndex.Extfrag(nrFree, order);
            if (index >= 0 && index <= _layout.Mobility.ExtfragThreshold)
            {
                return false;
            }
        }

        return true;
    }

    // One run over `zone`; order -1 compacts until the scanners meet.
    private CompactionResult CompactZone(Zone zone, int order, bool ignoreBlockSuitable = false)
    {
        _compactions++;
        ulong migrate = _scanners.TryGetValue(zone, out ulong cached) ? cached : zone.StartPfn;
        ulong scanned = 0, moved = 0;
        long blocks = 0;
        CompactionOutcome outcome = CompactionOutcome.ScannersMet;
        while (migrate < zone.EndPfn)
        {
            if (order >= 0 && zone.AnyFit(order, order, ulong.MaxValue))
            {
                outcome = CompactionOutcome.Success;
                break;
            }

            // Direct compaction works a 2^order region at a time and skips a region that holds
            // anything it cannot move — an unmovable or pinned block, or one as large as the
            // order — since that region can never become free (the kernel's skip_on_failure).
            // A full compaction (order -1) moves every movable block it meets.
            ulong regionEnd = order > 0 ? Math.Min((migrate | ((1UL << order) - 1)) + 1, zone.EndPfn) : migrate + 1;
            if (FindTarget(zone, 0, regionEnd, ulong.MaxValue, ignoreBlockSuitable, probe: true) == ulong.MaxValue)
            {
                break; // no free page above: the scanners have met
            }

            (ulong scanEnd, List<MovableBlock>? movable) = ScanRegion(zone, order, migrate, ref regionEnd);
            scanned += scanEnd - migrate;
            if (movable is not null)
            {
                (ulong pages, long count) = MoveAbove(zone, movable, Math.Max(scanEnd, regionEnd), migrate, ignoreBlockSuitable);
                moved += pages;
                blocks += count;
            }

            migrate = Math.Max(scanEnd, regionEnd);
        }

        if (outcome == CompactionOutcome.ScannersMet && order >= 0 && zone.AnyFit(order, order, ulong.MaxValue))
        {
            outcome = CompactionOutcome.Success;
        }

        if (outcome == CompactionOutcome.Success)
        {
            _scanners[zone] = migrate;
            _compactionSuccesses++;
        }
        else
        {
            _scanners.Remove(zone); // met: the next run starts over
        }

        _compactionPagesScanned += scanned;
        _compactionPagesMoved += moved;
        if (moved > 0 && BuddyMetrics.CompactionPagesMoved.Enabled)
        {
            BuddyMetrics.CompactionPagesMoved.Add((long)moved);
        }
        return new CompactionResult(zone.Name, outcome, scanned, moved, blocks);
    }

    // The migrate scanner over [from, regionEnd): the movable blocks it may move (for an order-n
    // run, only those smaller than n), or null when the region holds something it cannot move —
    // then regionEnd grows past that unit. Returns where the scan stopped.
    private (ulong ScanEnd, List<MovableBlock>? Movable) ScanRegion(Zone zone, int order, ulong from, ref ulong regionEnd)
    {
        ulong scanEnd = from;
        var movable = new List<MovableBlock>();
        while (scanEnd < regionEnd)
        {
            (ulong unit, int unitOrder, bool free) = zone.FindUnit(scanEnd);
            ulong next = unit + (1UL << unitOrder);
            if (!free)
            {
                if ((order < 0 || unitOrder < order) && _movable.TryGetValue(unit, out MovableBlock? handle) && handle.CanMigrate)
                {
                    movable.Add(handle);
                }
                else if (order > 0)
                {
                    regionEnd = Math.Max(regionEnd, next);
                    return (next, null);
                }
            }

            scanEnd = next;
        }

        return (scanEnd, movable);
    }

    // The free scanner's side: moves each block to the highest free room at or above `above`,
    // skipping one that finds none (smaller ones may still fit). The zone's saved migrate scanner
    // is `migrate` after every move, kept even when a move throws. Returns pages and blocks moved.
    private (ulong Pages, long Blocks) MoveAbove(Zone zone, List<MovableBlock> movable, ulong above, ulong migrate, bool ignoreBlockSuitable)
    {
        ulong moved = 0;
        long blocks = 0;
        foreach (MovableBlock handle in movable)
        {
            Block current = handle.Current;
            ReserveForSteps(3); // FindTarget may retype a pageblock; then the move (see MoveUnit)
            ulong target = FindTarget(zone, current.Order, above, ulong.MaxValue, ignoreBlockSuitable);
            if (target == ulong.MaxValue)
            {
                continue;
            }

            try
            {
                MoveUnit(zone, handle, target);
            }
            finally
            {
                _scanners[zone] = migrate;
            }

            moved += current.PageCount;
            blocks++;
        }

        return (moved, blocks);
    }
}
