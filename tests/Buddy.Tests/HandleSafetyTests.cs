// HandleSafetyTests: a handle cannot outlive its allocation, a refused FreeRange changes nothing,
// and a migrate callback cannot re-enter its allocator (issue 11). Each refusal is checked for its
// exception, the parameter it names, and a state exactly as before (the dump, cached pages included).
using static Buddy.Units;
using Buddy.Diagnostics;

namespace Buddy.Tests;

public sealed class HandleSafetyTests
{
    public static TheoryData<bool, bool> CachesAndMobility => new() { { false, false }, { true, false }, { false, true }, { true, true } };

    private static PageAllocator NewAllocator(bool caches, bool mobility) => new(MachineLayout.X86(32 * MiB) with
    {
        PerCpuCaches = caches,
        Mobility = mobility ? MobilitySettings.GroupingAndCompaction : MobilitySettings.None,
    });

    // Runs the misuse, which must throw T, and checks that nothing changed: dump, counts, Validate.
    private static T AssertRefusedAndUnchanged<T>(PageAllocator pages, Action misuse)
        where T : Exception
    {
        string before = pages.Dump().ToJson();
        ulong allocated = pages.AllocatedPages, cached = pages.CachedPages, free = pages.FreePages;
        T ex = Assert.Throws<T>(misuse);
        pages.Validate();
        Assert.Equal(before, pages.Dump().ToJson());
        Assert.Equal((allocated, cached, free), (pages.AllocatedPages, pages.CachedPages, pages.FreePages));
        return ex;
    }

    [Theory]
    [MemberData(nameof(CachesAndMobility))]
    public void A_stale_handle_is_refused_and_the_new_owner_keeps_its_block(bool caches, bool mobility)
    {
        PageAllocator pages = NewAllocator(caches, mobility);
        Block a = pages.Allocate(Request.ForOrder(0));
        pages.Free(a);
        Block b = pages.Allocate(Request.ForOrder(0));
        Assert.Equal(a.Address, b.Address); // the same pages: lowest placement (or the cache's top) hands them out again
        Assert.NotEqual(a, b);

        var ex = AssertRefusedAndUnchanged<ArgumentException>(pages, () => pages.Free(a));

        Assert.Equal("block", ex.ParamName);
        Assert.Contains("double free or stale handle", ex.Message, StringComparison.OrdinalIgnoreCase);
        pages.Free(b); // b is still allocated, and still its owner's to free
        pages.Validate();
    }

    [Theory]
    [MemberData(nameof(CachesAndMobility))]
    public void A_stale_handle_is_refused_after_many_reuses_of_its_pages(bool caches, bool mobility)
    {
        PageAllocator pages = NewAllocator(caches, mobility);
        Block stale = pages.Allocate(Request.ForOrder(2));
        pages.Free(stale);
        Block b = default;
        for (int i = 0; i < 1000; i++)
        {
            b = pages.Allocate(Request.ForOrder(2));
            Assert.Equal(stale.Address, b.Address);
            if (i < 999)
            {
                pages.Free(b);
            }
        }

        AssertRefusedAndUnchanged<ArgumentException>(pages, () => pages.Free(stale));
        pages.Free(b);
    }

    [Fact]
    public void A_stale_handle_is_refused_when_its_pages_now_lie_inside_a_larger_block()
    {
        PageAllocator pages = NewAllocator(caches: false, mobility: false);
        Block small = pages.Allocate(Request.ForOrder(0));
        pages.Free(small);
        Block big = pages.Allocate(Request.ForOrder(3));
        Assert.Equal(small.Address, big.Address);

        var ex = AssertRefusedAndUnchanged<ArgumentException>(pages, () => pages.Free(small));

        Assert.Contains("stale handle", ex.Message, StringComparison.Ordinal);
        pages.Free(big);
    }

