// DmaPool: fixed-size blocks that never cross a boundary, carved from pages the page allocator
// hands out under a constraint (by default the DMA zone) — the rules of Linux 6.18 mm/dmapool.c
// dma_pool_create: align 0 means 1 and must be a power of two; size is rounded up to align;
// boundary 0 means the chunk size, else a power of two at least the size. Blocks come out as
// PoolBlock handles that carry the pool's number and their slot's generation; a free checks both
// (PoolPage), so a double free or a stale handle is refused and changes nothing. A pool page is
// what the page request returns, which must hold at least one block.
using System.Diagnostics.CodeAnalysis;
using static System.FormattableString;

namespace Buddy.Memory;

/// <summary>A pool of equal blocks that are aligned and never cross a boundary (the kernel's dma_pool).</summary>
/// <remarks>
/// Pages come from a <see cref="PageAllocator"/> with the pool's page request (DMA zone by default)
/// and go back when their last block is freed. Thread-safe through one lock.
/// </remarks>
public sealed class DmaPool
{
    private readonly Lock _lock = new();
    private readonly PageAllocator _pages;
    private readonly Request _pageRequest;
    /// <summary>The largest block size and alignment in bytes (2^31).</summary>
    public const ulong MaxBlockSize = 1UL << 31;

    private static int s_nextId;
    private readonly int _id = Interlocked.Increment(ref s_nextId);
    private readonly ulong[] _layout; // block offsets within a pool page
    private readonly ulong _chunk;    // a power of two at least the pool page; pool pages are aligned to it
    private readonly Dictionary<ulong, PoolPage> _byPage = []; // page address -> page
    private readonly List<PoolPage> _partial = [];
    private ulong _lastGeneration;

    /// <summary>Creates a pool of <paramref name="size"/>-byte blocks aligned to <paramref name="alignment"/> and not crossing <paramref name="boundary"/>.</summary>
    /// <param name="pages">Where pool pages come from.</param>
    /// <param name="name">The pool's name (for reports).</param>
    /// <param name="size">The block size in bytes.</param>
    /// <param name="alignment">The alignment (0 means 1; else a power of two).</param>
    /// <param name="boundary">The boundary no block may cross (0: the pool's chunk size; else a power of two ≥ size).</param>
    /// <param name="pageRequest">How pool pages are requested; default: the block size rounded up to a page (and a power of two) in the DMA zone (or the lowest zone there is). Blocks are laid out over all the request returns, which must hold at least one block.</param>
    /// <exception cref="ArgumentException">A parameter breaks a rule; the message names it.</exception>
    public DmaPool(PageAllocator pages, string name, ulong size, ulong alignment = 0, ulong boundary = 0, Request? pageRequest = null)
    {
        ArgumentNullException.ThrowIfNull(pages);
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (alignment == 0)
        {
            alignment = 1;
        }
        else if (!PageMath.IsPowerOfTwo(alignment) || alignment > MaxBlockSize)
        {
            throw new ArgumentException(Invariant($"alignment must be 0 or a power of two (dma_pool_create) up to {MaxBlockSize}, not {alignment}."), nameof(alignment));
        }

        if (size == 0 || size > MaxBlockSize)
        {
            throw new ArgumentException(Invariant($"size must be from 1 to {MaxBlockSize} bytes, not {size}."), nameof(size));
        }

        size = (size + alignment - 1) & ~(alignment - 1); // at most 2^31: both are
        ulong allocation = Math.Max(size, pages.PageSize);
        if (boundary == 0)
        {
            boundary = allocation;
        }
        else if (boundary < size || !PageMath.IsPowerOfTwo(boundary))
        {
            throw new ArgumentException(Invariant($"boundary must be 0 or a power of two of at least the block size {size}, not {boundary}."), nameof(boundary));
        }

        _pages = pages;
        Name = name;
        Size = size;
        Alignment = alignment;
        Boundary = Math.Min(boundary, allocation);
        _pageRequest = pageRequest ?? Request.ForBytes(allocation).InZone(pages.GetZoneStats()[0].Kind);
        ulong pageBytes = PageBytesOf(_pageRequest, pages);
        if (pageBytes < size)
        {
            throw new ArgumentException(Invariant($"pageRequest returns {pageBytes} bytes, less than one {size}-byte block of the pool; ask for at least {size} bytes."), nameof(pageRequest));
        }

        _layout = Layout(pageBytes, size, Boundary);
        _chunk = 1UL << PageMath.OrderForPages(pageBytes);
        PageBytes = pageBytes;
    }

    /// <summary>The pool's name.</summary>
    public string Name { get; }

    /// <summary>The block size (rounded up to the alignment).</summary>
    public ulong Size { get; }

    /// <summary>The alignment.</summary>
    public ulong Alignment { get; }

    /// <summary>The boundary no block crosses.</summary>
    public ulong Boundary { get; }

