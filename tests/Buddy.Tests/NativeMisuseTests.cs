// Misuse of the native-memory and small-block parts (issue 11): every refusal names what was wrong
// and leaves the state exactly as before.
using System.Buffers;
using Buddy.Memory;
using CsCheck;
using Microsoft.Win32.SafeHandles;
using static Buddy.Units;

namespace Buddy.Tests;

/// <summary>Impossible arena settings and direct I/O alignments are refused up front, naming the setting.</summary>
public class ArenaSettingsMisuseTests
{
    public static TheoryData<string, string> ImpossibleSettings => new()
    {
        { "MaxOrder = 60", "MaxOrder" },
        { "MaxOrder = -1", "MaxOrder" },
        { "PageSize << MaxOrder beyond 2^63", "MaxOrder" },
        { "PageSize = 3", "PageSize" },
        { "PageSize = 0", "PageSize" },
        { "PageSize = 256", "PageSize" },
        { "size = 0", "size" },
        { "size not a page multiple", "size" },
        { "size above 2^62", "size" },
        { "ZonesByOffset null", "ZonesByOffset" },
        { "ZonesByOffset not page aligned", "ZonesByOffset" },
        { "ZonesByOffset beyond the arena", "ZonesByOffset" },
        { "ZonesByOffset falling", "ZonesByOffset" },
        { "ZonesByAddress null", "ZonesByAddress" },
        { "Mobility null", "Mobility" },
        { "PageblockOrder above MaxOrder", "Mobility" },
    };

    private static (ulong Size, ArenaOptions Options) Case(string name) => name switch
    {
        "MaxOrder = 60" => (4 * MiB, new ArenaOptions { MaxOrder = 60 }),
        "MaxOrder = -1" => (4 * MiB, new ArenaOptions { MaxOrder = -1 }),
        "PageSize << MaxOrder beyond 2^63" => (1UL << 30, new ArenaOptions { PageSize = 1UL << 30, MaxOrder = 40 }),
        "PageSize = 3" => (4 * MiB, new ArenaOptions { PageSize = 3 }),
        "PageSize = 0" => (4 * MiB, new ArenaOptions { PageSize = 0 }),
        "PageSize = 256" => (4 * MiB, new ArenaOptions { PageSize = 256 }),
        "size = 0" => (0, new ArenaOptions()),
        "size not a page multiple" => (5000, new ArenaOptions()),
        "size above 2^62" => ((1UL << 62) + 4096, new ArenaOptions()),
        "ZonesByOffset null" => (4 * MiB, new ArenaOptions { ZonesByOffset = null! }),
        "ZonesByOffset not page aligned" => (4 * MiB, new ArenaOptions { ZonesByOffset = [new(ZoneKind.Dma, 1000), new(ZoneKind.Normal, ulong.MaxValue)] }),
        "ZonesByOffset beyond the arena" => (4 * MiB, new ArenaOptions { ZonesByOffset = [new(ZoneKind.Dma, ulong.MaxValue - 4095), new(ZoneKind.Normal, ulong.MaxValue)] }),
        "ZonesByOffset falling" => (4 * MiB, new ArenaOptions { ZonesByOffset = [new(ZoneKind.Dma32, 2 * MiB), new(ZoneKind.Dma, 3 * MiB), new(ZoneKind.Normal, ulong.MaxValue)] }),
        "ZonesByAddress null" => (4 * MiB, new ArenaOptions { ZonesByAddress = null! }),
        "Mobility null" => (4 * MiB, new ArenaOptions { Mobility = null! }),
        "PageblockOrder above MaxOrder" => (4 * MiB, new ArenaOptions { MaxOrder = 4, Mobility = MobilitySettings.Grouping }),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "no such case"),
    };

    [Theory]
    [MemberData(nameof(ImpossibleSettings))]
    public void An_impossible_setting_is_an_ArgumentException_naming_it_before_any_memory_is_reserved(string name, string setting)
    {
        (ulong size, ArenaOptions options) = Case(name);
        int reservations = ArenaHandle.ReservationsOnThisThread;
        var ex = Assert.Throws<ArgumentException>(() => NativeArena.Create(size, options));
        Assert.Equal(setting, ex.ParamName);
        Assert.Contains(setting, ex.Message, StringComparison.Ordinal);
        Assert.Equal(reservations, ArenaHandle.ReservationsOnThisThread);
    }

    [Fact]
    public void The_largest_order_the_allocator_supports_is_built_without_reserving_its_alignment()
    {
        // 4 KiB << 48 is 2^60 bytes of alignment no address space has; the arena needs only its own size.
        using NativeArena arena = NativeArena.Create(4 * MiB, new ArenaOptions { MaxOrder = PageMath.MaxSupportedOrder });
        Assert.Equal(0UL, arena.BaseAddress % (4 * MiB));
        using ArenaMemory whole = arena.Rent(4 * MiB);
        Assert.Equal(arena.BaseAddress, whole.Block.Address);
    }

    [Theory]
    [InlineData(0u, 4096u)]
    [InlineData(4096u, 0u)]
    [InlineData(0u, 0u)]
    public void Direct_IO_with_a_zero_alignment_is_an_ArgumentException_naming_it(uint memory, uint offset)
    {
        string path = Path.GetTempFileName();
        try
        {
            using SafeFileHandle file = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
            using NativeArena arena = NativeArena.Create(1 * MiB);
            using ArenaMemory buffer = arena.Rent(4 * KiB);
            buffer.GetSpan().Fill(0x5A);
            var alignment = new DirectIOAlignment(memory, offset, Reported: false);
            Assert.Equal("alignment", Assert.Throws<ArgumentException>(() => DirectIO.Write(file, buffer, 0, alignment)).ParamName);
            Assert.Equal("alignment", Assert.Throws<ArgumentException>(() => DirectIO.Read(file, buffer, 0, alignment)).ParamName);
            Assert.Equal("alignment", Assert.Throws<ArgumentException>(() => DirectIO.Write(file, buffer, 0, default(DirectIOAlignment))).ParamName);
            Assert.Equal(0L, RandomAccess.GetLength(file));               // nothing written
            Assert.True(buffer.GetSpan().IndexOfAnyExcept((byte)0x5A) < 0); // nothing read
        }
        finally
        {
            File.Delete(path);
        }
    }
}

