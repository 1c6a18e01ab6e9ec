// ContiguousRangeTests: contiguous ranges (AllocateContiguous, TryAllocateContiguous), migrating movable blocks out of the way.
using static Buddy.Units;

namespace Buddy.Tests;

// Inside the namespace, so that Pages and Small are these helpers, not the namespaces Buddy.Pages and Buddy.Small.
using static Buddy.Tests.MobilityTestData;

public class ContiguousRangeTests
{
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
        string before = pages.GetBuddyInfo().ToString();
        Assert.False(pages.TryAllocateContiguous(16, 16 * Page, (32 * Page) - 2, out _, out AllocationFailure? failure));
        Assert.Equal(FailureReason.Fragmented, failure.Reason);
        Assert.Empty(log.Moves);
        Assert.Equal(before, pages.GetBuddyInfo().ToString());

        Block range = pages.AllocateContiguous(16, 16 * Page);
        pages.Validate();
        Assert.Equal(16UL, range.Pfn);
        Assert.Equal(16UL, range.PageCount);
        Assert.Equal(5UL, pinned.Block.Pfn);
        Assert.Equal(0, pinned.Moves);
        Assert.Equal(16, log.Moves.Count);
        Assert.All(log.Moves, m => Assert.True(m.From.Pfn >= 16 && m.From.Pfn < 32 && m.To.Pfn >= 128, $"{m.From} -> {m.To}"));
    }

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

        string buddyinfo = pages.GetBuddyInfo().ToString(), pagetypeinfo = pages.GetPageTypeInfo();
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
        Assert.Equal(buddyinfo, pages.GetBuddyInfo().ToString());
        Assert.Equal(pagetypeinfo, pages.GetPageTypeInfo());
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
        Assert.Equal("alignmentBytes", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => pages.TryAllocateContiguous(4, 24 * KiB, ulong.MaxValue, out _, out _));
        Assert.Equal("alignmentBytes", e.ParamName);
        var zero = Assert.ThrowsAny<ArgumentException>(() => pages.AllocateContiguous(0));
        Assert.Equal("pages", zero.ParamName);
        Assert.Equal(0UL, pages.AllocatedPages);
        pages.Validate();
    }
}
