// Compactor: one allocator's memory compaction, greedy and synchronous (Linux 6.18
// mm/compaction.c). A migration scanner walks up from the zone's start and moves every movable,
// unpinned block it meets to the highest free place above it (the free scanner's side,
// MigrationTargets), until a free block of the wanted order appears or no free place is left
// above the migration scanner — the scanners have met. Direct compaction (the allocation slow
// path's last pass) compacts the zonelist's suitable zones for one order; kcompactd compacts for
// an order when woken, and proactively while the fragmentation score is above its mark; a full
// compaction runs until the scanners meet. It counts runs, successes, pages scanned and moved, and
// the /proc/vmstat compaction events (MobilityCounters).
//
// Invariants:
// - _scanners holds, per zone, where its migration scanner stopped (the kernel's cached migrate
//   pfn): set after a successful run and after every move, removed when the scanners meet, so
//   that the next run starts over. Room for every zone is made at construction: recording a
//   place allocates nothing.
// - Everything runs under the allocator's lock with the thread caches drained (the caller's
//   part); the statistics only grow.
using System.Diagnostics;
using Buddy.Kernel;

namespace Buddy;

/// <summary>Moves movable blocks up a zone so that free blocks of higher orders form below them.</summary>
/// <remarks>Not thread-safe: every member is called under the allocator's lock.</remarks>
internal sealed class Compactor
{
    private readonly Lock _lock;            // the allocator's
    private readonly StepReserve _reserve;  // the allocator's
    private readonly MovableRegistry _movable;
    private readonly Zonelist _zonelist;
    private readonly bool _watermarksEnabled;
    private readonly int _extfragThreshold;
    private readonly MobilityCounters _counters;
    private readonly Dictionary<Zone, ulong> _scanners = [];
    private long _runs, _successes;
    private ulong _pagesScanned, _pagesMoved;

    /// <summary>Creates the compactor of <paramref name="zonelist"/>'s zones, whose movable blocks <paramref name="movable"/> registers.</summary>
    public Compactor(Lock allocatorLock, StepReserve reserve, MovableRegistry movable, Zonelist zonelist, MachineLayout layout, MobilityCounters counters)
    {
        _counters = counters;
        _lock = allocatorLock;
        _reserve = reserve;
        _movable = movable;
        _zonelist = zonelist;
        _watermarksEnabled = layout.Watermarks.Enabled;
        _extfragThreshold = layout.Mobility.ExtfragThreshold;
        _scanners.EnsureCapacity(zonelist.Zones.Length);
    }

