// MobilityGroupingTests: grouping by mobility (the Linux 6.18 fallback, claim and steal rules of MobilityRules) and the settings and requests that select it.
using System.Globalization;
using Buddy.Kernel;
using static Buddy.Units;

namespace Buddy.Tests;

// Inside the namespace, so that Pages and Small are these helpers, not the namespaces Buddy.Pages and Buddy.Small.
using static Buddy.Tests.MobilityTestData;

public class MobilityGroupingTests
{
    // The free-block row of a zone and type: free blocks per order.
    private static long[] FreeCounts(PageAllocator pages, MigrateType type, string zone = "Normal")
    {
        string prefix = "Node    0, zone " + zone.PadLeft(8) + ", type " + PageTypeInfo.TypeNames[(int)type].PadLeft(12) + " ";
        string line = Assert.Single(pages.GetPageTypeInfo().Split('\n'), l => l.StartsWith(prefix, StringComparison.Ordinal));
        return [.. line[prefix.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => long.Parse(s, CultureInfo.InvariantCulture))];
    }

    // Fills the machine with order-0 movable blocks, returned by pfn (no callback: they never move).
    private static Block[] FillMovable(PageAllocator pages)
    {
        var blocks = new Block[Pages];
        for (int i = 0; i < Pages; i++)
        {
            Block b = Alloc(pages, 0, MigrateType.Movable);
            blocks[b.Pfn] = b;
        }

        Assert.Equal(0UL, pages.FreePages);
        return blocks;
    }

    [Fact]
    public void Unmovable_movable_and_reclaimable_allocations_group_in_pageblocks_of_their_own_type()
    {
        PageAllocator pages = Machine();
        Assert.Equal(Counts(0, 16, 0), BlockCounts(pages)); // the kernel boots every pageblock movable
        var unmovable = new List<Block>();
        var movable = new List<Block>();
        var reclaimable = new List<Block>();
        for (int i = 0; i < 20; i++)
        {
            unmovable.Add(Alloc(pages, i % 2, MigrateType.Unmovable));
            movable.Add(Alloc(pages, i % 3, MigrateType.Movable));
            if (i % 4 == 0)
            {
                reclaimable.Add(Alloc(pages, 0, MigrateType.Reclaimable));
            }

            pages.Validate();
        }

        // The first unmovable request claimed the whole order-6 block at 0 (four pageblocks), the
        // first reclaimable one the next order-6 block the movable pages had not split: every later
        // request of each type was served from its own type's pageblocks.
        Assert.Equal(Counts(4, 8, 4), BlockCounts(pages));
        Assert.All(unmovable, b => Assert.True(b.Pfn < 64 && b.Pfn + b.PageCount <= 64, $"unmovable {b} outside its pageblocks [0, 64)"));
        Assert.All(movable, b => Assert.True(b.Pfn >= 64 && b.Pfn + b.PageCount <= 128, $"movable {b} outside its pageblocks [64, 128)"));
        Assert.All(reclaimable, b => Assert.True(b.Pfn >= 128 && b.Pfn < 192, $"reclaimable {b} outside its pageblocks [128, 192)"));
    }

    // Sets up [0, 64) as `second`'s pageblocks and [64, 128) as `first`'s, each with one page
    // allocated and a free block of every order 0..5, and [128, 256) as movable pageblocks fully
    // allocated: the requester's own lists are empty, both fallbacks have an order-5 block.
    private static PageAllocator TwoFallbacks(MigrateType first, MigrateType second)
    {
        PageAllocator pages = Machine();
        Assert.Equal(0UL, Alloc(pages, 0, second).Pfn);
        Assert.Equal(64UL, Alloc(pages, 0, first).Pfn);
        Assert.Equal(128UL, Alloc(pages, 6, MigrateType.Movable).Pfn);
        Assert.Equal(192UL, Alloc(pages, 6, MigrateType.Movable).Pfn);
        return pages;
    }

    private static long[] Expected(params (MigrateType Type, long Blocks)[] blocks)
    {
        long[] counts = new long[5];
        counts[(int)MigrateType.Movable] = 8; // [128, 256)
        foreach ((MigrateType type, long n) in blocks)
        {
            counts[(int)type] += n;
        }

        return counts;
    }

