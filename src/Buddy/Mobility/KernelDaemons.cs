// KernelDaemons: what the kernel's kswapd and kcompactd threads do for fragmentation, run between
// an allocator's operations (Linux 6.18 mm/vmscan.c balance_pgdat's boost handling, mm/page_alloc.c
// rmqueue's ZONE_BOOSTED_WATERMARK wakeup, mm/compaction.c kcompactd and kcompactd_do_work).
//
// The model, stated plainly (docs/design.md, "Linux 6.18's policies"):
// - Time is counted in allocator operations (allocations and frees under the lock); kcompactd's
//   500 ms period is MobilitySettings.KcompactdIntervalOperations of them, 64 times that after a
//   proactive run that did not lower the score (COMPACT_MAX_DEFER_SHIFT).
// - Work woken by an allocation (kswapd for a boosted zone, kcompactd) and periodic work that fell
//   due run at the start of the next allocation, before it takes anything — as a woken thread runs
//   on another CPU at once, and so that a migrate callback that throws surfaces to a caller whose
//   request has changed nothing. kswapd reclaims nothing: a simulated workload's pages are freed by the workload
//   (a trace's frees already include the traced kernel's reclaim). What remains of balance_pgdat's
//   boosted run is its ending: the boost it saw is dropped and kcompactd is woken for pageblock order.
// - With vm.defrag_mode, an allocation that enters the slow path wakes kcompactd for pageblock
//   order over every zone (wake_all_kswapds at max(order, pageblock_order); kswapd's own reclaim
//   is not modelled).
// Invariants: runs under the allocator's lock with thread caches drained before any compaction;
// the clock only grows.
namespace Buddy;

/// <summary>kswapd's boost handling and kcompactd, between operations.</summary>
/// <remarks>Not thread-safe: every member is called under the allocator's lock.</remarks>
internal sealed class KernelDaemons
{
    private const int DeferShift = 6; // COMPACT_MAX_DEFER_SHIFT
    private readonly Zonelist _zonelist;
    private readonly Compactor _compactor;
    private readonly MobilityCounters _counters;
    private readonly Action _drainCaches;
    private readonly MobilitySettings _settings;
    private long _clock;
    private long _nextProactive;
    private bool _kcompactdWanted;

    /// <summary>Creates the daemons of an allocator with <paramref name="settings"/>; <paramref name="drainCaches"/> empties its thread caches.</summary>
    public KernelDaemons(Zonelist zonelist, Compactor compactor, MobilityCounters counters, Action drainCaches, MobilitySettings settings)
    {
        _zonelist = zonelist;
        _compactor = compactor;
        _counters = counters;
        _drainCaches = drainCaches;
        _settings = settings;
        _nextProactive = settings.KcompactdIntervalOperations;
    }

    /// <summary>Whether these settings have any daemon work (boosts, defrag mode's wakeups, proactive compaction).</summary>
    public static bool AnyWork(MobilitySettings settings) =>
        settings.WatermarkBoostFactor > 0 || settings.CompactionProactiveness > 0 || settings.DefragMode;

    /// <summary>Operations counted so far.</summary>
    public long Clock => _clock;

    /// <summary>defrag_mode: an allocation entered the slow path; kcompactd is woken for pageblock order over every zone.</summary>
    public void WantKcompactd() => _kcompactdWanted = true;

    /// <summary>Counts one allocation or free.</summary>
    public void Tick() => _clock++;

    /// <summary>Runs what earlier operations woke or what fell due: kswapd for boosted zones, kcompactd, proactive compaction.</summary>
    public void RunDueLocked()
    {
        int top = _zonelist.Zones[^1].Index;
        int highest = _kcompactdWanted ? top : -1; // defrag_mode's wakeup: every zone
        _kcompactdWanted = false;
        foreach (Zone zone in _zonelist.Zones)
        {
            if (zone.BoostPending)
            {
                // rmqueue clears ZONE_BOOSTED_WATERMARK and wakes kswapd for the zone; balance_pgdat
                // ends by dropping the boost it saw and waking kcompactd up to that zone.
                zone.BoostPending = false;
                zone.WatermarkBoost = 0;
                _counters.KswapdWoke();
                highest = Math.Max(highest, zone.Index);
            }
        }

        if (highest >= 0 && _settings.Compaction)
        {
            _drainCaches();
            _compactor.KcompactdLocked(_zonelist.Zones[0].Area.PageblockOrder, highest);
        }

        if (_settings.CompactionProactiveness > 0 && _clock >= _nextProactive)
        {
            _drainCaches();
            (int Before, int After)? run = _compactor.ProactiveLocked(_settings.CompactionProactiveness);
            long wait = run is { } r && r.After >= r.Before ? (long)_settings.KcompactdIntervalOperations << DeferShift : _settings.KcompactdIntervalOperations;
            _nextProactive = _clock + wait;
        }
    }
}
