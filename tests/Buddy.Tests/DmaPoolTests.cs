using Buddy.Memory;
using CsCheck;
using static Buddy.Units;

namespace Buddy.Tests;

/// <summary>DmaPool follows Linux's dma_pool_create rules and never hands out a block that crosses its boundary.</summary>
public class DmaPoolTests
{
    private static PageAllocator Pc() => new(MachineLayout.X86(64 * MiB) with { Watermarks = WatermarkSettings.None });

    [Fact]
    public void Align_0_means_1_size_rounds_up_to_align_and_boundary_0_means_the_chunk()
    {
        var pool = new DmaPool(Pc(), "descriptors", size: 40, alignment: 0);
        Assert.Equal(1UL, pool.Alignment);
        Assert.Equal(40UL, pool.Size);
        Assert.Equal(4096UL, pool.Boundary); // max(size, PAGE_SIZE)

        var aligned = new DmaPool(Pc(), "rings", size: 40, alignment: 64, boundary: 256);
        Assert.Equal(64UL, aligned.Size);
        Assert.Equal(256UL, aligned.Boundary);
    }

    [Theory]
    [InlineData(40UL, 48UL, 0UL, "alignment")]
    [InlineData(0UL, 8UL, 0UL, "size")]
    [InlineData(512UL, 8UL, 256UL, "boundary")] // boundary below the size
    [InlineData(64UL, 8UL, 96UL, "boundary")]   // not a power of two
    public void Invalid_parameters_are_refused_naming_the_rule(ulong size, ulong alignment, ulong boundary, string parameter)
    {
        var ex = Assert.Throws<ArgumentException>(() => new DmaPool(Pc(), "bad", size, alignment, boundary));
        Assert.Equal(parameter, ex.ParamName);
    }

    [Fact]
    public void Freeing_twice_an_empty_or_a_foreign_handle_is_refused_and_pages_go_back_when_empty()
    {
        PageAllocator pages = Pc();
        ulong free = pages.FreePages;
        var pool = new DmaPool(pages, "p", 100, 4, 128);
        var other = new DmaPool(pages, "other", 100, 4, 128);
        PoolBlock a = pool.Allocate();
        PoolBlock b = pool.Allocate();
        PoolBlock foreign = other.Allocate();
        pool.Free(a);
        Assert.Equal("block", Assert.Throws<ArgumentException>(() => pool.Free(a)).ParamName);
        Assert.Equal("block", Assert.Throws<ArgumentException>(() => pool.Free(default)).ParamName);
        Assert.Equal("block", Assert.Throws<ArgumentException>(() => pool.Free(foreign)).ParamName);
        Assert.Equal(1, pool.BlocksInUse);
        Assert.Equal(1, other.BlocksInUse);
        other.Free(foreign);
        pool.Free(b);
        Assert.Equal(0, pool.PagesHeld);
        Assert.Equal(free, pages.FreePages);
        pages.Validate();
    }

    [Fact]
    public void Blocks_never_cross_their_boundary_are_aligned_lie_in_the_DMA_zone_and_never_overlap()
    {
        Gen.Select(Gen.Int[1, 3000], Gen.Int[0, 8], Gen.Int[0, 6], Gen.Int[1, 400]).Sample((rawSize, alignShift, boundaryShift, count) =>
        {
            ulong align = alignShift == 0 ? 0 : 1UL << alignShift;
            ulong size = ((ulong)rawSize + Math.Max(1, align) - 1) & ~(Math.Max(1, align) - 1);
            ulong boundary = boundaryShift == 0 ? 0 : Math.Max(1UL << PageMath.OrderForPages(size), 1UL << (boundaryShift + 6));
            PageAllocator pages = Pc();
            var pool = new DmaPool(pages, "prop", (ulong)rawSize, align, boundary);
            var blocks = new List<PoolBlock>();
            for (int i = 0; i < count; i++)
            {
                PoolBlock block = pool.Allocate();
                ulong a = block.Address;
                Assert.True(a + pool.Size <= 16 * MiB, $"0x{a:x} is outside the DMA zone");
                Assert.Equal(0UL, a % pool.Alignment);
                Assert.Equal(a / pool.Boundary, (a + pool.Size - 1) / pool.Boundary);
                blocks.Add(block);
            }

            blocks.Sort((x, y) => x.Address.CompareTo(y.Address));
            for (int i = 1; i < blocks.Count; i++)
            {
                Assert.True(blocks[i - 1].Address + pool.Size <= blocks[i].Address, "blocks overlap");
            }

            foreach (PoolBlock a in blocks)
            {
                pool.Free(a);
            }

            Assert.Equal(0, pool.PagesHeld);
            pages.Validate();
        }, iter: 150);
    }
}