/// <summary>DmaPool and SmallAllocator handles carry their slot's generation: double frees and stale handles are refused.</summary>
public class PoolBlockMisuseTests
{
    private static PageAllocator Pc() => new(MachineLayout.X86(64 * MiB) with { Watermarks = WatermarkSettings.None });

    private static (int InUse, int Pages, ulong FreePages) StateOf(DmaPool pool, PageAllocator pages) => (pool.BlocksInUse, pool.PagesHeld, pages.FreePages);

    [Theory]
    [InlineData(true)]  // another block keeps the pool page
    [InlineData(false)] // the page went back with the block
    public void A_double_free_of_a_dma_pool_block_says_double_free_and_changes_nothing(bool pageKept)
    {
        PageAllocator pages = Pc();
        var pool = new DmaPool(pages, "rings", 256, 256);
        PoolBlock a = pool.Allocate();
        PoolBlock keeper = pageKept ? pool.Allocate() : default;
        pool.Free(a);
        var before = StateOf(pool, pages);
        var ex = Assert.Throws<ArgumentException>(() => pool.Free(a));
        Assert.Equal("block", ex.ParamName);
        Assert.Contains("double free", ex.Message, StringComparison.Ordinal);
        Assert.Equal(before, StateOf(pool, pages));
        pages.Validate();
        if (pageKept)
        {
            pool.Free(keeper);
        }

        Assert.Equal(0, pool.PagesHeld);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_stale_dma_pool_handle_is_refused_and_the_block_that_reuses_its_slot_stays_allocated(bool pageKept)
    {
        PageAllocator pages = Pc();
        var pool = new DmaPool(pages, "rings", 256, 256);
        PoolBlock keeper = pageKept ? pool.Allocate() : default;
        PoolBlock a = pool.Allocate();
        pool.Free(a);
        PoolBlock b = pool.Allocate();
        Assert.Equal(a.Address, b.Address); // the slot (and page) came back to b
        var before = StateOf(pool, pages);
        var ex = Assert.Throws<ArgumentException>(() => pool.Free(a));
        Assert.Equal("block", ex.ParamName);
        Assert.Contains("double free or stale handle", ex.Message, StringComparison.Ordinal);
        Assert.Equal(before, StateOf(pool, pages));
        pool.Free(b); // b is still live: its own free works
        if (pageKept)
        {
            pool.Free(keeper);
        }

        Assert.Equal(0, pool.PagesHeld);
        pages.Validate();
    }

    [Fact]
    public void Small_allocator_double_frees_and_stale_handles_are_refused_and_the_reusing_block_stays()
    {
        PageAllocator pages = Pc();
        var kmalloc = new SmallAllocator(pages);
        PoolBlock keeper = kmalloc.Allocate(64);
        PoolBlock a = kmalloc.Allocate(64);
        kmalloc.Free(a);
        ulong allocated = pages.AllocatedPages;
        var twice = Assert.Throws<ArgumentException>(() => kmalloc.Free(a));
        Assert.Equal("block", twice.ParamName);
        Assert.Contains("double free", twice.Message, StringComparison.Ordinal);
        Assert.Equal(1, kmalloc.ObjectsInUse);

        PoolBlock b = kmalloc.Allocate(64);
        Assert.Equal(a.Address, b.Address);
        var stale = Assert.Throws<ArgumentException>(() => kmalloc.Free(a));
        Assert.Equal("block", stale.ParamName);
        Assert.Contains("double free or stale handle", stale.Message, StringComparison.Ordinal);
        Assert.Equal(2, kmalloc.ObjectsInUse);
        Assert.Equal(allocated, pages.AllocatedPages);
        kmalloc.Free(b);
        kmalloc.Free(keeper);
        Assert.Equal(0UL, pages.AllocatedPages);
        pages.Validate();
    }

    [Fact]
    public void Stale_frees_interleaved_with_allocations_never_free_a_live_block()
    {
        Gen.Select(Gen.Int[1, 600], Gen.Int[0, 3].Array[50, 400]).Sample((size, ops) =>
        {
            PageAllocator pages = Pc();
            var pool = new DmaPool(pages, "prop", (ulong)size);
            var live = new List<PoolBlock>();
            var dead = new List<PoolBlock>();
            foreach (int op in ops)
            {
                if (op == 0 || live.Count == 0)
                {
                    live.Add(pool.Allocate());
                }
                else if (op == 1)
                {
                    PoolBlock freed = live[^1];
                    live.RemoveAt(live.Count - 1);
                    pool.Free(freed);
                    dead.Add(freed);
                }
                else if (dead.Count > 0)
                {
                    PoolBlock stale = dead[op % dead.Count];
                    Assert.Throws<ArgumentException>(() => pool.Free(stale));
                }

                Assert.Equal(live.Count, pool.BlocksInUse);
                Assert.Equal(live.Count, live.Select(b => b.Address).Distinct().Count()); // no block has two owners
            }

            live.ForEach(pool.Free);
            Assert.Equal(0, pool.PagesHeld);
            pages.Validate();
        }, iter: 60);
    }

    [Fact]
    public void A_page_request_smaller_than_one_block_is_refused_before_any_page_is_taken()
    {
        PageAllocator pages = Pc();
        ulong free = pages.FreePages;
        var ex = Assert.Throws<ArgumentException>(() => new DmaPool(pages, "big", 16 * KiB, pageRequest: Request.ForBytes(4 * KiB)));
        Assert.Equal("pageRequest", ex.ParamName);
        Assert.Contains("16384", ex.Message, StringComparison.Ordinal);
        Assert.Equal("pageRequest", Assert.Throws<ArgumentException>(() => new DmaPool(pages, "huge", 64, pageRequest: Request.ForOrder(pages.MaxOrder + 1))).ParamName);
        Assert.Equal(free, pages.FreePages);
    }

    [Fact]
    public void A_larger_or_exact_page_request_is_cut_into_blocks_that_all_lie_in_the_pages_taken()
    {
        PageAllocator pages = Pc();
        var wide = new DmaPool(pages, "wide", 16 * KiB, pageRequest: Request.ForOrder(3)); // 32 KiB pages
        var exact = new DmaPool(pages, "exact", 12 * KiB, pageRequest: Request.ForPages(3).Exact()); // 12 KiB pages
        Assert.Equal((2, 32 * KiB), (wide.BlocksPerPage, wide.PageBytes));
        Assert.Equal((1, 12 * KiB), (exact.BlocksPerPage, exact.PageBytes));
        var blocks = new List<PoolBlock>();
        for (int i = 0; i < 6; i++)
        {
            blocks.Add(wide.Allocate());
            blocks.Add(exact.Allocate());
        }

        Assert.Equal((3 * 8UL) + (6 * 3UL), pages.AllocatedPages); // 3 wide pages, 6 exact ones: exactly what the blocks need
        blocks.Sort((x, y) => x.Address.CompareTo(y.Address));
        for (int i = 1; i < blocks.Count; i++)
        {
            Assert.True(blocks[i - 1].Address + blocks[i - 1].Size <= blocks[i].Address, "blocks overlap");
        }

        blocks.ForEach(b => (b.Size == wide.Size ? wide : exact).Free(b));
        Assert.Equal(0UL, pages.AllocatedPages);
        pages.Validate();
    }
}

/// <summary>Rentals, pins and the arena's disposal: nothing is returned twice or while pinned, and the memory outlives every rental.</summary>
public class ArenaLifetimeMisuseTests
{
    // Pages the arena's rentals hold, with the threads' caches of ready rentals emptied first.
    private static ulong Allocated(NativeArena arena)
    {
        arena.DrainCaches();
        return arena.Pages.AllocatedPages;
    }