    /// <summary>Blocks handed out.</summary>
    public int BlocksInUse
    {
        get
        {
            lock (_lock)
            {
                return _byPage.Values.Sum(p => p.LiveCount);
            }
        }
    }

    /// <summary>Pool pages held.</summary>
    public int PagesHeld
    {
        get
        {
            lock (_lock)
            {
                return _byPage.Count;
            }
        }
    }

    /// <summary>Blocks per pool page.</summary>
    public int BlocksPerPage => _layout.Length;

    /// <summary>Bytes per pool page: what the page request returns.</summary>
    public ulong PageBytes { get; }

    /// <summary>Allocates a block.</summary>
    /// <exception cref="AllocationFailedException">No pool page could be allocated.</exception>
    public PoolBlock Allocate() => TryAllocate(out PoolBlock block, out AllocationFailure? why) ? block : throw new AllocationFailedException(why!);

    /// <summary>Tries to allocate a block.</summary>
    public bool TryAllocate(out PoolBlock block, [NotNullWhen(false)] out AllocationFailure? failure)
    {
        lock (_lock)
        {
            failure = null;
            block = default;
            if (_partial.Count == 0 && !TryAddPage(out failure))
            {
                return false;
            }

            PoolPage page = _partial[^1];
            ulong generation = ++_lastGeneration;
            block = new PoolBlock(page.Take(generation), Size, _id, generation);
            if (page.IsFull)
            {
                _partial.RemoveAt(_partial.Count - 1);
            }

            return true;
        }
    }

    /// <summary>Frees a block of this pool; its page goes back when its last block does.</summary>
    /// <exception cref="ArgumentException">
    /// Not a live block of this pool: a double free, a stale handle (the slot was freed and handed
    /// out again: the new block stays allocated), an empty handle or another pool's; nothing changes.
    /// </exception>
    public void Free(PoolBlock block)
    {
        lock (_lock)
        {
            PoolPage page = LivePageOf(block);
            string? why = page.WhyNotLive(block);
            if (why is not null)
            {
                throw Refused(block, why);
            }

            bool wasFull = page.IsFull;
            page.Release(block);
            if (page.LiveCount == 0)
            {
                _byPage.Remove(page.Block.Address);
                _partial.Remove(page);
                _pages.Free(page.Block);
            }
            else if (wasFull)
            {
                _partial.Add(page);
            }
        }
    }

    /// <summary>The pool's process-wide number, which its handles carry.</summary>
    internal int Id => _id;

    // The page a handle of this pool points into; refused when the handle is not this pool's or its page went back.
    private PoolPage LivePageOf(PoolBlock block)
    {
        if (block.IsEmpty)
        {
            throw Refused(block, "it is the empty handle, not a block");
        }

        if (block.PoolId != _id)
        {
            throw Refused(block, "another pool handed it out");
        }

        return _byPage.GetValueOrDefault(block.Address & ~(_chunk - 1))
            ?? throw Refused(block, "double free or stale handle: its pool page was already given back");
    }

    private bool TryAddPage([NotNullWhen(false)] out AllocationFailure? failure)
    {
        if (!_pages.TryAllocate(_pageRequest, out Block block, out failure))
        {
            return false;
        }

        var page = new PoolPage(block, _layout);
        _byPage.Add(block.Address, page);
        _partial.Add(page);
        return true;
    }

    private ArgumentException Refused(PoolBlock block, string why) =>
        new(Invariant($"DMA pool '{Name}' refuses to free {block}: {why}."), nameof(block));

    // What a page request returns: 2^order pages, or exactly the pages asked for when exact; refused
    // when above the allocator's largest block (no page could ever be had).
    private static ulong PageBytesOf(Request pageRequest, PageAllocator pages)
    {
        int shift = PageMath.Log2(pages.PageSize);
        ulong count = pageRequest.Order >= 0 ? 1UL << pageRequest.Order : pageRequest.PagesAt(shift);
        if (count > 1UL << pages.MaxOrder)
        {
            throw new ArgumentException(Invariant($"pageRequest asks for {count} pages, more than the page allocator's largest block of {1UL << pages.MaxOrder} pages."), nameof(pageRequest));
        }

        return (pageRequest.IsExact ? count : 1UL << PageMath.OrderForPages(count)) << shift;
    }

    // Block offsets within a pool page: consecutive blocks, each moved up to the next boundary it would cross.
    private static ulong[] Layout(ulong pageBytes, ulong size, ulong boundary)
    {
        var offsets = new List<ulong>();
        for (ulong offset = 0; offset + size <= pageBytes;)
        {
            ulong next = (offset / boundary + 1) * boundary;
            if (offset + size > next)
            {
                offset = next;
                continue;
            }

            offsets.Add(offset);
            offset += size;
        }

        return [.. offsets];
    }
}
