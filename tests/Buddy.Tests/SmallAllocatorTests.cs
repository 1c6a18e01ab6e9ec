using Buddy.Allocation;
using Buddy.Pages;
using Buddy.Small;
using Buddy.Zones;
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
            var live = new List<(ulong Address, ulong Size)>();
            foreach ((ulong size, bool dma) in requests)
            {
                ulong address = kmalloc.Allocate(size, dma);
                ulong cls = Math.Max(SmallAllocator.MinSize, 1UL << PageMath.OrderForPages(size));
                Assert.Equal(0UL, address % cls);
                Assert.True(!dma || address + cls <= 16 * MiB, $"DMA block 0x{address:x} above 16 MiB");
                live.Add((address, cls));
            }

            live.Sort();
            for (int i = 1; i < live.Count; i++)
            {
                Assert.True(live[i - 1].Address + live[i - 1].Size <= live[i].Address, "blocks overlap");
            }

            foreach ((ulong address, _) in live)
            {
                kmalloc.Free(address);
            }

            Assert.Equal(0, kmalloc.ObjectsInUse);
            Assert.Equal(0UL, pages.AllocatedPages); // empty slabs went back
            pages.Validate();
        }, iter: 60);
    }

    [Fact]
    public void Bad_sizes_double_frees_and_foreign_addresses_are_refused()
    {
        var kmalloc = new SmallAllocator(Pc());
        Assert.Equal("size", Assert.Throws<ArgumentOutOfRangeException>(() => kmalloc.Allocate(0)).ParamName);
        Assert.Equal("size", Assert.Throws<ArgumentOutOfRangeException>(() => kmalloc.Allocate(8193)).ParamName);
        ulong a = kmalloc.Allocate(100);
        ulong b = kmalloc.Allocate(100);
        kmalloc.Free(a);
        Assert.Throws<ArgumentException>(() => kmalloc.Free(a));
        Assert.Throws<ArgumentException>(() => kmalloc.Free(b + 8));
        Assert.Throws<ArgumentException>(() => kmalloc.Free(40 * MiB));
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
        string info = kmalloc.SlabInfo();
        string line = Assert.Single(info.Split('\n'), l => l.StartsWith("kmalloc-64b ", StringComparison.Ordinal) || l.StartsWith("kmalloc-64 ", StringComparison.Ordinal));
        string[] fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("10", fields[1]);   // active objects
        Assert.Equal("64", fields[2]);   // one 4 KiB slab of 64-byte objects
        Assert.Contains(info.Split('\n'), l => l.StartsWith("dma-kmalloc-512", StringComparison.Ordinal) && l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1] == "1");
    }
}
