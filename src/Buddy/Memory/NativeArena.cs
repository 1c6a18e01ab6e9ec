// NativeArena: the buddy allocator over real memory. The arena reserves one native range aligned
// to its largest block, so a block's real address is divisible by its size; blocks come out as
// Memory<byte> (ArenaMemory), Span<byte> and, for interop, raw pointers.
using System.Globalization;
using System.Runtime.InteropServices;
using Buddy.Allocation;
using Buddy.Pages;
using Buddy.Zones;

namespace Buddy.Memory;

/// <summary>Native memory managed by a <see cref="PageAllocator"/> and handed out as <see cref="ArenaMemory"/>.</summary>
/// <remarks>
/// Thread-safe. Disposing the arena releases the native memory; blocks still rented become
/// unusable (their memory is gone), so dispose the arena last.
/// </remarks>
public sealed class NativeArena : IDisposable
{
    private readonly ArenaHandle _handle;
    private BuddyMemoryPool? _pool;

    private NativeArena(ArenaHandle handle, ulong size, PageAllocator pages)
    {
        _handle = handle;
        Size = size;
        Pages = pages;
    }

    /// <summary>The real address of the arena's first byte (aligned to the largest block).</summary>
    public ulong BaseAddress => Pages.Layout.BaseAddress;

    /// <summary>The arena's size in bytes.</summary>
    public ulong Size { get; }

    /// <summary>The allocator over the arena's real addresses.</summary>
    public PageAllocator Pages { get; }

    /// <summary>A <see cref="System.Buffers.MemoryPool{T}"/> over the arena (created on first use).</summary>
    public BuddyMemoryPool Pool => _pool ??= new BuddyMemoryPool(this);

    /// <summary>Reserves <paramref name="size"/> bytes of native memory (mmap with MAP_NORESERVE on Linux).</summary>
    /// <exception cref="ArgumentException">The size or an option is invalid; the message names it.</exception>
    /// <exception cref="InsufficientMemoryException">The memory cannot be reserved.</exception>
    public static NativeArena Create(ulong size, ArenaOptions? options = null)
    {
        options ??= new ArenaOptions();
        if (size == 0 || size % options.PageSize != 0)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"size must be a positive multiple of the page size ({options.PageSize} bytes), not {size}."), nameof(size));
        }

        ulong alignment = options.PageSize << Math.Clamp(options.MaxOrder, 0, PageMath.MaxSupportedOrder);
        ArenaHandle handle = ArenaHandle.Reserve((nuint)size, (nuint)alignment);
        try
        {
            ulong start = (ulong)handle.DangerousGetHandle();
            IReadOnlyList<ZoneLimit> zones = options.ZonesByOffset.Count == 0
                ? [new ZoneLimit(ZoneKind.Normal, ulong.MaxValue)]
                : [.. options.ZonesByOffset.Select((z, i) => new ZoneLimit(z.Kind, i == options.ZonesByOffset.Count - 1 ? ulong.MaxValue : start + z.Limit))];
            var layout = MachineLayout.Flat(size, start) with
            {
                PageSize = options.PageSize,
                MaxOrder = options.MaxOrder,
                Zones = zones,
                PerCpuCaches = options.PerCpuCaches,
            };
            var pages = new PageAllocator(layout);
            if (OperatingSystem.IsLinux() && options.TransparentHugePages)
            {
                NativeMethods.Madvise((nint)start, (nuint)size, NativeMethods.MadvHugePage);
            }

            if (OperatingSystem.IsLinux() && options.Lock && NativeMethods.Mlock((nint)start, (nuint)size) != 0)
            {
                throw new InvalidOperationException($"mlock of {size} bytes failed: {Marshal.GetLastPInvokeErrorMessage()} (needs CAP_IPC_LOCK or a large enough RLIMIT_MEMLOCK).");
            }

            return new NativeArena(handle, size, pages);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Rents a block for <paramref name="request"/> as <see cref="ArenaMemory"/>; <paramref name="clear"/> zeroes it.</summary>
    /// <exception cref="AllocationFailedException">The request cannot be served.</exception>
    /// <exception cref="ArgumentException">The block would be larger than 2 GiB (a Memory&lt;byte&gt; cannot hold it).</exception>
    public ArenaMemory Rent(Request request, bool clear = false)
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        Block block = Pages.Allocate(request);
        if (block.Size > int.MaxValue)
        {
            Pages.Free(block);
            throw new ArgumentException("A block larger than 2 GiB does not fit a Memory<byte>; use the allocator and raw pointers.", nameof(request));
        }

        var memory = new ArenaMemory(this, block);
        if (clear)
        {
            memory.GetSpan().Clear();
        }

        return memory;
    }

    /// <summary>Rents at least <paramref name="bytes"/> bytes (the next power-of-two block).</summary>
    public ArenaMemory Rent(ulong bytes, bool clear = false) => Rent(Request.ForBytes(bytes), clear);

    /// <inheritdoc/>
    public void Dispose() => _handle.Dispose();

    internal void Return(Block block) => Pages.Free(block);
}