    [Fact]
    public void A_stale_handle_of_an_exact_block_is_refused()
    {
        PageAllocator pages = NewAllocator(caches: false, mobility: false);
        Block exact = pages.Allocate(Request.ForBytes(20 * KiB).Exact());
        pages.Free(exact);
        Block again = pages.Allocate(Request.ForBytes(20 * KiB).Exact());
        Assert.Equal(exact.Address, again.Address);

        AssertRefusedAndUnchanged<ArgumentException>(pages, () => pages.Free(exact));
        pages.Free(again);
        pages.Validate();
    }

    [Fact]
    public void A_handle_cut_by_FreeRange_is_stale_for_its_remaining_pages()
    {
        PageAllocator pages = NewAllocator(caches: false, mobility: false);
        Block block = pages.Allocate(Request.ForOrder(2));
        pages.FreeRange(block.Address, 1);

        AssertRefusedAndUnchanged<ArgumentException>(pages, () => pages.Free(block));
        pages.FreeRange(block.Address + (4 * KiB), 3); // the remaining pages are freed as a range
        Assert.Equal(0UL, pages.AllocatedPages);
    }

    [Fact]
    public void A_movable_block_freed_twice_is_refused_and_its_pages_new_owner_keeps_them()
    {
        var pages = new PageAllocator(MachineLayout.X86(32 * MiB) with { Mobility = MobilitySettings.Grouping });
        MovableBlock a = pages.AllocateMovable(Request.ForOrder(0), (_, _, _) => { });
        Block aBlock = a.Block;
        pages.Free(a);
        MovableBlock b = pages.AllocateMovable(Request.ForOrder(0), (_, _, _) => { });
        Assert.Equal(aBlock.Address, b.Block.Address);

        var ex = AssertRefusedAndUnchanged<ObjectDisposedException>(pages, () => pages.Free(a));
        Assert.Contains("Double free or stale handle", ex.Message, StringComparison.Ordinal);
        AssertRefusedAndUnchanged<ArgumentException>(pages, () => pages.Free(aBlock));
        Assert.False(b.IsFreed);
        pages.Free(b);
    }

    // Two neighbouring order-0 blocks, lowest first, and a third block (a fourth stays allocated).
    private static (Block Low, Block High, Block Third) ThreeBlocks(PageAllocator pages)
    {
        var blocks = Enumerable.Range(0, 4).Select(_ => pages.Allocate(Request.ForOrder(0))).OrderBy(b => b.Address).ToList();
        int i = Enumerable.Range(0, 3).First(i => blocks[i].Address + (4 * KiB) == blocks[i + 1].Address);
        Block third = blocks.First(b => b != blocks[i] && b != blocks[i + 1]);
        return (blocks[i], blocks[i + 1], third);
    }

