// KernelEvidenceTally: the counters behind KernelEvidence, kept by one reader while it reads. Flat
// arrays indexed by migrate type, order and compaction status: counting an event allocates nothing.
// Every count saturates at long.MaxValue. Not thread-safe.
using Buddy.Kernel;

namespace Buddy.Tracing;

/// <summary>Counts the kernel's own fragmentation events as they are read; <see cref="ToEvidence"/> copies them out.</summary>
internal sealed class KernelEvidenceTally
{
    /// <summary>Migrate types a trace may print: MIGRATE_UNMOVABLE (0) .. MIGRATE_ISOLATE (5).</summary>
    public const int MigrateTypes = (int)MigrateType.Isolate + 1;

    private readonly long[] _routes = new long[MigrateTypes * MigrateTypes]; // [alloc * MigrateTypes + fallback]
    private readonly long[] _byOrder = new long[KernelLimits.MaxPageOrder + 1];
    private readonly long[] _outcomes = new long[CompactionStatus.Names.Length];
    private long _fallbacks, _fragmenting, _ownership, _zoneLocked, _refills, _runs, _sync, _async, _ends;

    /// <summary>One mm_page_alloc_extfrag event (its fields already checked).</summary>
    public void CountFallback(int allocOrder, MigrateType alloc, MigrateType fallback, bool fragmenting, bool changeOwnership)
    {
        Saturating.Increment(ref _fallbacks);
        Saturating.Increment(ref _byOrder[allocOrder]);
        Saturating.Increment(ref _routes[((int)alloc * MigrateTypes) + (int)fallback]);
        if (fragmenting)
        {
            Saturating.Increment(ref _fragmenting);
        }

        if (changeOwnership)
        {
            Saturating.Increment(ref _ownership);
        }
    }

    /// <summary>One mm_page_alloc_zone_locked event.</summary>
    public void CountZoneLocked(bool percpuRefill)
    {
        Saturating.Increment(ref _zoneLocked);
        if (percpuRefill)
        {
            Saturating.Increment(ref _refills);
        }
    }

    /// <summary>One mm_compaction_begin event.</summary>
    public void CountCompactionBegin(bool sync)
    {
        Saturating.Increment(ref _runs);
        Saturating.Increment(ref sync ? ref _sync : ref _async);
    }

    /// <summary>One mm_compaction_end event with the kernel's status value (an index of <see cref="CompactionStatus.Names"/>).</summary>
    public void CountCompactionEnd(int status)
    {
        Saturating.Increment(ref _ends);
        Saturating.Increment(ref _outcomes[status]);
    }

    /// <summary>A snapshot of the counts.</summary>
    public KernelEvidence ToEvidence()
    {
        var routes = new List<FallbackRoute>();
        for (int i = 0; i < _routes.Length; i++)
        {
            if (_routes[i] > 0)
            {
                routes.Add(new FallbackRoute((MigrateType)(i / MigrateTypes), (MigrateType)(i % MigrateTypes), _routes[i]));
            }
        }

        int orders = Array.FindLastIndex(_byOrder, n => n > 0) + 1;
        var outcomes = new Dictionary<string, long>(StringComparer.Ordinal);
        for (int status = 0; status < _outcomes.Length; status++)
        {
            if (_outcomes[status] > 0)
            {
                outcomes.Add(CompactionStatus.Names[status], _outcomes[status]);
            }
        }

        return new KernelEvidence
        {
            Fallbacks = _fallbacks,
            FragmentingFallbacks = _fragmenting,
            OwnershipChanges = _ownership,
            FallbacksByMigrateType = [.. routes.OrderByDescending(r => r.Count)], // stable: ties keep the type order
            FallbacksByOrder = _byOrder[..orders],
            ZoneLockedAllocations = _zoneLocked,
            PercpuRefills = _refills,
            CompactionRuns = _runs,
            SyncCompactionRuns = _sync,
            AsyncCompactionRuns = _async,
            CompactionEnds = _ends,
            CompactionOutcomes = outcomes,
        };
    }
}
