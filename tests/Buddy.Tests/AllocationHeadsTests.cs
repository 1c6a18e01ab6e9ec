// AllocationHeadsTests: the allocation stamps against a model (a dictionary of stamps) on spaces
// from one page to 2^50, the size of an idle huge space, and the no-allocation-mid-operation rule
// under injected faults.
using CsCheck;

namespace Buddy.Tests;

public sealed class AllocationHeadsTests
{
    private static readonly ulong[] s_pageCounts = [1, 4096, 4097, 1UL << 18, 1UL << 40, 1UL << 50];

    // One step: Kind 0..1 sets, 2 clears with the right stamp, 3 with a wrong one (Wrong picks
    // which: an old generation, another mark, an unmarked stamp), 4 clears by index. The page is
    // Slot pages (97 apart, so that chunks are crossed) into Region: the start, the end, the middle.
    private sealed record Op(int Kind, int Region, int Slot, int Mobility, int Wrong);

    private static readonly Gen<Op> s_op =
        from kind in Gen.Int[0, 4]
        from region in Gen.Int[0, 2]
        from slot in Gen.Int[0, 63]
        from mobility in Gen.Int[0, 2]
        from wrong in Gen.Int[0, 2]
        select new Op(kind, region, slot, mobility, wrong);

    [Fact]
    public void Stamps_agree_with_a_model_on_spaces_from_one_page_to_2_to_the_50() =>
        Gen.Select(Gen.Int[0, s_pageCounts.Length - 1], s_op.Array[1, 200]).Sample((n, ops) => Run(s_pageCounts[n], ops), iter: 300);

    [Fact]
    public void An_idle_space_of_2_to_the_50_pages_holds_less_than_64_KiB()
    {
        var heads = new AllocationHeads(1UL << 50);
        Assert.True(heads.MetadataBytes < 64 * 1024, $"{heads.MetadataBytes} bytes");
        Assert.Equal(0UL, heads.Count());
        Assert.False(heads.HasChunk((1UL << 50) - 1));
    }

    [Fact]
    public void After_EnsureSpare_a_Set_on_an_untouched_page_of_a_huge_space_allocates_nothing()
    {
        var heads = new AllocationHeads(1UL << 50);
        heads.EnsureSpare();
        Assert.True(heads.HasSpare);
        try
        {
            Faults.FailAllocation(1);
            ulong stamp = heads.Set((1UL << 49) + 12345, MigrateType.Movable);
            Assert.Equal((1UL << 3) | ((ulong)MigrateType.Movable + 1), stamp);
        }
        finally
        {
            Faults.FailAllocation(0);
        }

        Assert.False(heads.HasSpare); // the whole path came from the spare
        Assert.True(heads.TryClear((1UL << 49) + 12345, (1UL << 3) | ((ulong)MigrateType.Movable + 1)));
    }

    [Fact]
    public void After_EnsureChunk_a_Set_there_allocates_nothing()
    {
        var heads = new AllocationHeads(1UL << 50);
        ulong page = (1UL << 50) - 1;
        heads.EnsureChunk(page);
        Assert.True(heads.HasChunk(page));
        try
        {
            Faults.FailAllocation(1);
            heads.Set(page, MigrateType.Unmovable);
        }
        finally
        {
            Faults.FailAllocation(0);
        }

        Assert.True(heads.IsSet(page));
        Assert.Equal(MigrateType.Unmovable, heads.MobilityOf(page));
    }

    [Theory]
    [InlineData(1)] // the level-1 node
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)] // the chunk
    public void Without_EnsureSpare_a_failed_allocation_in_Set_throws_and_leaves_every_stamp(int failAt)
    {
        var heads = new AllocationHeads(1UL << 50);
        ulong[] pages = [0, 4096, (1UL << 50) - 1];
        var stamps = pages.Select(p => heads.Set(p, MigrateType.Reclaimable)).ToArray();
        ulong target = (1UL << 49) + 777; // no node of its path exists yet
        try
        {
            Faults.FailAllocation(failAt);
            Assert.Throws<OutOfMemoryException>(() => heads.Set(target, MigrateType.Movable));
        }
        finally
        {
            Faults.FailAllocation(0);
        }

        Assert.Equal(0UL, heads.StampOf(target));
        Assert.Equal(stamps, pages.Select(heads.StampOf).ToArray());
        Assert.Equal((ulong)pages.Length, heads.Count());
        Assert.Equal((1UL << 3) | ((ulong)MigrateType.Movable + 1), heads.Set(target, MigrateType.Movable)); // and it can be done again
    }

    [Fact]
    public void MetadataBytes_counts_the_directory_nodes_and_the_chunks()
    {
        var heads = new AllocationHeads(1UL << 50);
        long idle = heads.MetadataBytes;
        heads.Set((1UL << 50) - 1, MigrateType.Movable);
        long one = heads.MetadataBytes;
        Assert.Equal(idle + (3 * 512 * 8) + ((4096 + 16) * 8), one); // three 512-entry nodes and a guarded chunk
        heads.Set((1UL << 50) - 4097, MigrateType.Movable);
        Assert.Equal(one + ((4096 + 16) * 8), heads.MetadataBytes); // the neighbouring chunk shares the path
    }

    private static void Run(ulong pages, Op[] ops)
    {
        var heads = new AllocationHeads(pages);
        var model = new Dictionary<ulong, ulong>();
        foreach (Op op in ops)
        {
            ulong page = PageOf(pages, op);
            ulong before = model.GetValueOrDefault(page);
            switch (op.Kind)
            {
                case <= 1:
                    ulong expected = (((before >> 3) + 1) << 3) | ((ulong)op.Mobility + 1);
                    Assert.Equal(expected, heads.Set(page, (MigrateType)op.Mobility));
                    model[page] = expected;
                    break;
                case 2:
                    bool live = (before & AllocationHeads.MarkMask) != 0;
                    Assert.Equal(live, heads.TryClear(page, before));
                    model[page] = before & ~AllocationHeads.MarkMask;
                    break;
                case 3:
                    Assert.False(heads.TryClear(page, WrongStamp(before, op.Wrong)));
                    break;
                default:
                    Assert.Equal((before & AllocationHeads.MarkMask) != 0, heads.TryClear(page));
                    model[page] = before & ~AllocationHeads.MarkMask;
                    break;
            }

            Assert.Equal(model.GetValueOrDefault(page), heads.StampOf(page));
        }

        foreach ((ulong page, ulong stamp) in model)
        {
            Assert.Equal(stamp, heads.StampOf(page));
            Assert.Equal((stamp & AllocationHeads.MarkMask) is var m and not 0 ? (MigrateType)(m - 1) : null, heads.MobilityOf(page));
        }

        Assert.Equal((ulong)model.Values.Count(s => (s & AllocationHeads.MarkMask) != 0), heads.Count());
    }

    // A stamp that must not free the allocation `stamp` names: an older generation, another mark,
    // or the same generation unmarked.
    private static ulong WrongStamp(ulong stamp, int wrong) => wrong switch
    {
        0 => stamp >= 8 ? stamp - 8 : stamp + 8,
        1 => (stamp & ~AllocationHeads.MarkMask) | (((stamp & AllocationHeads.MarkMask) % 3) + 1),
        _ => stamp & ~AllocationHeads.MarkMask,
    };

    private static ulong PageOf(ulong pages, Op op)
    {
        ulong offset = (ulong)op.Slot * 97;
        ulong page = op.Region switch
        {
            0 => offset,
            1 => pages - 1 - Math.Min(offset, pages - 1),
            _ => (pages / 2) + offset,
        };
        return Math.Min(page, pages - 1);
    }
}
