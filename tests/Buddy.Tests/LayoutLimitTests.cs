// LayoutLimitTests: every layout MachineLayout.Validate accepts can be built at once, whatever its
// size (metadata grows with use, not with the address space), and every one it refuses is refused
// up front — a null member naming the setting, pageblocks too small for the max order — before
// the allocator reserves any memory.
using static Buddy.Units;

namespace Buddy.Tests;

public class LayoutLimitTests
{
    // Far less than any refused layout's metadata: the refusal happened before anything was built.
    private const long NothingBuilt = 1 * (long)MiB;

    public static TheoryData<string> NullMembers => ["Zones", "Reserved", "Watermarks", "Mobility", "LowmemReserveRatio"];

    [Theory]
    [MemberData(nameof(NullMembers))]
    public void A_null_member_is_an_ArgumentException_naming_the_setting_before_anything_is_built(string member)
    {
        MachineLayout layout = WithNull(MachineLayout.X86(64 * MiB), member);

        (ArgumentException e, long allocated) = Refused(() => _ = new PageAllocator(layout));

        string setting = member == "LowmemReserveRatio" ? "Watermarks" : member;
        Assert.Equal(setting, e.ParamName);
        Assert.Contains($"MachineLayout.{setting}", e.Message, StringComparison.Ordinal);
        Assert.Contains("is null", e.Message, StringComparison.Ordinal);
        Assert.True(allocated < NothingBuilt, $"{allocated} bytes allocated before the refusal");
    }

    [Theory]
    [InlineData(40, 4096)]
    [InlineData(44, 4096)]
    [InlineData(50, 4096)]
    [InlineData(54, 512)]
    public void A_huge_layout_is_built_at_once_with_metadata_that_does_not_grow_with_its_size(int log2Pages, ulong pageSize)
    {
        MachineLayout layout = MachineLayout.Flat((1UL << log2Pages) * pageSize) with { PageSize = pageSize };
        MetadataEstimate estimate = layout.EstimateMetadata();

        long before = GC.GetAllocatedBytesForCurrentThread();
        var pages = new PageAllocator(layout);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.True(allocated < NothingBuilt, $"{allocated} bytes allocated to build {1UL << log2Pages} pages");
        Assert.True((ulong)allocated <= estimate.UpFrontBytes, $"{allocated} bytes allocated, {estimate.UpFrontBytes} estimated");
        Assert.True(estimate.MostBytes >= (1UL << log2Pages) / 8, "every page in use costs at least its bits");
        Assert.Equal(1UL << log2Pages, pages.FreePages);
        pages.Validate();
    }

    [Fact]
    public void The_largest_address_range_a_ulong_holds_is_built_and_its_estimate_does_not_overflow()
    {
        // 2^55 - 1 pages of 512 bytes: the largest Size a ulong holds.
        MachineLayout layout = MachineLayout.Flat(ulong.MaxValue / 512 * 512) with { PageSize = 512 };
        MetadataEstimate estimate = layout.EstimateMetadata();

        Assert.True(estimate.MostBytes > ulong.MaxValue / 512 / 8, "the estimate wrapped around");
        Assert.True(estimate.UpFrontBytes < NothingBuilt);
        var pages = new PageAllocator(layout);
        Block top = pages.Allocate(Request.ForOrder(0).AlignedTo(512UL << pages.MaxOrder));
        Assert.Equal(ulong.MaxValue / 512, pages.FreePages + 1);
        pages.Free(top);
        pages.Validate();
    }

    [Fact]
    public void A_pageblock_map_of_2_31_entries_costs_nothing_until_pageblocks_are_retyped()
    {
        // 2^32 pages in pageblocks of 2 pages: 2^31 pageblocks, more than one array could hold.
        MachineLayout layout = MachineLayout.Flat(4 * TiB * 4) with { Mobility = MobilitySettings.Grouping with { PageblockOrder = 1 } };
        var pages = new PageAllocator(layout);
        Assert.True(pages.MetadataBytes < NothingBuilt, $"{pages.MetadataBytes} bytes");

        Block unmovable = pages.Allocate(Request.ForOrder(0)); // steals (and retypes) pageblocks from the movable ones
        Block movable = pages.Allocate(Request.ForOrder(0).WithMobility(MigrateType.Movable));
        pages.Validate();
        Assert.True(pages.MetadataBytes < NothingBuilt, $"{pages.MetadataBytes} bytes");
        pages.Free(unmovable);
        pages.Free(movable);
        pages.Validate();
    }