    [Fact]
    public void A_refused_FreeRange_changes_nothing_and_keeps_the_thread_caches()
    {
        PageAllocator pages = NewAllocator(caches: true, mobility: false);
        (Block low, Block high, _) = ThreeBlocks(pages);
        pages.Free(high); // into this thread's cache
        Assert.True(pages.CachedPages > 0);

        // The range covers an allocated page and the cached one (free to the caller).
        var ex = AssertRefusedAndUnchanged<ArgumentException>(pages, () => pages.FreeRange(low.Address, 2));

        Assert.Equal("address", ex.ParamName);
        Assert.Contains("is free", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_accepted_FreeRange_still_drains_the_caches()
    {
        PageAllocator pages = NewAllocator(caches: true, mobility: false);
        (Block low, Block high, Block third) = ThreeBlocks(pages);
        pages.Free(third);
        Assert.True(pages.CachedPages > 0);

        ulong allocated = pages.AllocatedPages;
        pages.FreeRange(low.Address, 2);

        Assert.Equal(0UL, pages.CachedPages);
        Assert.Equal(allocated - 2, pages.AllocatedPages);
        AssertRefusedAndUnchanged<ArgumentException>(pages, () => pages.Free(high));
    }

    public static TheoryData<string> ReentrantCalls => new()
    {
        "free-self", "migrate-self", "allocate", "free-other", "compact", "allocate-contiguous", "drain", "validate", "pin-self", "free-range", "free-by-address",
    };

    // A callback that makes one re-entrant call and records what it threw.
    private static (PageAllocator Pages, MovableBlock Moving, Block Other, List<Exception> Thrown) ReentrantSetup(string call)
    {
        var pages = new PageAllocator(MachineLayout.Flat(4 * MiB) with { MaxOrder = 6, PerCpuCaches = true, Mobility = new MobilitySettings { GroupByMobility = true, PageblockOrder = 4, Compaction = true } });
        Block other = pages.Allocate(Request.ForOrder(0).WithMobility(MigrateType.Movable));
        var thrown = new List<Exception>();
        MovableBlock? moving = null;
        moving = pages.AllocateMovable(Request.ForOrder(0), (self, from, to) =>
        {
            try
            {
                switch (call)
                {
                    case "free-self": pages.Free(self); break;
                    case "migrate-self": pages.Migrate(self); break;
                    case "allocate": pages.Allocate(Request.ForOrder(0)); break;
                    case "free-other": pages.Free(other); break;
                    case "compact": pages.Compact(ZoneKind.Normal); break;
                    case "allocate-contiguous": pages.AllocateContiguous(4); break;
                    case "drain": pages.DrainCaches(); break;
                    case "validate": pages.Validate(); break;
                    case "pin-self": self.Pin(); break;
                    case "free-range": pages.FreeRange(other.Address, 1); break;
                    case "free-by-address": pages.Free(other.Address); break;
                    default: throw new ArgumentOutOfRangeException(nameof(call));
                }
            }
            catch (InvalidOperationException e)
            {
                thrown.Add(e);
                throw;
            }
        });
        return (pages, moving, other, thrown);
    }

    [Theory]
    [MemberData(nameof(ReentrantCalls))]
    public void A_migrate_callback_that_reenters_its_allocator_is_refused_and_the_move_is_undone(string call)
    {
        (PageAllocator pages, MovableBlock moving, Block other, List<Exception> thrown) = ReentrantSetup(call);

        var ex = AssertRefusedAndUnchanged<InvalidOperationException>(pages, () => pages.Migrate(moving));

        Assert.Single(thrown);
        Assert.Same(thrown[0], ex);
        Assert.Contains("inside a migrate callback", ex.Message, StringComparison.Ordinal);
        Assert.False(moving.IsFreed);
        Assert.False(moving.IsPinned);
        Assert.Equal(0, moving.Moves);
        pages.Free(moving);
        pages.Free(other);
        pages.Validate();
        Assert.Equal(0UL, pages.AllocatedPages);
    }

    [Fact]
    public void A_contiguous_allocation_whose_callback_reenters_returns_nothing_and_changes_nothing_but_the_caches()
    {
        (PageAllocator pages, MovableBlock moving, Block other, List<Exception> thrown) = ReentrantSetup("allocate");
        pages.DrainCaches();
        string before = pages.Dump().ToJson();

        // The lowest range holds the movable blocks: they must move, and the first callback re-enters.
        var ex = Assert.Throws<InvalidOperationException>(() => pages.AllocateContiguous(16));

        Assert.Same(thrown.Single(), ex);
        pages.Validate();
        Assert.Equal(before, pages.Dump().ToJson());
        pages.Free(moving);
        pages.Free(other);
        Assert.Equal(0UL, pages.AllocatedPages);
    }

    [Fact]
    public void A_callback_may_read_snapshots()
    {
        var pages = new PageAllocator(MachineLayout.Flat(4 * MiB) with { MaxOrder = 6, Mobility = new MobilitySettings { GroupByMobility = true, PageblockOrder = 4 } });
        ulong seenFree = 0;
        Block seenBlock = default;
        MovableBlock moving = pages.AllocateMovable(Request.ForOrder(0), (self, from, to) =>
        {
            seenFree = pages.FreePages;
            seenBlock = self.Block;
            _ = pages.GetZoneStats();
        });

        Assert.True(pages.Migrate(moving));

        Assert.True(seenFree > 0);
        Assert.Equal(0UL, seenBlock.Address); // the handle still says "from" during the copy
        Assert.NotEqual(0UL, moving.Block.Address);
        pages.Free(moving);
        pages.Validate();
    }

    [Fact]
    public void A_to_handle_kept_by_a_failed_migration_stays_stale_when_its_pages_go_to_someone_else()
    {
        var pages = new PageAllocator(MachineLayout.Flat(1 * MiB) with { MaxOrder = 4 });
        Block kept = default;
        MovableBlock moving = pages.AllocateMovable(Request.ForOrder(0), (_, _, to) =>
        {
            kept = to;
            throw new IOException("the copy failed");
        });
        Assert.Throws<IOException>(() => pages.Migrate(moving));
        Assert.False(kept.IsEmpty);

        // Fill memory so that the failed target's page goes to a new movable owner.
        var fill = new List<Block>();
        while (pages.FreePages > 1)
        {
            fill.Add(pages.Allocate(Request.ForOrder(0)));
        }

        MovableBlock owner = pages.AllocateMovable(Request.ForOrder(0), (_, _, _) => { });
        Assert.Equal(kept.Address, owner.Block.Address);

        AssertRefusedAndUnchanged<ArgumentException>(pages, () => pages.Free(kept));
        Assert.False(owner.IsFreed);
        pages.Free(owner);
        pages.Validate();
    }

    [Fact]
    public void A_callback_on_a_thread_without_a_thread_cache_cannot_allocate_or_free_through_the_fast_path()
    {
        var pages = new PageAllocator(MachineLayout.Flat(1 * MiB) with { MaxOrder = 4, PerCpuCaches = true, Mobility = MobilitySettings.GroupingAndCompaction with { PageblockOrder = 3 } });
        Block other = default;
        var thread = new Thread(() => other = pages.Allocate(Request.ForOrder(0))); // a cache on another thread
        thread.Start();
        thread.Join();
        var refused = new List<string>();
        MovableBlock moving = pages.AllocateMovable(Request.ForOrder(0), (_, _, _) =>
        {
            // This thread has done only movable work: it has no cache of this allocator yet.
            foreach (Action call in new Action[] { () => pages.Free(other), () => pages.Allocate(Request.ForOrder(0)) })
            {
                try
                {
                    call();
                }
                catch (InvalidOperationException e)
                {
                    refused.Add(e.Message);
                }
            }
        });

        Assert.True(pages.Migrate(moving));

        Assert.Equal(2, refused.Count);
        Assert.All(refused, m => Assert.Contains("inside a migrate callback", m, StringComparison.Ordinal));
        pages.Validate();
        pages.Free(other); // still its owner's
        pages.Free(moving);
        pages.Validate();
        Assert.Equal(0UL, pages.AllocatedPages);
    }

    [Fact]
    public void A_fast_path_free_whose_spill_runs_out_of_memory_frees_nothing_and_can_be_retried()
    {
        var pages = new PageAllocator(MachineLayout.Flat(64 * MiB) with { MaxOrder = 10, PerCpuCaches = true });
        var blocks = Enumerable.Range(0, 4000).Select(_ => pages.Allocate(Request.ForOrder(0))).ToList();
        int freed = 0;
        int faults = 0;
        foreach (Block b in blocks)
        {
            // Every free with nothing in reserve fails at its first metadata allocation: a spill's.
            pages.DropReservedChunks();
            Faults.FailAllocation(1);
            try
            {
                pages.Free(b);
            }
            catch (OutOfMemoryException)
            {
                faults++;
                Faults.FailAllocation(0);
                pages.Validate();
                pages.Free(b); // the free did not happen: the block is still its owner's to free
            }
            finally
            {
                Faults.FailAllocation(0);
            }

            freed++;
        }

        pages.Validate();
        Assert.Equal(0UL, pages.AllocatedPages);
        Assert.True(faults > 0, "no spill ever needed memory: the test proved nothing");
    }
}
