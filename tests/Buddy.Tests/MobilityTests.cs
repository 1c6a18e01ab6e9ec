using System.Globalization;
using Buddy.Allocation;
using Buddy.Kernel;
using Buddy.Mobility;
using Buddy.Pages;
using Buddy.Zones;
using static Buddy.Units;

namespace Buddy.Tests;

/// <summary>
/// Grouping by mobility (the Linux 6.18 fallback, claim and steal rules), /proc/pagetypeinfo,
/// movable handles, compaction and contiguous ranges, on a small machine: 1 MiB of 4 KiB pages
/// (256 pages), max order 6 (64 pages), pageblocks of order 4 (16 pages, 16 pageblocks).
/// </summary>
public class MobilityTests
{
    private const ulong Page = 4 * KiB;
    private const int Pages = 256;

    private static MobilitySettings Small(bool compaction = false, int extfragThreshold = 500) =>
        new() { GroupByMobility = true, PageblockOrder = 4, Compaction = compaction, ExtfragThreshold = extfragThreshold };

    private static PageAllocator Machine(MobilitySettings? mobility = null) =>
        new(MachineLayout.Flat(1 * MiB) with { MaxOrder = 6, Mobility = mobility ?? Small() });

    private static Request Order(int order, MigrateType type) => Request.ForOrder(order).WithMobility(type);

    private static Block Alloc(PageAllocator pages, int order, MigrateType type)
    {
        Assert.True(pages.TryAllocate(Order(order, type), out Block b, out AllocationFailure? failure), failure?.Message);
        return b;
    }

    // ---------------------------------------------------------------- pagetypeinfo helpers

    // The "Number of blocks type" row of a zone: pageblocks per type, indexed by MigrateType value.
    private static long[] BlockCounts(PageAllocator pages, string zone = "Normal")
    {
        string prefix = "Node 0, zone " + zone.PadLeft(8) + " ";
        string line = Assert.Single(pages.PageTypeInfo().Split('\n'), l => l.StartsWith(prefix, StringComparison.Ordinal));
        return [.. line[prefix.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => long.Parse(s, CultureInfo.InvariantCulture))];
    }

    // The free-block row of a zone and type: free blocks per order.
    private static long[] FreeCounts(PageAllocator pages, MigrateType type, string zone = "Normal")
    {
        string prefix = "Node    0, zone " + zone.PadLeft(8) + ", type " + PageTypeInfo.TypeNames[(int)type].PadLeft(12) + " ";
        string line = Assert.Single(pages.PageTypeInfo().Split('\n'), l => l.StartsWith(prefix, StringComparison.Ordinal));
        return [.. line[prefix.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => long.Parse(s, CultureInfo.InvariantCulture))];
    }

    private static long[] Counts(long unmovable, long movable, long reclaimable) => [unmovable, movable, reclaimable, 0, 0];

    private static int LargestFreeOrder(PageAllocator pages) =>
        pages.GetFreeBlocks().Select(b => b.Order).DefaultIfEmpty(-1).Max();

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

    // ---------------------------------------------------------------- grouping

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

        Assert.Equal([(freeOrder == 1 ? 2 * Page : 4 * Page, freeOrder)], pages.GetFreeBlocks());