    [Theory]
    [InlineData(40, 27)]
    [InlineData(14, 1)]
    public void Pageblocks_too_small_for_the_max_order_are_refused_naming_the_bound(int maxOrder, int pageblockOrder)
    {
        MachineLayout layout = MachineLayout.Flat(1 * GiB) with { MaxOrder = maxOrder, Mobility = MobilitySettings.Grouping with { PageblockOrder = pageblockOrder } };
        (ArgumentException e, long allocated) = Refused(() => _ = new PageAllocator(layout));

        Assert.Equal("Mobility", e.ParamName);
        Assert.Contains($"PageblockOrder must be at least {layout.MaxOrder - MobilitySettings.MaxPageblocksPerBlockLog2}", e.Message, StringComparison.Ordinal);
        Assert.True(allocated < NothingBuilt, $"{allocated} bytes allocated before the refusal");
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void The_estimate_bounds_what_the_constructor_allocates_and_what_use_adds(bool mobility, bool caches)
    {
        // 2^30 pages (4 TiB of 4 KiB pages), x86 zones.
        MachineLayout layout = MachineLayout.X86(4 * TiB) with
        {
            Mobility = mobility ? MobilitySettings.Grouping : MobilitySettings.None,
            PerCpuCaches = caches,
        };
        MetadataEstimate estimate = layout.EstimateMetadata();

        long before = GC.GetAllocatedBytesForCurrentThread();
        var pages = new PageAllocator(layout);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.InRange((ulong)allocated, 1UL, estimate.UpFrontBytes);
        Assert.InRange((ulong)pages.MetadataBytes, 1UL, estimate.UpFrontBytes);
        Assert.True(estimate.UpFrontBytes < NothingBuilt, $"{estimate.UpFrontBytes} bytes up front");

        // Use grows it, within the most.
        var blocks = new List<Block>();
        for (int i = 0; i < 20_000; i++)
        {
            blocks.Add(pages.Allocate(Request.ForOrder(i % 3)));
        }

        Assert.InRange((ulong)pages.MetadataBytes, estimate.UpFrontBytes / 2, estimate.MostBytes);
        blocks.ForEach(pages.Free);
    }

    [Fact]
    public void A_large_but_buildable_layout_still_works()
    {
        // 2^32 pages (16 TiB of 4 KiB pages), x86 zones and a reserved range.
        MachineLayout layout = MachineLayout.X86(16 * TiB).Reserve(640 * KiB, 1 * MiB);
        Assert.True(layout.EstimateMetadata().UpFrontBytes <= MetadataEstimate.BudgetBytes);

        var pages = new PageAllocator(layout);
        Block big = pages.Allocate(Request.ForOrder(pages.MaxOrder));
        Block dma = pages.Allocate(Request.ForOrder(0).InZone(ZoneKind.Dma));
        Block top = pages.Allocate(Request.ForOrder(0));

        Assert.Equal(1UL << 32, pages.TotalPages);
        Assert.True(dma.Address < 16 * MiB);
        Assert.Equal(pages.TotalPages - pages.ReservedPages - (1UL << pages.MaxOrder) - 2, pages.FreePages);
        pages.Free(big);
        pages.Free(dma);
        pages.Free(top);
        Assert.Equal(pages.TotalPages - pages.ReservedPages, pages.FreePages);
    }

    private static MachineLayout WithNull(MachineLayout layout, string member) => member switch
    {
        "Zones" => layout with { Zones = null! },
        "Reserved" => layout with { Reserved = null! },
        "Watermarks" => layout with { Watermarks = null! },
        "Mobility" => layout with { Mobility = null! },
        "LowmemReserveRatio" => layout with { Watermarks = WatermarkSettings.Kernel with { LowmemReserveRatio = null! } },
        _ => throw new ArgumentOutOfRangeException(nameof(member)),
    };

    // The exact ArgumentException thrown, and the bytes this thread allocated until it was.
    private static (ArgumentException Error, long Allocated) Refused(Action build)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<ArgumentException>(build);
        return (e, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
