using Buddy.Bench;
using CsCheck;
using static Buddy.Units;

namespace Buddy.Tests;


/// <summary>
/// Address spaces far larger than any memory: 2^62 bytes of 4 KiB pages (2^50 pages). Metadata
/// must follow what is allocated, placement must stay the documented lowest-first buddy, and
/// <see cref="PageAllocator.Validate"/> must check them in time proportional to their use.
/// </summary>
public class HugeSpaceTests
{
    private const ulong Page = 4096;
    private const ulong Top = 1UL << 62;
    private const long MiBytes = 1 << 20;

    private static MachineLayout Huge(int maxOrder = 40) => MachineLayout.Flat(Top) with { MaxOrder = maxOrder };

    [Theory]
    [InlineData(40)]
    [InlineData(10)]
    [InlineData(0)]
    public void A_2_62_byte_space_is_built_with_under_a_MiB_of_metadata_and_validates(int maxOrder)
    {
        var pages = new PageAllocator(Huge(maxOrder));

        Assert.Equal(1UL << 50, pages.FreePages);
        Assert.True(pages.MetadataBytes < MiBytes, $"{pages.MetadataBytes} bytes of metadata for an idle space");
        pages.Validate();

        Block low = pages.Allocate(Request.ForOrder(0));
        Block big = pages.Allocate(Request.ForOrder(maxOrder));
        Assert.Equal(0UL, low.Address);
        Assert.Equal(maxOrder == 0 ? Page : (Page << maxOrder), big.Address);
        pages.Validate();
        pages.Free(low);
        pages.Free(big);
        pages.Validate();
        Assert.Equal(1UL << 50, pages.FreePages);
    }

    [Fact]
    public void Blocks_near_the_top_limits_and_alignments_up_to_2_40_pages_work()
    {
        var pages = new PageAllocator(Huge());
        var roots = new List<Block>();
        for (int i = 0; i < 1023; i++)
        {
            roots.Add(pages.Allocate(Request.ForOrder(40)));
        }

        // Only the last max-order block is free: everything now comes from the top 2^52 bytes.
        Block top = pages.Allocate(Request.ForOrder(0));
        Assert.Equal(1023UL << 52, top.Address);
        Assert.False(pages.TryAllocate(Request.ForOrder(0).Below((1023UL << 52) - 1), out _, out AllocationFailure? failure));
        Assert.Equal(FailureReason.AddressLimit, failure.Reason);
        Assert.False(pages.TryAllocate(Request.ForOrder(0).AlignedTo(1UL << 52), out _, out failure));
        pages.Validate();

        pages.Free(roots[5]);
        pages.Free(roots[6]);
        Block aligned = pages.Allocate(Request.ForOrder(0).AlignedTo(1UL << 52));
        Assert.Equal(5UL << 52, aligned.Address);
        Block limited = pages.Allocate(Request.ForOrder(3).Below((6UL << 52) - 1));
        Assert.Equal((5UL << 52) + (8 * Page), limited.Address);
        Block exact = pages.Allocate(Request.ForPages((1UL << 39) + 1).Exact());
        Assert.Equal(6UL << 52, exact.Address);
        Block half = pages.Allocate(Request.ForOrder(39));
        Assert.Equal((5UL << 52) + (Page << 39), half.Address); // the upper half of block 5, lower than block 6's tail
        pages.Validate();
        long busy = pages.MetadataBytes;
        Assert.True(busy < 1028L * 41 * 2048, $"{busy} bytes for 1,028 allocations: more than 2 KiB per allocation and order");

        foreach (Block b in roots.Where((_, i) => i is not 5 and not 6))
        {
            pages.Free(b);
        }

        pages.Free(top);
        pages.Free(aligned);
        pages.Free(limited);
        pages.Free(exact);
        pages.Free(half);
        pages.Validate();
        Assert.Equal(1UL << 50, pages.FreePages);

        // The bitmaps give their nodes back; the allocation stamps stay (their generations are what refuse stale handles).
        Assert.True(pages.MetadataBytes <= busy + MiBytes, $"{pages.MetadataBytes} bytes of metadata once everything is free again, {busy} before"); // the node reserve may fill up to its cap
    }

