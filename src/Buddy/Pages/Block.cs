// Block: the handle of one allocation. A value: copying it does not copy ownership. It carries its
// allocation's stamp (see AllocationHeads), so that a free through a copy that outlived
// its allocation — a second free, or a free after the pages went to someone else — is refused.
using System.Diagnostics;
using System.Globalization;

namespace Buddy;

/// <summary>A run of page frames handed out by a <see cref="PageAllocator"/>.</summary>
/// <remarks>
/// An ordinary block is 2^<see cref="Order"/> pages starting at a page frame number divisible by
/// 2^<see cref="Order"/> (natural alignment on absolute addresses). An exact block
/// (<see cref="IsExact"/>) keeps only the first <see cref="PageCount"/> pages of such a block; the
/// tail went back to the allocator. The handle remembers which allocator made it, so that handing
/// it to another one is caught.
/// </remarks>
[DebuggerDisplay("{ToString(),nq}")]
public readonly struct Block : IEquatable<Block>
{
    private readonly ulong _pfn;
    private readonly ulong _pages;
    private readonly ulong _stamp; // before _owner: 32 bytes in all, no padding between
    private readonly int _owner;
    private readonly byte _pageShift;
    private readonly byte _mobility;
    private readonly byte _zoneHint; // the block's cache zone (its zone's populated index) + 1; 0: not recorded (Zonelist.cs: "Zone numbers")

    private const byte TrackedFlag = 0x80;

    internal Block(ulong pfn, ulong pages, int pageShift, int owner, ulong stamp, MigrateType mobility = MigrateType.Unmovable, bool tracked = false, int zoneHint = -1)
    {
        Debug.Assert(pages > 0);
        _pfn = pfn;
        _stamp = stamp;
        _pages = pages;
        _pageShift = (byte)pageShift;
        _owner = owner;
        _mobility = (byte)((byte)mobility | (tracked ? TrackedFlag : 0));
        _zoneHint = (byte)(zoneHint + 1);
    }

    /// <summary>The first page frame number.</summary>
    public ulong Pfn => _pfn;

    /// <summary>The number of pages the block holds.</summary>
    public ulong PageCount => _pages;

    /// <summary>The order of the naturally aligned block the pages were taken from.</summary>
    public int Order => PageMath.OrderForPages(_pages);

    /// <summary>Whether this is an exact allocation (the unused tail of the 2^order block was given back).</summary>
    public bool IsExact => !PageMath.IsPowerOfTwo(_pages);

    /// <summary>The address of the first byte.</summary>
    public ulong Address => _pfn << _pageShift;

    /// <summary>The size in bytes.</summary>
    public ulong Size => _pages << _pageShift;

    /// <summary>The address one past the last byte.</summary>
    public ulong EndAddress => Address + Size;

    /// <summary>Whether this is the default value rather than a block from an allocator.</summary>
    public bool IsEmpty => _pages == 0;

    internal int Owner => _owner;

    /// <summary>The stamp of the allocation this handle was made for (its allocator checks it on free).</summary>
    internal ulong Stamp => _stamp;

    /// <summary>The mobility the block was allocated with.</summary>
    public MigrateType Mobility => (MigrateType)(_mobility & ~TrackedFlag);

    /// <summary>The block's cache zone — its zone's populated index, as the thread caches number zones — or -1 when not recorded (the free path then looks it up).</summary>
    internal int ZoneHint => _zoneHint - 1;

    /// <summary>Whether the allocator tracks the block (a movable block or a contiguous range): it is freed through the slow path.</summary>
    internal bool IsTracked => (_mobility & TrackedFlag) != 0;

    /// <inheritdoc/>
    /// <remarks>Two handles are equal when they name the same allocation: a handle of an earlier allocation of the same pages is not equal.</remarks>
    public bool Equals(Block other) => _pfn == other._pfn && _pages == other._pages && _owner == other._owner && _stamp == other._stamp;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Block other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(_pfn, _pages, _owner, _stamp);

    /// <summary>Equality of two handles.</summary>
    public static bool operator ==(Block left, Block right) => left.Equals(right);

    /// <summary>Inequality of two handles.</summary>
    public static bool operator !=(Block left, Block right) => !left.Equals(right);

    /// <inheritdoc/>
    public override string ToString() => IsEmpty
        ? "(no block)"
        : string.Create(CultureInfo.InvariantCulture, $"0x{Address:x}..0x{EndAddress:x} ({Units.FormatSize(Size)}, order {Order}{(IsExact ? ", exact" : "")})");
}
