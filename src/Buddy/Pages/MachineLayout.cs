// MachineLayout: what memory an allocator manages — page size, address range, zones, reserved
// ranges, the largest order, the watermark settings and the NUMA nodes (each zone's node and the
// distances between nodes). Immutable; validated once.
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
    /// A layout with more than six populated zones (several NUMA nodes) runs without them.
    /// </summary>
    public bool PerCpuCaches { get; init; }

    /// <summary>The largest NUMA node number (the kernel's MAX_NUMNODES - 1 with NODES_SHIFT 10).</summary>
    public const int MaxNode = 1023;

    /// <summary>The kernel's LOCAL_DISTANCE: a node's distance to itself when <see cref="NodeDistances"/> is null.</summary>
    public const int LocalDistance = 10;

    /// <summary>The kernel's REMOTE_DISTANCE: the distance between two nodes when <see cref="NodeDistances"/> is null.</summary>
    public const int RemoteDistance = 20;

    /// <summary>
    /// The distance between NUMA nodes, indexed by node number ([from][to]), as
    /// /sys/devices/system/node/nodeN/distance gives them; null: <see cref="LocalDistance"/> on the
    /// diagonal and <see cref="RemoteDistance"/> elsewhere. It must be square and cover every node
    /// of <see cref="Zones"/>, with each row's smallest entry on the diagonal.
    /// </summary>
    public IReadOnlyList<IReadOnlyList<int>>? NodeDistances { get; init; }

    /// <summary>The distance from node <paramref name="from"/> to node <paramref name="to"/> (<see cref="NodeDistances"/> or the kernel's defaults).</summary>
    public int Distance(int from, int to) => NodeDistances is { } d ? d[from][to] : from == to ? LocalDistance : RemoteDistance;

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
        ValidateNodes();
        ValidateGivenWatermarks();
        ValidateReserved();
        ValidateMobility();
        ZoneKind top = Zones.Max(z => z.Kind);
        if (Watermarks.Enabled && Watermarks.LowmemReserveRatio.Count <= (int)top)
        {
            throw new ArgumentException(Invariant($"LowmemReserveRatio has {Watermarks.LowmemReserveRatio.Count} entries but zone {top.KernelName()} needs entry {(int)top}."), nameof(Watermarks));
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

            if (z.Kind is < ZoneKind.Dma or > ZoneKind.Movable)
            {
                throw new ArgumentException(Invariant($"Zones[{i}] has kind {(int)z.Kind}; expected a ZoneKind from Dma to Movable."), nameof(Zones));
            }

            if (i > 0 && Zones[i - 1].Limit >= z.Limit)
            {
                throw new ArgumentException(Invariant($"Zones must be listed lowest first with rising limits: {Zones[i - 1].Kind.KernelName()} (0x{Zones[i - 1].Limit:x}) comes before {z.Kind.KernelName()} (0x{z.Limit:x})."), nameof(Zones));
            }

            if (i > 0 && Zones[i - 1].Node == z.Node && Zones[i - 1].Kind >= z.Kind)
            {
                throw new ArgumentException(Invariant($"Zones must be listed lowest first with rising limits and, within node {z.Node}, rising kinds: {Zones[i - 1].Kind.KernelName()} (0x{Zones[i - 1].Limit:x}) comes before {z.Kind.KernelName()} (0x{z.Limit:x})."), nameof(Zones));
            }
        }

        if (Zones[^1].Limit < EndAddress)
        {
            throw new ArgumentException(Invariant($"The last zone ({Zones[^1].Kind.KernelName()}) ends at 0x{Zones[^1].Limit:x}, before the end of memory 0x{EndAddress:x}."), nameof(Zones));
        }
    }

    // Node numbers in range and non-decreasing (each node's zones contiguous); distances square,
    // covering every node, each row's smallest entry on its diagonal.
    private void ValidateNodes()
    {
        for (int i = 0; i < Zones.Count; i++)
        {
            int node = Zones[i].Node;
            if (node is < 0 or > MaxNode)
            {
                throw new ArgumentException(Invariant($"Zones[{i}] ({Zones[i].Kind.KernelName()}) has node {node}; expected a node number from 0 to {MaxNode}."), nameof(Zones));
            }

            if (i > 0 && node < Zones[i - 1].Node)
            {
                throw new ArgumentException(Invariant($"Zones[{i}] ({Zones[i].Kind.KernelName()}) is on node {node} after a zone of node {Zones[i - 1].Node}; expected node numbers non-decreasing in address order (each node's zones together)."), nameof(Zones));
            }
        }

        if (NodeDistances is not { } d)
        {
            return;
        }

        int highestNode = Zones[^1].Node;
        if (d.Count <= highestNode)
        {
            throw new ArgumentException(Invariant($"NodeDistances has {d.Count} rows; expected one per node up to node {highestNode}."), nameof(NodeDistances));
        }

        for (int from = 0; from < d.Count; from++)
        {
            if (d[from] is not { } row || row.Count != d.Count)
            {
                throw new ArgumentException(Invariant($"NodeDistances row {from} has {d[from]?.Count.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "no"} entries; expected a square matrix of {d.Count}."), nameof(NodeDistances));
            }

            for (int to = 0; to < row.Count; to++)
            {
                if (row[to] < 0 || row[to] < row[from])
                {
                    throw new ArgumentException(Invariant($"NodeDistances[{from}][{to}] is {row[to]}; expected a non-negative distance no smaller than node {from}'s distance to itself ({row[from]}), the smallest of its row."), nameof(NodeDistances));
                }
            }
        }
    }

    // Watermarks given per zone: both marks and protection, watermarks enabled, protection long enough.
    private void ValidateGivenWatermarks()
    {
        int highestKind = 0;
        foreach (ZoneLimit z in Zones)
        {
            highestKind = Math.Max(highestKind, (int)z.Kind);
        }

        for (int i = 0; i < Zones.Count; i++)
        {
            ZoneLimit z = Zones[i];
            string name = Invariant($"Zones[{i}] (node {z.Node}, {z.Kind.KernelName()})");
            if (z.Watermarks.HasValue != z.Protection is not null)
            {
                throw new ArgumentException($"{name} sets {(z.Watermarks.HasValue ? "Watermarks without Protection" : "Protection without Watermarks")}; expected both (the kernel's marks and protection array) or neither.", nameof(Zones));
            }

            if (z.Protection is { } protection)
            {
                if (!Watermarks.Enabled)
                {
                    throw new ArgumentException($"{name} sets Watermarks and Protection but MachineLayout.Watermarks is disabled; expected WatermarkSettings with Enabled true.", nameof(Zones));
                }

                if (protection.Count <= highestKind)
                {
                    throw new ArgumentException(Invariant($"{name} has a Protection of {protection.Count} entries; expected at least {highestKind + 1}, one per zone kind up to {((ZoneKind)highestKind).KernelName()}."), nameof(Zones));
                }
            }
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

/// <summary>A zone and the address its memory stays below, on a NUMA node, optionally with the watermarks the kernel set.</summary>
/// <param name="Kind">Which zone.</param>
/// <param name="Limit">The first address not in the zone (<see cref="ulong.MaxValue"/> for "no limit").</param>
public readonly record struct ZoneLimit(ZoneKind Kind, ulong Limit)
{
    /// <summary>The NUMA node the zone belongs to (0 to <see cref="MachineLayout.MaxNode"/>); a node's zones are contiguous in <see cref="MachineLayout.Zones"/>.</summary>
    public int Node { get; init; }

    /// <summary>
    /// The zone's min, low, high and promo marks as the kernel set them (/proc/zoneinfo), used
    /// instead of computing them; needs <see cref="Protection"/> as well and watermarks enabled.
    /// </summary>
    public Buddy.Kernel.Watermarks? Watermarks { get; init; }

    /// <summary>
    /// The zone's /proc/zoneinfo <c>protection:</c> array (lowmem_reserve), indexed by the
    /// <see cref="ZoneKind"/> of the request's highest zone: one entry per kind up to the layout's
    /// highest (the kernel prints one per zone it knows, so extra entries are allowed).
    /// </summary>
    public IReadOnlyList<ulong>? Protection { get; init; }
}
