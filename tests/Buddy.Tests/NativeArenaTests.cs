using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.InteropServices;
using Buddy.Memory;
using static Buddy.Units;

namespace Buddy.Tests;

public sealed class NativeArenaTests : IDisposable
{
    private readonly NativeArena _arena = NativeArena.Create(64 * MiB, new ArenaOptions
    {
        ZonesByOffset = [new(ZoneKind.Dma, 16 * MiB), new(ZoneKind.Normal, ulong.MaxValue)],
    });

    public void Dispose() => _arena.Dispose();

    [Fact]
    public void The_arena_is_aligned_to_its_largest_block_so_real_addresses_are_naturally_aligned()
    {
        Assert.Equal(0UL, _arena.BaseAddress % (4 * MiB));
        for (int order = 0; order <= 10; order++)
        {
            using ArenaMemory m = _arena.Rent(Request.ForOrder(order));
            ulong address = (ulong)m.DangerousGetPointer();
            Assert.Equal(0UL, address % (4096UL << order));
            Assert.Equal(m.Block.Address, address);
            Assert.Equal(4096 << order, m.Memory.Length);
        }
    }

    [Fact]
    public void Zones_defined_on_arena_offsets_hold_dma_requests_in_the_first_16_MiB()
    {
        using ArenaMemory dma = _arena.Rent(Request.ForBytes(64 * KiB).InZone(ZoneKind.Dma).NotCrossing(64 * KiB));
        Assert.InRange(dma.Block.Address - _arena.BaseAddress, 0UL, (16 * MiB) - (64 * KiB));
        using ArenaMemory normal = _arena.Rent(Request.ForBytes(64 * KiB));
        Assert.True(normal.Block.Address - _arena.BaseAddress >= 16 * MiB, "ordinary requests use the Normal zone first");
    }

    [Fact]
    public void Zeroing_on_request_clears_memory_that_was_written_before()
    {
        ulong address;
        using (ArenaMemory dirty = _arena.Rent(8 * KiB))
        {
            dirty.GetSpan().Fill(0xFF);
            address = dirty.Block.Address;
        }

        using ArenaMemory clean = _arena.Rent(8 * KiB, clear: true);
        Assert.Equal(address, clean.Block.Address); // the same block comes back (lowest address first)
        Assert.True(clean.GetSpan().IndexOfAnyExcept((byte)0) < 0);
    }

    [Fact]
    public void Pins_are_counted_and_disposal_gives_the_block_back_once()
    {
        ulong before = _arena.Pages.FreePages;
        ArenaMemory m = _arena.Rent(4096);
        using (MemoryHandle h = m.Memory.Pin())
        {
            Assert.Equal(1, m.PinCount);
        }

        Assert.Equal(0, m.PinCount);
        Assert.Throws<ArgumentOutOfRangeException>(() => m.Pin(4097));
        ((IDisposable)m).Dispose();
        ((IDisposable)m).Dispose();
        _arena.DrainCaches(); // the block waits in this thread's cache until then
        Assert.Equal(before, _arena.Pages.FreePages);
        Assert.Throws<ObjectDisposedException>(() => m.GetSpan());
        Assert.Throws<ObjectDisposedException>(() => m.DangerousGetPointer());
        _arena.Pages.Validate();
    }

    [Fact]
    public async Task A_pipe_on_the_pool_moves_several_MiB_and_every_segment_comes_from_the_arena()
    {
        BuddyMemoryPool pool = _arena.Pool;
        long rentalsBefore = pool.Rentals;
        var pipe = new Pipe(new PipeOptions(pool: pool, minimumSegmentSize: 16 * 1024, pauseWriterThreshold: 0));
        const int Total = 6 * 1024 * 1024;
        var expected = new byte[Total];
        new Random(5).NextBytes(expected);

        Task writer = Task.Run(async () =>
        {
            for (int offset = 0; offset < Total; offset += 100_000)
            {
                int n = Math.Min(100_000, Total - offset);
                await pipe.Writer.WriteAsync(expected.AsMemory(offset, n), TestContext.Current.CancellationToken);
            }

            await pipe.Writer.CompleteAsync();
        }, TestContext.Current.CancellationToken);

        var received = new byte[Total];
        int got = 0, segments = 0;
        while (true)
        {
            ReadResult result = await pipe.Reader.ReadAsync(TestContext.Current.CancellationToken);
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                if (segment.IsEmpty)
                {
                    continue;
                }

                Assert.True(MemoryMarshal.TryGetMemoryManager(segment, out ArenaMemory? manager), "a segment did not come from the Buddy pool");
                ulong address = manager!.Block.Address;
                Assert.InRange(address, _arena.BaseAddress, _arena.BaseAddress + _arena.Size - 1);
                segment.CopyTo(received.AsMemory(got));
                got += segment.Length;
                segments++;
            }

            pipe.Reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }

