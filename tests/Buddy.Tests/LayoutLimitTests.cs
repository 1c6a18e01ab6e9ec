// LayoutLimitTests: every layout MachineLayout.Validate accepts can be built, and every one it
// cannot build is refused up front — a null member naming the setting, a size whose metadata
// would not fit saying how much it would need — before the allocator reserves any memory.
using Buddy.Allocation;
using Buddy.Mobility;
using Buddy.Pages;
using Buddy.Zones;
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
    [InlineData(42, 4096)]
    [InlineData(44, 4096)]
    [InlineData(54, 512)]
    public void A_layout_too_large_to_build_is_refused_saying_how_much_it_would_need(int log2Pages, ulong pageSize)
    {
        MachineLayout layout = MachineLayout.Flat((1UL << log2Pages) * pageSize) with { PageSize = pageSize };
        MetadataEstimate estimate = layout.EstimateMetadata();

        (ArgumentException e, long allocated) = Refused(() => _ = new PageAllocator(layout));

        Assert.Equal("Size", e.ParamName);
        Assert.True(estimate.UpFrontBytes > MetadataEstimate.BudgetBytes);
        Assert.True(estimate.UpFrontBytes >= (1UL << log2Pages) / 128, "the bitmaps alone need more than a byte per 128 pages");
        Assert.Contains($"needs about {MetadataEstimate.Format(estimate.UpFrontBytes)} of allocator metadata up front", e.Message, StringComparison.Ordinal);
        Assert.Contains($"at most {MetadataEstimate.Format(MetadataEstimate.BudgetBytes)} can be built", e.Message, StringComparison.Ordinal);
        Assert.True(allocated < NothingBuilt, $"{allocated} bytes allocated before the refusal");
    }

    [Fact]
    public void The_largest_address_range_Validate_knew_is_refused_without_overflow()
    {
        // 2^55 - 1 pages of 512 bytes: the largest Size a ulong holds.
        MachineLayout layout = MachineLayout.Flat(ulong.MaxValue / 512 * 512) with { PageSize = 512 };
        MetadataEstimate estimate = layout.EstimateMetadata();

        Assert.True(estimate.UpFrontBytes > ulong.MaxValue / 512 / 128, "the estimate wrapped around");
        Assert.True(estimate.MostBytes >= estimate.UpFrontBytes);
        (ArgumentException e, _) = Refused(layout.Validate);
        Assert.Equal("Size", e.ParamName);
    }

    [Fact]
    public void A_pageblock_map_longer_than_one_array_can_be_is_refused()
    {
        // 2^32 pages in pageblocks of 2 pages: 2^31 pageblock entries, above Array.MaxLength.
        MachineLayout layout = MachineLayout.Flat(4 * TiB * 4) with { Mobility = MobilitySettings.Grouping with { PageblockOrder = 1 } };
        Assert.True(layout.EstimateMetadata().LargestArray > (ulong)Array.MaxLength);

        (ArgumentException e, long allocated) = Refused(() => _ = new PageAllocator(layout));

        Assert.Equal("Size", e.ParamName);
        Assert.True(allocated < NothingBuilt, $"{allocated} bytes allocated before the refusal");
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void The_estimate_bounds_what_the_constructor_allocates(bool mobility, bool caches)
    {
        // 2^30 pages (4 TiB of 4 KiB pages): large enough that fixed costs vanish.
        MachineLayout layout = MachineLayout.X86(4 * TiB) with
        {
            Mobility = mobility ? MobilitySettings.Grouping : MobilitySettings.None,
            PerCpuCaches = caches,
        };
        MetadataEstimate estimate = layout.EstimateMetadata();

        long before = GC.GetAllocatedBytesForCurrentThread();
        var pages = new PageAllocator(layout);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.InRange((ulong)allocated, estimate.UpFrontBytes * 9 / 10, estimate.UpFrontBytes);
        Assert.InRange((ulong)pages.MetadataBytes, 0UL, estimate.UpFrontBytes);
        Assert.True(estimate.MostBytes > estimate.UpFrontBytes);
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
