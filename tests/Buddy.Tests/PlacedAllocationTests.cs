
using static Buddy.Units;

namespace Buddy.Tests;

/// <summary>PageAllocator.TryAllocateAt and SetPageblockType: a block at a named address, a pageblock typed as told.</summary>
public sealed class PlacedAllocationTests
{
    private static PageAllocator Grouped(ulong size = 32 * MiB) =>
        new(MachineLayout.X86(size) with { Mobility = MobilitySettings.Grouping, Watermarks = WatermarkSettings.None });

    [Fact]
    public void A_block_is_taken_where_asked_and_the_rest_of_its_free_block_stays_free()
    {
        var pages = new PageAllocator(MachineLayout.X86(32 * MiB) with { Watermarks = WatermarkSettings.None });
        Assert.True(pages.TryAllocateAt(20 * MiB + 8 * KiB, 1, MigrateType.Unmovable, out Block block, out AllocationFailure? why), why?.Message);
        pages.Validate();
        Assert.Equal(20 * MiB + 8 * KiB, block.Address);
        Assert.Equal(2UL, block.PageCount);
        Assert.Equal(8192UL - 2, pages.FreePages);

        // The order-10 block at 20 MiB split down around pages 2 and 3: one free block of each order 1..9 and the first order-1 pair.
        long[] normal = [.. pages.GetBuddyInfo().Zones.Single(z => z.Name == "DMA32").FreeBlockCounts];
        Assert.Equal(1, normal[1]); // [20 MiB, +8 KiB), the taken block's buddy
        Assert.All(Enumerable.Range(2, 8), o => Assert.Equal(1, normal[o]));

        pages.Free(block);
        pages.Validate();
        Assert.Equal(8192UL, pages.FreePages);
    }

    [Fact]
    public void An_allocated_or_reserved_page_is_refused_with_Occupied_and_nothing_changes()
    {
        var pages = new PageAllocator(MachineLayout.X86(32 * MiB).Reserve(0, 64 * KiB) with { Watermarks = WatermarkSettings.None });
        Assert.True(pages.TryAllocateAt(1 * MiB, 2, MigrateType.Movable, out _, out _));
        string before = pages.GetBuddyInfo().ToString();

        Assert.False(pages.TryAllocateAt(1 * MiB + 4 * KiB, 0, MigrateType.Movable, out _, out AllocationFailure? inside));
        Assert.Equal(FailureReason.Occupied, inside.Reason);
        Assert.Contains("allocated order-2 unit at 0x100000", inside.Message, StringComparison.Ordinal);

        Assert.False(pages.TryAllocateAt(0, 4, MigrateType.Movable, out _, out AllocationFailure? reserved));
        Assert.Equal(FailureReason.Occupied, reserved.Reason);
        Assert.Contains("reserved", reserved.Message, StringComparison.Ordinal);

        Assert.Equal(before, pages.GetBuddyInfo().ToString());
        pages.Validate();
    }

    [Fact]
    public void Bad_addresses_and_orders_throw_naming_the_argument()
    {
        var pages = new PageAllocator(MachineLayout.X86(32 * MiB));
        Assert.Equal("address", Assert.Throws<ArgumentException>(() => pages.TryAllocateAt(4 * KiB, 1, MigrateType.Unmovable, out _, out _)).ParamName);
        Assert.Equal("address", Assert.Throws<ArgumentException>(() => pages.TryAllocateAt(64 * MiB, 0, MigrateType.Unmovable, out _, out _)).ParamName);
        Assert.Equal("address", Assert.Throws<ArgumentException>(() => pages.TryAllocateAt(16 * MiB - 8 * KiB, 2, MigrateType.Unmovable, out _, out _)).ParamName); // crosses DMA's end
        Assert.Equal("order", Assert.Throws<ArgumentOutOfRangeException>(() => pages.TryAllocateAt(0, 11, MigrateType.Unmovable, out _, out _)).ParamName);
        pages.Validate();
    }

    [Fact]
    public void A_pageblock_is_retyped_with_its_free_blocks_and_pagetypeinfo_counts_it()
    {
        PageAllocator pages = Grouped();
        Assert.True(pages.TryAllocateAt(20 * MiB, 0, MigrateType.Unmovable, out _, out _)); // splits the order-10 block: its pageblocks are now free blocks of order <= 9
        pages.SetPageblockType(20 * MiB, MigrateType.Unmovable);
        pages.Validate();
        Assert.Contains("Node 0, zone    DMA32            1            7            0", pages.GetPageTypeInfo(), StringComparison.Ordinal);

        // A pageblock inside a free order-10 block: the whole block is retyped (two pageblocks).
        pages.SetPageblockType(24 * MiB, MigrateType.Reclaimable);
        pages.Validate();
        Assert.Contains("Node 0, zone    DMA32            1            5            2", pages.GetPageTypeInfo(), StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => new PageAllocator(MachineLayout.X86(32 * MiB)).SetPageblockType(20 * MiB, MigrateType.Unmovable));
    }
}
