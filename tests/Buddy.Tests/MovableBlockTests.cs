// MovableBlockTests: movable handles (AllocateMovable, Migrate, Pin/Unpin, Free) and their misuse.

namespace Buddy.Tests;

// Inside the namespace, so that Pages and Small are these helpers, not the namespaces Buddy.Pages and Buddy.Small.
using static Buddy.Tests.MobilityTestData;

public class MovableBlockTests
{
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
        string before = pages.GetBuddyInfo().ToString();
        Assert.Throws<ObjectDisposedException>(() => pages.Free(h));
        Assert.Throws<ObjectDisposedException>(() => pages.Free(h)); // and again
        Assert.Equal(before, pages.GetBuddyInfo().ToString());
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
        string buddyinfo = pages.GetBuddyInfo().ToString(), pagetypeinfo = pages.GetPageTypeInfo();
        ulong free = pages.FreePages, allocated = pages.AllocatedPages;

        Assert.Throws<InvalidDataException>(() => pages.Migrate(h));
        Assert.Equal(1, calls);
        pages.Validate();
        Assert.Equal(before, h.Block);
        Assert.Equal(0, h.Moves);
        Assert.False(h.IsFreed);
        Assert.Equal(buddyinfo, pages.GetBuddyInfo().ToString());
        Assert.Equal(pagetypeinfo, pages.GetPageTypeInfo());
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
}
