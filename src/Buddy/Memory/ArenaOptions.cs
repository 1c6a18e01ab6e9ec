// ArenaOptions: how a native arena is laid out, advised, grown and given back, and the rules its settings obey.
// Invariant: NativeArena.Create calls CheckFor(size) (Validate plus the size rules; CheckGrowable first for an arena of the
// default or MaxSize size) before it reserves any memory, so a setting no arena can have is an ArgumentException
// naming that setting, and nothing was mapped.
using static System.FormattableString;

namespace Buddy.Memory;

/// <summary>Settings of a <see cref="NativeArena"/>.</summary>
public sealed record ArenaOptions
{
    /// <summary>The largest arena in bytes (2^62): the reservation adds up to the arena's size again for alignment.</summary>
    public const ulong MaxArenaSize = 1UL << 62;

    /// <summary>The page size in bytes (a power of two from 512).</summary>
    public ulong PageSize { get; init; } = 4 * Units.KiB;

    /// <summary>The largest block order (0 to <see cref="PageMath.MaxSupportedOrder"/>); the arena is aligned to its largest block.</summary>
    public int MaxOrder { get; init; } = MachineLayout.DefaultMaxOrder;

    /// <summary>Zones by arena offset, lowest first, e.g. DMA = the first 16 MiB; empty: one Normal zone.</summary>
    public IReadOnlyList<ZoneLimit> ZonesByOffset { get; init; } = [];

    /// <summary>Zones by real address limit, lowest first (a device's DMA mask on real memory); used when <see cref="ZonesByOffset"/> is empty.</summary>
    public IReadOnlyList<ZoneLimit> ZonesByAddress { get; init; } = [];

    /// <summary>Ask the kernel for transparent huge pages on the arena (madvise MADV_HUGEPAGE; Linux).</summary>
    public bool TransparentHugePages { get; init; }

    /// <summary>Lock the arena in memory (mlock; Linux; needs the privilege or a large enough RLIMIT_MEMLOCK).</summary>
    /// <remarks>A locked arena commits and locks its whole size up front and gives nothing back; with <see cref="NativeArena.Create(ArenaOptions?)"/> it needs <see cref="MaxSize"/>.</remarks>
    public bool Lock { get; init; }

    /// <summary>The maximum of an arena made by <see cref="NativeArena.Create(ArenaOptions?)"/> without <see cref="MaxSize"/>: 64 GiB of address space (256 MiB in a 32-bit process).</summary>
    /// <remarks>
    /// Reserving costs address space only: no memory and no commit charge (Linux: PROT_NONE with
    /// MAP_NORESERVE; Windows: MEM_RESERVE), and no allocator metadata up front (the allocator's
    /// bitmaps grow with use). So the default is generous — more than most machines' memory, so a
    /// user need not guess — yet 1/2048 of x86-64's 128 TiB of user address space and 1/8 of a
    /// 39-bit arm64 kernel's 512 GiB, leaving room for many arenas. It costs two chunk bitmaps
    /// (4 KiB each) and, in the checked mode, one byte of poison flag per page (16 MiB).
    /// </remarks>
    public static ulong DefaultMaxSize => Environment.Is64BitProcess ? 64 * Units.GiB : 256 * Units.MiB;

    /// <summary>
    /// The most an arena made by <see cref="NativeArena.Create(ArenaOptions?)"/> may grow to, in bytes
    /// (a positive multiple of <see cref="PageSize"/>): reserved as address space up front, committed
    /// in chunks as rentals need them. Null (the default): <see cref="DefaultMaxSize"/>.
    /// <see cref="NativeArena.Create(ulong, ArenaOptions?)"/> takes its size as the maximum instead; set this only to the same value there.
    /// </summary>
    public ulong? MaxSize { get; init; }

    /// <summary>
    /// Give free memory back to the operating system on the arena's own: every <see cref="GiveBackDelay"/>
    /// and when free memory passes <see cref="GiveBackThreshold"/> (default true). <see cref="NativeArena.GiveBack"/>
    /// works either way. A locked arena (<see cref="Lock"/>) gives nothing back.
    /// </summary>
    public bool GiveBackFreeMemory { get; init; } = true;

    /// <summary>
    /// The smallest order of a free block whose memory is given back (0 to <see cref="MaxOrder"/>).
    /// Null (the default): the pageblock order (<see cref="Mobility"/>'s PageblockOrder, 9 — 2 MiB with
    /// 4 KiB pages — at most MaxOrder), like the kernel's page_reporting_order. Memory goes back in
    /// whole commit chunks (the largest block, at most 2 MiB and at least 64 KiB), so a chunk goes
    /// back when every page of it lies in free blocks of this order or more.
    /// </summary>
    public int? GiveBackOrder { get; init; }

