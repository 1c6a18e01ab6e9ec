// MobilitySettings: grouping pages by mobility and compaction, as a machine has them.
namespace Buddy;

/// <summary>Whether and how an allocator groups pages by mobility and compacts memory.</summary>
public sealed record MobilitySettings
{
    /// <summary>No grouping, no compaction: every free block on one list (the plain buddy allocator).</summary>
    public static MobilitySettings None { get; } = new();

    /// <summary>
    /// log2 of the most pageblocks a max-order block may span (MaxOrder − PageblockOrder at most
    /// this): a claim or a merge retypes every pageblock of its block, which must stay bounded.
    /// </summary>
    public const int MaxPageblocksPerBlockLog2 = 12;

    /// <summary>Grouping by mobility with the kernel's pageblocks of 2^9 pages, no compaction.</summary>
    public static MobilitySettings Grouping { get; } = new() { GroupByMobility = true };

    /// <summary>Grouping by mobility and direct compaction.</summary>
    public static MobilitySettings GroupingAndCompaction { get; } = new() { GroupByMobility = true, Compaction = true };

    /// <summary>
    /// Linux 6.18's anti-fragmentation as its defaults set it: grouping, direct compaction,
    /// ALLOC_NOFRAGMENT, watermark boosting (vm.watermark_boost_factor 15000), the high-order
    /// atomic reserve and proactive compaction (vm.compaction_proactiveness 20); vm.defrag_mode off.
    /// </summary>
    public static MobilitySettings Linux618 { get; } = new()
    {
        GroupByMobility = true,
        Compaction = true,
        NoFragment = true,
        WatermarkBoostFactor = 15000,
        HighAtomicReserve = true,
        CompactionProactiveness = 20,
    };

    /// <summary>Keep unmovable, movable and reclaimable allocations in pageblocks of their own type.</summary>
    public bool GroupByMobility { get; init; }

    /// <summary>log2 of the pageblock size in pages (the kernel's pageblock_order: 9 on x86-64 with 4 KiB pages); from MaxOrder − <see cref="MaxPageblocksPerBlockLog2"/> to MaxOrder.</summary>
    public int PageblockOrder { get; init; } = 9;

    /// <summary>When a request of order 1 or more would fail, compact the zones and try again (direct compaction).</summary>
    public bool Compaction { get; init; }

    /// <summary>vm.extfrag_threshold: above order 3, compaction runs only when the fragmentation index exceeds this (0..1000).</summary>
    public int ExtfragThreshold { get; init; } = 500;

    /// <summary>
    /// ALLOC_NOFRAGMENT (Linux 5.0): a request whose preferred zone is Normal first tries every zone
    /// of its zonelist taking other types' memory only as whole pageblocks, and mixes types inside a
    /// pageblock only when that found nothing.
    /// </summary>
    public bool NoFragment { get; init; }

    /// <summary>
    /// vm.watermark_boost_factor (Linux 5.0; 0..10000000, 0 off, the kernel's default 15000): a
    /// fragmenting fallback raises the zone's watermarks by a pageblock, up to this many ten-thousandths
    /// of the high mark, and wakes kswapd, which wakes kcompactd (see docs/design.md for the model).
    /// </summary>
    public int WatermarkBoostFactor { get; init; }

    /// <summary>
    /// MIGRATE_HIGHATOMIC (Linux 4.4): a high-order atomic request that succeeds in the slow path
    /// reserves its pageblock for later ones, up to about 1% of the zone; the reserve is given back
    /// when other requests would fail.
    /// </summary>
    public bool HighAtomicReserve { get; init; }

    /// <summary>
    /// vm.compaction_proactiveness (Linux 5.9; 0..100, 0 off, the kernel's default 20): kcompactd
    /// compacts in the background while the node's fragmentation score exceeds its high mark.
    /// Needs <see cref="Compaction"/>.
    /// </summary>
    public int CompactionProactiveness { get; init; }

    /// <summary>
    /// vm.defrag_mode (Linux 6.15): ALLOC_NOFRAGMENT holds in every pass of the slow path, direct
    /// compaction included, and is dropped only before the request would fail.
    /// </summary>
    public bool DefragMode { get; init; }

    /// <summary>
    /// Allocator operations between two of kcompactd's periodic checks, the simulation's stand-in
    /// for the kernel's 500 ms (HPAGE_FRAG_CHECK_INTERVAL_MSEC): 16,384 is half a second of the
    /// bundled trace (32,400 events per second). 1..2^30.
    /// </summary>
    public int KcompactdIntervalOperations { get; init; } = 16384;

    /// <summary>Whether any background work (kswapd's boost handling, kcompactd) can run.</summary>
    internal bool HasBackgroundWork => GroupByMobility && (WatermarkBoostFactor > 0 || CompactionProactiveness > 0);
}
