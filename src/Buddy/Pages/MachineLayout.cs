// MachineLayout: what memory an allocator manages — page size, address range, zones, reserved
// ranges, the largest order and the watermark settings. Immutable; validated once.
// Invariant: a layout that passes Validate has no null member and can be built — its allocator's
// up-front metadata fits MetadataEstimate.BudgetBytes — so a constructor that validates first
// reserves nothing for a layout it cannot build.
using static System.FormattableString;

namespace Buddy;

/// <summary>The memory an allocator manages: its pages, zones by address limit and reserved ranges.</summary>
/// <remarks>
/// Addresses are absolute: a block's address is divisible by its size, whatever
/// <see cref="BaseAddress"/> is. Zones cut the range at their limits (any page-aligned address);
/// a zone the range does not reach is empty. Reserved ranges are never handed out.
/// Build one with <see cref="X86"/> or <see cref="Flat"/> and adjust it with <c>with</c> or
/// <see cref="Reserve"/>; <see cref="PageAllocator"/> validates it.
/// </remarks>
public sealed record MachineLayout
{
    /// <summary>The kernel's MAX_PAGE_ORDER on x86-64: blocks of up to 2^10 pages (4 MiB at 4 KiB pages).</summary>
    public const int DefaultMaxOrder = 10;

    /// <summary>The page size in bytes: a power of two from 512.</summary>
    public ulong PageSize { get; init; } = 4 * Units.KiB;

    /// <summary>The first managed address (page aligned).</summary>
    public ulong BaseAddress { get; init; }

    /// <summary>The number of bytes managed (a multiple of the page size; need not be a power of two).</summary>
    public ulong Size { get; init; }

    /// <summary>The largest block order.</summary>
    public int MaxOrder { get; init; } = DefaultMaxOrder;

    /// <summary>Zone limits: each zone holds the addresses below its limit and at or above the previous zone's.</summary>
    public IReadOnlyList<ZoneLimit> Zones { get; init; } = X86Zones;

    /// <summary>Ranges that are never handed out (holes, firmware, a kernel image).</summary>
    public IReadOnlyList<AddressRange> Reserved { get; init; } = [];

    /// <summary>Grouping by mobility and compaction; <see cref="MobilitySettings.None"/> (the default) is the plain buddy allocator.</summary>
    public MobilitySettings Mobility { get; init; } = MobilitySettings.None;

    /// <summary>
    /// Keep small free blocks (orders 0..3) in per-thread, per-zone caches, refilled and drained in
    /// batches, so that small requests that any block of a zone satisfies take no lock and no
    /// atomic instruction (the role of the kernel's per-CPU pcp lists). Off by default: cached pages
    /// count as neither free nor allocated, which experiments on exact buddy states do not want.
    /// </summary>
    public bool PerCpuCaches { get; init; }

    /// <summary>Watermarks and lowmem reserve; <see cref="WatermarkSettings.None"/> turns them off.</summary>
    public WatermarkSettings Watermarks { get; init; } = WatermarkSettings.Kernel;

    /// <summary>x86-64's zones: DMA below 16 MiB, DMA32 below 4 GiB, Normal above.</summary>
    public static IReadOnlyList<ZoneLimit> X86Zones { get; } =
    [
        new(ZoneKind.Dma, 16 * Units.MiB),
        new(ZoneKind.Dma32, 4 * Units.GiB),
        new(ZoneKind.Normal, ulong.MaxValue),
    ];

    /// <summary>The address one past the last managed byte.</summary>
    public ulong EndAddress => BaseAddress + Size;

    /// <summary>log2 of <see cref="PageSize"/>.</summary>
    public int PageShift => PageMath.Log2(PageSize);

    /// <summary>A PC with <paramref name="size"/> bytes from address 0, x86-64 zones and kernel watermarks.</summary>
    public static MachineLayout X86(ulong size) => new() { Size = size };

    /// <summary>One Normal zone over <c>[baseAddress, baseAddress + size)</c> without watermarks: device memory, a heap, a file.</summary>
    public static MachineLayout Flat(ulong size, ulong baseAddress = 0) => new()
    {
        Size = size,
        BaseAddress = baseAddress,
        Zones = [new(ZoneKind.Normal, ulong.MaxValue)],
        Watermarks = WatermarkSettings.None,
    };

    /// <summary>A copy with <c>[start, end)</c> reserved as well.</summary>
    public MachineLayout Reserve(ulong start, ulong end) => this with { Reserved = [.. Reserved, new AddressRange(start, end)] };

    /// <summary>
    /// Throws <see cref="ArgumentException"/> naming the first setting that is wrong, or, when every
    /// setting is right, if the allocator's metadata would not fit <see cref="MetadataEstimate.BudgetBytes"/>
    /// (the message says how much it would need).
    /// </summary>
    public void Validate()
    {
        ValidateSettings();
        ValidateBuildable();
    }

