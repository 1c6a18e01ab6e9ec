namespace Buddy.Tests;

/// <summary>
/// The zone's record of its units (issue 12): a free bit or a unit bit at each unit's own order and
/// nothing on the blocks above it, so a split or a merge changes one free bit per level. These
/// tests build zones directly, check what each operation leaves in the bitmaps, and break the
/// record by hand to see Validate name what broke.
/// </summary>
public class ZoneUnitBitsTests
{
    private const int MaxOrder = 10;

    [Fact]
    public void A_split_leaves_one_free_bit_per_level_and_a_merge_clears_them_all()
    {
        Zone zone = NewZone(0, 4096);
        ulong pfn = zone.Take(0, 0, ulong.MaxValue);

        Assert.Equal(0UL, pfn);
        for (int order = 0; order <= MaxOrder; order++)
        {
            Assert.Equal(0, zone.Area.UnitCount(order)); // a page needs no unit bit; the divided blocks above it carry none
        }

        Assert.True(zone.Area.IsUnit(0, 0));
        ulong pair = zone.Take(1, 1, ulong.MaxValue);
        Assert.Equal(2UL, pair);
        Assert.Equal(1, zone.Area.UnitCount(1));
        zone.Release(pair, 1);

        for (int order = 0; order < MaxOrder; order++)
        {
            Assert.True(zone.Area.IsFree(order, 1UL << order), $"the upper half at order {order} is free");
        }

        Assert.Equal((0UL, 0, false), zone.FindUnit(0));
        Assert.Equal((512UL, 9, true), zone.FindUnit(700));
        AssertValid(zone, expectedUnits: 1);

        zone.Release(pfn, 0);
        for (int order = 0; order <= MaxOrder; order++)
        {
            Assert.Equal(0, zone.Area.UnitCount(order));
        }

        Assert.Equal(4, zone.NrFree(MaxOrder));
        AssertValid(zone, expectedUnits: 0);
    }

    [Fact]
    public void Trimming_an_exact_run_and_dividing_a_unit_record_each_piece_at_its_order()
    {
        Zone zone = NewZone(0, 4096);
        ulong pfn = zone.Take(3, 3, ulong.MaxValue);
        zone.TrimTail(pfn, 3, 5); // 5 of 8 pages kept: an order-2 and an order-0 unit, pages 5..7 free

        Assert.Equal((0UL, 2, false), zone.FindUnit(3));
        Assert.Equal((4UL, 0, false), zone.FindUnit(4));
        Assert.Equal((5UL, 0, true), zone.FindUnit(5));
        Assert.Equal((6UL, 1, true), zone.FindUnit(7));
        Assert.Equal(0, zone.Area.UnitCount(3));
        AssertValid(zone, expectedUnits: 2);

        zone.SplitAllocated(0, 2);
        Assert.Equal((0UL, 1, false), zone.FindUnit(1));
        Assert.Equal((2UL, 1, false), zone.FindUnit(3));
        Assert.Equal(0, zone.Area.UnitCount(2));
        AssertValid(zone, expectedUnits: 3);

        zone.Release(0, 1);
        zone.Release(2, 1);
        zone.Release(4, 0); // everything merges back
        Assert.Equal(4, zone.NrFree(MaxOrder));
        AssertValid(zone, expectedUnits: 0);
    }

    [Fact]
    public void A_specific_take_records_its_unit_and_keeps_the_rest_free()
    {
        Zone zone = NewZone(0, 4096);
        zone.TakeSpecific(1536 + 12, 2);

        Assert.Equal((1548UL, 2, false), zone.FindUnit(1550));
        Assert.Equal((1552UL, 4, true), zone.FindUnit(1560));
        Assert.Equal(1, zone.Area.UnitCount(2));
        AssertValid(zone, expectedUnits: 1);
    }

    [Fact]
    public void Reserved_pages_are_units_a_run_of_reserved_max_order_blocks_one_range_of_bits()
    {
        // Pages 1024..5119 (four max-order blocks) and 6000..6003 reserved in a zone of 8,192 pages.
        Zone zone = NewZone(0, 8192, (1024, 5120), (6000, 6004));

        Assert.Equal(4UL, zone.Area.UnitRun(MaxOrder, 1024));
        Assert.Equal(8192UL - 4096 - 4, zone.ManagedPages);
        Assert.Equal((2048UL, MaxOrder, false), zone.FindUnit(3000)); // each reserved max-order block is a unit of its own
        Assert.Equal((6000UL, 2, false), zone.FindUnit(6002));
        Assert.Equal((6004UL, 2, true), zone.FindUnit(6005));
        AssertValid(zone, expectedUnits: 1 + 4, reserved: [(1024, 5120), (6000, 6004)]);
    }

    [Fact]
    public void Validate_counts_the_pages_of_a_unit_whose_bit_is_lost_as_units_of_their_own()
    {
        // Without its bit an order-1 unit reads as a divided block of two allocated pages: the zone
        // alone cannot tell, and the allocator's Validate finds a unit where no allocation starts.
        Zone zone = NewZone(0, 4096);
        ulong pfn = zone.Take(1, 1, ulong.MaxValue);
        zone.Area.ClearUnit(1, pfn);
        ulong units = 0;

        Assert.Null(zone.Validate(new PfnRanges([]), (_, _, count) => units += count));
        Assert.Equal(2UL, units);
        Assert.Equal((1UL, 0, false), zone.FindUnit(1));
    }

    [Fact]
    public void Validate_names_a_block_both_free_and_a_unit()
    {
        Zone zone = NewZone(0, 4096);
        zone.Take(0, 0, ulong.MaxValue);
        zone.Area.MarkUnit(1, 2); // pages 2..3 are a free order-1 block

        Assert.Contains("order-1 block at pfn 0x2 is both free and an allocated or reserved unit", zone.Validate(new PfnRanges([]), (_, _, _) => { }));
    }

    [Fact]
    public void Validate_names_a_unit_bit_below_a_unit_and_a_stray_one_elsewhere()
    {
        Zone below = NewZone(0, 4096);
        below.Take(2, 2, ulong.MaxValue); // pages 0..3
        below.Area.MarkUnit(1, 0);
        Assert.Contains("order-1 block at pfn 0x0 has a bit set inside a larger unit", below.Validate(new PfnRanges([]), (_, _, _) => { }));

        Zone stray = NewZone(0, 4096);
        stray.Take(2, 2, ulong.MaxValue);
        stray.Area.MarkUnit(1, 2048 + 6); // inside a free max-order block: reached by no walk
        Assert.Contains("free or unit bits are set but", stray.Validate(new PfnRanges([]), (_, _, _) => { }));
    }

    private static Zone NewZone(ulong start, ulong end, params (ulong Start, ulong End)[] reserved) =>
        new(ZoneKind.Normal, 0, start, end, MaxOrder, new PfnRanges(reserved));

    private static void AssertValid(Zone zone, int expectedUnits, (ulong, ulong)[]? reserved = null)
    {
        ulong units = 0;
        Assert.Null(zone.Validate(new PfnRanges(reserved ?? []), (_, _, count) => units += count));
        Assert.Equal((ulong)expectedUnits, units);
    }
}