    [Fact]
    public void Disposing_a_pinned_rental_defers_its_return_until_the_last_unpin()
    {
        using NativeArena arena = NativeArena.Create(4 * MiB);
        ArenaMemory m = arena.Rent(4 * KiB);
        MemoryHandle first = m.Memory.Pin();
        MemoryHandle second = m.Pin(10);
        ulong allocated = Allocated(arena);
        ((IDisposable)m).Dispose();
        Assert.True(m.IsDisposed);
        Assert.Equal(2, m.PinCount);
        Assert.Equal(allocated, Allocated(arena)); // not returned under the pins
        using (ArenaMemory other = arena.Rent(4 * KiB))
        {
            Assert.NotEqual(m.Block.Address, other.Block.Address);
        }

        Assert.Throws<ObjectDisposedException>(() => m.GetSpan());
        Assert.Throws<ObjectDisposedException>(() => m.Pin());
        first.Dispose();
        Assert.Equal(allocated, Allocated(arena));
        second.Dispose();
        Assert.Equal(allocated - 1, Allocated(arena)); // the last unpin gave it back
        Assert.Equal(0, m.PinCount);
        arena.Pages.Validate();
    }

    [Fact]
    public void Unpin_without_a_pin_throws_and_never_drives_the_count_below_zero()
    {
        using NativeArena arena = NativeArena.Create(4 * MiB);
        ArenaMemory m = arena.Rent(4 * KiB);
        Assert.Throws<InvalidOperationException>(m.Unpin);
        Assert.Equal(0, m.PinCount);
        MemoryHandle h = m.Pin();
        m.Unpin();
        Assert.Throws<InvalidOperationException>(m.Unpin);
        Assert.Equal(0, m.PinCount);
        Assert.False(m.IsDisposed);
        ulong allocated = Allocated(arena);
        ((IDisposable)m).Dispose();
        Assert.Equal(allocated - 1, Allocated(arena));
        Assert.Throws<InvalidOperationException>(h.Dispose); // a stale MemoryHandle cannot return the block again
        Assert.Equal(allocated - 1, Allocated(arena));
        arena.Pages.Validate();
    }

