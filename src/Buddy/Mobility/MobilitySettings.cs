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

    /// <summary>Keep unmovable, movable and reclaimable allocations in pageblocks of their own type.</summary>
    public bool GroupByMobility { get; init; }

    /// <summary>log2 of the pageblock size in pages (the kernel's pageblock_order: 9 on x86-64 with 4 KiB pages); from MaxOrder − <see cref="MaxPageblocksPerBlockLog2"/> to MaxOrder.</summary>
    public int PageblockOrder { get; init; } = 9;

    /// <summary>When a request of order 1 or more would fail, compact the zones and try again (direct compaction).</summary>
    public bool Compaction { get; init; }

    /// <summary>vm.extfrag_threshold: above order 3, compaction runs only when the fragmentation index exceeds this (0..1000).</summary>
    public int ExtfragThreshold { get; init; } = 500;
}