        await writer;
        await pipe.Reader.CompleteAsync();
        Assert.Equal(Total, got);
        Assert.Equal(expected, received);
        Assert.True(segments > 0);
        Assert.True(pool.Rentals > rentalsBefore);
        _arena.Pages.Validate();
    }

    [Fact]
    public void Bad_arena_arguments_are_refused_naming_them()
    {
        Assert.Equal("size", Assert.Throws<ArgumentException>(() => NativeArena.Create(0)).ParamName);
        Assert.Equal("size", Assert.Throws<ArgumentException>(() => NativeArena.Create(5000)).ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => new BuddyMemoryPool(_arena, maxBufferSize: 64 * 1024 * 1024));
    }

    [Fact]
    public void Transparent_huge_page_advice_and_an_arena_over_an_abstract_request_work_together()
    {
        using NativeArena thp = NativeArena.Create(8 * MiB, new ArenaOptions { TransparentHugePages = true, MaxOrder = 9 });
        using ArenaMemory m = thp.Rent(Request.ForOrder(9));
        m.GetSpan().Fill(7);
        Assert.Equal(0UL, m.Block.Address % (2 * MiB));
        Assert.Equal(MachineLayout.DefaultMaxOrder - 1, thp.Pages.MaxOrder);
    }
}

public class CheckedArenaTests
{
    [Fact]
    public void A_planted_write_after_free_is_caught_at_the_next_rent_of_that_memory()
    {
        using NativeArena arena = NativeArena.Create(4 * MiB, new ArenaOptions { Checked = true });
        ArenaMemory first = arena.Rent(8 * KiB);
        nint pointer = first.DangerousGetPointer();
        ((IDisposable)first).Dispose();
        Marshal.WriteByte(pointer + 5000, 42); // a write after free
        var ex = Assert.Throws<InvalidOperationException>(() => arena.Rent(8 * KiB));
        Assert.Contains("Write after free", ex.Message, StringComparison.Ordinal);
        Assert.Contains($"0x{pointer + 5000:x}", ex.Message, StringComparison.Ordinal);
        arena.Pages.Validate();
        Assert.Equal(0UL, arena.Pages.AllocatedPages); // the block went back before the throw
    }

    [Fact]
    public void A_planted_double_return_throws_with_the_first_return_and_leaks_name_their_rent()
    {
        using NativeArena arena = NativeArena.Create(4 * MiB, new ArenaOptions { Checked = true });
        ArenaMemory m = arena.Rent(4 * KiB);
        ((IDisposable)m).Dispose();
        var ex = Assert.Throws<InvalidOperationException>(() => ((IDisposable)m).Dispose());
        Assert.Contains("returned twice", ex.Message, StringComparison.Ordinal);
        Assert.Contains(nameof(A_planted_double_return_throws_with_the_first_return_and_leaks_name_their_rent), ex.Message, StringComparison.Ordinal);

        ArenaMemory leaked = arena.Rent(16 * KiB);
        var leak = Assert.Throws<InvalidOperationException>(arena.ThrowIfLeaked);
        Assert.Contains(leaked.Block.ToString(), leak.Message, StringComparison.Ordinal);
        Assert.Contains(nameof(A_planted_double_return_throws_with_the_first_return_and_leaks_name_their_rent), leak.Message, StringComparison.Ordinal);
        ((IDisposable)leaked).Dispose();
        arena.ThrowIfLeaked();
    }

    [Fact]
    public void In_the_checked_mode_a_poisoned_page_that_small_rentals_wrote_is_not_taken_for_a_write_after_free()
    {
        using NativeArena arena = NativeArena.Create(16 * MiB, new ArenaOptions { Checked = true });
        ArenaMemory[] pages = [.. Enumerable.Range(0, 8).Select(_ => arena.Rent(4 * KiB))];
        foreach (IDisposable page in pages)
        {
            page.Dispose(); // poisoned, and marked so
        }

        ArenaMemory[] small = [.. Enumerable.Range(0, 8 * 64).Select(_ => arena.Rent(64))]; // slab pages: the poisoned ones first
        foreach (ArenaMemory block in small)
        {
            block.GetSpan().Fill(0x11);
        }

        foreach (IDisposable block in small)
        {
            block.Dispose(); // the slab pages go back to the allocator
        }

        ArenaMemory[] again = [.. Enumerable.Range(0, 64).Select(_ => arena.Rent(4 * KiB))]; // no false "write after free"
        foreach (IDisposable page in again)
        {
            page.Dispose();
        }

        Assert.Equal(0UL, arena.Pages.AllocatedPages);
    }