    [Fact]
    public void A_second_dispose_is_a_no_op_that_never_returns_the_next_rental_of_the_same_block()
    {
        using NativeArena arena = NativeArena.Create(4 * MiB);
        ArenaMemory m = arena.Rent(8 * KiB);
        ulong address = m.Address;
        ((IDisposable)m).Dispose();
        Assert.Throws<ObjectDisposedException>(() => m.Address); // once the rental is over, its memory may be someone else's
        using ArenaMemory next = arena.Rent(8 * KiB);
        Assert.Equal(address, next.Address);
        IMemoryOwner<byte> owner = arena.Pool.Rent(4096);
        owner.Dispose();
        using IMemoryOwner<byte> nextOwner = arena.Pool.Rent(4096);
        ulong allocated = Allocated(arena);

        ((IDisposable)m).Dispose();
        owner.Dispose();
        Assert.Equal(allocated, Allocated(arena));
        next.GetSpan().Fill(1);
        nextOwner.Memory.Span.Fill(2);
        Assert.False(next.IsDisposed);
        arena.Pages.Validate();
    }

    [Fact]
    public void A_disposed_arena_rents_nothing_and_keeps_its_memory_until_the_last_rental_is_returned()
    {
        NativeArena arena = NativeArena.Create(4 * MiB, new ArenaOptions { MaxOrder = 6, Mobility = MobilitySettings.Grouping with { PageblockOrder = 4 } });
        ArenaMemory m = arena.Rent(4 * KiB);
        IMemoryOwner<byte> segment = arena.Pool.Rent(4096);
        MovableBlock movable = arena.RentMovable(Request.ForOrder(0));
        arena.Dispose();
        arena.Dispose(); // a second Dispose does nothing
        Assert.True(arena.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => arena.Rent(4 * KiB));
        Assert.Throws<ObjectDisposedException>(() => arena.Pool.Rent(4096));
        Assert.Throws<ObjectDisposedException>(() => arena.RentMovable(Request.ForOrder(0)));
        Assert.Equal(movable.Block, Assert.Single(arena.GetLiveRentals()).Block); // movable rentals are listed in any mode, memory rentals in the checked mode

        ((IDisposable)m).Dispose();
        segment.Dispose();
        Assert.False(arena.IsMemoryReleased);
        arena.Return(movable);
        Assert.True(arena.IsMemoryReleased);
        Assert.Equal(0UL, Allocated(arena));
    }

