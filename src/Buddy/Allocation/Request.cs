// Request: what an allocation asks for — a size and the constraints on where the block may lie.
// A small immutable value; intrinsic mistakes (zero size, non-power-of-two alignment, a node
// number above MachineLayout.MaxNode) throw here, mistakes relative to an allocator (order above
// its maximum, a node its layout does not have) throw when it is used.
using System.Globalization;
using System.Text;

namespace Buddy;

/// <summary>An allocation request: an order or a size, plus zone, address limit, alignment, boundary and exactness.</summary>
/// <remarks>
/// Build with <see cref="ForOrder"/>, <see cref="ForBytes"/> or <see cref="ForPages"/>, then narrow:
/// <code>Request.ForBytes(64 * Units.KiB).InZone(ZoneKind.Dma).NotCrossing(64 * Units.KiB)</code>
/// Every method returns a new value; the struct is immutable and thread-safe.
/// </remarks>
public readonly struct Request : IEquatable<Request>
{
    // PlacedFlag: a zone, an address limit or a node is set; ShapedFlag: an alignment, boundary or priority
    // is set. Both are derived from the fields, for the allocator's quick tests.
    private const byte IsBytesFlag = 1, IsPagesFlag = 2, IsExactFlag = 4, PlacedFlag = 8, ShapedFlag = 16;

    private readonly ulong _amount;     // an order, a page count or a byte count (see flags)
    private readonly ulong _maxAddress; // inclusive; 0 with no limit flag means "no limit" (see MaxAddress)
    private readonly ulong _alignment;  // bytes; 0 = natural alignment only
    private readonly ulong _boundary;   // bytes; 0 = no boundary
    private readonly byte _flags;
    private readonly sbyte _zonePlusOne; // ZoneKind + 1; 0 = no zone named, so default(Request) names none (Zonelist.cs: "Zone numbers")
    private readonly bool _hasLimit;
    private readonly short _nodePlusOne; // the preferred node + 1; 0 = none (the layout's lowest node)
    private readonly AllocationPriority _priority;
    private readonly MigrateType _mobility;

    private Request(ulong amount, byte flags)
    {
        _amount = amount;
        _flags = flags;
    }

    private Request(in Request r, ulong? maxAddress = null, ulong? alignment = null, ulong? boundary = null, byte? flags = null, sbyte? zonePlusOne = null, AllocationPriority? priority = null, MigrateType? mobility = null, short? nodePlusOne = null)
    {
        _nodePlusOne = nodePlusOne ?? r._nodePlusOne;
        _mobility = mobility ?? r._mobility;
        _amount = r._amount;
        _hasLimit = r._hasLimit || maxAddress.HasValue;
        _maxAddress = maxAddress ?? r._maxAddress;
        _alignment = alignment ?? r._alignment;
        _boundary = boundary ?? r._boundary;
        _zonePlusOne = zonePlusOne ?? r._zonePlusOne;
        _priority = priority ?? r._priority;
        bool placed = _zonePlusOne != 0 || _hasLimit || _nodePlusOne != 0;
        bool shaped = _alignment != 0 || _boundary != 0 || _priority != AllocationPriority.Normal;
        _flags = (byte)(((flags ?? r._flags) & ~(PlacedFlag | ShapedFlag)) | (placed ? PlacedFlag : 0) | (shaped ? ShapedFlag : 0));
    }

    /// <summary>A block of 2^<paramref name="order"/> pages.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="order"/> is negative or above <see cref="PageMath.MaxSupportedOrder"/>.</exception>
    public static Request ForOrder(int order)
    {
        if ((uint)order > PageMath.MaxSupportedOrder)
        {
            throw new ArgumentOutOfRangeException(nameof(order), order, $"order must be from 0 to {PageMath.MaxSupportedOrder}.");
        }

        return new Request((ulong)order, 0);
    }

    /// <summary>At least <paramref name="bytes"/> bytes: the next 2^order pages (see <see cref="Exact"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bytes"/> is zero.</exception>
    public static Request ForBytes(ulong bytes)
    {
        if (bytes == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "bytes must be at least one.");
        }

        return new Request(bytes, IsBytesFlag);
    }

    /// <summary>At least <paramref name="pages"/> pages: the next 2^order (see <see cref="Exact"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="pages"/> is zero.</exception>
    public static Request ForPages(ulong pages)
    {
        if (pages == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(pages), pages, "pages must be at least one.");
        }

        return new Request(pages, IsPagesFlag);
    }

    /// <summary>Only zones up to <paramref name="zone"/> may serve the request (like GFP_DMA or GFP_DMA32).</summary>
    public Request InZone(ZoneKind zone)
    {
        if (zone is < ZoneKind.Dma or > ZoneKind.Movable)
        {
            throw new ArgumentOutOfRangeException(nameof(zone), zone, "unknown zone; expected Dma, Dma32, Normal or Movable.");
        }

        return new Request(this, zonePlusOne: (sbyte)((int)zone + 1));
    }

    /// <summary>
    /// Prefer NUMA node <paramref name="node"/> (as numa_node_id() of the allocating CPU): its zones
    /// first, then the other nodes' by distance. A node the allocator's layout does not have makes
    /// the allocator throw when the request is used.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="node"/> is outside 0..<see cref="MachineLayout.MaxNode"/>.</exception>
    public Request OnNode(int node)
    {
        if (node is < 0 or > MachineLayout.MaxNode)
        {
            throw new ArgumentOutOfRangeException(nameof(node), node, $"node must be from 0 to {MachineLayout.MaxNode}.");
        }

        return new Request(this, nodePlusOne: (short)(node + 1));
    }

    /// <summary>No byte of the block may lie above <paramref name="maxAddress"/> (inclusive, like a DMA mask).</summary>
    public Request Below(ulong maxAddress) => new(this, maxAddress: maxAddress);

    /// <summary>No byte above 2^<paramref name="bits"/> - 1: a device that drives <paramref name="bits"/> address lines.</summary>
    public Request WithDmaMask(int bits)
    {
        if (bits is < 1 or > 64)
        {
            throw new ArgumentOutOfRangeException(nameof(bits), bits, "a DMA mask has 1 to 64 bits.");
        }

        return Below(bits == 64 ? ulong.MaxValue : (1UL << bits) - 1);
    }

    /// <summary>The block's address must be a multiple of <paramref name="alignment"/> bytes (any power of two).</summary>
    /// <exception cref="ArgumentException"><paramref name="alignment"/> is not a power of two.</exception>
    public Request AlignedTo(ulong alignment)
    {
        if (!PageMath.IsPowerOfTwo(alignment))
        {
            throw new ArgumentException($"alignment must be a power of two, not {alignment}.", nameof(alignment));
        }

        return new Request(this, alignment: alignment);
    }

    /// <summary>The block must not cross a multiple of <paramref name="boundary"/> bytes (a power of two).</summary>
    /// <exception cref="ArgumentException"><paramref name="boundary"/> is not a power of two.</exception>
    public Request NotCrossing(ulong boundary)
    {
        if (!PageMath.IsPowerOfTwo(boundary))
        {
            throw new ArgumentException($"boundary must be a power of two, not {boundary}.", nameof(boundary));
        }

        return new Request(this, boundary: boundary);
    }

    /// <summary>Keep only the pages the size needs and give the rest of the 2^order block back (alloc_pages_exact).</summary>
    public Request Exact() => new(this, flags: (byte)(_flags | IsExactFlag));

    /// <summary>How far below the min watermark the request may go.</summary>
    public Request WithPriority(AllocationPriority priority)
    {
        if (priority is < AllocationPriority.Normal or > AllocationPriority.NoWatermarks)
        {
            throw new ArgumentOutOfRangeException(nameof(priority), priority, "unknown priority.");
        }

        return new Request(this, priority: priority);
    }

    /// <summary>How the block's pages can move: unmovable (the default), movable or reclaimable.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Another migrate type: only those three are requested.</exception>
    public Request WithMobility(MigrateType mobility)
    {
        if (mobility is not (MigrateType.Unmovable or MigrateType.Movable or MigrateType.Reclaimable))
        {
            throw new ArgumentOutOfRangeException(nameof(mobility), mobility, "a request is Unmovable, Movable or Reclaimable.");
        }

        return new Request(this, mobility: mobility);
    }

    /// <summary>The request's mobility.</summary>
    public MigrateType Mobility => _mobility;

    /// <summary>The order asked for, or -1 when the request is by size (resolved against the page size).</summary>
    public int Order => (_flags & (IsBytesFlag | IsPagesFlag)) == 0 ? (int)_amount : -1;

    /// <summary>The size in bytes asked for, or 0 when the request is by order or pages.</summary>
    public ulong Bytes => (_flags & IsBytesFlag) != 0 ? _amount : 0;

    /// <summary>The number of pages asked for, or 0 when the request is by order or bytes.</summary>
    public ulong Pages => (_flags & IsPagesFlag) != 0 ? _amount : 0;

    /// <summary>Whether the unused tail is given back.</summary>
    public bool IsExact => (_flags & IsExactFlag) != 0;

    /// <summary>The highest zone allowed, or <see langword="null"/> for any.</summary>
    public ZoneKind? Zone => _zonePlusOne == 0 ? null : (ZoneKind)(_zonePlusOne - 1);

    /// <summary>The preferred NUMA node, or <see langword="null"/> for the layout's lowest node.</summary>
    public int? Node => _nodePlusOne == 0 ? null : _nodePlusOne - 1;

    /// <summary>The highest address a byte of the block may have (inclusive), or <see langword="null"/>.</summary>
    public ulong? MaxAddress => _hasLimit ? _maxAddress : null;

    /// <summary>The required alignment in bytes (0: natural alignment only).</summary>
    public ulong Alignment => _alignment;

    /// <summary>The boundary the block must not cross, in bytes (0: none).</summary>
    public ulong Boundary => _boundary;

    /// <summary>The watermark priority.</summary>
    public AllocationPriority Priority => _priority;

    /// <summary>The order when the request is an order with at most a zone, an address limit and a node (and a mobility); else -1. The thread caches' first test.</summary>
    internal int PlacedOrder => (_flags & ~PlacedFlag) == 0 ? (int)_amount : -1;

    /// <summary><see cref="Node"/> as stored: the node + 1, or 0 for none.</summary>
    internal int NodePlusOne => _nodePlusOne;

    /// <summary>Whether a zone, an address limit or a node is set.</summary>
    internal bool IsPlaced => (_flags & PlacedFlag) != 0;

    /// <summary><see cref="Zone"/> as stored: its <see cref="ZoneKind"/> + 1, or 0 for none; <see cref="Zonelist.Placement"/> indexes a table with it (Zonelist.cs: "Zone numbers").</summary>
    internal int ZonePlusOne => _zonePlusOne;

    /// <summary>The address limit as stored: meaningful only with <see cref="HasLimit"/>.</summary>
    internal ulong RawMaxAddress => _maxAddress;

    /// <summary>Whether an address limit is set.</summary>
    internal bool HasLimit => _hasLimit;

    /// <summary>Whether an alignment, boundary or priority is set.</summary>
    internal bool IsShaped => (_flags & ShapedFlag) != 0;

    /// <summary>The number of pages the request needs at <paramref name="pageShift"/>.</summary>
    internal ulong PagesAt(int pageShift) => (_flags & IsBytesFlag) != 0
        ? (_amount >> pageShift) + ((_amount & ((1UL << pageShift) - 1)) != 0 ? 1UL : 0UL)
        : (_flags & IsPagesFlag) != 0 ? _amount : 1UL << (int)_amount;

    /// <inheritdoc/>
    public bool Equals(Request other) =>
        _amount == other._amount && _maxAddress == other._maxAddress && _alignment == other._alignment &&
        _boundary == other._boundary && _flags == other._flags && _zonePlusOne == other._zonePlusOne &&
        _hasLimit == other._hasLimit && _priority == other._priority && _mobility == other._mobility && _nodePlusOne == other._nodePlusOne;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Request r && Equals(r);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(_amount, _maxAddress, _alignment, _boundary, _flags, _zonePlusOne, _priority, _nodePlusOne);

    /// <summary>Equality.</summary>
    public static bool operator ==(Request left, Request right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(Request left, Request right) => !left.Equals(right);

    /// <summary>The request as a person would say it, e.g. "64 KiB exact, zone DMA, not crossing 64 KiB".</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        if (Order >= 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $"order-{Order}");
        }
        else if (Bytes != 0)
        {
            sb.Append(Units.FormatSize(Bytes));
        }
        else
        {
            sb.Append(CultureInfo.InvariantCulture, $"{Pages} pages");
        }

        if (IsExact)
        {
            sb.Append(" exact");
        }

        if (Zone is { } z)
        {
            sb.Append(", zone ").Append(z.KernelName());
        }

        if (Node is { } node)
        {
            sb.Append(CultureInfo.InvariantCulture, $", node {node}");
        }

        if (MaxAddress is { } max)
        {
            sb.Append(CultureInfo.InvariantCulture, $", below 0x{max:x}");
        }

        if (_alignment != 0)
        {
            sb.Append(", aligned to ").Append(Units.FormatSize(_alignment));
        }

        if (_boundary != 0)
        {
            sb.Append(", not crossing ").Append(Units.FormatSize(_boundary));
        }

        if (_mobility != MigrateType.Unmovable)
        {
            sb.Append(", ").Append(_mobility);
        }

        if (_priority != AllocationPriority.Normal)
        {
            sb.Append(", priority ").Append(_priority);
        }

        return sb.ToString();
    }
}
