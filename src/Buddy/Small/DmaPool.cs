// DmaPool: fixed-size blocks that never cross a boundary, carved from pages the page allocator
// hands out under a constraint (by default the DMA zone) — the rules of Linux 6.18 mm/dmapool.c
// dma_pool_create: align 0 means 1 and must be a power of two; size is rounded up to align;
// boundary 0 means the chunk size, else a power of two at least the size.
using System.Globalization;
using Buddy.Allocation;
using Buddy.Pages;
using Buddy.Zones;

namespace Buddy.Small;

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
    private readonly ulong[] _layout; // block offsets within a pool page
    private readonly ulong _chunk;    // a pool page's size: a naturally aligned block
    private readonly Dictionary<ulong, PoolPage> _byPage = []; // page address -> page
    private readonly List<PoolPage> _partial = [];

    private sealed class PoolPage(Block block, ulong[] layout)
    {
        public Block Block { get; } = block;

        public Stack<ulong> Free { get; } = new(layout.Reverse().Select(o => block.Address + o));

        public HashSet<ulong> Live { get; } = [];
    }

    /// <summary>Creates a pool of <paramref name="size"/>-byte blocks aligned to <paramref name="align"/> and not crossing <paramref name="boundary"/>.</summary>
    /// <param name="pages">Where pool pages come from.</param>
    /// <param name="name">The pool's name (for reports).</param>
    /// <param name="size">The block size in bytes.</param>
    /// <param name="align">The alignment (0 means 1; else a power of two).</param>
    /// <param name="boundary">The boundary no block may cross (0: the pool's chunk size; else a power of two ≥ size).</param>
    /// <param name="pageRequest">How pool pages are requested; default: one page in the DMA zone (or the lowest zone there is).</param>
    /// <exception cref="ArgumentException">A parameter breaks a rule; the message names it.</exception>
    public DmaPool(PageAllocator pages, string name, ulong size, ulong align = 0, ulong boundary = 0, Request? pageRequest = null)
    {
        ArgumentNullException.ThrowIfNull(pages);
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (align == 0)
        {
            align = 1;
        }
        else if (!PageMath.IsPowerOfTwo(align))
        {
            throw new ArgumentException(Invariant($"align must be 0 or a power of two (dma_pool_create), not {align}."), nameof(align));
        }

        if (size == 0 || size > int.MaxValue)
        {
            throw new ArgumentException(Invariant($"size must be from 1 to {int.MaxValue} bytes, not {size}."), nameof(size));
        }

        size = (size + align - 1) & ~(align - 1);
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
        Align = align;
        Boundary = Math.Min(boundary, allocation);
        _pageRequest = pageRequest ?? Request.ForBytes(allocation).InZone(pages.GetZoneStats()[0].Kind);
        ulong chunk = PageMath.IsPowerOfTwo(allocation) ? allocation : 1UL << PageMath.OrderForPages((allocation + pages.PageSize - 1) / pages.PageSize) << PageMath.Log2(pages.PageSize);
        var offsets = new List<ulong>();
        for (ulong offset = 0; offset + size <= chunk;)
        {
            ulong next = (offset / Boundary + 1) * Boundary;
            if (offset + size > next)
            {
                offset = next; // the block would cross a boundary: start it at the boundary
                continue;
            }

            offsets.Add(offset);
            offset += size;
        }

        _layout = [.. offsets];
        _chunk = chunk;
    }

    /// <summary>The pool's name.</summary>
    public string Name { get; }

    /// <summary>The block size (rounded up to the alignment).</summary>
    public ulong Size { get; }

    /// <summary>The alignment.</summary>
    public ulong Align { get; }

    /// <summary>The boundary no block crosses.</summary>
    public ulong Boundary { get; }

    /// <summary>Blocks handed out.</summary>
    public int BlocksInUse
    {
        get
        {
            lock (_lock)
            {
                return _byPage.Values.Sum(p => p.Live.Count);
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

    /// <summary>Allocates a block; returns its address.</summary>
    /// <exception cref="AllocationFailedException">No pool page could be allocated.</exception>
    public ulong Allocate() => TryAllocate(out ulong address, out AllocationFailure? why) ? address : throw new AllocationFailedException(why!);

    /// <summary>Tries to allocate a block.</summary>
    public bool TryAllocate(out ulong address, out AllocationFailure? failure)
    {
        lock (_lock)
        {
            failure = null;
            if (_partial.Count == 0)
            {
                if (!_pages.TryAllocate(_pageRequest, out Block block, out failure))
                {
                    address = 0;
                    return false;
                }

                var page = new PoolPage(block, _layout);
                _byPage.Add(block.Address, page);
                _partial.Add(page);
            }

            PoolPage current = _partial[^1];
            address = current.Free.Pop();
            current.Live.Add(address);
            if (current.Free.Count == 0)
            {
                _partial.RemoveAt(_partial.Count - 1);
            }

            return true;
        }
    }

    /// <summary>Blocks per pool page.</summary>
    public int BlocksPerPage => _layout.Length;

    /// <summary>Bytes per pool page.</summary>
    public ulong PageBytes => _chunk;

    /// <summary>Frees a block of this pool; its page goes back when its last block does.</summary>
    /// <exception cref="ArgumentException">Not a live block of this pool (a double free, a foreign or interior address); nothing changes.</exception>
    public void Free(ulong address)
    {
        if (!TryFree(address))
        {
            throw new ArgumentException(Invariant($"0x{address:x} is not in any page of DMA pool '{Name}'."), nameof(address));
        }
    }

    /// <summary>Frees the block when <paramref name="address"/> lies in one of this pool's pages; false when it does not.</summary>
    /// <exception cref="ArgumentException">The address is in this pool's page but not a live block start; nothing changes.</exception>
    internal bool TryFree(ulong address)
    {
        lock (_lock)
        {
            PoolPage? page = FindPage(address);
            if (page is null)
            {
                return false;
            }

            if (!page.Live.Contains(address))
            {
                throw new ArgumentException(Invariant($"0x{address:x} is not a live block of pool '{Name}' (a double free, or not a block start)."), nameof(address));
            }

            page.Live.Remove(address);
            bool wasFull = page.Free.Count == 0;
            page.Free.Push(address);
            if (page.Live.Count == 0)
            {
                _byPage.Remove(page.Block.Address);
                _partial.Remove(page);
                _pages.Free(page.Block);
            }
            else if (wasFull)
            {
                _partial.Add(page);
            }

            return true;
        }
    }

    // Pool pages are naturally aligned blocks of one size, so a block's page is its address rounded down.
    private PoolPage? FindPage(ulong address) => _byPage.GetValueOrDefault(address & ~(_chunk - 1));

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