    [Fact]
    public void Reserved_ranges_zones_and_an_unaligned_base_are_built_from_runs_and_validate()
    {
        MachineLayout layout = MachineLayout.X86(Top - (3 * MiB)) with { MaxOrder = 30, BaseAddress = 3 * MiB };
        layout = layout.Reserve(1UL << 61, (1UL << 61) + (1UL << 55) + (5 * Page)).Reserve(Top - (7 * Page), Top - Page);
        var pages = new PageAllocator(layout);
        Assert.True(pages.MetadataBytes < MiBytes, $"{pages.MetadataBytes} bytes");
        Assert.Equal(pages.TotalPages - pages.ReservedPages, pages.FreePages);
        pages.Validate();

        Block dma = pages.Allocate(Request.ForOrder(0).InZone(ZoneKind.Dma));
        Block dma32 = pages.Allocate(Request.ForOrder(2).WithDmaMask(32));
        Block normal = pages.Allocate(Request.ForOrder(30));
        Assert.True(dma.Address < 16 * MiB);
        Assert.True(dma32.Address >= 16 * MiB && dma32.Address < 4 * GiB);
        Assert.True(normal.Address >= 4 * GiB);
        pages.Validate();
        Assert.Throws<ArgumentException>(() => pages.Free(1UL << 61));
        pages.Free(dma);
        pages.Free(dma32);
        pages.Free(normal);
        pages.Validate();
        Assert.Equal(pages.TotalPages - pages.ReservedPages, pages.FreePages);
    }

    [Fact]
    public void FreeRange_and_pagetypeinfo_cost_nothing_per_page_of_a_huge_block()
    {
        var pages = new PageAllocator(Huge() with { Mobility = MobilitySettings.Grouping with { PageblockOrder = 28 } });
        Block big = pages.Allocate(Request.ForOrder(40)); // unmovable: claims all 4,096 pageblocks of a movable max-order block
        long before = pages.MetadataBytes;

        // Everything but the block's first and last page: two cuts down 40 orders, 2^40 - 2 pages freed.
        pages.FreeRange(big.Address + Page, (1UL << 40) - 2);
        pages.Validate();
        Assert.Equal((1UL << 50) - 2, pages.FreePages);
        // O(max order): a stamp chunk (32 KiB) for each half the two cuts leave, not one per page.
        Assert.True(pages.MetadataBytes - before < 4 * 40 * 40 * 1024, $"{pages.MetadataBytes - before} bytes more for one FreeRange");

        string info = pages.GetPageTypeInfo();
        string normal = info.Split('\n').Single(l => l.StartsWith("Node 0, zone   Normal", StringComparison.Ordinal));
        Assert.Equal(["4096", "4190208", "0"], normal.Split(' ', StringSplitOptions.RemoveEmptyEntries)[4..7]);

        pages.FreeRange(big.Address, 1);
        pages.FreeRange(big.Address + (((1UL << 40) - 1) * Page), 1);
        pages.Validate();
        Assert.Equal(1UL << 50, pages.FreePages);
    }

    [Fact]
    public void Metadata_after_100_000_random_allocations_is_proportional_to_them()
    {
        var pages = new PageAllocator(Huge());
        ulong x = Workloads.Seed;
        var live = new List<Block>();
        for (int i = 0; i < 100_000; i++)
        {
            live.Add(pages.Allocate(Request.ForOrder(Workloads.OrderOf(Workloads.Next(ref x)))));
        }

        long busy = pages.MetadataBytes;
        pages.Validate();
        Assert.True(busy < 100_000L * 41 * 8, $"{busy} bytes for 100,000 allocations");
        foreach (Block b in live)
        {
            pages.Free(b);
        }

        pages.Validate();
        Assert.True(pages.MetadataBytes <= busy + MiBytes, $"{pages.MetadataBytes} bytes after freeing everything, {busy} before"); // the node reserve may fill up to its cap
    }

    // A sparse reference buddy: a sorted set of free block starts per order, lowest first, exactly
    // the placement Buddy documents (smallest order from the search order whose lowest block ends
    // under the limit). It holds only the blocks that exist, so it runs on 2^50 pages.
    private sealed class SparseModel
    {
        private readonly SortedSet<ulong>[] _free;
        private readonly int _maxOrder;

        public SparseModel(ulong pages, int maxOrder)
        {
            _maxOrder = maxOrder;
            _free = [.. Enumerable.Range(0, maxOrder + 1).Select(_ => new SortedSet<ulong>())];
            for (ulong p = 0; p < pages; p += 1UL << maxOrder)
            {
                _free[maxOrder].Add(p);
            }
        }

