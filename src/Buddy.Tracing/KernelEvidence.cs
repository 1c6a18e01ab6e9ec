// KernelEvidence: what the traced kernel itself recorded about fragmentation, beside the
// allocations and frees a replay is driven by — kmem:mm_page_alloc_extfrag (an allocation that fell
// back to another migrate type's free block), kmem:mm_page_alloc_zone_locked (a block taken from the
// buddy lists under the zone lock) and compaction:mm_compaction_begin/end (a compaction run and its
// outcome), as Linux 6.18 prints them. An immutable snapshot: the reader counts into a
// KernelEvidenceTally and TraceStats.Evidence copies it out. Every count is of events read, never
// inferred; counts saturate at long.MaxValue.
namespace Buddy.Tracing;

/// <summary>One migrate-type fallback route and how often the kernel took it.</summary>
/// <param name="AllocMigrateType">The migrate type the allocation asked for (the event's <c>alloc_migratetype</c>).</param>
/// <param name="FallbackMigrateType">The migrate type of the free block it took instead (<c>fallback_migratetype</c>).</param>
/// <param name="Count">mm_page_alloc_extfrag events with this pair.</param>
public sealed record FallbackRoute(MigrateType AllocMigrateType, MigrateType FallbackMigrateType, long Count);

/// <summary>
/// What the traced kernel recorded about its own fallbacks, zone-locked allocations and compaction
/// runs (the kmem:mm_page_alloc_extfrag, kmem:mm_page_alloc_zone_locked and
/// compaction:mm_compaction_begin/end events of the trace).
/// </summary>
/// <remarks>
/// A count of zero means the trace holds no such event: the event may not have been enabled when the
/// trace was captured (<c>buddy capture</c> enables all four where the kernel has them).
/// </remarks>
public sealed record KernelEvidence
{
    /// <summary>mm_page_alloc_extfrag events: allocations served from a free block of another migrate type.</summary>
    public long Fallbacks { get; init; }

    /// <summary>
    /// Fallbacks that fragment: the block taken was smaller than a pageblock (<c>fragmenting=1</c>),
    /// so pageblocks of two migrate types now share pages — the kernel's own count of what
    /// anti-fragmentation policies try to avoid.
    /// </summary>
    public long FragmentingFallbacks { get; init; }

    /// <summary>Fallbacks after which the pageblock belongs to the allocation's migrate type (<c>change_ownership=1</c>).</summary>
    public long OwnershipChanges { get; init; }

    /// <summary>Fallbacks by (asked, taken) migrate types, the commonest first; only the routes seen.</summary>
    public IReadOnlyList<FallbackRoute> FallbacksByMigrateType { get; init; } = [];

    /// <summary>Fallbacks by the allocation's order (<c>alloc_order</c>), index = order, up to the highest order seen.</summary>
    public IReadOnlyList<long> FallbacksByOrder { get; init; } = [];

    /// <summary>mm_page_alloc_zone_locked events: blocks taken from the buddy lists under the zone lock.</summary>
    public long ZoneLockedAllocations { get; init; }

    /// <summary>Zone-locked allocations that refilled a per-cpu list (<c>percpu_refill=1</c>).</summary>
    public long PercpuRefills { get; init; }

    /// <summary>mm_compaction_begin events: compaction runs started.</summary>
    public long CompactionRuns { get; init; }

    /// <summary>Compaction runs started in sync mode (<c>mode=sync</c>).</summary>
    public long SyncCompactionRuns { get; init; }

    /// <summary>Compaction runs started in async mode (<c>mode=async</c>).</summary>
    public long AsyncCompactionRuns { get; init; }

    /// <summary>mm_compaction_end events: compaction runs ended.</summary>
    public long CompactionEnds { get; init; }

    /// <summary>
    /// Compaction runs ended, by the kernel's name of the outcome (<c>status=</c>: success, complete,
    /// partial_skipped, continue, contended, no_suitable_page, deferred, skipped, not_suitable_zone),
    /// in the kernel's enum order; only the outcomes seen.
    /// </summary>
    public IReadOnlyDictionary<string, long> CompactionOutcomes { get; init; } = new Dictionary<string, long>(StringComparer.Ordinal);

    /// <summary>Every event counted here (saturates at <see cref="long.MaxValue"/>); 0 when the trace held none.</summary>
    public long Events => Saturating.Sum(Saturating.Sum(Fallbacks, ZoneLockedAllocations), Saturating.Sum(CompactionRuns, CompactionEnds));
}
