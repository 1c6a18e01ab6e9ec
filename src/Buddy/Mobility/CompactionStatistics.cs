// CompactionStatistics: what an allocator's compaction has done since it was made, as one
// snapshot (PageAllocator.GetCompactionStatistics). A method, not a property, as GetZoneStats
// is: each call takes the lock and makes a new snapshot whose four counts belong together.
namespace Buddy;

/// <summary>An allocator's compaction totals since it was made.</summary>
/// <param name="Runs">Compaction runs over one zone (a direct compaction may run twice per zone).</param>
/// <param name="Successes">Runs after which a free block of the wanted order was there.</param>
/// <param name="PagesScanned">Pages the migration scanner looked at.</param>
/// <param name="PagesMoved">Pages migrated.</param>
public sealed record CompactionStatistics(long Runs, long Successes, ulong PagesScanned, ulong PagesMoved);