    [Theory]
    [InlineData(MigrateType.Unmovable, MigrateType.Reclaimable, MigrateType.Movable)]
    [InlineData(MigrateType.Movable, MigrateType.Reclaimable, MigrateType.Unmovable)]
    [InlineData(MigrateType.Reclaimable, MigrateType.Unmovable, MigrateType.Movable)]
    public void A_request_claims_from_its_first_fallback_type_when_both_have_blocks(MigrateType request, MigrateType first, MigrateType second)
    {
        PageAllocator pages = TwoFallbacks(first, second);
        Assert.Equal(Expected((second, 4), (first, 4)), BlockCounts(pages));

        // The largest fallback block is order 5 on both lists, and `first` comes first in the
        // kernel's fallbacks[]: its order-5 block at 96 (not the lower one at 32) is claimed whole.
        Block b = Alloc(pages, 0, request);
        pages.Validate();
        Assert.Equal(96UL, b.Pfn);
        Assert.Equal(Expected((second, 4), (first, 2), (request, 2)), BlockCounts(pages));
    }

    [Theory]
    [InlineData(MigrateType.Unmovable, MigrateType.Reclaimable, MigrateType.Movable)]
    [InlineData(MigrateType.Movable, MigrateType.Reclaimable, MigrateType.Unmovable)]
    [InlineData(MigrateType.Reclaimable, MigrateType.Unmovable, MigrateType.Movable)]
    public void A_request_claims_from_its_second_fallback_type_when_the_first_has_no_free_block(MigrateType request, MigrateType first, MigrateType second)
    {
        PageAllocator pages = TwoFallbacks(first, second);
        for (int order = 5; order >= 0; order--)
        {
            Block own = Alloc(pages, order, first); // from first's own lists: no pageblock changes
            Assert.True(own.Pfn >= 64 && own.Pfn < 128, $"{own} left {first}'s pageblocks");
        }

        Assert.Equal(Expected((second, 4), (first, 4)), BlockCounts(pages));
        Assert.All(FreeCounts(pages, first), n => Assert.Equal(0, n));

        Block b = Alloc(pages, 0, request);
        pages.Validate();
        Assert.Equal(32UL, b.Pfn);
        Assert.Equal(Expected((second, 2), (first, 4), (request, 2)), BlockCounts(pages));
    }

    [Fact]
    public void A_free_block_of_pageblock_order_or_more_is_claimed_whole_whatever_is_free_around_it()
    {
        PageAllocator pages = Machine();
        Block[] all = FillMovable(pages);
        for (int p = 16; p < 32; p++)
        {
            pages.Free(all[p]); // pageblock 1 becomes one free order-4 block
        }

        Block b = Alloc(pages, 0, MigrateType.Reclaimable);
        Assert.Equal(16UL, b.Pfn);
        Assert.Equal(Counts(0, 15, 1), BlockCounts(pages));
        Assert.Equal([1, 1, 1, 1, 0, 0, 0], FreeCounts(pages, MigrateType.Reclaimable)); // the split rest moved along
        pages.Validate();
    }

    [Fact]
    public void An_unmovable_request_claims_a_movable_pageblock_that_is_at_least_half_free()
    {
        PageAllocator pages = Machine();
        Block[] all = FillMovable(pages);
        for (int p = 8; p < 16; p++)
        {
            pages.Free(all[p]); // 8 of pageblock 0's 16 pages: an order-3 block
        }

        Block b = Alloc(pages, 0, MigrateType.Unmovable);
        pages.Validate();
        Assert.Equal(8UL, b.Pfn);
        Assert.Equal(Counts(1, 15, 0), BlockCounts(pages));
        Assert.Equal([1, 1, 1, 0, 0, 0, 0], FreeCounts(pages, MigrateType.Unmovable)); // the rest moved to unmovable lists
        Assert.All(FreeCounts(pages, MigrateType.Movable), n => Assert.Equal(0, n));
    }

    [Fact]
    public void An_unmovable_request_steals_from_a_movable_pageblock_less_than_half_free_without_changing_its_type()
    {
        PageAllocator pages = Machine();
        Block[] all = FillMovable(pages);
        for (int p = 8; p < 15; p++)
        {
            pages.Free(all[p]); // 7 pages: order-2 at 8, order-1 at 12, order-0 at 14
        }

        Block b = Alloc(pages, 0, MigrateType.Unmovable);
        pages.Validate();
        Assert.Equal(14UL, b.Pfn); // steal goes from the smallest order up
        Assert.Equal(Counts(0, 16, 0), BlockCounts(pages));
        Assert.Equal([0, 1, 1, 0, 0, 0, 0], FreeCounts(pages, MigrateType.Movable)); // the rest stays on movable lists
        Assert.All(FreeCounts(pages, MigrateType.Unmovable), n => Assert.Equal(0, n));
    }