    [Fact]
    public void In_the_checked_mode_a_pinned_rental_disposed_goes_back_at_its_last_unpin_and_a_second_dispose_is_reported()
    {
        using NativeArena arena = NativeArena.Create(4 * MiB, new ArenaOptions { Checked = true });
        ArenaMemory m = arena.Rent(4 * KiB);
        MemoryHandle first = m.Pin();
        MemoryHandle second = m.Pin();
        ((IDisposable)m).Dispose();
        Assert.True(m.IsDisposed);
        Assert.Equal(2, m.PinCount);
        Assert.Equal(4 * KiB, (ulong)m.Length); // still its memory while pinned
        first.Dispose();
        Assert.Equal(1UL, arena.Pages.AllocatedPages);
        second.Dispose(); // the last pin gives the block back
        Assert.Equal(0UL, arena.Pages.AllocatedPages);
        Assert.Equal("a returned arena rental", m.ToString());
        Assert.Throws<ObjectDisposedException>(() => m.Length);
        var ex = Assert.Throws<InvalidOperationException>(() => ((IDisposable)m).Dispose());
        Assert.Contains("returned twice", ex.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(m.Unpin); // no pin left to release
    }

    [Fact]
    public void Movable_rentals_keep_their_bytes_when_compaction_moves_them_and_a_pinned_one_stays()
    {
        using NativeArena arena = NativeArena.Create(4 * MiB, new ArenaOptions
        {
            MaxOrder = 6,
            Mobility = MobilitySettings.GroupingAndCompaction with { PageblockOrder = 4 },
        });
        var blocks = new List<MovableBlock>();
        for (int i = 0; i < 600; i++)
        {
            MovableBlock b = arena.RentMovable(Request.ForOrder(0));
            using (ArenaPin pin = arena.Pin(b))
            {
                pin.Span.Fill((byte)i);
            }

            blocks.Add(b);
        }

        for (int i = 0; i < blocks.Count; i += 2)
        {
            arena.Return(blocks[i]);
        }

        MovableBlock pinnedBlock = blocks[1];
        ArenaPin held = arena.Pin(pinnedBlock);
        ulong pinnedAt = held.Address;
        CompactionResult result = arena.Pages.Compact(ZoneKind.Normal);
        Assert.True(result.PagesMoved > 0, $"{result}");
        Assert.Equal(pinnedAt, pinnedBlock.Block.Address);
        held.Dispose();
        for (int i = 1; i < blocks.Count; i += 2)
        {
            using ArenaPin pin = arena.Pin(blocks[i]);
            Assert.True(pin.Span.IndexOfAnyExcept((byte)i) < 0, $"block {i} lost its bytes when it moved");
        }

        Assert.Contains(blocks, b => b.Moves > 0);
        arena.Pages.Validate();
    }
}

public class ArenaZoneAndLockTests
{
    [Fact]
    public void Zones_by_real_address_follow_the_arena_s_real_placement()
    {
        // The limit is a real address near where mmap places arenas; wherever this one lands,
        // its zones must be cut exactly at that address.
        using NativeArena probe = NativeArena.Create(8 * MiB);
        ulong limit = probe.BaseAddress + (4 * MiB);
        using NativeArena arena = NativeArena.Create(8 * MiB, new ArenaOptions
        {
            ZonesByAddress = [new(ZoneKind.Dma32, limit), new(ZoneKind.Normal, ulong.MaxValue)],
        });
        IReadOnlyList<ZoneStats> zones = arena.Pages.GetZoneStats();
        ulong start = arena.BaseAddress, end = arena.BaseAddress + arena.Size;
        var expected = new List<(ZoneKind, ulong, ulong)>();
        if (start < limit)
        {
            expected.Add((ZoneKind.Dma32, start, Math.Min(end, limit)));
        }

        if (end > limit)
        {
            expected.Add((ZoneKind.Normal, Math.Max(start, limit), end));
        }

        Assert.Equal(expected, zones.Select(z => (z.Kind, z.StartPfn * 4096, z.EndPfn * 4096)));
    }

    [Fact]
    public void An_arena_can_be_locked_in_memory_where_the_process_may_lock()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && Environment.IsPrivilegedProcess, "mlock of 4 MiB needs CAP_IPC_LOCK or a large RLIMIT_MEMLOCK; the test runs as root");
        using NativeArena arena = NativeArena.Create(4 * MiB, new ArenaOptions { Lock = true });
        using ArenaMemory m = arena.Rent(1 * MiB, clear: true);
        Assert.True(m.GetSpan().IndexOfAnyExcept((byte)0) < 0);
    }
}
