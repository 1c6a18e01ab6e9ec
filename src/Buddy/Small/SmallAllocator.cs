// SmallAllocator: kmalloc-style small blocks — power-of-two size classes from 8 bytes to 8 KiB,
// each a pool of naturally aligned slots carved from pages (slabs), with a DMA variant whose
// slabs come from the DMA zone. Each class is a DmaPool (size = alignment = the class, no
// boundary beyond the slab), so the slab rules live in one place — and so do the handles: a
// PoolBlock names its class's pool, whose slot generations refuse double frees and stale handles.
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace Buddy.Memory;

/// <summary>kmalloc for a <see cref="PageAllocator"/>: small blocks in power-of-two size classes, naturally aligned.</summary>
/// <remarks>Thread-safe (each class locks itself). Empty slabs go back to the page allocator.</remarks>
public sealed class SmallAllocator
{
    /// <summary>The smallest class in bytes.</summary>
    public const ulong MinSize = 8;

    /// <summary>The largest class in bytes.</summary>
    public const ulong MaxSize = 8 * Units.KiB;

    private readonly DmaPool[] _normal;
    private readonly DmaPool[] _dma;
    private readonly ulong _pageSize;
    private readonly Dictionary<int, DmaPool> _byPool = []; // a handle's pool number -> its class

    /// <summary>Creates the size classes over <paramref name="pages"/>; DMA slabs come from its lowest zone.</summary>
    public SmallAllocator(PageAllocator pages)
    {
        ArgumentNullException.ThrowIfNull(pages);
        _pageSize = pages.PageSize;
        int classes = PageMath.Log2(MaxSize) - PageMath.Log2(MinSize) + 1;
        _normal = new DmaPool[classes];
        _dma = new DmaPool[classes];
        var lowest = pages.GetZoneStats()[0].Kind;
        for (int i = 0; i < classes; i++)
        {
            ulong size = MinSize << i;
            ulong slab = Math.Max(pages.PageSize, size);
            _normal[i] = new DmaPool(pages, string.Create(CultureInfo.InvariantCulture, $"kmalloc-{Units.FormatSize(size).Replace(" ", "", StringComparison.Ordinal).ToLowerInvariant()}"), size, size, pageRequest: Request.ForBytes(slab));
            _dma[i] = new DmaPool(pages, string.Create(CultureInfo.InvariantCulture, $"dma-kmalloc-{Units.FormatSize(size).Replace(" ", "", StringComparison.Ordinal).ToLowerInvariant()}"), size, size, pageRequest: Request.ForBytes(slab).InZone(lowest));
        }

        foreach (DmaPool pool in _normal.Concat(_dma))
        {
            _byPool.Add(pool.Id, pool);
        }
    }

    /// <summary>Allocates at least <paramref name="size"/> bytes, naturally aligned to its class; <paramref name="dma"/> takes DMA-zone slabs (kmalloc(size, GFP_DMA)).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is 0 or above 8 KiB.</exception>
    /// <exception cref="AllocationFailedException">No slab page could be had.</exception>
    public PoolBlock Allocate(ulong size, bool dma = false) =>
        TryAllocate(size, out PoolBlock block, out AllocationFailure? failure, dma) ? block : throw new AllocationFailedException(failure);

    /// <summary>Allocates like <see cref="Allocate"/>; false, with <paramref name="failure"/> saying why, when no slab page could be had.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="size"/> is 0 or above 8 KiB.</exception>
    public bool TryAllocate(ulong size, out PoolBlock block, [NotNullWhen(false)] out AllocationFailure? failure, bool dma = false)
    {
        if (size == 0 || size > MaxSize)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, $"kmalloc sizes are 1 to {MaxSize} bytes; use the page allocator above that.");
        }

        int index = Math.Max(0, PageMath.OrderForPages(size) - PageMath.Log2(MinSize));
        return (dma ? _dma : _normal)[index].TryAllocate(out block, out failure);
    }

    /// <summary>Frees a block this allocator handed out (kfree).</summary>
    /// <exception cref="ArgumentException">
    /// Not a live block of this allocator: a double free, a stale handle (its slot was handed out
    /// again: that block stays allocated), an empty handle or another allocator's; nothing changes.
    /// </exception>
    public void Free(PoolBlock block)
    {
        if (!_byPool.TryGetValue(block.PoolId, out DmaPool? pool))
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"{block} is not a kmalloc block of this allocator{(block.IsEmpty ? " (the empty handle)" : "")}."), nameof(block));
        }

        pool.Free(block);
    }

    /// <summary>Blocks in use over all classes.</summary>
    public int ObjectsInUse => _normal.Concat(_dma).Sum(p => p.BlocksInUse);

    /// <summary>A /proc/slabinfo-like report: one line per class with active and total objects and slabs.</summary>
    public string GetSlabInfo()
    {
        var sb = new StringBuilder();
        sb.Append("# name              <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : slabdata <active_slabs> <num_slabs>\n");
        foreach (DmaPool pool in _normal.Concat(_dma))
        {
            int slabs = pool.PagesHeld;
            sb.Append(CultureInfo.InvariantCulture,
                $"{pool.Name,-19} {pool.BlocksInUse,13} {slabs * pool.BlocksPerPage,10} {pool.Size,9} {pool.BlocksPerPage,11} {pool.PageBytes / _pageSize,13} : slabdata {slabs,14} {slabs,11}\n");
        }

        return sb.ToString();
    }
}
