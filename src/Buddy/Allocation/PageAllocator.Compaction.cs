// PageAllocator (compaction): a migration scanner walks up from the zone's start and moves every
// movable, unpinned block it meets to the highest free place above it (the free scanner), until a
// free block of the wanted order appears or the two meet (Linux 6.18 mm/compaction.c, greedy and
// synchronous). The scanners remember where they stopped, as the kernel's cached pfns do, and
// start over once they have met.
using Buddy.Kernel;
using Buddy.Mobility;
using Buddy.Zones;

namespace Buddy.Allocation;

public sealed partial class PageAllocator
{
    private readonly Dictionary<Zone, (ulong Migrate, ulong Free)> _scanners = [];
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
            Zone z = _zones.FirstOrDefault(x => x.Kind == zone)
                ?? throw new ArgumentException($"This machine has no {zone.KernelName()} zone with memory.", nameof(zone));
            _scanners.Remove(z);
            return CompactZone(z, order: -1);
        }
    }

    // Direct compaction: for each zone of the zonelist where compaction is suitable, compact until a
    // block of the order is free; true when one appeared.
    private bool DirectCompact(int order, int searchOrder, ulong limitPfn, int highest)
    {
        for (int i = highest; i >= 0; i--)
        {
            Zone? zone = _zoneByLayoutIndex[i];
            if (zone is null || zone.StartPfn + (1UL << order) > limitPfn || !CompactionSuitable(zone, searchOrder, highest))
            {
                continue;
            }

            if (CompactZone(zone, searchOrder).Outcome == CompactionOutcome.Success)
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
    private CompactionResult CompactZone(Zone zone, int order)
    {
        _compactions++;
        (ulong migrate, ulong freeTop) = _scanners.TryGetValue(zone, out var cached) ? cached : (zone.StartPfn, zone.EndPfn);
        ulong scanned = 0, moved = 0;
        long blocks = 0;
        CompactionOutcome outcome = CompactionOutcome.ScannersMet;
        while (migrate < freeTop)
        {
            if (order >= 0 && zone.AnyFit(order, order, ulong.MaxValue))
            {
                outcome = CompactionOutcome.Success;
                break;
            }

            (ulong unit, int unitOrder, bool free) = zone.FindUnit(migrate);
            ulong next = unit + (1UL << unitOrder);
            scanned += next - migrate;
            if (!free && _movable.TryGetValue(unit, out MovableBlock? handle) && handle.CanMigrate)
            {
                ulong target = FindTarget(zone, unitOrder, next, freeTop);
                if (target == ulong.MaxValue)
                {
                    break; // no free room above: the scanners have met
                }

                try
                {
                    MoveUnit(zone, handle, target);
                }
                finally
                {
                    _scanners[zone] = (unit, target);
                }

                moved += 1UL << unitOrder;
                blocks++;
                freeTop = target;
            }

            migrate = next;
        }

        if (outcome == CompactionOutcome.ScannersMet && order >= 0 && zone.AnyFit(order, order, ulong.MaxValue))
        {
            outcome = CompactionOutcome.Success;
        }

        if (outcome == CompactionOutcome.Success)
        {
            _scanners[zone] = (migrate, freeTop);
            _compactionSuccesses++;
        }
        else
        {
            _scanners.Remove(zone); // met: the next run starts over
        }

        _compactionPagesScanned += scanned;
        _compactionPagesMoved += moved;
        return new CompactionResult(zone.Name, outcome, scanned, moved, blocks);
    }
}
