// WatermarkSettings: the sysctls behind zone watermarks and the lowmem reserve.
namespace Buddy;

/// <summary>
/// The kernel's knobs for zone watermarks and the lowmem reserve (vm.min_free_kbytes,
/// vm.watermark_scale_factor, vm.lowmem_reserve_ratio), or <see cref="None"/> to turn both off.
/// </summary>
/// <remarks>
/// Watermarks belong to the machine model: a user who manages device memory or a file's extents
/// has no reclaim to wake and wants every page usable, so <see cref="None"/> is the choice there.
/// </remarks>
public sealed record WatermarkSettings
{
    /// <summary>The kernel's defaults: min_free_kbytes computed from memory, scale factor 10, ratios 256 256 32 0.</summary>
    public static WatermarkSettings Kernel { get; } = new();

    /// <summary>No watermarks and no lowmem reserve: every free page is usable by every request.</summary>
    public static WatermarkSettings None { get; } = new() { Enabled = false };

    /// <summary>Whether watermarks and the lowmem reserve apply at all.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>vm.min_free_kbytes; <see langword="null"/> computes the kernel's default from low memory.</summary>
    public ulong? MinFreeKbytes { get; init; }

    /// <summary>vm.watermark_scale_factor, in units of 1/10,000 of a zone's managed pages (kernel default 10).</summary>
    public ulong ScaleFactor { get; init; } = 10;

    /// <summary>vm.lowmem_reserve_ratio per zone, indexed by <see cref="ZoneKind"/> (Linux 6.18's sysctl_lowmem_reserve_ratio: 256, 256, 32, 0 for DMA, DMA32, Normal, Movable).</summary>
    public IReadOnlyList<ulong> LowmemReserveRatio { get; init; } = [256, 256, 32, 0];
}
