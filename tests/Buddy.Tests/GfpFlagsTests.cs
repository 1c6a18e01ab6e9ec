// GfpFlagsTests: the highest zone and the watermark priority a trace line's gfp_flags give, and the
// migratetype field, as Linux 6.18's gfp.h defines them.
using System.Text;
using Buddy.Tracing;
using static Buddy.Tests.TraceTestData;

namespace Buddy.Tests;

public sealed class GfpFlagsTests
{
    // ---- gfp_flags and migratetype ------------------------------------------------------------

    [Theory]
    [InlineData("GFP_DMA", ZoneKind.Dma)]
    [InlineData("__GFP_DMA", ZoneKind.Dma)]
    [InlineData("GFP_KERNEL|GFP_DMA", ZoneKind.Dma)]
    [InlineData("GFP_KERNEL|__GFP_DMA|__GFP_ZERO", ZoneKind.Dma)]
    [InlineData("0x1", ZoneKind.Dma)]
    [InlineData("GFP_DMA32", ZoneKind.Dma32)]
    [InlineData("__GFP_DMA32", ZoneKind.Dma32)]
    [InlineData("GFP_KERNEL|GFP_DMA32", ZoneKind.Dma32)]
    [InlineData("0x4", ZoneKind.Dma32)]
    [InlineData("GFP_KERNEL|0x4", ZoneKind.Dma32)]
    [InlineData("GFP_HIGHUSER_MOVABLE", ZoneKind.Normal)]
    [InlineData("GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP", ZoneKind.Normal)]
    [InlineData("GFP_NOFS|__GFP_HIGHMEM|__GFP_MOVABLE|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP|__GFP_HARDWALL", ZoneKind.Normal)]
    [InlineData("GFP_KERNEL", ZoneKind.Normal)]
    [InlineData("GFP_NOWAIT|0x200", ZoneKind.Normal)]
    [InlineData("none", ZoneKind.Normal)]
    public void Gfp_flags_give_the_highest_zone(string flags, ZoneKind zone)
    {
        Assert.Equal(zone, GfpFlags.Zone(Encoding.ASCII.GetBytes(flags)));
        Assert.Equal(zone, ReadAllocWith("gfp_flags=" + flags).Zone);
    }

    [Theory]
    [InlineData("GFP_ATOMIC", AllocationPriority.Atomic)]
    [InlineData("GFP_ATOMIC|__GFP_RECLAIMABLE|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP", AllocationPriority.Atomic)]
    [InlineData("__GFP_HIGH", AllocationPriority.Atomic)] // no direct reclaim: ALLOC_NON_BLOCK too
    [InlineData("GFP_KERNEL|__GFP_HIGH", AllocationPriority.High)]
    [InlineData("0x20", AllocationPriority.Atomic)]
    [InlineData("GFP_ATOMIC|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP|__GFP_NOMEMALLOC", AllocationPriority.High)] // __GFP_NOMEMALLOC: no NON_BLOCK
    [InlineData("GFP_ATOMIC|__GFP_DIRECT_RECLAIM", AllocationPriority.High)]
    [InlineData("GFP_KERNEL", AllocationPriority.Normal)]
    [InlineData("GFP_HIGHUSER_MOVABLE|__GFP_COMP", AllocationPriority.Normal)]
    [InlineData("GFP_NOWAIT", AllocationPriority.Normal)]
    [InlineData("none", AllocationPriority.Normal)]
    public void Gfp_flags_give_the_watermark_priority(string flags, AllocationPriority priority)
    {
        Assert.Equal(priority, GfpFlags.Priority(Encoding.ASCII.GetBytes(flags)));
        Assert.Equal(priority, ReadAllocWith("gfp_flags=" + flags).Priority);
    }

    [Theory]
    [InlineData(0, MigrateType.Unmovable)]
    [InlineData(1, MigrateType.Movable)]
    [InlineData(2, MigrateType.Reclaimable)]
    [InlineData(3, MigrateType.HighAtomic)]
    [InlineData(4, MigrateType.Cma)]
    [InlineData(5, MigrateType.Isolate)]
    public void Migratetype_is_read(int value, MigrateType expected) =>
        Assert.Equal(expected, ReadAllocWith($"migratetype={value}").Mobility);
}
