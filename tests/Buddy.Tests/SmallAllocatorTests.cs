using Buddy.Memory;
using CsCheck;
using static Buddy.Units;

namespace Buddy.Tests;

public class SmallAllocatorTests
{
    private static PageAllocator Pc() => new(MachineLayout.X86(64 * MiB) with { Watermarks = WatermarkSettings.None });

    [Fact]
    public void Sizes_round_up_to_power_of_two_classes_that_are_naturally_aligned_and_dma_ones_lie_below_16_MiB()
    {
        Gen.Select(Gen.ULong[1, 8192], Gen.Bool).Array[1, 200].Sample(requests =>
        {
            PageAllocator pages = Pc();
            var kmalloc = new SmallAllocator(pages);
            var live = new List<(PoolBlock Block, ulong Size)>();
            foreach ((ulong size, bool dma) in requests)
            {
                PoolBlock block = kmalloc.Allocate(size, dma);
                ulong address = block.Address;
                ulong cls = Math.Max(SmallAllocator.MinSize, 1UL << PageMath.OrderForPages(size));
                Assert.Equal(0UL, address % cls);
                Assert.True(!dma || address + cls <= 16 * MiB, $"DMA block 0x{address:x} above 16 MiB");
                live.Add((block, cls));
            }

            live.Sort((x, y) => x.Block.Address.CompareTo(y.Block.Address));
            for (int i = 1; i < live.Count; i++)
            {
                Assert.True(live[i - 1].Block.Address + live[i - 1].Size <= live[i].Block.Address, "blocks overlap");
            }

            foreach ((PoolBlock block, _) in live)
            {
                kmalloc.Free(block);
            }

            Assert.Equal(0, kmalloc.ObjectsInUse);
            Assert.Equal(0UL, pages.AllocatedPages); // empty slabs went back
            pages.Validate();
        }, iter: 60);
    }

    [Fact]
    public void Bad_sizes_double_frees_and_foreign_handles_are_refused()
    {
        PageAllocator pages = Pc();
        var kmalloc = new SmallAllocator(pages);
        Assert.Equal("size", Assert.Throws<ArgumentOutOfRangeException>(() => kmalloc.Allocate(0)).ParamName);
        Assert.Equal("size", Assert.Throws<ArgumentOutOfRangeException>(() => kmalloc.Allocate(8193)).ParamName);
        PoolBlock a = kmalloc.Allocate(100);
        PoolBlock b = kmalloc.Allocate(100);
        PoolBlock foreign = new SmallAllocator(pages).Allocate(100);
        kmalloc.Free(a);
        Assert.Equal("block", Assert.Throws<ArgumentException>(() => kmalloc.Free(a)).ParamName);
        Assert.Equal("block", Assert.Throws<ArgumentException>(() => kmalloc.Free(foreign)).ParamName);
        Assert.Equal("block", Assert.Throws<ArgumentException>(() => kmalloc.Free(default)).ParamName);
        Assert.Equal(1, kmalloc.ObjectsInUse);
        kmalloc.Free(b);
    }

    [Fact]
    public void Slabinfo_reports_active_and_total_objects_per_class()
    {
        var kmalloc = new SmallAllocator(Pc());
        for (int i = 0; i < 10; i++)
        {
            kmalloc.Allocate(64);
        }

        kmalloc.Allocate(512, dma: true);
        string info = kmalloc.GetSlabInfo();
        string line = Assert.Single(info.Split('\n'), l => l.StartsWith("kmalloc-64b ", StringComparison.Ordinal) || l.StartsWith("kmalloc-64 ", StringComparison.Ordinal));
        string[] fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("10", fields[1]);   // active objects
        Assert.Equal("64", fields[2]);   // one 4 KiB slab of 64-byte objects
        Assert.Contains(info.Split('\n'), l => l.StartsWith("dma-kmalloc-512", StringComparison.Ordinal) && l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1] == "1");
    }
}