    /// <summary>Compaction runs so far, successful ones, pages scanned and pages moved.</summary>
    public CompactionStatistics GetStatisticsLocked()
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        return new CompactionStatistics(_runs, _successes, _pagesScanned, _pagesMoved);
    }

    /// <summary>Compacts <paramref name="zone"/> from its start until the scanners meet.</summary>
    public CompactionResult CompactFullyLocked(Zone zone)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        _scanners.Remove(zone);
        return CompactZoneLocked(zone, order: -1, ignoreBlockSuitable: false);
    }

    /// <summary>
    /// Direct compaction: for each zone of the zonelist along <paramref name="route"/> that starts low enough for an order-<paramref name="order"/> block below
    /// <paramref name="limitPfn"/> and where compaction is suitable, compacts until a free block of
    /// <paramref name="searchOrder"/> appears. Returns whether any zone was compacted (compact_stall)
    /// and whether a block appeared.
    /// </summary>
    public (bool Ran, bool Success) DirectCompactLocked(int order, int searchOrder, ulong limitPfn, int route)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        bool ran = false;
        int kind = Zonelist.KindOf(route);
        foreach (int i in _zonelist.Walk(route))
        {
            Zone zone = _zonelist[i]!;
            if (zone.StartPfn + (1UL << order) > limitPfn || !IsSuitableLocked(zone, searchOrder, kind))
            {
                continue;
            }

            // First with the kernel's block suitability (targets in movable pageblocks only), then
            // at MIN_COMPACT_PRIORITY, which ignores it (compact_zone_order's ignore_block_suitable):
            // free pages in any pageblock may then take movable blocks.
            ran = true;
            if (CompactZoneLocked(zone, searchOrder, ignoreBlockSuitable: false).Outcome == CompactionOutcome.Success
                || CompactZoneLocked(zone, searchOrder, ignoreBlockSuitable: true).Outcome == CompactionOutcome.Success)
            {
                return (true, true);
            }
        }

        return (ran, false);
    }

    /// <summary>
    /// kcompactd woken for <paramref name="order"/> (wakeup_kcompactd and kcompactd_do_work, Linux
    /// 6.18): when some zone up to <paramref name="highest"/> has no free block of the order above
    /// its min mark and compaction is suitable there, compacts each such zone for the order.
    /// Returns whether kcompactd woke (compact_daemon_wake).
    /// </summary>
    public bool KcompactdLocked(int order, int highest)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        List<Zone>? suitable = null;
        for (int i = 0; i <= highest; i++)
        {
            if (_zonelist[i] is { } zone && NeedsCompactionLocked(zone, order, (int)zone.Kind))
            {
                (suitable ??= []).Add(zone);
            }
        }

        if (suitable is null)
        {
            return false;
        }

        _counters.CompactDaemonWake++;
        _counters.KcompactdWoke();
        foreach (Zone zone in suitable)
        {
            CountDaemon(CompactZoneLocked(zone, order, ignoreBlockSuitable: false));
        }

        return true;
    }

    /// <summary>
    /// Proactive compaction (should_proactive_compact_node and compact_node, Linux 6.18): when the
    /// node's fragmentation score exceeds the high mark of <paramref name="proactiveness"/>, compacts
    /// every zone until its own score falls to the low mark or its scanners meet. Returns the node's
    /// score before and after, or null when it was at or under the high mark.
    /// </summary>
    public (int Before, int After)? ProactiveLocked(int proactiveness)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        int before = FragmentationScore.OfNode(_zonelist.Zones);
        if (before <= FragmentationScore.Mark(proactiveness, low: false))
        {
            return null;
        }

        _counters.KcompactdWoke();
        int low = FragmentationScore.Mark(proactiveness, low: true);
        foreach (Zone zone in _zonelist.Zones)
        {
            _scanners.Remove(zone); // whole_zone
            CountDaemon(CompactZoneLocked(zone, order: -1, ignoreBlockSuitable: false, proactiveLowMark: low));
        }

        return (before, FragmentationScore.OfNode(_zonelist.Zones));
    }

    // compaction_suit_allocation_order at the min mark: no free block of the order (on the three
    // mergeable types' lists) above the min watermark, and compaction suitable.
    private bool NeedsCompactionLocked(Zone zone, int order, int highestKind)
    {
        bool hasBlock = false;
        for (int t = 0; t < Math.Min(zone.Area.Types, MobilityRules.Types) && !hasBlock; t++)
        {
            hasBlock = zone.FindFit(order, order, ulong.MaxValue, t).Pfn != ulong.MaxValue;
        }

        bool aboveMin = !_watermarksEnabled || Zonelist.WatermarkOk(zone, order, WatermarkKind.Min, highestKind, AllocationPriority.Normal);
        return !(hasBlock && aboveMin) && IsSuitableLocked(zone, order, highestKind);
    }

    // kcompactd's runs count twice, as the kernel counts them: in compact_* with every run
    // (FinishLocked) and in compact_daemon_*.
    private void CountDaemon(CompactionResult result)
    {
        _counters.CompactDaemonMigrateScanned += (long)result.PagesScanned;
        _counters.CompactDaemonFreeScanned += (long)result.PagesMoved;
    }

    // compaction_suitable: enough free pages for the migration targets (order-0 watermark plus
    // compact_gap = 2 << order), and above order 3 a fragmentation index over the threshold (a
    // failure for lack of memory is not compaction's to fix).
    private bool IsSuitableLocked(Zone zone, int order, int highestKind)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        if (_watermarksEnabled)
        {
            ulong mark = zone.Watermarks.Min + (2UL << order) + (order > 3 ? zone.Watermarks.Low - zone.Watermarks.Min : 0);
            if (zone.FreePages <= mark + zone.LowmemReserve[highestKind])
            {
                return false;
            }
        }

        if (order > 3)
        {
            long[] nrFree = new long[zone.MaxOrder + 1];
            for (int o = 0; o <= zone.MaxOrder; o++)
            {
                nrFree[o] = zone.NrFree(o);
            }

            int index = FragmentationIndex.Extfrag(nrFree, order);
            if (index >= 0 && index <= _extfragThreshold)
            {
                return false;
            }
        }

        return true;
    }

    // One run over `zone`; order -1 compacts until the scanners meet, or with a proactive low mark
    // (0..100) until the zone's fragmentation score is at or under it (__compact_finished).
    private CompactionResult CompactZoneLocked(Zone zone, int order, bool ignoreBlockSuitable, int proactiveLowMark = -1)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        _runs++;
        ulong migrate = _scanners.TryGetValue(zone, out ulong cached) ? cached : zone.StartPfn;
        ulong scanned = 0, moved = 0;
        long blocks = 0;
        CompactionOutcome outcome = CompactionOutcome.ScannersMet;
        while (migrate < zone.EndPfn)
        {
            if ((order >= 0 && zone.AnyFit(order, order, ulong.MaxValue))
                || (proactiveLowMark >= 0 && FragmentationScore.OfZone(zone) <= proactiveLowMark))
            {
                outcome = CompactionOutcome.Success;
                break;
            }

            // Direct compaction works a 2^order region at a time and skips a region that holds
            // anything it cannot move — an unmovable or pinned block, or one as large as the
            // order — since that region can never become free (the kernel's skip_on_failure).
            // A full compaction (order -1) moves every movable block it meets.
            ulong regionEnd = order > 0 ? Math.Min((migrate | ((1UL << order) - 1)) + 1, zone.EndPfn) : migrate + 1;
            if (MigrationTargets.FindHighest(zone, 0, regionEnd, ulong.MaxValue, ignoreBlockSuitable, probe: true) == ulong.MaxValue)
            {
                break; // no free page above: the scanners have met
            }

            (ulong scanEnd, List<MovableBlock>? movable) = ScanRegionLocked(zone, order, migrate, ref regionEnd);
            scanned += scanEnd - migrate;
            if (movable is not null)
            {
                (ulong pages, long count) = MoveAboveLocked(zone, movable, Math.Max(scanEnd, regionEnd), migrate, ignoreBlockSuitable);
                moved += pages;
                blocks += count;
            }

            migrate = Math.Max(scanEnd, regionEnd);
        }

        if (outcome == CompactionOutcome.ScannersMet && order >= 0 && zone.AnyFit(order, order, ulong.MaxValue))
        {
            outcome = CompactionOutcome.Success;
        }

        return FinishLocked(zone, outcome, migrate, new CompactionResult(zone.Kind, outcome, scanned, moved, blocks));
    }

    // Records where the run left the migration scanner (nowhere when the scanners met: the next
    // run starts over) and what it did.
    private CompactionResult FinishLocked(Zone zone, CompactionOutcome outcome, ulong migrate, CompactionResult result)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        if (outcome == CompactionOutcome.Success)
        {
            _scanners[zone] = migrate;
            _successes++;
        }
        else
        {
            _scanners.Remove(zone);
        }

        _pagesScanned += result.PagesScanned;
        _pagesMoved += result.PagesMoved;
        _counters.CompactMigrateScanned += (long)result.PagesScanned;
        _counters.CompactFreeScanned += (long)result.PagesMoved;
        _counters.CompactIsolated += 2 * (long)result.PagesMoved;
        if (result.PagesMoved > 0 && BuddyMetrics.CompactionPagesMoved.Enabled)
        {
            BuddyMetrics.CompactionPagesMoved.Add((long)result.PagesMoved);
        }

        return result;
    }

    // The migrate scanner over [from, regionEnd): the movable blocks it may move (for an order-n
    // run, only those smaller than n), or null when the region holds something it cannot move —
    // then regionEnd grows past that unit. Returns where the scan stopped.
    private (ulong ScanEnd, List<MovableBlock>? Movable) ScanRegionLocked(Zone zone, int order, ulong from, ref ulong regionEnd)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
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
    private (ulong Pages, long Blocks) MoveAboveLocked(Zone zone, List<MovableBlock> movable, ulong above, ulong migrate, bool ignoreBlockSuitable)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        ulong moved = 0;
        long blocks = 0;
        foreach (MovableBlock handle in movable)
        {
            Block current = handle.Current;
            _reserve.ForStepsLocked(3); // FindHighest may retype a pageblock; then the move (see MovableRegistry.MoveLocked)
            ulong target = MigrationTargets.FindHighest(zone, current.Order, above, ulong.MaxValue, ignoreBlockSuitable);
            if (target == ulong.MaxValue)
            {
                continue;
            }

            try
            {
                _movable.MoveLocked(zone, handle, target);
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
