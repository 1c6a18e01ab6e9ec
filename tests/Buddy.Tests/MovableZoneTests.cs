// MovableZoneTests: ZONE_MOVABLE as movablecore= sets it up — only movable requests that name no
// zone (or Movable) reach it, every other request stops at Normal — and its watermarks as
// __setup_per_zone_wmarks gives them (not low memory: a small clamped min of its own).
using Buddy.Kernel;

namespace Buddy.Tests;

public class MovableZoneTests
{
    private const ulong Page = 4096;

    // DMA32 [0, 32), Normal [32, 64), Movable [64, 96) pages.
    private static MachineLayout WithMovable(WatermarkSettings? marks = null) => new()
    {
        Size = 96 * Page,
        MaxOrder = 2,
        Zones = [new(ZoneKind.Dma32, 32 * Page), new(ZoneKind.Normal, 64 * Page), new(ZoneKind.Movable, ulong.MaxValue)],
        Watermarks = marks ?? WatermarkSettings.None,
    };

    private static ulong MovableFree(PageAllocator pages) => pages.GetZoneStats().Single(z => z.Kind == ZoneKind.Movable).FreePages;

    [Fact]
    public void Movable_zone_has_the_kernel_name()
    {
        Assert.Equal("Movable", ZoneKind.Movable.KernelName());
        Assert.True(ZoneKindNames.TryParse("movable", out ZoneKind kind));
        Assert.Equal(ZoneKind.Movable, kind);
        Assert.Equal([256UL, 256, 32, 0], WatermarkSettings.Kernel.LowmemReserveRatio);
    }

    [Fact]
    public void An_unmovable_request_fails_rather_than_touch_the_Movable_zone()
    {
        var pages = new PageAllocator(WithMovable());
        for (int i = 0; i < 64; i++)
        {
            Block b = pages.Allocate(Request.ForOrder(0));
            Assert.True(b.Pfn < 64);
        }

        Assert.False(pages.TryAllocate(Request.ForOrder(0), out _, out AllocationFailure? failure));
        Assert.Equal(FailureReason.OutOfMemory, failure.Reason);
        Assert.False(pages.TryAllocate(Request.ForOrder(0).WithMobility(MigrateType.Reclaimable), out _));
        Assert.False(pages.TryAllocate(Request.ForOrder(0).InZone(ZoneKind.Movable), out _)); // naming Movable does not make a request movable
        Assert.Equal(32UL, MovableFree(pages));
        pages.Validate();
    }

    [Fact]
    public void Movable_requests_use_the_Movable_zone_first_then_fall_back()
    {
        var pages = new PageAllocator(WithMovable());
        Request movable = Request.ForOrder(0).WithMobility(MigrateType.Movable);
        for (int i = 0; i < 32; i++)
        {
            Assert.True(pages.Allocate(movable).Pfn >= 64);
        }

        Assert.Equal(0UL, MovableFree(pages));
        Block next = pages.Allocate(movable.InZone(ZoneKind.Movable));
        Assert.InRange(next.Pfn, 32UL, 63UL); // then Normal, as the zonelist falls back
        pages.Validate();
    }

    [Fact]
    public void A_movable_request_naming_Normal_stays_below_Movable()
    {
        var pages = new PageAllocator(WithMovable());
        Block b = pages.Allocate(Request.ForOrder(0).WithMobility(MigrateType.Movable).InZone(ZoneKind.Normal));
        Assert.InRange(b.Pfn, 32UL, 63UL);
        Assert.Equal(32UL, MovableFree(pages));
    }

    [Fact]
    public void Movable_pages_are_not_low_memory_for_the_watermarks()
    {
        // min_free_kbytes 256 = 64 pages over the 64 low pages (DMA32 + Normal): 32 each, not the
        // 21 they would get if Movable's 32 pages counted. Movable's min is
        // clamp(managed / 1024, SWAP_CLUSTER_MAX, 128) = 32; its step is a quarter of its share (8).
        var pages = new PageAllocator(WithMovable(new WatermarkSettings { MinFreeKbytes = 256 }));
        IReadOnlyList<ZoneStats> z = pages.GetZoneStats();
        Assert.Equal([32UL, 32, 32], z.Select(s => s.Watermarks.Min));
        Assert.Equal([40UL, 40, 40], z.Select(s => s.Watermarks.Low));
    }

    [Fact]
    public void Lowmem_reserve_counts_the_Movable_zone_above_Normal_with_ratio_0_for_itself()
    {
        var pages = new PageAllocator(WithMovable(new WatermarkSettings { MinFreeKbytes = 4, LowmemReserveRatio = [4, 2, 2, 0] }));
        IReadOnlyList<ZoneStats> z = pages.GetZoneStats();
        Assert.Equal([0UL, 0, 32 / 2, (32 + 32) / 2], z[0].Protection); // indexed by kind: DMA32's entry 0 is the DMA slot
        Assert.Equal([0UL, 0, 0, 32 / 2], z[1].Protection);
        Assert.Equal([0UL, 0, 0, 0], z[2].Protection);
    }
}