        public ulong? Allocate(int order, int searchOrder, ulong limitPfn)
        {
            for (int o = searchOrder; o <= _maxOrder; o++)
            {
                if (_free[o].Count > 0 && _free[o].Min + (1UL << order) <= limitPfn)
                {
                    ulong pfn = _free[o].Min;
                    _free[o].Remove(pfn);
                    for (int c = o; c > order; c--)
                    {
                        _free[c - 1].Add(pfn + (1UL << (c - 1)));
                    }

                    return pfn;
                }
            }

            return null;
        }

        public void Free(ulong pfn, int order)
        {
            while (order < _maxOrder && _free[order].Remove(pfn ^ (1UL << order)))
            {
                pfn &= ~(1UL << order);
                order++;
            }

            _free[order].Add(pfn);
        }
    }

    private sealed record Step(bool Free, int Order, int AlignOrder, int LimitShift, int Pick);

    private static readonly Gen<Step> s_step =
        from free in Gen.Int[0, 9]
        from small in Gen.Int[0, 6]
        from large in Gen.Int[0, 40]
        from big in Gen.Int[0, 9]
        from align in Gen.Int[0, 40]
        from aligned in Gen.Int[0, 5]
        from limit in Gen.Int[20, 62]
        from limited in Gen.Int[0, 4]
        from pick in Gen.Int[0, 10_000]
        select new Step(free < 4, big == 0 ? large : small, aligned == 0 ? align : -1, limited == 0 ? limit : 62, pick);

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void Random_steps_on_a_2_62_byte_space_agree_with_a_sparse_reference_buddy(bool caches, bool mobility)
    {
        Gen.Select(s_step.Array[1, 120], Gen.Int[0, 3]).Sample((steps, high) =>
        {
            // Some runs start from the top: the first 2^50 - 2^40 pages are taken by max-order blocks first.
            MachineLayout layout = Huge() with
            {
                PerCpuCaches = caches,
                Mobility = mobility ? MobilitySettings.Grouping with { PageblockOrder = 28 } : MobilitySettings.None,
            };
            var pages = new PageAllocator(layout);
            var model = new SparseModel(1UL << 50, 40);
            bool exactModel = !caches && !mobility; // caches batch and mobility steals: placement differs
            var live = new List<(Block Block, int Order)>();
            for (int i = 0; i < (high == 0 ? 1023 : 0); i++)
            {
                Block root = pages.Allocate(Request.ForOrder(40));
                Assert.Equal(exactModel ? model.Allocate(40, 40, ulong.MaxValue) : root.Pfn, root.Pfn);
                live.Add((root, 40));
            }

            foreach (Step step in steps)
            {
                if (step.Free && live.Count > 0)
                {
                    int at = step.Pick % live.Count;
                    (Block block, int order) = live[at];
                    live.RemoveAt(at);
                    pages.Free(block);
                    if (exactModel)
                    {
                        model.Free(block.Pfn, order);
                    }
                }
                else
                {
                    Request request = Request.ForOrder(step.Order);
                    int searchOrder = step.Order;
                    if (step.AlignOrder > step.Order)
                    {
                        request = request.AlignedTo(Page << step.AlignOrder);
                        searchOrder = step.AlignOrder;
                    }

                    ulong limitPfn = ulong.MaxValue;
                    if (step.LimitShift < 62)
                    {
                        request = request.Below((1UL << step.LimitShift) - 1);
                        limitPfn = (1UL << step.LimitShift) / Page;
                    }

                    bool got = pages.TryAllocate(request, out Block block);
                    if (got)
                    {
                        Assert.True(block.Pfn + (1UL << step.Order) <= limitPfn, $"{block} is not below the limit");
                        Assert.Equal(0UL, block.Pfn & ((1UL << searchOrder) - 1));
                        Assert.DoesNotContain(live, l => l.Block.Pfn < block.Pfn + block.PageCount && block.Pfn < l.Block.Pfn + l.Block.PageCount);
                        live.Add((block, step.Order));
                    }

                    if (exactModel)
                    {
                        Assert.Equal(model.Allocate(step.Order, searchOrder, limitPfn), got ? block.Pfn : null);
                    }
                }

                pages.Validate();
                Assert.Equal((1UL << 50) - live.Aggregate(0UL, (sum, l) => sum + l.Block.PageCount), pages.FreePages + pages.CachedPages);
            }

            foreach ((Block block, _) in live)
            {
                pages.Free(block);
            }

            pages.DrainCaches();
            pages.Validate();
            Assert.Equal(1UL << 50, pages.FreePages);
        }, iter: 25);
    }
}