        Block b = Alloc(pages, 0, MigrateType.Movable);
        pages.Validate();
        Assert.Equal(freeOrder == 1 ? 2UL : 4UL, b.Pfn);
        Assert.Equal(claims ? Counts(0, 16, 0) : Counts(1, 15, 0), BlockCounts(pages));
    }

    // ---------------------------------------------------------------- pagetypeinfo text

    [Fact]
    public void PageTypeInfo_of_a_fresh_small_machine_is_the_kernels_text()
    {
        string expected =
            "Page block order: 4\n" +
            "Pages per block:  16\n" +
            "\n" +
            "Free pages count per migrate type at order       0      1      2      3      4      5      6 \n" +
            "Node    0, zone   Normal, type    Unmovable      0      0      0      0      0      0      0 \n" +
            "Node    0, zone   Normal, type      Movable      0      0      0      0      0      0      4 \n" +
            "Node    0, zone   Normal, type  Reclaimable      0      0      0      0      0      0      0 \n" +
            "Node    0, zone   Normal, type   HighAtomic      0      0      0      0      0      0      0 \n" +
            "Node    0, zone   Normal, type      Isolate      0      0      0      0      0      0      0 \n" +
            "\n" +
            "Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic      Isolate \n" +
            "Node 0, zone   Normal            0           16            0            0            0 \n";
        Assert.Equal(expected, Machine().PageTypeInfo());
    }

    [Fact]
    public void PageTypeInfo_header_rows_and_block_counts_follow_the_kernels_format()
    {
        var pages = new PageAllocator(MachineLayout.X86(32 * MiB) with { Mobility = MobilitySettings.Grouping });
        pages.Allocate(Request.ForOrder(0)); // unmovable, from DMA32 (the highest zone): claims a whole order-10 block
        string[] lines = pages.PageTypeInfo().Split('\n');
        Assert.Equal("Page block order: 9", lines[0]);
        Assert.Equal("Pages per block:  512", lines[1]);
        Assert.Equal("", lines[2]);
        string head = "Free pages count per migrate type at order".PadRight(43) + " ";
        Assert.Equal(44, head.Length);
        Assert.Equal(head + string.Concat(Enumerable.Range(0, 11).Select(o => o.ToString(CultureInfo.InvariantCulture).PadLeft(6) + " ")), lines[3]);
        string[] types = ["Unmovable", "Movable", "Reclaimable", "HighAtomic", "Isolate"];
        string[] zones = ["DMA", "DMA32"];
        for (int z = 0; z < 2; z++)
        {
            for (int t = 0; t < 5; t++)
            {
                Assert.StartsWith("Node    0, zone " + zones[z].PadLeft(8) + ", type " + types[t].PadLeft(12) + " ", lines[4 + (z * 5) + t], StringComparison.Ordinal);
            }
        }

        // Each zone has 4096 pages: four order-10 blocks, eight pageblocks.
        Assert.Equal("Node    0, zone      DMA, type    Unmovable      0      0      0      0      0      0      0      0      0      0      0 ", lines[4]);
        Assert.Equal("Node    0, zone      DMA, type      Movable      0      0      0      0      0      0      0      0      0      0      4 ", lines[5]);
        Assert.Equal("Node    0, zone    DMA32, type    Unmovable      1      1      1      1      1      1      1      1      1      1      0 ", lines[9]);
        Assert.Equal("Node    0, zone    DMA32, type      Movable      0      0      0      0      0      0      0      0      0      0      3 ", lines[10]);
        Assert.Equal("", lines[14]);
        Assert.Equal("Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic      Isolate ", lines[15]);
        Assert.Equal("Node 0, zone      DMA            0            8            0            0            0 ", lines[16]);
        Assert.Equal("Node 0, zone    DMA32            2            6            0            0            0 ", lines[17]);
        Assert.Equal("", lines[18]);
        Assert.Equal(19, lines.Length);
    }

    [Fact]
    public void PageTypeInfo_Format_reproduces_a_live_6_18_pagetypeinfo_byte_for_byte()
    {
        string text = TestData.Read("live-6.18.pagetypeinfo");
        (int pageblockOrder, int orders, List<PageTypeInfoZone> zones) = ParsePageTypeInfo(text);
        Assert.Equal(9, pageblockOrder);
        Assert.Equal(11, orders);
        Assert.Equal(["DMA", "DMA32", "Normal"], zones.Select(z => z.Zone));
        Assert.Equal(104, zones[2].FreeBlocks[(int)MigrateType.Movable][10]);
        Assert.Equal([80L, 346, 22, 0, 0], zones[2].Pageblocks);
        Assert.Equal(text, PageTypeInfo.Format(zones, pageblockOrder, orders));
    }

    // A small parser of /proc/pagetypeinfo, independent of the formatter.
    private static (int PageblockOrder, int Orders, List<PageTypeInfoZone> Zones) ParsePageTypeInfo(string text)
    {
        static long Num(string s) => long.Parse(s, NumberStyles.None, CultureInfo.InvariantCulture);
        string[] lines = text.Split('\n');
        const string OrderPrefix = "Page block order: ";
        Assert.StartsWith(OrderPrefix, lines[0], StringComparison.Ordinal);
        int pageblockOrder = (int)Num(lines[0][OrderPrefix.Length..]);
        int orders = lines[3].Split(' ', StringSplitOptions.RemoveEmptyEntries).Length - "Free pages count per migrate type at order".Split(' ').Length;
        var free = new List<(string Zone, long[][] Counts)>();
        var blocks = new Dictionary<string, long[]>();
        bool blockSection = false;
        foreach (string line in lines.Skip(4))
        {
            if (line.StartsWith("Number of blocks type", StringComparison.Ordinal))
            {
                blockSection = true;
                continue;
            }

            if (!line.StartsWith("Node ", StringComparison.Ordinal))
            {
                continue;
            }

            string[] parts = line.Split(',');
            Assert.Equal("0", parts[0]["Node ".Length..].Trim());
            string[] rest = parts[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal("zone", rest[0]);
            string zone = rest[1];
            if (blockSection)
            {
                blocks[zone] = [.. rest.Skip(2).Select(Num)];
                continue;
            }

            string[] typeAndCounts = parts[2].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal("type", typeAndCounts[0]);
            int type = PageTypeInfo.TypeNames.ToList().IndexOf(typeAndCounts[1]);
            Assert.True(type >= 0, $"unknown migrate type {typeAndCounts[1]}");
            if (free.Count == 0 || free[^1].Zone != zone)
            {
                free.Add((zone, new long[PageTypeInfo.TypeNames.Count][]));
            }

            free[^1].Counts[type] = [.. typeAndCounts.Skip(2).Select(Num)];
            Assert.Equal(orders, free[^1].Counts[type].Length);
        }

        List<PageTypeInfoZone> zones = [.. free.Select(f => new PageTypeInfoZone(0, f.Zone, f.Counts, blocks[f.Zone]))];
        return (pageblockOrder, orders, zones);
    }

    // ---------------------------------------------------------------- movable handles

    private sealed class MoveLog
    {
        public List<(MovableBlock Handle, Block From, Block To, Block HandleBlockDuringCall)> Moves { get; } = [];

        public MigrateCallback Callback => (h, from, to) => Moves.Add((h, from, to, h.Block));
    }

    [Fact]
    public void Migrate_calls_back_with_the_old_and_new_blocks_and_the_handle_follows()
    {
        PageAllocator pages = Machine();
        var log = new MoveLog();
        MovableBlock h = pages.AllocateMovable(Request.ForOrder(1), log.Callback);
        Block before = h.Block;
        Assert.Equal(0UL, before.Pfn);
        Assert.Equal(2UL, before.PageCount);
        Assert.False(h.IsPinned);
        Assert.False(h.IsFreed);

        Assert.True(pages.Migrate(h));
        pages.Validate();
        (MovableBlock handle, Block from, Block to, Block during) = Assert.Single(log.Moves);
        Assert.Same(h, handle);
        Assert.Equal(before, from);
        Assert.Equal(before, during); // the handle still says "from" while the owner copies
        Assert.Equal(to, h.Block);
        Assert.Equal(2UL, to.PageCount);
        Assert.Equal(254UL, to.Pfn); // the highest free place above it
        Assert.Equal(1, h.Moves);
        Assert.Equal(2UL, pages.AllocatedPages);

        pages.Free(h);
        Assert.True(h.IsFreed);
        Assert.Equal((ulong)Pages, pages.FreePages);
        pages.Validate();
    }

    [Fact]
    public void Migrate_moves_only_upwards_and_returns_false_when_nothing_is_free_above()
    {
        PageAllocator pages = Machine();
        var log = new MoveLog();
        var handles = new MovableBlock[Pages];
        for (int i = 0; i < Pages; i++)
        {
            MovableBlock h = pages.AllocateMovable(Request.ForOrder(0), log.Callback);
            handles[h.Block.Pfn] = h;
        }

        Assert.False(pages.Migrate(handles[0])); // nothing free at all
        pages.Free(handles[10]);
        Assert.False(pages.Migrate(handles[255])); // the free page is below it
        Assert.Equal(255UL, handles[255].Block.Pfn);
        Assert.True(pages.Migrate(handles[3]));
        Assert.Equal(10UL, handles[3].Block.Pfn);
        Assert.DoesNotContain(log.Moves, m => m.Handle != handles[3]);
        pages.Validate();
    }

    [Fact]
    public void A_pinned_block_cannot_be_migrated_until_unpinned()
    {
        PageAllocator pages = Machine();
        var log = new MoveLog();
        MovableBlock h = pages.AllocateMovable(Request.ForOrder(0), log.Callback);
        h.Pin();
        h.Pin();
        Assert.True(h.IsPinned);
        Assert.Throws<InvalidOperationException>(() => pages.Migrate(h));
        h.Unpin();
        Assert.True(h.IsPinned); // pins nest
        Assert.Throws<InvalidOperationException>(() => pages.Migrate(h));
        h.Unpin();
        Assert.False(h.IsPinned);
        Assert.Empty(log.Moves);
        Assert.True(pages.Migrate(h));
        Assert.Single(log.Moves);
        pages.Validate();
    }

    // Fills the machine with order-0 movable handles, then frees every odd page: 128 free pages,
    // none of them mergeable (every buddy is allocated). Returns the surviving handles by pfn.
    private static Dictionary<ulong, MovableBlock> Fragment(PageAllocator pages, MigrateCallback callback)
    {
        var handles = new Dictionary<ulong, MovableBlock>();
        for (int i = 0; i < Pages; i++)
        {
            MovableBlock h = pages.AllocateMovable(Request.ForOrder(0), callback);
            handles.Add(h.Block.Pfn, h);
        }

        for (ulong p = 1; p < Pages; p += 2)
        {
            pages.Free(handles[p]);
            handles.Remove(p);
        }

        Assert.Equal(128UL, pages.FreePages);
        Assert.Equal(0, LargestFreeOrder(pages));
        pages.Validate();
        return handles;
    }

    [Fact]
    public void Compaction_never_moves_a_pinned_block()
    {
        PageAllocator pages = Machine();
        var log = new MoveLog();
        Dictionary<ulong, MovableBlock> handles = Fragment(pages, log.Callback);
        MovableBlock[] pinned = [handles[0], handles[2], handles[64], handles[200]];
        foreach (MovableBlock h in pinned)
        {
            h.Pin();
        }

        CompactionResult result = pages.Compact(ZoneKind.Normal);
        pages.Validate();
        Assert.True(result.PagesMoved > 0);
        foreach (MovableBlock h in pinned)
        {
            Assert.Equal(0, h.Moves);
            Assert.DoesNotContain(log.Moves, m => m.Handle == h);
        }

        Assert.Equal(0UL, handles[0].Block.Pfn);
        Assert.Equal(2UL, handles[2].Block.Pfn);
        Assert.Equal(64UL, handles[64].Block.Pfn);
        Assert.Equal(200UL, handles[200].Block.Pfn);
        Assert.Contains(log.Moves, m => m.Handle == handles[4]); // its unpinned neighbours moved
    }

    [Fact]
    public void AllocateContiguous_never_moves_a_pinned_block_and_picks_another_range_or_fails()
    {
        PageAllocator pages = Machine();
        var log = new MoveLog();
        var handles = new List<MovableBlock>();
        for (int i = 0; i < 128; i++)
        {
            handles.Add(pages.AllocateMovable(Request.ForOrder(0), log.Callback));
        }

        Assert.Equal(Enumerable.Range(0, 128).Select(i => (ulong)i), handles.Select(h => h.Block.Pfn));
        MovableBlock pinned = handles[5];
        pinned.Pin();

        // Below 32 pages, the only 16-page-aligned range of 16 pages is [0, 16), which the pin blocks.
        string before = pages.BuddyInfo().ToString();
        Assert.False(pages.TryAllocateContiguous(16, 16 * Page, (32 * Page) - 2, out _, out AllocationFailure? failure));
        Assert.Equal(FailureReason.Fragmented, failure.Reason);
        Assert.Empty(log.Moves);
        Assert.Equal(before, pages.BuddyInfo().ToString());

        Block range = pages.AllocateContiguous(16, 16 * Page);
        pages.Validate();
        Assert.Equal(16UL, range.Pfn);
        Assert.Equal(16UL, range.PageCount);
        Assert.Equal(5UL, pinned.Block.Pfn);
        Assert.Equal(0, pinned.Moves);
        Assert.Equal(16, log.Moves.Count);
        Assert.All(log.Moves, m => Assert.True(m.From.Pfn >= 16 && m.From.Pfn < 32 && m.To.Pfn >= 128, $"{m.From} -> {m.To}"));
    }

    [Fact]
    public void Migrate_of_a_freed_handle_throws_ObjectDisposedException()
    {
        PageAllocator pages = Machine();
        var log = new MoveLog();
        MovableBlock h = pages.AllocateMovable(Request.ForOrder(2), log.Callback);
        MovableBlock byBlock = pages.AllocateMovable(Request.ForOrder(2), log.Callback);
        pages.Free(h);
        pages.Free(byBlock.Block); // freeing by its Block frees the handle too
        Assert.True(h.IsFreed);
        Assert.True(byBlock.IsFreed);
        Assert.Throws<ObjectDisposedException>(() => pages.Migrate(h));
        Assert.Throws<ObjectDisposedException>(() => pages.Migrate(byBlock));
        Assert.Throws<ObjectDisposedException>(() => h.Pin());
        Assert.Empty(log.Moves);
        pages.Validate();
    }

    [Fact]
    public void Freeing_a_handle_twice_throws_and_changes_nothing()
    {
        PageAllocator pages = Machine();
        MovableBlock h = pages.AllocateMovable(Request.ForOrder(3), (_, _, _) => { });
        MovableBlock other = pages.AllocateMovable(Request.ForOrder(3), (_, _, _) => { });
        pages.Free(h);
        string before = pages.BuddyInfo().ToString();
        Assert.Throws<ObjectDisposedException>(() => pages.Free(h));
        Assert.Throws<ObjectDisposedException>(() => pages.Free(h)); // and again
        Assert.Equal(before, pages.BuddyInfo().ToString());
        Assert.Equal(8UL, pages.AllocatedPages);
        Assert.False(other.IsFreed);
        pages.Validate();

        // A new handle at the same address is not the old one.
        MovableBlock again = pages.AllocateMovable(Request.ForOrder(3), (_, _, _) => { });
        Assert.Equal(h.Block.Pfn, again.Block.Pfn);
        Assert.Throws<ObjectDisposedException>(() => pages.Free(h));
        Assert.False(again.IsFreed);
        pages.Free(again);
        pages.Validate();
    }

    [Fact]
    public void Unpin_without_Pin_throws()
    {
        PageAllocator pages = Machine();
        MovableBlock h = pages.AllocateMovable(Request.ForOrder(0), (_, _, _) => { });
        Assert.Throws<InvalidOperationException>(h.Unpin);
        h.Pin();
        h.Unpin();
        Assert.Throws<InvalidOperationException>(h.Unpin);
        Assert.False(h.IsPinned);
    }

    [Fact]
    public void A_handle_of_another_allocator_is_refused()
    {
        PageAllocator pages = Machine();
        PageAllocator other = Machine();
        MovableBlock foreign = other.AllocateMovable(Request.ForOrder(0), (_, _, _) => { });
        pages.AllocateMovable(Request.ForOrder(0), (_, _, _) => { });
        Assert.Throws<ArgumentException>(() => pages.Free(foreign));
        Assert.False(foreign.IsFreed);
        Assert.Equal(1UL, pages.AllocatedPages);
        other.Free(foreign);
    }

    [Fact]
    public void A_migrate_callback_that_throws_leaves_the_block_where_it_was()
    {
        PageAllocator pages = Machine();
        bool fail = true;
        int calls = 0;
        MovableBlock h = pages.AllocateMovable(Request.ForOrder(2), (_, _, _) =>
        {
            calls++;
            if (fail)
            {
                throw new InvalidDataException("copy failed");
            }
        });
        Block fixedBlock = pages.Allocate(Request.ForOrder(1)); // unmovable, elsewhere
        Block before = h.Block;
        string buddyinfo = pages.BuddyInfo().ToString(), pagetypeinfo = pages.PageTypeInfo();
        ulong free = pages.FreePages, allocated = pages.AllocatedPages;

        Assert.Throws<InvalidDataException>(() => pages.Migrate(h));
        Assert.Equal(1, calls);
        pages.Validate();
        Assert.Equal(before, h.Block);
        Assert.Equal(0, h.Moves);
        Assert.False(h.IsFreed);
        Assert.Equal(buddyinfo, pages.BuddyInfo().ToString());
        Assert.Equal(pagetypeinfo, pages.PageTypeInfo());
        Assert.Equal(free, pages.FreePages);
        Assert.Equal(allocated, pages.AllocatedPages);

        // The pages still belong to the handle: nothing else can be given them.
        var rest = new List<Block>();
        while (pages.TryAllocate(Request.ForOrder(0).WithMobility(MigrateType.Movable), out Block b))
        {
            Assert.False(b.Pfn >= before.Pfn && b.Pfn < before.Pfn + before.PageCount, $"{b} is inside the handle's {before}");
            rest.Add(b);
        }

        Assert.Equal(free, (ulong)rest.Count);
        foreach (Block b in rest)
        {
            pages.Free(b);
        }

        // Once the owner can copy, the same move goes through.
        fail = false;
        Assert.True(pages.Migrate(h));
        Assert.NotEqual(before, h.Block);
        Assert.Equal(1, h.Moves);
        pages.Free(h);
        pages.Free(fixedBlock);
        pages.Validate();
        Assert.Equal((ulong)Pages, pages.FreePages);
    }

    [Fact]
    public void A_migrate_callback_that_throws_during_compaction_surfaces_and_the_rest_stays_consistent()
    {
        PageAllocator pages = Machine();
        var moved = new Dictionary<MovableBlock, Block>();
        MovableBlock? fragile = null;
        Dictionary<ulong, MovableBlock> handles = Fragment(pages, (h, from, to) =>
        {
            Assert.Equal(h.Block, from);
            if (h == fragile)
            {
                throw new InvalidDataException("copy failed");
            }

            moved[h] = to;
        });
        fragile = handles[40];
        ulong free = pages.FreePages, allocated = pages.AllocatedPages;

        Assert.Throws<InvalidDataException>(() => pages.Compact(ZoneKind.Normal));
        pages.Validate();
        Assert.Equal(40UL, fragile.Block.Pfn);
        Assert.Equal(0, fragile.Moves);
        Assert.Equal(free, pages.FreePages);
        Assert.Equal(allocated, pages.AllocatedPages);
        Assert.NotEmpty(moved); // blocks below it moved before it failed, and stay moved
        foreach ((ulong pfn, MovableBlock h) in handles)
        {
            Assert.Equal(moved.TryGetValue(h, out Block to) ? to.Pfn : pfn, h.Block.Pfn);
            Assert.Equal(moved.ContainsKey(h) ? 1 : 0, h.Moves);
        }

        // Every handle is on its own pages.
        Assert.Equal(handles.Count, handles.Values.Select(h => h.Block.Pfn).Distinct().Count());
    }

    [Fact]
    public void FreeRange_that_cuts_a_handle_marks_it_freed_and_it_never_moves_again()
    {
        PageAllocator pages = Machine(Small(compaction: true));
        var log = new MoveLog();
        MovableBlock h = pages.AllocateMovable(Request.ForOrder(2), log.Callback);
        pages.FreeRange(h.Block.Address + Page, 1);
        pages.Validate();
        Assert.True(h.IsFreed);
        Assert.Equal(3UL, pages.AllocatedPages); // the rest stays allocated
        Assert.Throws<ObjectDisposedException>(() => pages.Migrate(h));
        Assert.Throws<ObjectDisposedException>(() => pages.Free(h));
        pages.Compact(ZoneKind.Normal);
        Assert.Empty(log.Moves);
        pages.FreeRange(0, 1);
        pages.FreeRange(2 * Page, 2);
        pages.Validate();
        Assert.Equal((ulong)Pages, pages.FreePages);
    }

    // ---------------------------------------------------------------- compaction

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(6)]
    public void A_high_order_request_fails_on_fragmented_memory_without_compaction_and_succeeds_with_it(int order)
    {
        PageAllocator plain = Machine(Small(compaction: false));
        Fragment(plain, (_, _, _) => { });
        Assert.False(plain.TryAllocate(Request.ForOrder(order), out _, out AllocationFailure? failure));
        Assert.Equal(FailureReason.Fragmented, failure.Reason);
        Assert.Equal(0, plain.CompactionStats.Runs);

        PageAllocator compacting = Machine(Small(compaction: true));
        var moved = new Dictionary<MovableBlock, List<(Block From, Block To)>>();
        Dictionary<ulong, MovableBlock> handles = Fragment(compacting, (h, from, to) =>
        {
            Assert.Equal(h.Block, from);
            (moved.TryGetValue(h, out var list) ? list : moved[h] = []).Add((from, to));
        });
        Assert.True(compacting.TryAllocate(Request.ForOrder(order), out Block b, out failure), failure?.Message);
        compacting.Validate();
        Assert.Equal(1UL << order, b.PageCount);
        Assert.True(compacting.CompactionStats.Runs >= 1);
        Assert.True(compacting.CompactionStats.Successes >= 1);
        Assert.True(compacting.CompactionStats.PagesMoved >= 1);
        Assert.NotEmpty(moved);
        foreach ((ulong pfn, MovableBlock h) in handles)
        {
            Block expected = moved.TryGetValue(h, out var list) ? list[^1].To : h.Block;
            Assert.Equal(expected, h.Block);
            Assert.Equal(list?.Count ?? 0, h.Moves);
            if (list is null)
            {
                Assert.Equal(pfn, h.Block.Pfn);
            }
            else
            {
                Assert.Equal(pfn, list[0].From.Pfn);
            }

            Assert.False(h.Block.Pfn >= b.Pfn && h.Block.Pfn < b.Pfn + b.PageCount, $"handle {h} inside the new block {b}");
        }
    }

    [Fact]
    public void Compact_moves_pages_and_leaves_free_memory_in_larger_blocks()
    {
        PageAllocator pages = Machine();
        var log = new MoveLog();
        Dictionary<ulong, MovableBlock> handles = Fragment(pages, log.Callback);
        CompactionResult result = pages.Compact(ZoneKind.Normal);
        pages.Validate();
        Assert.Equal("Normal", result.Zone);
        Assert.Equal(CompactionOutcome.ScannersMet, result.Outcome);
        Assert.True(result.PagesMoved > 0);
        Assert.True(result.PagesScanned >= result.PagesMoved);
        Assert.Equal((long)result.PagesMoved, result.BlocksMoved); // order-0 blocks
        Assert.Equal(log.Moves.Count, result.BlocksMoved);
        Assert.Equal(128UL, pages.FreePages);

        // 128 movable pages and 128 free: fully compacted, the free half is two order-6 blocks.
        Assert.Equal(6, LargestFreeOrder(pages));
        Assert.Equal(2, pages.GetFreeBlocks().Count);
        Assert.Equal(128, handles.Values.Select(h => h.Block.Pfn).Distinct().Count());
        Assert.All(log.Moves, m => Assert.True(m.To.Pfn > m.From.Pfn, $"{m.From} moved down to {m.To}"));
        (long runs, _, ulong scanned, ulong movedPages) = pages.CompactionStats;
        Assert.Equal(1, runs);
        Assert.Equal(result.PagesMoved, movedPages);
        Assert.Equal(result.PagesScanned, scanned);

        // Compacting again finds nothing to do.
        CompactionResult again = pages.Compact(ZoneKind.Normal);
        Assert.Equal(0UL, again.PagesMoved);
        pages.Validate();
    }

    [Fact]
    public void Compaction_never_moves_unmovable_blocks()
    {
        PageAllocator pages = Machine(Small(compaction: true));
        var log = new MoveLog();
        Dictionary<ulong, MovableBlock> handles = Fragment(pages, log.Callback);
        var unmovable = new List<Block>();
        for (int i = 0; i < 12; i++)
        {
            unmovable.Add(Alloc(pages, 0, MigrateType.Unmovable));
        }

        Assert.All(unmovable, b => Assert.Equal(1UL, b.Pfn % 2)); // they took odd (free) pages

        pages.Compact(ZoneKind.Normal);
        Assert.True(pages.TryAllocate(Request.ForOrder(4), out Block big)); // direct compaction as needed
        pages.Validate();
        Assert.NotEmpty(log.Moves);

        // The allocated pages are exactly the unmovable pages, the handles' and the new block's.
        var allocated = new HashSet<ulong>(Enumerable.Range(0, Pages).Select(p => (ulong)p));
        foreach ((ulong address, int order) in pages.GetFreeBlocks())
        {
            for (ulong p = address / Page; p < (address / Page) + (1UL << order); p++)
            {
                allocated.Remove(p);
            }
        }

        var expected = new HashSet<ulong>(unmovable.Select(b => b.Pfn).Concat(handles.Values.Select(h => h.Block.Pfn)));
        for (ulong p = big.Pfn; p < big.Pfn + big.PageCount; p++)
        {
            Assert.True(expected.Add(p), $"page {p} of {big} was already in use");
        }

        Assert.Equal(expected.Order(), allocated.Order());
        Assert.All(log.Moves, m => Assert.DoesNotContain(m.To.Pfn, unmovable.Select(b => b.Pfn)));
        foreach (Block b in unmovable)
        {
            pages.Free(b); // still allocated, where they were
        }

        pages.Validate();
    }

    [Fact]
    public void Direct_compaction_above_order_3_needs_a_fragmentation_index_above_the_threshold()
    {
        // Four free order-5 blocks (half of memory), an order-6 request: fragmentation index
        // 1000 - (1000 + 128 * 1000 / 64) / 4 = 250 — a failure for lack of memory, not fragmentation.
        static (PageAllocator Pages, MoveLog Log) Build(int threshold)
        {
            PageAllocator pages = Machine(Small(compaction: true, extfragThreshold: threshold));
            var log = new MoveLog();
            var handles = new List<MovableBlock>();
            for (int i = 0; i < Pages; i++)
            {
                handles.Add(pages.AllocateMovable(Request.ForOrder(0), log.Callback));
            }

            foreach (MovableBlock h in handles.Where(h => (h.Block.Pfn / 32) % 2 == 1))
            {
                pages.Free(h);
            }

            Assert.Equal(4, pages.GetFreeBlocks().Count(b => b.Order == 5));
            Assert.Equal(128UL, pages.FreePages);
            return (pages, log);
        }

        Assert.Equal(250, FragmentationIndex.Extfrag([0, 0, 0, 0, 0, 4, 0], 6));

        (PageAllocator pages, MoveLog log) = Build(500);
        Assert.False(pages.TryAllocate(Request.ForOrder(6), out _));
        Assert.Equal(0, pages.CompactionStats.Runs);
        Assert.Empty(log.Moves);
        Assert.True(pages.TryAllocate(Request.ForOrder(5), out _)); // order 5 is there already
        pages.Validate();

        (pages, log) = Build(200);
        Assert.True(pages.TryAllocate(Request.ForOrder(6), out Block b));
        Assert.True(pages.CompactionStats.Runs >= 1);
        Assert.Equal(32, log.Moves.Count);
        Assert.Equal(64UL, b.PageCount);
        pages.Validate();
    }

    [Fact]
    public void Direct_compaction_up_to_order_3_ignores_the_fragmentation_index()
    {
        // Two free order-2 blocks and an order-3 request: index 1000 - (1000 + 8 * 1000 / 8) / 2 = 0.
        PageAllocator pages = Machine(Small(compaction: true));
        var log = new MoveLog();
        var handles = new List<MovableBlock>();
        for (int i = 0; i < Pages; i++)
        {
            handles.Add(pages.AllocateMovable(Request.ForOrder(0), log.Callback));
        }

        foreach (MovableBlock h in handles.Where(h => h.Block.Pfn is (>= 4 and < 8) or (>= 20 and < 24)))
        {
            pages.Free(h);
        }

        Assert.Equal(0, FragmentationIndex.Extfrag([0, 0, 2, 0, 0, 0, 0], 3));
        Assert.True(pages.TryAllocate(Request.ForOrder(3), out Block b));
        Assert.Equal(8UL, b.PageCount);
        Assert.True(pages.CompactionStats.Runs >= 1);
        Assert.NotEmpty(log.Moves);
        pages.Validate();
    }

    [Fact]
    public void Compact_refuses_a_machine_without_grouping_or_a_zone_it_lacks()
    {
        var plain = new PageAllocator(MachineLayout.Flat(1 * MiB) with { MaxOrder = 6 });
        Assert.Throws<ArgumentException>(() => plain.Compact(ZoneKind.Normal));
        Assert.Throws<ArgumentException>(() => Machine().Compact(ZoneKind.Dma));
    }

    // ---------------------------------------------------------------- contiguous ranges

    // [0, 64) unmovable, [64, 192) order-0 movable handles (by pfn), [192, 256) free.
    private static (PageAllocator Pages, List<Block> Unmovable, Dictionary<ulong, MovableBlock> Handles) UnmovableThenMovable(MoveLog log)
    {
        PageAllocator pages = Machine();
        var unmovable = new List<Block> { Alloc(pages, 0, MigrateType.Unmovable) };
        for (int order = 0; order <= 5; order++)
        {
            unmovable.Add(Alloc(pages, order, MigrateType.Unmovable));
        }

        Assert.Equal(64UL, (ulong)unmovable.Sum(b => (long)b.PageCount));
        Assert.All(unmovable, b => Assert.True(b.Pfn + b.PageCount <= 64));
        var handles = new Dictionary<ulong, MovableBlock>();
        for (int i = 0; i < 128; i++)
        {
            MovableBlock h = pages.AllocateMovable(Request.ForOrder(0), log.Callback);
            handles.Add(h.Block.Pfn, h);
        }

        Assert.Equal(Enumerable.Range(64, 128).Select(p => (ulong)p), handles.Keys.Order());
        return (pages, unmovable, handles);
    }

    [Fact]
    public void AllocateContiguous_migrates_movable_blocks_out_of_an_aligned_range_below_the_limit()
    {
        var log = new MoveLog();
        (PageAllocator pages, List<Block> unmovable, Dictionary<ulong, MovableBlock> handles) = UnmovableThenMovable(log);
        ulong free = pages.FreePages, allocated = pages.AllocatedPages;

        // 20 pages aligned to 64 KiB, wholly at or below 84 pages' end - 1 byte: only [64, 84) fits.
        Assert.False(pages.TryAllocateContiguous(20, 64 * KiB, (84 * Page) - 2, out _, out AllocationFailure? failure));
        Assert.Equal(FailureReason.Fragmented, failure.Reason);
        Assert.Empty(log.Moves);

        ulong maxAddress = (84 * Page) - 1;
        Block range = pages.AllocateContiguous(20, 64 * KiB, maxAddress);
        pages.Validate();
        Assert.Equal(20UL, range.PageCount);
        Assert.True(range.IsExact);
        Assert.Equal(0UL, range.Address % (64 * KiB));
        Assert.True(range.EndAddress - 1 <= maxAddress);
        Assert.Equal(64UL, range.Pfn);
        Assert.Equal(free - 20, pages.FreePages);
        Assert.Equal(allocated + 20, pages.AllocatedPages);

        // Exactly the 20 handles inside the range moved, out of it, onto free pages.
        Assert.Equal(20, log.Moves.Count);
        Assert.Equal(Enumerable.Range(64, 20).Select(p => (ulong)p), log.Moves.Select(m => m.From.Pfn).Order());
        Assert.All(log.Moves, m => Assert.True(m.To.Pfn >= 192, $"{m.From} moved to {m.To}"));
        foreach ((ulong pfn, MovableBlock h) in handles)
        {
            Assert.Equal(pfn >= 84 ? 0 : 1, h.Moves);
            Assert.False(h.Block.Pfn >= range.Pfn && h.Block.Pfn < range.Pfn + range.PageCount);
        }

        Assert.Equal(128, handles.Values.Select(h => h.Block.Pfn).Distinct().Count());
        Assert.All(unmovable, b => pages.Free(b)); // untouched
        pages.Free(range);
        pages.Validate();
        Assert.Equal(free + 64, pages.FreePages);
    }

    [Fact]
    public void AllocateContiguous_fails_as_fragmented_and_changes_nothing_when_every_range_holds_an_unmovable_page()
    {
        PageAllocator pages = Machine();
        var unmovable = new List<Block>();
        for (int i = 0; i < Pages; i++)
        {
            unmovable.Add(Alloc(pages, 0, MigrateType.Unmovable));
        }

        foreach (Block b in unmovable.Where(b => b.Pfn % 16 != 0).ToList())
        {
            pages.Free(b);
            unmovable.Remove(b);
        }

        var log = new MoveLog();
        var handles = new List<MovableBlock>();
        for (int i = 0; i < 40; i++)
        {
            handles.Add(pages.AllocateMovable(Request.ForOrder(i % 2), log.Callback));
        }

        string buddyinfo = pages.BuddyInfo().ToString(), pagetypeinfo = pages.PageTypeInfo();
        ulong free = pages.FreePages, allocated = pages.AllocatedPages;
        Block[] blocks = [.. handles.Select(h => h.Block)];
        Assert.True(free >= 100);

        Assert.False(pages.TryAllocateContiguous(20, 0, ulong.MaxValue, out Block none, out AllocationFailure? failure));
        Assert.Equal(FailureReason.Fragmented, failure.Reason);
        Assert.True(none.IsEmpty);
        var e = Assert.Throws<AllocationFailedException>(() => pages.AllocateContiguous(16, 16 * Page));
        Assert.Equal(FailureReason.Fragmented, e.Failure!.Reason);

        pages.Validate();
        Assert.Empty(log.Moves);
        Assert.Equal(buddyinfo, pages.BuddyInfo().ToString());
        Assert.Equal(pagetypeinfo, pages.PageTypeInfo());
        Assert.Equal(free, pages.FreePages);
        Assert.Equal(allocated, pages.AllocatedPages);
        Assert.Equal(blocks, handles.Select(h => h.Block));
        Assert.All(handles, h => Assert.Equal(0, h.Moves));

        // Without the handles, 15 pages fit between two unmovable pages.
        foreach (MovableBlock h in handles)
        {
            pages.Free(h);
        }

        Block fits = pages.AllocateContiguous(15);
        Assert.Equal(1UL, fits.Pfn);
        Assert.Equal(15UL, fits.PageCount);
        pages.Validate();
    }

    // KNOWN SRC BUG (reported, not fixed here; this test fails until it is): Evacuate's room check
    // counts every free page of the zone, but its targets come from FindTarget with block
    // suitability, i.e. only free pages in movable pageblocks (or whole free pageblocks). When the
    // free room outside the range is all in partly used unmovable pageblocks, the range is refused
    // as OutOfMemory ("not enough free memory") although 224 pages are free outside it. The
    // kernel allocates migration targets with the page allocator, whose fallback takes them from
    // any pageblock; this allocator's own direct compaction has a last pass that ignores block
    // suitability, but AllocateContiguous has none. (With a few movable free pages the same path
    // moves some blocks and then fails, so a failed call also changes state.)
    [Fact]
    public void AllocateContiguous_moves_blocks_into_free_room_in_unmovable_pageblocks_when_movable_ones_have_none()
    {
        PageAllocator pages = Machine();
        var unmovable = new List<Block>();
        for (int i = 0; i < Pages; i++)
        {
            unmovable.Add(Alloc(pages, 0, MigrateType.Unmovable));
        }

        foreach (Block b in unmovable.Where(b => b.Pfn % 16 != 0))
        {
            pages.Free(b); // 16 unmovable pageblocks, each with 15 free pages
        }

        var log = new MoveLog();
        MovableBlock h = pages.AllocateMovable(Request.ForOrder(0), log.Callback);
        Assert.Equal(1UL, h.Block.Pfn); // claimed pageblock 0 for movable (15 of 16 free)
        Assert.Equal(Counts(15, 1, 0), BlockCounts(pages));
        Assert.Equal(239UL, pages.FreePages);

        // [1, 16) is the lowest range of 15 pages without an unmovable page; its one movable page
        // can go to any of the 224 free pages outside it.
        Assert.True(pages.TryAllocateContiguous(15, 0, ulong.MaxValue, out Block range, out AllocationFailure? failure), failure?.Message);
        Assert.Equal(1UL, range.Pfn);
        Assert.Single(log.Moves);
        Assert.True(h.Block.Pfn >= 16);
        pages.Validate();
    }

    // KNOWN SRC BUG (reported, not fixed here; this test fails until it is): a range that can
    // never fit below maxAddress is reported as Fragmented ("every candidate range holds an
    // unmovable, pinned or reserved page") on an empty machine, where TryAllocate reports the same
    // impossibility as Unsatisfiable. TryAllocateContiguous checks only the zones' sizes.
    [Fact]
    public void AllocateContiguous_that_can_never_fit_below_the_limit_is_unsatisfiable_not_fragmented()
    {
        PageAllocator pages = Machine();
        Assert.False(pages.TryAllocate(Request.ForPages(16).Below((8 * Page) - 1), out _, out AllocationFailure? single));
        Assert.Equal(FailureReason.Unsatisfiable, single.Reason);

        Assert.False(pages.TryAllocateContiguous(16, 0, (8 * Page) - 1, out _, out AllocationFailure? failure));
        Assert.Equal(FailureReason.Unsatisfiable, failure.Reason);
    }

    [Fact]
    public void AllocateContiguous_larger_than_any_zone_is_unsatisfiable()
    {
        var pages = new PageAllocator(MachineLayout.X86(32 * MiB) with { Mobility = MobilitySettings.Grouping });
        ulong dmaPages = 16 * MiB / Page;
        Assert.False(pages.TryAllocateContiguous(dmaPages + 1, 0, ulong.MaxValue, out _, out AllocationFailure? failure));
        Assert.Equal(FailureReason.Unsatisfiable, failure.Reason); // 8192 pages in all, 4096 per zone
        var e = Assert.Throws<AllocationFailedException>(() => pages.AllocateContiguous(1UL << 20));
        Assert.Equal(FailureReason.Unsatisfiable, e.Failure!.Reason);
        Assert.Equal(0UL, pages.AllocatedPages);
        pages.Validate();
    }

    [Fact]
    public void AllocateContiguous_refuses_a_bad_alignment_and_zero_pages()
    {
        PageAllocator pages = Machine();
        var e = Assert.Throws<ArgumentException>(() => pages.AllocateContiguous(4, 3 * Page));
        Assert.Equal("alignment", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => pages.TryAllocateContiguous(4, 24 * KiB, ulong.MaxValue, out _, out _));
        Assert.Equal("alignment", e.ParamName);
        var zero = Assert.ThrowsAny<ArgumentException>(() => pages.AllocateContiguous(0));
        Assert.Equal("pages", zero.ParamName);
        Assert.Equal(0UL, pages.AllocatedPages);
        pages.Validate();
    }

    // ---------------------------------------------------------------- bad input

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

    [Fact]
    public void An_exact_movable_request_throws()
    {
        PageAllocator pages = Machine();
        Request exact = Request.ForPages(3).Exact();
        Assert.Throws<ArgumentException>(() => pages.TryAllocate(exact.WithMobility(MigrateType.Movable), out _));
        Assert.Throws<ArgumentException>(() => pages.AllocateMovable(exact, (_, _, _) => { }));
        Assert.Throws<ArgumentException>(() => pages.TryAllocateMovable(exact, (_, _, _) => { }, out _, out _));
        Assert.Equal(0UL, pages.AllocatedPages);
        Assert.Throws<ArgumentNullException>(() => pages.AllocateMovable(Request.ForOrder(0), null!));
        pages.Validate();
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
