// MobilityCounters: what one allocator's anti-fragmentation rules did, counted as the kernel counts
// it — every fallback with the fields of the mm_page_alloc_extfrag tracepoint (Linux 6.18
// include/trace/events/kmem.h), the compaction events under their /proc/vmstat names
// (mm/vmstat.c vmstat_text), watermark boosts, kswapd and kcompactd wakes, and the high-order
// atomic reserve. Counts only grow; every change happens under the allocator's lock, and
// Snapshot copies them out.
namespace Buddy;

/// <summary>The running counts behind <see cref="MobilityStatistics"/>.</summary>
/// <remarks>Not thread-safe: the allocator's lock serialises every member.</remarks>
internal sealed class MobilityCounters
{
    private readonly long[] _fallbacks = new long[MobilityRules.Types * MobilityRules.Types];
    private readonly long[] _fragmenting = new long[MobilityRules.Types * MobilityRules.Types];
    private long _ownershipChanges;
    private long _boosts, _kswapdWakes, _kcompactdWakes, _reserved, _unreserved;

    /// <summary>The compaction events, by /proc/vmstat name.</summary>
    public long CompactMigrateScanned, CompactFreeScanned, CompactIsolated, CompactStall, CompactFail, CompactSuccess,
        CompactDaemonWake, CompactDaemonMigrateScanned, CompactDaemonFreeScanned;

    /// <summary>
    /// trace_mm_page_alloc_extfrag: a request of <paramref name="allocType"/> took a block of
    /// <paramref name="fallbackOrder"/> from
    /// <paramref name="fallbackType"/>'s lists; it fragments when that block is smaller than a
    /// pageblock, and changes ownership when the pageblock is now the request's type.
    /// </summary>
    public void Fallback(int fallbackOrder, int pageblockOrder, MigrateType allocType, MigrateType fallbackType, bool changedOwnership)
    {
        int slot = ((int)allocType * MobilityRules.Types) + (int)fallbackType;
        _fallbacks[slot]++;
        if (fallbackOrder < pageblockOrder)
        {
            _fragmenting[slot]++;
        }

        if (changedOwnership)
        {
            _ownershipChanges++;
        }
    }

    /// <summary>A watermark boost was applied (boost_watermark returned true).</summary>
    public void Boosted() => _boosts++;

    /// <summary>kswapd ran for a boosted zone.</summary>
    public void KswapdWoke() => _kswapdWakes++;

    /// <summary>kcompactd woke (to compact for an order, or proactively).</summary>
    public void KcompactdWoke() => _kcompactdWakes++;

    /// <summary>A pageblock (or larger block) became MIGRATE_HIGHATOMIC.</summary>
    public void Reserved() => _reserved++;

    /// <summary>A MIGRATE_HIGHATOMIC pageblock went back to an ordinary type.</summary>
    public void Unreserved() => _unreserved++;

    /// <summary>A copy of the counts; <paramref name="reservedHighAtomicPages"/> is the zones' current reserve.</summary>
    public MobilityStatistics Snapshot(ulong reservedHighAtomicPages)
    {
        var byType = new List<FallbackCount>();
        for (int a = 0; a < MobilityRules.Types; a++)
        {
            for (int f = 0; f < MobilityRules.Types; f++)
            {
                int slot = (a * MobilityRules.Types) + f;
                if (_fallbacks[slot] > 0)
                {
                    byType.Add(new FallbackCount((MigrateType)a, (MigrateType)f, _fallbacks[slot], _fragmenting[slot]));
                }
            }
        }

        return new MobilityStatistics
        {
            Fallbacks = byType,
            OwnershipChanges = _ownershipChanges,
            WatermarkBoosts = _boosts,
            KswapdWakes = _kswapdWakes,
            KcompactdWakes = _kcompactdWakes,
            HighAtomicReservations = _reserved,
            HighAtomicReleases = _unreserved,
            ReservedHighAtomicPages = reservedHighAtomicPages,
            VmEvents = VmEvents(),
        };
    }

    /// <summary>Every vmstat counter at zero.</summary>
    public static IReadOnlyDictionary<string, long> EmptyVmEvents { get; } = new MobilityCounters().VmEvents();

    // In /proc/vmstat's order (a Dictionary enumerates in insertion order while nothing is removed).
    private Dictionary<string, long> VmEvents() => new()
    {
        ["compact_migrate_scanned"] = CompactMigrateScanned,
        ["compact_free_scanned"] = CompactFreeScanned,
        ["compact_isolated"] = CompactIsolated,
        ["compact_stall"] = CompactStall,
        ["compact_fail"] = CompactFail,
        ["compact_success"] = CompactSuccess,
        ["compact_daemon_wake"] = CompactDaemonWake,
        ["compact_daemon_migrate_scanned"] = CompactDaemonMigrateScanned,
        ["compact_daemon_free_scanned"] = CompactDaemonFreeScanned,
    };
}
