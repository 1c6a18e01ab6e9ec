// MobilityStatistics: the public snapshot of what an allocator's anti-fragmentation rules did
// (MobilityCounters keeps the running counts). Fallbacks carry the fields Mel Gorman's measure of
// external fragmentation reads from mm_page_alloc_extfrag: a fallback is "fragmenting" when it
// takes a block smaller than a pageblock from another type's lists, mixing types in one pageblock.
using System.Globalization;

namespace Buddy;

/// <summary>Fallbacks from one migrate type's request to another type's free lists.</summary>
/// <param name="AllocType">The request's type (alloc_migratetype).</param>
/// <param name="FallbackType">The lists it took from (fallback_migratetype).</param>
/// <param name="Events">Fallbacks, fragmenting or not.</param>
/// <param name="Fragmenting">Fallbacks that took a block smaller than a pageblock (fragmenting=1).</param>
public sealed record FallbackCount(MigrateType AllocType, MigrateType FallbackType, long Events, long Fragmenting);

/// <summary>What an allocator's grouping by mobility, compaction and Linux 6.x rules did so far.</summary>
public sealed record MobilityStatistics
{
    /// <summary>No rule has run (an allocator without grouping).</summary>
    public static MobilityStatistics None { get; } = new();

    /// <summary>Fallbacks by (request type, list type); pairs that never fell back are left out.</summary>
    public IReadOnlyList<FallbackCount> Fallbacks { get; init; } = [];

    /// <summary>Fallbacks in all (mm_page_alloc_extfrag events).</summary>
    public long FallbackEvents => Fallbacks.Sum(f => f.Events);

    /// <summary>Fragmenting fallbacks: a block smaller than a pageblock taken from another type (fragmenting=1).</summary>
    public long FragmentingEvents => Fallbacks.Sum(f => f.Fragmenting);

    /// <summary>Fallbacks after which the block's pageblock belonged to the request's type (change_ownership=1).</summary>
    public long OwnershipChanges { get; init; }

    /// <summary>Watermark boosts applied (boost_watermark, on every attempt to claim part of a pageblock, whether or not the claim then succeeds).</summary>
    public long WatermarkBoosts { get; init; }

    /// <summary>Times kswapd ran for a boosted zone (and dropped the boost).</summary>
    public long KswapdWakes { get; init; }

    /// <summary>Times kcompactd woke: after boosted reclaim, and for proactive compaction.</summary>
    public long KcompactdWakes { get; init; }

    /// <summary>Pageblocks (or larger blocks) made MIGRATE_HIGHATOMIC (reserve_highatomic_pageblock).</summary>
    public long HighAtomicReservations { get; init; }

    /// <summary>MIGRATE_HIGHATOMIC pageblocks given back to an ordinary type (unreserve_highatomic_pageblock).</summary>
    public long HighAtomicReleases { get; init; }

    /// <summary>Pages in MIGRATE_HIGHATOMIC pageblocks now (the zones' nr_reserved_highatomic).</summary>
    public ulong ReservedHighAtomicPages { get; init; }

    /// <summary>
    /// The compaction counters of /proc/vmstat by their names there, in its order (Linux 6.18
    /// mm/vmstat.c): compact_migrate_scanned, compact_free_scanned, compact_isolated, compact_stall,
    /// compact_fail, compact_success, compact_daemon_wake, compact_daemon_migrate_scanned,
    /// compact_daemon_free_scanned. The free scanner finds targets by bitmap search, so
    /// compact_free_scanned counts the pages it took as targets; compact_isolated counts the pages
    /// moved twice (source and target), as the kernel counts both isolations.
    /// </summary>
    public IReadOnlyDictionary<string, long> VmEvents { get; init; } = MobilityCounters.EmptyVmEvents;

    /// <summary>Whether every count is the same (the lists and counters compared element by element).</summary>
    public bool Equals(MobilityStatistics? other) =>
        other is not null
        && Fallbacks.SequenceEqual(other.Fallbacks)
        && OwnershipChanges == other.OwnershipChanges
        && WatermarkBoosts == other.WatermarkBoosts
        && KswapdWakes == other.KswapdWakes
        && KcompactdWakes == other.KcompactdWakes
        && HighAtomicReservations == other.HighAtomicReservations
        && HighAtomicReleases == other.HighAtomicReleases
        && ReservedHighAtomicPages == other.ReservedHighAtomicPages
        && VmEvents.SequenceEqual(other.VmEvents);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(FallbackEvents, FragmentingEvents, OwnershipChanges, WatermarkBoosts, KcompactdWakes, ReservedHighAtomicPages, VmEvents["compact_stall"]);

    /// <summary>The counters as /proc/vmstat prints them ("name value" lines).</summary>
    public string VmStatText() =>
        string.Concat(VmEvents.Select(e => string.Create(CultureInfo.InvariantCulture, $"{e.Key} {e.Value}\n")));
}
