namespace Buddy.Tests;

/// <summary>Knuth, TAOCP vol. 1 §2.5, exercise 41: the buddy system's worst case for memory.</summary>
public class KnuthTests
{
    // Reserve n = 2^(r+1) blocks of size 1; then for k = 1..r free every block whose start is not
    // divisible by 2^k and reserve n / 2^(k+1) blocks of size 2^k. Returns the high-water mark in
    // pages, or -1 when the memory overflows. Peak live memory is n throughout.
    private static long Run(int r, ulong memoryPages)
    {
        var pages = new PageAllocator(MachineLayout.Flat(memoryPages * 4096) with { MaxOrder = Math.Max(r, 1) + 1 });
        ulong n = 1UL << (r + 1);
        var live = new List<Block>();
        ulong highWater = 0;
        bool Reserve(int order, ulong count)
        {
            for (ulong i = 0; i < count; i++)
            {
                if (!pages.TryAllocate(Request.ForOrder(order), out Block b))
                {
                    return false;
                }

                live.Add(b);
                highWater = Math.Max(highWater, b.Pfn + b.PageCount);
            }

            return true;
        }

        if (!Reserve(0, n))
        {
            return -1;
        }

        for (int k = 1; k <= r; k++)
        {
            foreach (Block b in live.Where(b => b.Pfn % (1UL << k) != 0).ToList())
            {
                pages.Free(b);
                live.Remove(b);
            }

            if (!Reserve(k, n >> (k + 1)))
            {
                return -1;
            }

            pages.Validate();
            Assert.Equal(live.Aggregate(0UL, (sum, b) => sum + b.PageCount), pages.AllocatedPages);
        }

        return (long)highWater;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(6)]
    [InlineData(8)]
    public void High_water_mark_is_exactly_r_plus_2_times_2_to_the_r_and_a_smaller_memory_overflows(int r)
    {
        long expected = (2L + r) << r;
        Assert.Equal(expected, Run(r, (ulong)expected));
        Assert.Equal(expected, Run(r, (ulong)expected * 4)); // more memory changes nothing
        Assert.Equal(-1, Run(r, (ulong)expected - 1));
    }

    [Fact]
    public void At_r_6_the_buddy_system_needs_four_times_the_live_memory()
    {
        const int r = 6;
        long highWater = Run(r, 1024);
        Assert.Equal(4 * (1L << (r + 1)), highWater);
    }
}