    /// <summary>The managed memory an allocator over this layout needs for its metadata; throws <see cref="ArgumentException"/> for a wrong setting.</summary>
    public MetadataEstimate EstimateMetadata()
    {
        ValidateSettings();
        return MetadataEstimate.Of(this);
    }

    private void ValidateSettings()
    {
        ValidateNoNulls();
        ValidatePages();
        ValidateZones();
        ValidateReserved();
        ValidateMobility();
        if (Watermarks.Enabled && Watermarks.LowmemReserveRatio.Count <= (int)Zones[^1].Kind)
        {
            throw new ArgumentException(Invariant($"LowmemReserveRatio has {Watermarks.LowmemReserveRatio.Count} entries but zone {Zones[^1].Kind.KernelName()} needs entry {(int)Zones[^1].Kind}."), nameof(Watermarks));
        }
    }

    // A null collection or settings record (set through `with` or an initializer) is a wrong setting, not a crash later.
    private void ValidateNoNulls()
    {
        RequireSet(Zones, nameof(Zones), "the zone limits, e.g. MachineLayout.X86Zones");
        RequireSet(Reserved, nameof(Reserved), "the reserved ranges, [] for none");
        RequireSet(Mobility, nameof(Mobility), "MobilitySettings.None for the plain buddy allocator");
        RequireSet(Watermarks, nameof(Watermarks), "WatermarkSettings.None to turn watermarks off");
        RequireSet(Watermarks.LowmemReserveRatio, nameof(Watermarks), "Watermarks.LowmemReserveRatio, one ratio per zone");
    }

    private static void RequireSet(object? value, string setting, string expected)
    {
        if (value is null)
        {
            throw new ArgumentException($"MachineLayout.{setting} is null; expected {expected}.", setting);
        }
    }

    private void ValidatePages()
    {
        if (PageSize < 512 || !PageMath.IsPowerOfTwo(PageSize))
        {
            throw new ArgumentException(Invariant($"PageSize must be a power of two of at least 512 bytes, not {PageSize}."), nameof(PageSize));
        }

        if (MaxOrder is < 0 or > PageMath.MaxSupportedOrder)
        {
            throw new ArgumentException(Invariant($"MaxOrder must be from 0 to {PageMath.MaxSupportedOrder}, not {MaxOrder}."), nameof(MaxOrder));
        }

        if (Size == 0 || Size % PageSize != 0)
        {
            throw new ArgumentException(Invariant($"Size must be a positive multiple of the page size ({PageSize} bytes), not {Size}."), nameof(Size));
        }

        if (BaseAddress % PageSize != 0)
        {
            throw new ArgumentException(Invariant($"BaseAddress 0x{BaseAddress:x} is not page aligned ({PageSize} bytes)."), nameof(BaseAddress));
        }

        if (EndAddress < BaseAddress || (EndAddress >> PageShift) > (1UL << 58))
        {
            throw new ArgumentException(Invariant($"BaseAddress + Size (0x{BaseAddress:x} + 0x{Size:x}) is beyond the addressable range."), nameof(Size));
        }
    }

    private void ValidateZones()
    {
        if (Zones.Count == 0)
        {
            throw new ArgumentException("At least one zone is needed; the last one's limit must reach the end of memory.", nameof(Zones));
        }

        for (int i = 0; i < Zones.Count; i++)
        {
            ZoneLimit z = Zones[i];
            if (z.Limit != ulong.MaxValue && z.Limit % PageSize != 0)
            {
                throw new ArgumentException(Invariant($"Zone {z.Kind.KernelName()}'s limit 0x{z.Limit:x} is not page aligned."), nameof(Zones));
            }

            if (i > 0 && (Zones[i - 1].Kind >= z.Kind || Zones[i - 1].Limit >= z.Limit))
            {
                throw new ArgumentException(Invariant($"Zones must be listed lowest first with rising limits: {Zones[i - 1].Kind.KernelName()} (0x{Zones[i - 1].Limit:x}) comes before {z.Kind.KernelName()} (0x{z.Limit:x})."), nameof(Zones));
            }
        }

        if (Zones[^1].Limit < EndAddress)
        {
            throw new ArgumentException(Invariant($"The last zone ({Zones[^1].Kind.KernelName()}) ends at 0x{Zones[^1].Limit:x}, before the end of memory 0x{EndAddress:x}."), nameof(Zones));
        }
    }

    private void ValidateReserved()
    {
        foreach (AddressRange r in Reserved)
        {
            if (r.End <= r.Start || r.Start < BaseAddress || r.End > EndAddress)
            {
                throw new ArgumentException(Invariant($"Reserved range {r} is empty or outside memory [0x{BaseAddress:x}, 0x{EndAddress:x})."), nameof(Reserved));
            }
        }
    }

