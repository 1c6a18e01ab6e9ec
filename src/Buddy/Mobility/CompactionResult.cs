// CompactionResult: what one compaction run did.
namespace Buddy;

/// <summary>How a compaction run ended.</summary>
public enum CompactionOutcome
{
    /// <summary>A free block of the wanted order appeared.</summary>
    Success,

    /// <summary>The migration and free scanners met: the zone is as compact as this run can make it.</summary>
    ScannersMet,

    /// <summary>Not tried: the fragmentation index says a failure would be for lack of memory, or the zone is below its watermark.</summary>
    NotSuitable,
}

/// <summary>The outcome and cost of one compaction run over one zone.</summary>
/// <param name="Zone">The zone compacted.</param>
/// <param name="Outcome">How it ended.</param>
/// <param name="PagesScanned">Pages the migration scanner looked at.</param>
/// <param name="PagesMoved">Pages migrated.</param>
/// <param name="BlocksMoved">Movable blocks migrated.</param>
public readonly record struct CompactionResult(ZoneKind Zone, CompactionOutcome Outcome, ulong PagesScanned, ulong PagesMoved, long BlocksMoved);
