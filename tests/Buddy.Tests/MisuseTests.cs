using static Buddy.Units;

namespace Buddy.Tests;

/// <summary>Every wrong free is refused with a clear message and leaves the allocator exactly as it was.</summary>
public class MisuseTests
{
    private readonly PageAllocator _pages = new(MachineLayout.X86(32 * MiB).Reserve(640 * KiB, 1 * MiB));
    private readonly Block _order3;
    private readonly Block _exact;

    public MisuseTests()
    {
        _order3 = _pages.Allocate(Request.ForOrder(3));
        _exact = _pages.Allocate(Request.ForBytes(20 * KiB).Exact());
        _pages.Allocate(Request.ForOrder(0));
    }

    private void AssertRefusedAndUnchanged(Action misuse, string expectedInMessage)
    {
        string before = _pages.GetBuddyInfo().ToString();
        ulong free = _pages.FreePages, allocated = _pages.AllocatedPages;
        var ex = Assert.ThrowsAny<ArgumentException>(misuse);
        Assert.Contains(expectedInMessage, ex.Message, StringComparison.Ordinal);
        _pages.Validate();
        Assert.Equal(before, _pages.GetBuddyInfo().ToString());
        Assert.Equal(free, _pages.FreePages);
        Assert.Equal(allocated, _pages.AllocatedPages);
    }

    [Fact]
    public void Double_free_by_handle()
    {
        _pages.Free(_order3);
        AssertRefusedAndUnchanged(() => _pages.Free(_order3), "Double free");
    }

    [Fact]
    public void Double_free_by_address()
    {
        _pages.Free(_order3.Address);
        AssertRefusedAndUnchanged(() => _pages.Free(_order3.Address), "Double free");
    }

    [Fact]
    public void A_block_never_allocated() =>
        AssertRefusedAndUnchanged(() => _pages.Free(30 * MiB), "never allocated");

    [Fact]
    public void A_reserved_page() =>
        AssertRefusedAndUnchanged(() => _pages.Free(640 * KiB), "reserved");

    [Fact]
    public void An_address_inside_a_block() =>
        AssertRefusedAndUnchanged(() => _pages.Free(_order3.Address + (4 * KiB)), "inside the allocated order-3 block");

    [Fact]
    public void An_address_inside_an_exact_block() =>
        AssertRefusedAndUnchanged(() => _pages.Free(_exact.Address + (16 * KiB)), "inside the exact allocation");

    [Fact]
    public void The_wrong_order() =>
        AssertRefusedAndUnchanged(() => _pages.Free(_order3.Address, 2), "Wrong order");

    [Fact]
    public void An_exact_block_freed_with_an_order() =>
        AssertRefusedAndUnchanged(() => _pages.Free(_exact.Address, 3), "exact block of 5 pages");

    [Fact]
    public void A_block_of_another_allocator()
    {
        var other = new PageAllocator(MachineLayout.X86(32 * MiB).Reserve(640 * KiB, 1 * MiB));
        Block foreign = other.Allocate(Request.ForOrder(3));
        Assert.Equal(_order3.Address, foreign.Address); // same address, different owner
        AssertRefusedAndUnchanged(() => _pages.Free(foreign), "another PageAllocator");
    }

    [Fact]
    public void The_default_block() =>
        AssertRefusedAndUnchanged(() => _pages.Free(default(Block)), "default value");

    [Fact]
    public void A_misaligned_address() =>
        AssertRefusedAndUnchanged(() => _pages.Free(_order3.Address + 100), "not page aligned");

    [Fact]
    public void An_address_outside_memory() =>
        AssertRefusedAndUnchanged(() => _pages.Free(64 * MiB), "outside the managed memory");

    [Fact]
    public void Valid_frees_still_work_after_refused_ones()
    {
        Assert.ThrowsAny<ArgumentException>(() => _pages.Free(_order3.Address, 1));
        Assert.ThrowsAny<ArgumentException>(() => _pages.Free(_exact.Address + (4 * KiB)));
        _pages.Free(_order3);
        _pages.Free(_exact);
        _pages.Validate();
        Assert.Equal(1UL, _pages.AllocatedPages);
    }
}