    private void ValidateMobility()
    {
        if (Mobility.GroupByMobility && (Mobility.PageblockOrder < 1 || Mobility.PageblockOrder > MaxOrder))
        {
            throw new ArgumentException(Invariant($"Mobility.PageblockOrder must be from 1 to MaxOrder ({MaxOrder}), not {Mobility.PageblockOrder}."), nameof(Mobility));
        }

        if (Mobility.GroupByMobility && MaxOrder - Mobility.PageblockOrder > MobilitySettings.MaxPageblocksPerBlockLog2)
        {
            throw new ArgumentException(Invariant($"Mobility.PageblockOrder {Mobility.PageblockOrder} is too small for MaxOrder {MaxOrder}: a max-order block may span at most 2^{MobilitySettings.MaxPageblocksPerBlockLog2} pageblocks (a claim retypes every pageblock of the block it takes), so PageblockOrder must be at least {MaxOrder - MobilitySettings.MaxPageblocksPerBlockLog2}. (The kernel's pageblock is MAX_PAGE_ORDER or one below: 9 and 10 on x86-64.)"), nameof(Mobility));
        }

        if (Mobility.Compaction && !Mobility.GroupByMobility)
        {
            throw new ArgumentException("Mobility.Compaction needs Mobility.GroupByMobility: compaction moves movable pages, which only grouping tells apart.", nameof(Mobility));
        }

        if (Mobility.ExtfragThreshold is < 0 or > 1000)
        {
            throw new ArgumentException(Invariant($"Mobility.ExtfragThreshold must be from 0 to 1000, not {Mobility.ExtfragThreshold}."), nameof(Mobility));
        }

        bool kernelRules = Mobility.NoFragment || Mobility.WatermarkBoostFactor != 0 || Mobility.HighAtomicReserve || Mobility.CompactionProactiveness != 0 || Mobility.DefragMode;
        if (kernelRules && !Mobility.GroupByMobility)
        {
            throw new ArgumentException("Mobility.NoFragment, WatermarkBoostFactor, HighAtomicReserve, CompactionProactiveness and DefragMode need Mobility.GroupByMobility: they are rules about pageblocks of different types.", nameof(Mobility));
        }

        if (Mobility.WatermarkBoostFactor is < 0 or > 10_000_000)
        {
            throw new ArgumentException(Invariant($"Mobility.WatermarkBoostFactor must be from 0 to 10000000 (vm.watermark_boost_factor), not {Mobility.WatermarkBoostFactor}."), nameof(Mobility));
        }

        if (Mobility.CompactionProactiveness is < 0 or > 100)
        {
            throw new ArgumentException(Invariant($"Mobility.CompactionProactiveness must be from 0 to 100 (vm.compaction_proactiveness), not {Mobility.CompactionProactiveness}."), nameof(Mobility));
        }

        if (Mobility.CompactionProactiveness != 0 && !Mobility.Compaction)
        {
            throw new ArgumentException("Mobility.CompactionProactiveness needs Mobility.Compaction: kcompactd runs the compactor.", nameof(Mobility));
        }

        if (Mobility.KcompactdIntervalOperations is < 1 or > 1 << 30)
        {
            throw new ArgumentException(Invariant($"Mobility.KcompactdIntervalOperations must be from 1 to 2^30, not {Mobility.KcompactdIntervalOperations}."), nameof(Mobility));
        }
    }

    // Until the metadata grows with use rather than with address space, refuse what cannot be built.
    private void ValidateBuildable()
    {
        MetadataEstimate estimate = MetadataEstimate.Of(this);
        ulong pages = Size >> PageShift;
        ulong budget = MetadataEstimate.BudgetBytes;
        if (estimate.UpFrontBytes > budget)
        {
            string available = Units.FormatApproximateSize((ulong)Math.Max(0, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes));
            throw new ArgumentException(
                Invariant($"Size {Units.FormatSize(Size)} ({pages:N0} pages of {Units.FormatSize(PageSize)}) needs about {Units.FormatApproximateSize(estimate.UpFrontBytes)} of allocator metadata up front; ") +
                Invariant($"at most {Units.FormatApproximateSize(budget)} can be built (the smaller of {Units.FormatApproximateSize(MetadataEstimate.FixedBudgetBytes)} and half the {available} this process can use)."),
                nameof(Size));
        }

        if (estimate.LargestArrayLength > (ulong)Array.MaxLength)
        {
            throw new ArgumentException(Invariant($"Size {Units.FormatSize(Size)} ({pages:N0} pages) needs a metadata array of {estimate.LargestArrayLength:N0} entries, more than .NET allows in one array ({Array.MaxLength:N0})."), nameof(Size));
        }
    }
}

/// <summary>A zone and the address its memory stays below.</summary>
/// <param name="Kind">Which zone.</param>
/// <param name="Limit">The first address not in the zone (<see cref="ulong.MaxValue"/> for "no limit").</param>
public readonly record struct ZoneLimit(ZoneKind Kind, ulong Limit);