    [Fact]
    public void Unmovable_pages_already_in_a_movable_pageblock_count_towards_an_unmovable_claim()
    {
        PageAllocator pages = Machine();
        Block[] all = FillMovable(pages);
        for (int p = 0; p < 4; p++)
        {
            pages.Free(all[p]);
        }

        Block stolen = Alloc(pages, 2, MigrateType.Unmovable); // 4 free of 16: stolen, no claim
        Assert.Equal(0UL, stolen.Pfn);
        Assert.Equal(Counts(0, 16, 0), BlockCounts(pages));
        for (int p = 4; p < 8; p++)
        {
            pages.Free(all[p]);
        }

        // Now 4 free + 4 unmovable ("alike": neither free nor movable) = half the pageblock.
        Block b = Alloc(pages, 0, MigrateType.Unmovable);
        pages.Validate();
        Assert.Equal(4UL, b.Pfn);
        Assert.Equal(Counts(1, 15, 0), BlockCounts(pages));
    }

    [Theory]
    [InlineData(1, false)] // below pageblock_order / 2 = 2: a movable request only steals
    [InlineData(2, true)]  // from pageblock_order / 2 up it claims (free 4 + movable 8 >= 8)
    public void A_movable_request_claims_only_from_order_pageblock_order_over_two(int freeOrder, bool claims)
    {
        PageAllocator pages = Machine();
        Block[] all = FillMovable(pages);
        for (int p = 0; p < 8; p++)
        {
            pages.Free(all[p]);
        }

        Assert.Equal(0UL, Alloc(pages, 0, MigrateType.Unmovable).Pfn); // claims pageblock 0 (8 of 16 free)
        Assert.Equal(Counts(1, 15, 0), BlockCounts(pages));

        // Leave exactly one free block in the machine, of freeOrder, in the unmovable pageblock 0,
        // whose other half (pages 8..15) is movable.
        if (freeOrder == 1)
        {
            Assert.Equal(4UL, Alloc(pages, 2, MigrateType.Unmovable).Pfn);
            Assert.Equal(1UL, Alloc(pages, 0, MigrateType.Unmovable).Pfn);
        }
        else
        {
            Assert.Equal(2UL, Alloc(pages, 1, MigrateType.Unmovable).Pfn);
            Assert.Equal(1UL, Alloc(pages, 0, MigrateType.Unmovable).Pfn);
        }

        Assert.Equal([new FreeBlock(freeOrder == 1 ? 2 * Page : 4 * Page, freeOrder)], pages.GetFreeBlocks());

        Block b = Alloc(pages, 0, MigrateType.Movable);
        pages.Validate();
        Assert.Equal(freeOrder == 1 ? 2UL : 4UL, b.Pfn);
        Assert.Equal(claims ? Counts(0, 16, 0) : Counts(1, 15, 0), BlockCounts(pages));
    }

    [Theory]
    [InlineData(MigrateType.Isolate)]
    [InlineData(MigrateType.HighAtomic)]
    [InlineData(MigrateType.Cma)]
    [InlineData((MigrateType)17)]
    public void A_request_for_a_migrate_type_other_than_the_three_throws(MigrateType type)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => Request.ForOrder(0).WithMobility(type));
        Assert.Equal("mobility", e.ParamName);
    }

    [Theory]
    [InlineData(7, false, true, 500)]  // pageblock order above MaxOrder 6
    [InlineData(0, false, true, 500)]  // pageblock order below 1
    [InlineData(4, true, false, 500)]  // compaction without grouping
    [InlineData(4, true, true, 1001)]  // threshold above 1000
    [InlineData(4, true, true, -1)]
    public void Bad_mobility_settings_are_refused_at_construction(int pageblockOrder, bool compaction, bool grouping, int threshold)
    {
        var mobility = new MobilitySettings { GroupByMobility = grouping, PageblockOrder = pageblockOrder, Compaction = compaction, ExtfragThreshold = threshold };
        var e = Assert.Throws<ArgumentException>(() => new PageAllocator(MachineLayout.Flat(1 * MiB) with { MaxOrder = 6, Mobility = mobility }));
        Assert.Equal("Mobility", e.ParamName);
    }

    [Fact]
    public void Without_grouping_every_pageblock_and_free_block_is_movable()
    {
        var pages = new PageAllocator(MachineLayout.Flat(1 * MiB) with { MaxOrder = 6, Mobility = new MobilitySettings { PageblockOrder = 4 } });
        pages.Allocate(Request.ForOrder(0));
        pages.Allocate(Request.ForOrder(0).WithMobility(MigrateType.Reclaimable));
        Assert.Equal(Counts(0, 16, 0), BlockCounts(pages));
        Assert.Equal([0, 1, 1, 1, 1, 1, 3], FreeCounts(pages, MigrateType.Movable));
        Assert.All(FreeCounts(pages, MigrateType.Unmovable), n => Assert.Equal(0, n));
    }
}
