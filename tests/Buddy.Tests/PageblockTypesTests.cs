// PageblockTypesTests: the sparse pageblock type map against a model (a dictionary of the entries
// written) for counts from one to 2^41, its runs, its size when idle, and the
// no-allocation-mid-operation rule under injected faults.
using CsCheck;

namespace Buddy.Tests;

public sealed class PageblockTypesTests
{
    private static readonly long[] s_counts = [1, 4096, 4097, 1L << 41];

    // One write: Slot entries (61 apart, so that pages are crossed, and sometimes 4,096 × 37 apart,
    // so that the table grows) into Region (the start, the end, the middle), of Type.
    private sealed record Op(int Region, int Slot, bool Far, byte Type);

    private static readonly Gen<Op> s_op =
        from region in Gen.Int[0, 2]
        from slot in Gen.Int[0, 99]
        from far in Gen.Bool
        from type in Gen.Byte[0, 3]
        select new Op(region, slot, far, type);

    [Fact]
    public void Types_and_runs_agree_with_a_model_for_counts_from_one_to_2_to_the_41() =>
        Gen.Select(Gen.Int[0, s_counts.Length - 1], Gen.Byte[0, 2], s_op.Array[0, 300]).Sample((n, initial, ops) => Run(s_counts[n], initial, ops), iter: 300);

    [Fact]
    public void An_idle_map_of_2_to_the_41_entries_holds_less_than_4_KiB_and_is_one_run()
    {
        var types = new PageblockTypes(1L << 41, 1);
        Assert.True(types.MetadataBytes < 4096, $"{types.MetadataBytes} bytes");
        Assert.Equal([(0L, 1L << 41, (byte)1)], types.Runs().ToArray());
        Assert.Null(types.Validate());
    }

    [Fact]
    public void Writing_the_initial_type_makes_no_page()
    {
        var types = new PageblockTypes(1L << 41, 2);
        long idle = types.MetadataBytes;
        types.Set(12345, 2);
        Assert.Equal(idle, types.MetadataBytes);
    }

    [Fact]
    public void After_EnsureWritable_a_Set_there_allocates_nothing()
    {
        var types = new PageblockTypes(1L << 41, 1);
        types.EnsureWritable((1L << 41) - 1);
        try
        {
            Faults.FailAllocation(1);
            types.Set((1L << 41) - 1, 0);
        }
        finally
        {
            Faults.FailAllocation(0);
        }

        Assert.Equal(0, types[(1L << 41) - 1]);
        Assert.Null(types.Validate());
    }

    [Theory]
    [InlineData(1)] // the page
    [InlineData(2)] // the larger table
    public void A_failed_allocation_in_Set_throws_and_changes_nothing(int failAt)
    {
        var types = new PageblockTypes(1L << 41, 1);
        for (long page = 0; page < 4; page++)
        {
            types.Set(page << 20, 2); // four pages: the next one needs a larger table
        }

        long bytes = types.MetadataBytes;
        var runs = types.Runs().ToArray();
        try
        {
            Faults.FailAllocation(failAt);
            Assert.Throws<OutOfMemoryException>(() => types.Set(1L << 40, 0));
        }
        finally
        {
            Faults.FailAllocation(0);
        }

        Assert.Equal(1, types[1L << 40]);
        Assert.Equal(bytes, types.MetadataBytes);
        Assert.Equal(runs, types.Runs().ToArray());
        Assert.Null(types.Validate());
    }

    private static void Run(long count, byte initial, Op[] ops)
    {
        var types = new PageblockTypes(count, initial);
        var model = new Dictionary<long, byte>();
        foreach (Op op in ops)
        {
            long index = IndexOf(count, op);
            types.Set(index, op.Type);
            model[index] = op.Type;
            Assert.Equal(op.Type, types[index]);
        }

        Assert.Null(types.Validate());
        foreach ((long index, byte type) in model)
        {
            Assert.Equal(type, types[index]);
        }

        Assert.Equal(ExpectedRuns(count, initial, model), types.Runs().ToArray());
    }

    // The maximal runs of the model: the entries written, the initial type everywhere else.
    private static (long Start, long Count, byte Type)[] ExpectedRuns(long count, byte initial, Dictionary<long, byte> model)
    {
        var runs = new List<(long Start, long Count, byte Type)>();
        void Add(long start, long length, byte type)
        {
            if (length == 0)
            {
                return;
            }

            if (runs.Count > 0 && runs[^1].Type == type)
            {
                runs[^1] = (runs[^1].Start, runs[^1].Count + length, type);
            }
            else
            {
                runs.Add((start, length, type));
            }
        }

        long next = 0;
        foreach (long index in model.Keys.Order())
        {
            Add(next, index - next, initial);
            Add(index, 1, model[index]);
            next = index + 1;
        }

        Add(next, count - next, initial);
        return [.. runs];
    }

    private static long IndexOf(long count, Op op)
    {
        long offset = op.Far ? op.Slot * 4096L * 37 : op.Slot * 61L;
        long index = op.Region switch
        {
            0 => offset,
            1 => count - 1 - Math.Min(offset, count - 1),
            _ => (count / 2) + offset,
        };
        return Math.Clamp(index, 0, count - 1);
    }
}