    [Fact]
    public void A_checked_arena_disposed_with_live_rentals_reports_them_with_their_rents_stack()
    {
        NativeArena arena = NativeArena.Create(4 * MiB, new ArenaOptions { Checked = true });
        ArenaMemory leaked = arena.Rent(16 * KiB);
        var ex = Assert.Throws<InvalidOperationException>(arena.Dispose);
        Assert.Contains(leaked.Block.ToString(), ex.Message, StringComparison.Ordinal);
        Assert.Contains(nameof(A_checked_arena_disposed_with_live_rentals_reports_them_with_their_rents_stack), ex.Message, StringComparison.Ordinal);
        Assert.True(arena.IsDisposed);
        arena.Dispose(); // reported once
        leaked.GetSpan().Fill(3); // still mapped
        Assert.False(arena.IsMemoryReleased);
        ((IDisposable)leaked).Dispose();
        Assert.True(arena.IsMemoryReleased);
    }

    [Fact]
    public void A_pinned_movable_rental_is_not_taken_back_and_a_returned_one_is_refused()
    {
        using NativeArena arena = NativeArena.Create(4 * MiB, new ArenaOptions { MaxOrder = 6, Mobility = MobilitySettings.Grouping with { PageblockOrder = 4 } });
        MovableBlock block = arena.RentMovable(Request.ForOrder(0));
        ulong allocated = Allocated(arena);
        using (ArenaPin pin = arena.Pin(block))
        {
            Assert.Throws<InvalidOperationException>(() => arena.Return(block));
            Assert.False(block.IsFreed);
            Assert.Equal(allocated, Allocated(arena));
        }

        arena.Return(block);
        Assert.Equal("block", Assert.Throws<ArgumentException>(() => arena.Return(block)).ParamName);
        Assert.Equal("block", Assert.Throws<ArgumentException>(() => arena.Pin(block)).ParamName);
        Assert.Equal(allocated - 1, Allocated(arena));
        arena.Pages.Validate();
    }
}

/// <summary>
/// Rentals used after their arena's disposal, each in a child process (tests/Buddy.CrashHost), so
/// an access violation fails the test instead of killing the runner.
/// </summary>
public class UseAfterArenaDisposeTests
{
    [Theory]
    [InlineData("memory", "ok\nObjectDisposedException")]
    [InlineData("pipe-segment", "ok\nObjectDisposedException")]
    [InlineData("memory-handle", "ok\nObjectDisposedException")]
    [InlineData("movable", "ok\nObjectDisposedException")]
    [InlineData("arena-pin", "ok\nObjectDisposedException")]
    public void A_rental_used_after_its_arena_was_disposed_works_until_returned_and_never_crashes(string scenario, string expected)
    {
        (int exitCode, string output, string errors) = RunCrashHost(scenario);
        Assert.True(exitCode == 0, $"the '{scenario}' child exited with {exitCode} (a signal means it crashed); stdout: {output}; stderr: {errors}");
        Assert.Equal(expected, output.ReplaceLineEndings("\n").Trim());
    }

    private static (int ExitCode, string Output, string Errors) RunCrashHost(string scenario)
    {
        string host = Path.Combine(AppContext.BaseDirectory, "crash-host", "Buddy.CrashHost.dll");
        Assert.True(File.Exists(host), $"{host} is missing: Buddy.Tests builds tests/Buddy.CrashHost and copies it there");
        var start = new System.Diagnostics.ProcessStartInfo(DotnetHost())
        {
            ArgumentList = { host, scenario },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var child = System.Diagnostics.Process.Start(start)!;
        Task<string> errors = child.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        string output = child.StandardOutput.ReadToEnd();
        if (!child.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            child.Kill();
            Assert.Fail($"the '{scenario}' child did not finish; stdout so far: {output}");
        }

        return (child.ExitCode, output, errors.GetAwaiter().GetResult());
    }

    // The dotnet host of the runtime running these tests: <root>/shared/Microsoft.NETCore.App/<version>/ -> <root>/dotnet.
    private static string DotnetHost()
    {
        string name = OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";
        string fromRuntime = Path.GetFullPath(Path.Combine(System.Runtime.InteropServices.RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", "..", name));
        string? fromSdk = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        return File.Exists(fromRuntime) ? fromRuntime : !string.IsNullOrEmpty(fromSdk) && File.Exists(fromSdk) ? fromSdk : name;
    }
}
