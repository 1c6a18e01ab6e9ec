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
    /// <summary>The byte freed memory is filled with in the checked mode.</summary>
    public const byte Poison = 0xDD;

    private readonly ArenaHandle _handle;
    private readonly bool _checked;
    private readonly Lock _checkLock = new();
    private readonly bool[] _poisoned = [];                         // checked mode: per page
    private readonly Dictionary<ArenaMemory, string> _live = [];    // checked mode: rent stack traces
    private BuddyMemoryPool? _pool;

    private NativeArena(ArenaHandle handle, ulong size, PageAllocator pages, bool isChecked)
    {
        _handle = handle;
        Size = size;
        Pages = pages;
        _checked = isChecked;
        if (isChecked)
        {
            _poisoned = new bool[size / pages.PageSize];
        }
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
    /// <exception cref="ArgumentException">The size or an option is invalid; the message names it, and nothing was reserved.</exception>
    /// <exception cref="InsufficientMemoryException">The memory cannot be reserved.</exception>
    public static NativeArena Create(ulong size, ArenaOptions? options = null)
    {
        options ??= new ArenaOptions();
        options.CheckFor(size); // every rule before anything is reserved
        ArenaHandle handle = ArenaHandle.Reserve((nuint)size, (nuint)options.AlignmentFor(size));
        try
        {
            ulong start = (ulong)handle.DangerousGetHandle();
            MachineLayout layout = options.LayoutAt(start, size);
            var pages = new PageAllocator(layout);
            if (OperatingSystem.IsLinux() && options.TransparentHugePages)
            {
                NativeMethods.Madvise((nint)start, (nuint)size, NativeMethods.MadvHugePage);
            }

            if (OperatingSystem.IsLinux() && options.Lock && NativeMethods.Mlock((nint)start, (nuint)size) != 0)
            {
                throw new InvalidOperationException($"mlock of {size} bytes failed: {Marshal.GetLastPInvokeErrorMessage()} (needs CAP_IPC_LOCK or a large enough RLIMIT_MEMLOCK).");
            }

            return new NativeArena(handle, size, pages, options.Checked);
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
        if (_checked)
        {
            CheckPoison(block); // throws on a write after free, after giving the block back
            lock (_checkLock)
            {
                _live.Add(memory, Environment.StackTrace);
            }
        }

        if (clear)
        {
            memory.GetSpan().Clear();
        }

        return memory;
    }

    /// <summary>
    /// Rents a movable block: the allocator may migrate it (compaction, contiguous ranges), copying
    /// its bytes; reach them through <see cref="Pin"/>, never through a remembered address.
    /// </summary>
    /// <exception cref="AllocationFailedException">The request cannot be served.</exception>
    public Mobility.MovableBlock RentMovable(Request request)
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        return Pages.AllocateMovable(request, s_copy);
    }

    /// <summary>Pins a movable block and gives access to its bytes until the pin is disposed.</summary>
    /// <exception cref="ArgumentException">The block belongs to another arena.</exception>
    public ArenaPin Pin(Mobility.MovableBlock block)
    {
        ArgumentNullException.ThrowIfNull(block);
        ulong address = block.Block.Address;
        if (address < BaseAddress || address >= BaseAddress + Size)
        {
            throw new ArgumentException($"The movable block {block} is not in this arena.", nameof(block));
        }

        return new ArenaPin(block);
    }

    /// <summary>Gives a movable block back.</summary>
    public void Return(Mobility.MovableBlock block) => Pages.Free(block);

    private static readonly Mobility.MigrateCallback s_copy = static (_, from, to) =>
    {
        unsafe
        {
            Buffer.MemoryCopy((void*)from.Address, (void*)to.Address, (long)to.Size, (long)from.Size);
        }
    };

    /// <summary>Whether the arena runs in the checked mode.</summary>
    public bool IsChecked => _checked;

    /// <summary>Checked mode: the rentals not given back, with the stack trace of each rent.</summary>
    public IReadOnlyList<(Block Block, string RentedAt)> LiveRentals()
    {
        lock (_checkLock)
        {
            return [.. _live.Select(kv => (kv.Key.Block, kv.Value))];
        }
    }

    /// <summary>Checked mode: throws when rentals were not given back, naming each with its rent's stack trace.</summary>
    /// <exception cref="InvalidOperationException">Some rentals leaked.</exception>
    public void ThrowIfLeaked()
    {
        IReadOnlyList<(Block Block, string RentedAt)> live = LiveRentals();
        if (live.Count > 0)
        {
            throw new InvalidOperationException($"{live.Count} arena rental(s) were not returned:\n" + string.Join("\n", live.Select(l => $"{l.Block}, rented at:\n{l.RentedAt}")));
        }
    }

    /// <summary>Rents at least <paramref name="bytes"/> bytes (the next power-of-two block).</summary>
    public ArenaMemory Rent(ulong bytes, bool clear = false) => Rent(Request.ForBytes(bytes), clear);

    /// <inheritdoc/>
    public void Dispose() => _handle.Dispose();

    internal void Return(ArenaMemory memory)
    {
        Block block = memory.Block;
        if (_checked)
        {
            lock (_checkLock)
            {
                _live.Remove(memory);
                memory.ReturnedAt = Environment.StackTrace;
                unsafe
                {
                    new Span<byte>((void*)block.Address, (int)block.Size).Fill(Poison);
                }

                ulong first = (block.Address - BaseAddress) / Pages.PageSize;
                _poisoned.AsSpan((int)first, (int)block.PageCount).Fill(true);
            }
        }

        Pages.Free(block);
    }

    /// <summary>Checked mode: a second return of <paramref name="memory"/>.</summary>
    internal static void DoubleReturn(ArenaMemory memory) =>
        throw new InvalidOperationException($"Double return: the arena block {memory.Block} was returned twice; the first return was at:\n{memory.ReturnedAt}");

    // Checked mode: the poisoned pages of a fresh block must still hold the poison.
    private unsafe void CheckPoison(Block block)
    {
        lock (_checkLock)
        {
            ulong first = (block.Address - BaseAddress) / Pages.PageSize;
            for (ulong p = 0; p < block.PageCount; p++)
            {
                if (!_poisoned[first + p])
                {
                    continue;
                }

                _poisoned[first + p] = false;
                var page = new ReadOnlySpan<byte>((void*)(block.Address + (p * Pages.PageSize)), (int)Pages.PageSize);
                int changed = page.IndexOfAnyExcept(Poison);
                if (changed >= 0)
                {
                    ulong address = block.Address + (p * Pages.PageSize) + (ulong)changed;
                    Pages.Free(block);
                    throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                        $"Write after free: the byte at 0x{address:x} was changed after its block was returned (it holds 0x{page[changed]:x2}, not the poison 0x{Poison:x2})."));
                }
            }
        }
    }
}
