// ArenaOptions: how a native arena is laid out and advised, and the rules its settings obey.
// Invariant: NativeArena.Create calls CheckFor(size) (Validate plus the size rules) before it reserves any memory, so a setting
// no arena can have is an ArgumentException naming that setting, and nothing was mapped.
using System.Globalization;
using Buddy.Pages;
using Buddy.Zones;

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
    public bool Lock { get; init; }

    /// <summary>
    /// The checked mode, like ASP.NET Core's DiagnosticMemoryPool: freed memory is poisoned and a
    /// write after free is reported at the next rent of that memory; a second return throws; live
    /// rentals keep the stack trace of their rent for <see cref="NativeArena.ThrowIfLeaked"/>, and
    /// disposing the arena with live rentals reports them the same way.
    /// </summary>
    public bool Checked { get; init; }

    /// <summary>Grouping by mobility and compaction for the arena (movable rentals need grouping to move).</summary>
    public Mobility.MobilitySettings Mobility { get; init; } = Buddy.Mobility.MobilitySettings.None;

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
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first setting, or <paramref name="size"/>, an arena of that size cannot have.</summary>
    internal void CheckFor(ulong size)
    {
        Validate();
        if (size == 0 || size % PageSize != 0 || size > MaxArenaSize)
        {
            throw new ArgumentException(Invariant($"size must be a positive multiple of the page size ({PageSize} bytes) up to 2^62, not {size}."), nameof(size));
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

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
