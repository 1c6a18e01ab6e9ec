// ZoneKind: the kernel's zones by address limit, in zonelist order (lowest first); the values are
// the kernel's zone indices on x86-64 (no HIGHMEM), so lowmem_reserve_ratio and protection index by them.
namespace Buddy;

/// <summary>A zone of physical memory, named as the kernel names it; lower zones come first.</summary>
public enum ZoneKind
{
    /// <summary>ZONE_DMA: below 16 MiB on x86 (ISA DMA's 24 address bits).</summary>
    Dma = 0,

    /// <summary>ZONE_DMA32: below 4 GiB on x86-64 (32-bit DMA masks).</summary>
    Dma32 = 1,

    /// <summary>ZONE_NORMAL: everything else.</summary>
    Normal = 2,

    /// <summary>
    /// ZONE_MOVABLE (as <c>movablecore=</c> or <c>kernelcore=</c> sets it up): only movable requests
    /// that name no zone (or this one) may use it; every other request's highest zone is Normal.
    /// </summary>
    Movable = 3,
}

/// <summary>Names of <see cref="ZoneKind"/> values as the kernel prints them.</summary>
public static class ZoneKindNames
{
    /// <summary>The kernel's name of a zone: <c>DMA</c>, <c>DMA32</c>, <c>Normal</c> or <c>Movable</c>.</summary>
    public static string KernelName(this ZoneKind kind) => kind switch
    {
        ZoneKind.Dma => "DMA",
        ZoneKind.Dma32 => "DMA32",
        ZoneKind.Normal => "Normal",
        ZoneKind.Movable => "Movable",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown zone kind"),
    };

    /// <summary>Parses a kernel zone name (case-insensitive): DMA, DMA32, Normal or Movable.</summary>
    public static bool TryParse(string name, out ZoneKind kind)
    {
        switch (name.ToUpperInvariant())
        {
            case "DMA": kind = ZoneKind.Dma; return true;
            case "DMA32": kind = ZoneKind.Dma32; return true;
            case "NORMAL": kind = ZoneKind.Normal; return true;
            case "MOVABLE": kind = ZoneKind.Movable; return true;
            default: kind = default; return false;
        }
    }
}