    /// <summary>
    /// How often free memory is given back: a sweep runs on a timer with this period, so memory is
    /// given back at most this long after it is freed (default 2 s, the kernel's page_reporting_delay).
    /// <see cref="Timeout.InfiniteTimeSpan"/>: no timer.
    /// </summary>
    public TimeSpan GiveBackDelay { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Resident free bytes at which a give-back runs at once (on the thread pool) instead of at the
    /// next tick; checked every 64 rental returns. 0 (the default): no threshold, the timer alone.
    /// </summary>
    public ulong GiveBackThreshold { get; init; }

    /// <summary>
    /// The checked mode, like ASP.NET Core's DiagnosticMemoryPool: freed memory is poisoned and a
    /// write after free is reported at the next rent of that memory; a second return throws; live
    /// rentals keep the stack trace of their rent for <see cref="NativeArena.ThrowIfLeaked"/>, and
    /// disposing the arena with live rentals reports them the same way.
    /// </summary>
    public bool Checked { get; init; }

    /// <summary>Grouping by mobility and compaction for the arena (movable rentals need grouping to move).</summary>
    public MobilitySettings Mobility { get; init; } = MobilitySettings.None;

    /// <summary>Keep small blocks in thread caches (see <see cref="MachineLayout.PerCpuCaches"/>).</summary>
    public bool PerCpuCaches { get; init; }

    /// <summary>
    /// The alignment of an arena of <paramref name="size"/> bytes: its largest block, but never more
    /// than the arena rounded up to a power of two (no larger block fits, so none needs more).
    /// </summary>
    internal ulong AlignmentFor(ulong size)
    {
        int largest = PageMath.Log2(PageSize) + MaxOrder;
        int fits = PageMath.OrderForPages(size);
        return 1UL << Math.Min(largest, fits);
    }

    /// <summary>The machine layout of an arena of <paramref name="size"/> bytes mapped at <paramref name="start"/>.</summary>
    internal MachineLayout LayoutAt(ulong start, ulong size) => MachineLayout.Flat(size, start) with
    {
        PageSize = PageSize,
        MaxOrder = MaxOrder,
        Zones = ZonesAt(start),
        PerCpuCaches = PerCpuCaches,
        Mobility = Mobility,
    };

    /// <summary>Throws <see cref="ArgumentException"/> naming the first setting no arena can have.</summary>
    public void Validate()
    {
        if (PageSize < 512 || !PageMath.IsPowerOfTwo(PageSize))
        {
            throw new ArgumentException(Invariant($"ArenaOptions.PageSize must be a power of two of at least 512 bytes, not {PageSize}."), nameof(PageSize));
        }

        if (MaxOrder is < 0 or > PageMath.MaxSupportedOrder || PageMath.Log2(PageSize) + MaxOrder > 63)
        {
            throw new ArgumentException(Invariant($"ArenaOptions.MaxOrder must be from 0 to {PageMath.MaxSupportedOrder} and keep the largest block (PageSize << MaxOrder) below 2^64 bytes, not {MaxOrder}."), nameof(MaxOrder));
        }

        CheckZones(ZonesByOffset, nameof(ZonesByOffset));
        CheckZones(ZonesByAddress, nameof(ZonesByAddress));
        if (Mobility is null)
        {
            throw new ArgumentException("ArenaOptions.Mobility must not be null; use MobilitySettings.None.", nameof(Mobility));
        }

        if (MaxSize is ulong max && (max == 0 || max % PageSize != 0 || max > MaxArenaSize))
        {
            throw new ArgumentException(Invariant($"ArenaOptions.MaxSize must be a positive multiple of the page size ({PageSize} bytes) up to 2^62, or null for the default ({DefaultMaxSize} bytes), not {max}."), nameof(MaxSize));
        }

        if (GiveBackOrder is int order && (order < 0 || order > MaxOrder))
        {
            throw new ArgumentException(Invariant($"ArenaOptions.GiveBackOrder must be from 0 to MaxOrder ({MaxOrder}), or null for the pageblock order, not {order}."), nameof(GiveBackOrder));
        }

        if (GiveBackDelay != Timeout.InfiniteTimeSpan && (GiveBackDelay <= TimeSpan.Zero || GiveBackDelay.TotalMilliseconds > uint.MaxValue - 1))
        {
            throw new ArgumentException(Invariant($"ArenaOptions.GiveBackDelay must be positive and at most {uint.MaxValue - 1} ms, or Timeout.InfiniteTimeSpan for no timer, not {GiveBackDelay}."), nameof(GiveBackDelay));
        }
    }

    /// <summary>The order from which free blocks are given back: <see cref="GiveBackOrder"/>, or the pageblock order (at most MaxOrder).</summary>
    internal int GiveBackOrderOrDefault => GiveBackOrder ?? Math.Min(Mobility.PageblockOrder, MaxOrder);

    /// <summary>The size of an arena made without a size (<see cref="MaxSize"/> or the default), after every rule it must obey.</summary>
    internal ulong CheckGrowable()
    {
        Validate();
        if (Lock && MaxSize is null)
        {
            throw new ArgumentException(Invariant($"ArenaOptions.Lock commits and locks the whole arena up front, so it needs ArenaOptions.MaxSize (the default maximum is {DefaultMaxSize} bytes of address space, not of memory)."), nameof(MaxSize));
        }

        ulong size = MaxSize ?? Math.Max(DefaultMaxSize, PageSize);
        CheckFor(size);
        return size;
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first setting, or <paramref name="size"/>, an arena of that size cannot have.</summary>
    internal void CheckFor(ulong size)
    {
        Validate();
        if (size == 0 || size % PageSize != 0 || size > MaxArenaSize)
        {
            throw new ArgumentException(Invariant($"size must be a positive multiple of the page size ({PageSize} bytes) up to 2^62, not {size}."), nameof(size));
        }

        if (MaxSize is ulong max && max != size)
        {
            string setting = nameof(MaxSize); // a setting of these options, not a parameter of this method
            throw new ArgumentException(Invariant($"ArenaOptions.MaxSize ({max} bytes) differs from the size given to NativeArena.Create ({size} bytes); that size is the arena's maximum, so set only one of them."), setting);
        }

        if (ZonesByOffset.Count > 1 && ZonesByOffset[^2].Limit > size) // limits rise: the last limited zone is enough
        {
            string setting = nameof(ZonesByOffset); // a setting of these options, not a parameter of this method
            throw new ArgumentException(Invariant($"ArenaOptions.ZonesByOffset: zone {ZonesByOffset[^2].Kind} ends at offset 0x{ZonesByOffset[^2].Limit:x}, beyond the arena's {size} bytes."), setting);
        }

        LayoutAt(AlignmentFor(size), size).Validate(); // the allocator's own rules (Mobility), at a stand-in address
    }

    // Zone limits (all but the last, which always reaches the end) are page aligned and rise.
    private void CheckZones(IReadOnlyList<ZoneLimit> zones, string setting)
    {
        if (zones is null)
        {
            throw new ArgumentException(Invariant($"ArenaOptions.{setting} must not be null; leave it empty for one Normal zone."), setting);
        }

        for (int i = 0; i < zones.Count - 1; i++)
        {
            ZoneLimit z = zones[i];
            if (z.Limit % PageSize != 0)
            {
                throw new ArgumentException(Invariant($"ArenaOptions.{setting}: zone {z.Kind}'s limit 0x{z.Limit:x} is not page aligned ({PageSize} bytes)."), setting);
            }

            if (i > 0 && (zones[i - 1].Kind >= z.Kind || zones[i - 1].Limit >= z.Limit))
            {
                throw new ArgumentException(Invariant($"ArenaOptions.{setting}: zones must be listed lowest first with rising limits; {zones[i - 1].Kind} (0x{zones[i - 1].Limit:x}) comes before {z.Kind} (0x{z.Limit:x})."), setting);
            }
        }

        if (zones.Count > 1 && zones[^2].Kind >= zones[^1].Kind)
        {
            throw new ArgumentException(Invariant($"ArenaOptions.{setting}: zones must be listed lowest first; {zones[^2].Kind} comes before {zones[^1].Kind}."), setting);
        }
    }

    private IReadOnlyList<ZoneLimit> ZonesAt(ulong start) => ZonesByOffset.Count > 0
        ? [.. ZonesByOffset.Select((z, i) => new ZoneLimit(z.Kind, i == ZonesByOffset.Count - 1 ? ulong.MaxValue : start + z.Limit))]
        : ZonesByAddress.Count > 0
            ? [.. ZonesByAddress.Select((z, i) => i == ZonesByAddress.Count - 1 ? z with { Limit = ulong.MaxValue } : z)]
            : [new ZoneLimit(ZoneKind.Normal, ulong.MaxValue)];
}
