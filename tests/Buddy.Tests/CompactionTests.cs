// CompactionTests: compaction of a zone (Compact) and direct compaction on a failed high-order request.
using Buddy.Kernel;
using static Buddy.Units;

namespace Buddy.Tests;

// Inside the namespace, so that Pages and Small are these helpers, not the namespaces Buddy.Pages and Buddy.Small.
using static Buddy.Tests.MobilityTestData;

public class CompactionTests
{
    private static int LargestFreeOrder(PageAllocator pages) =>
        pages.GetFreeBlocks().Select(b => b.Order).DefaultIfEmpty(-1).Max();

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
        Assert.Equal(0, plain.GetCompactionStatistics().Runs);

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
        Assert.True(compacting.GetCompactionStatistics().Runs >= 1);
        Assert.True(compacting.GetCompactionStatistics().Successes >= 1);
        Assert.True(compacting.GetCompactionStatistics().PagesMoved >= 1);
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
        Assert.Equal(ZoneKind.Normal, result.Zone);
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
        (long runs, _, ulong scanned, ulong movedPages) = pages.GetCompactionStatistics();
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
        Assert.Equal(0, pages.GetCompactionStatistics().Runs);
        Assert.Empty(log.Moves);
        Assert.True(pages.TryAllocate(Request.ForOrder(5), out _)); // order 5 is there already
        pages.Validate();

        (pages, log) = Build(200);
        Assert.True(pages.TryAllocate(Request.ForOrder(6), out Block b));
        Assert.True(pages.GetCompactionStatistics().Runs >= 1);
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
        Assert.True(pages.GetCompactionStatistics().Runs >= 1);
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
}
