// Arenas that grow and give memory back (issue 13): a reservation committed in chunks as rentals
// first need them, free chunks given back to the OS (explicitly, on a timer, past a threshold) and
// reused, the resident-bytes metric, commit failures and refused options. Memory is measured as the
// RSS of the arena's own mapping (its VMAs in /proc/self/smaps), so other tests running in
// parallel do not disturb it. Nothing here is timed: the timer tests poll with a generous timeout.
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Buddy.Memory;
using static Buddy.Units;

namespace Buddy.Tests;

/// <summary>An arena made without a size reserves a large range and commits it chunk by chunk; a maximum is enforced.</summary>
public class ArenaGrowthTests
{
    private const ulong Chunk = 2 * MiB; // the commit chunk of arenas with 4 KiB pages and MaxOrder 10

    [Fact]
    public void An_arena_made_with_defaults_reserves_the_default_maximum_and_rents_and_writes_blocks_of_every_order()
    {
        using NativeArena arena = NativeArena.Create();
        Assert.Equal(ArenaOptions.DefaultMaxSize, arena.Size);
        Assert.Equal(64 * GiB, arena.Size);
        Assert.Equal(0UL, arena.CommittedBytes); // address space only
        Assert.Equal(0UL, arena.ResidentBytes);

        var rentals = new List<ArenaMemory>();
        for (int order = 0; order <= arena.Pages.MaxOrder; order++)
        {
            ArenaMemory m = arena.Rent(Request.ForOrder(order));
            Assert.Equal(0UL, m.Block.Address % (4096UL << order)); // natural alignment holds as before
            m.GetSpan().Fill((byte)(order + 1));
            rentals.Add(m);
        }

        for (int order = 0; order < rentals.Count; order++)
        {
            Assert.True(rentals[order].GetSpan().IndexOfAnyExcept((byte)(order + 1)) < 0);
        }

        Assert.InRange(arena.CommittedBytes, 4 * MiB, 16 * MiB); // 8 MiB rented: a few chunks, not 64 GiB
        Assert.True(arena.ResidentBytes <= arena.CommittedBytes);
        rentals.ForEach(m => ((IDisposable)m).Dispose());
        arena.Pages.Validate();
    }

    [Fact]
    public void An_arena_with_a_small_maximum_fails_clearly_when_full_and_frees_make_room_again()
    {
        using NativeArena arena = NativeArena.Create(new ArenaOptions { MaxSize = 8 * MiB });
        Assert.Equal(8 * MiB, arena.Size);
        ArenaMemory a = arena.Rent(4 * MiB);
        ArenaMemory b = arena.Rent(4 * MiB);
        a.GetSpan().Fill(1);
        b.GetSpan().Fill(2);

        var full = Assert.Throws<AllocationFailedException>(() => arena.Rent(4 * KiB));
        Assert.Equal(FailureReason.OutOfMemory, full.Failure!.Reason);
        Assert.Contains("not enough free memory", full.Message, StringComparison.Ordinal);
        Assert.Throws<AllocationFailedException>(() => arena.Pool.Rent(4096));
        Assert.False(arena.Pages.TryAllocate(Request.ForOrder(0), out _)); // the Try form says false
        Assert.Equal(8 * MiB, arena.CommittedBytes);

        ((IDisposable)a).Dispose();
        using ArenaMemory again = arena.Rent(4 * KiB);
        again.GetSpan().Fill(3);
        Assert.True(b.GetSpan().IndexOfAnyExcept((byte)2) < 0);
        ((IDisposable)b).Dispose();
        arena.Pages.Validate();
    }

    [Fact]
    public void Growth_past_the_first_chunk_commits_chunk_by_chunk_and_every_byte_is_writable()
    {
        using NativeArena arena = NativeArena.Create(new ArenaOptions { GiveBackFreeMemory = false });
        var rentals = new List<ArenaMemory>();
        var committed = new List<ulong> { arena.CommittedBytes };
        for (int i = 0; i < 24; i++) // 24 MiB in 1 MiB blocks: twelve chunks
        {
            ArenaMemory m = arena.Rent(1 * MiB);
            m.GetSpan().Fill((byte)(i + 1));
            rentals.Add(m);
            committed.Add(arena.CommittedBytes);
        }

        Assert.Equal(0UL, committed[0]);
        for (int i = 1; i < committed.Count; i++)
        {
            Assert.True(committed[i] >= committed[i - 1], "committed bytes never shrink while renting");
        }

        ulong chunks = (ulong)rentals.Select(m => (m.Block.Address - arena.BaseAddress) / Chunk).Distinct().Count();
        Assert.Equal(chunks * Chunk, arena.CommittedBytes); // exactly the chunks the rentals lie in
        Assert.Equal(arena.CommittedBytes, arena.ResidentBytes);
        Assert.True(arena.CommittedBytes >= 24 * MiB);
        for (int i = 0; i < rentals.Count; i++)
        {
            Assert.True(rentals[i].GetSpan().IndexOfAnyExcept((byte)(i + 1)) < 0, $"rental {i} lost its bytes");
        }

        // A block larger than a chunk commits all of its chunks.
        using ArenaMemory big = arena.Rent(4 * MiB);
        big.GetSpan().Fill(0x5A);
        Assert.Equal((chunks + 2) * Chunk, arena.CommittedBytes);
        rentals.ForEach(m => ((IDisposable)m).Dispose());
        arena.Pages.Validate();
    }

    [Fact]
    public void A_movable_rental_commits_the_whole_arena_so_that_moves_may_land_anywhere()
    {
        using NativeArena arena = NativeArena.Create(new ArenaOptions { MaxSize = 16 * MiB, GiveBackFreeMemory = false });
        MovableBlock block = arena.RentMovable(Request.ForOrder(0));
        Assert.Equal(16 * MiB, arena.CommittedBytes);
        using (ArenaPin pin = arena.Pin(block))
        {
            pin.Span.Fill(0x42);
        }

        using ArenaMemory filler = arena.Rent(4 * KiB); // the allocator takes the lowest block: the move goes above
        Assert.True(arena.Pages.Migrate(block));
        using (ArenaPin pin = arena.Pin(block))
        {
            Assert.True(pin.Span.IndexOfAnyExcept((byte)0x42) < 0, "the moved block lost its bytes");
        }

        Assert.True(block.Moves > 0);
        arena.Return(block);
        arena.Pages.Validate();
    }

    [Fact]
    public void A_raw_block_from_the_allocator_is_made_usable_by_Commit()
    {
        using NativeArena arena = NativeArena.Create(new ArenaOptions { MaxSize = 16 * MiB });
        Block raw = arena.Pages.Allocate(Request.ForOrder(10));
        arena.Commit(raw);
        unsafe
        {
            new Span<byte>((void*)raw.Address, (int)raw.Size).Fill(7);
        }

        Assert.True(arena.ResidentBytes >= raw.Size);
        var other = new PageAllocator(MachineLayout.Flat(4 * MiB));
        Assert.Equal("block", Assert.Throws<ArgumentException>(() => arena.Commit(other.Allocate(Request.ForOrder(0)))).ParamName);
        arena.Pages.Free(raw);
    }

    [Fact]
    public void A_locked_arena_commits_everything_up_front_and_gives_nothing_back()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && Environment.IsPrivilegedProcess, "mlock of 4 MiB needs CAP_IPC_LOCK or a large RLIMIT_MEMLOCK; the test runs as root");
        using NativeArena arena = NativeArena.Create(new ArenaOptions { Lock = true, MaxSize = 4 * MiB });
        Assert.Equal(4 * MiB, arena.CommittedBytes);
        Assert.Equal(4 * MiB, arena.ResidentBytes);
        Assert.Equal(0UL, arena.GiveBack());
        Assert.Equal(4 * MiB, arena.ResidentBytes);
    }
}

/// <summary>Free memory goes back to the OS (explicitly, on a timer, past a threshold) and is reused transparently.</summary>
public class ArenaGiveBackTests
{
    [Theory]
    [InlineData(2 * MiB, 256 * MiB)]
    [InlineData(4 * KiB, 64 * MiB)]
    public void Given_back_memory_leaves_the_arena_s_RSS_and_comes_back_zero_filled_and_writable(ulong blockBytes, ulong burst)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "the arena's RSS is read from /proc/self/smaps");
        using NativeArena arena = NativeArena.Create(new ArenaOptions { GiveBackFreeMemory = false }); // no timer: the test gives back
        ulong before = ArenaRss.Of(arena);

        List<ArenaMemory> rentals = RentAndWrite(arena, blockBytes, burst, 0xAB);
        ulong written = ArenaRss.Of(arena);
        Assert.True(written >= before + (burst * 9 / 10), $"RSS {written} after writing {burst} bytes (before: {before})");
        Assert.Equal(burst, arena.ResidentBytes);
        var addresses = rentals.Select(m => m.Block.Address).ToHashSet();
        rentals.ForEach(m => ((IDisposable)m).Dispose());
        Assert.True(ArenaRss.Of(arena) >= before + (burst * 9 / 10), "returning blocks alone gives nothing back");

        ulong given = arena.GiveBack();
        ulong after = ArenaRss.Of(arena);
        Assert.Equal(burst, given);
        Assert.Equal(0UL, arena.ResidentBytes);
        Assert.Equal(burst, arena.CommittedBytes); // still committed (Linux keeps the mapping read-write)
        Assert.True(after <= before + (burst / 10), $"RSS {after} after giving back {given} bytes of {written}");
        Assert.Equal(0UL, arena.GiveBack()); // each chunk is given back once
        Assert.Null(arena.LastGiveBackError);

        // Reuse: the same memory comes back, reads zeros, and fills the RSS again when written.
        List<ArenaMemory> again = [];
        for (ulong rented = 0; rented < burst; rented += blockBytes)
        {
            ArenaMemory m = arena.Rent(blockBytes);
            Assert.Contains(m.Block.Address, addresses);
            Assert.True(m.GetSpan().IndexOfAnyExcept((byte)0) < 0, "given-back memory reads zeros");
            m.GetSpan().Fill(0xCD);
            again.Add(m);
        }

        ulong rewritten = ArenaRss.Of(arena);
        Assert.True(rewritten >= after + (burst * 9 / 10), $"RSS {rewritten} after rewriting (given back: {after})");
        Assert.Equal(burst, arena.ResidentBytes);
        Assert.All(again, m => Assert.True(m.GetSpan().IndexOfAnyExcept((byte)0xCD) < 0));
        again.ForEach(m => ((IDisposable)m).Dispose());
        arena.Pages.Validate();
    }

    [Fact]
    public void Only_free_chunks_of_the_give_back_order_go_back_and_live_rentals_keep_their_bytes()
    {
        using NativeArena arena = NativeArena.Create(new ArenaOptions { GiveBackFreeMemory = false });
        List<ArenaMemory> rentals = RentAndWrite(arena, 1 * MiB, 16 * MiB, 0x11);
        for (int i = 0; i < rentals.Count; i += 2)
        {
            ((IDisposable)rentals[i]).Dispose(); // every chunk keeps one live half
        }

        Assert.Equal(0UL, arena.GiveBack());
        for (int i = 1; i < rentals.Count; i += 2)
        {
            Assert.True(rentals[i].GetSpan().IndexOfAnyExcept((byte)0x11) < 0);
            ((IDisposable)rentals[i]).Dispose();
        }

        Assert.Equal(16 * MiB, arena.GiveBack());

        // An order above the chunk: only free blocks of 4 MiB and more go back.
        using NativeArena coarse = NativeArena.Create(new ArenaOptions { GiveBackFreeMemory = false, GiveBackOrder = 10 });
        List<ArenaMemory> two = RentAndWrite(coarse, 2 * MiB, 4 * MiB, 0x22);
        ((IDisposable)two[0]).Dispose();
        Assert.Equal(0UL, coarse.GiveBack()); // its 2 MiB buddy is live: no free 4 MiB block
        ((IDisposable)two[1]).Dispose();
        Assert.Equal(4 * MiB, coarse.GiveBack());
    }

    [Fact]
    public void The_timer_gives_free_memory_back_without_a_call()
    {
        using NativeArena arena = NativeArena.Create(new ArenaOptions { GiveBackDelay = TimeSpan.FromMilliseconds(100) });
        List<ArenaMemory> rentals = RentAndWrite(arena, 2 * MiB, 32 * MiB, 0x77);
        ulong written = OperatingSystem.IsLinux() ? ArenaRss.Of(arena) : 0;
        rentals.ForEach(m => ((IDisposable)m).Dispose());

        Assert.True(PollUntil(() => arena.ResidentBytes == 0), $"the timer gave nothing back within the timeout (resident: {arena.ResidentBytes})");
        if (OperatingSystem.IsLinux())
        {
            ulong after = ArenaRss.Of(arena);
            Assert.True(after + (30 * MiB) <= written, $"RSS {after} after the timer's give-back, {written} before");
        }

        using ArenaMemory reused = arena.Rent(2 * MiB);
        Assert.True(reused.GetSpan().IndexOfAnyExcept((byte)0) < 0 || !OperatingSystem.IsLinux());
        reused.GetSpan().Fill(1);
        Assert.Null(arena.LastGiveBackError);
    }

    [Fact]
    public void Free_memory_past_the_threshold_is_given_back_without_waiting_for_the_timer()
    {
        using NativeArena arena = NativeArena.Create(new ArenaOptions { GiveBackDelay = Timeout.InfiniteTimeSpan, GiveBackThreshold = 16 * MiB });
        List<ArenaMemory> rentals = RentAndWrite(arena, 1 * MiB, 128 * MiB, 0x33); // 128 returns: two threshold checks
        rentals.ForEach(m => ((IDisposable)m).Dispose());
        Assert.True(PollUntil(() => arena.ResidentBytes < 16 * MiB), $"nothing was given back past the threshold (resident: {arena.ResidentBytes})");
    }

    [Fact]
    public void Without_the_automatic_give_back_nothing_goes_back_until_asked()
    {
        using NativeArena arena = NativeArena.Create(new ArenaOptions { GiveBackFreeMemory = false, GiveBackDelay = TimeSpan.FromMilliseconds(1) });
        RentAndWrite(arena, 2 * MiB, 8 * MiB, 1).ForEach(m => ((IDisposable)m).Dispose());
        Thread.Sleep(200); // a hundred ticks of a timer that must not exist
        Assert.Equal(8 * MiB, arena.ResidentBytes);
        Assert.Equal(8 * MiB, arena.GiveBack());
    }

    [Fact]
    public void A_checked_arena_does_not_take_given_back_zeros_for_a_write_after_free_and_still_catches_one()
    {
        using NativeArena arena = NativeArena.Create(new ArenaOptions { Checked = true, MaxSize = 64 * MiB, GiveBackFreeMemory = false });
        ArenaMemory m = arena.Rent(2 * MiB);
        ulong address = m.Block.Address;
        m.GetSpan().Fill(9);
        ((IDisposable)m).Dispose(); // poisoned
        Assert.Equal(2 * MiB, arena.GiveBack()); // now zeros
        using (ArenaMemory again = arena.Rent(2 * MiB))
        {
            Assert.Equal(address, again.Block.Address);
            Assert.True(again.GetSpan().IndexOfAnyExcept((byte)0) < 0 || !OperatingSystem.IsLinux());
        }

        ArenaMemory victim = arena.Rent(8 * KiB);
        nint pointer = victim.DangerousGetPointer();
        ((IDisposable)victim).Dispose();
        System.Runtime.InteropServices.Marshal.WriteByte(pointer + 100, 42);
        var ex = Assert.Throws<InvalidOperationException>(() => arena.Rent(8 * KiB));
        Assert.Contains("Write after free", ex.Message, StringComparison.Ordinal);
        arena.ThrowIfLeaked();
    }

    [Fact]
    public void The_resident_bytes_gauge_reports_the_arena()
    {
        using NativeArena arena = NativeArena.Create(new ArenaOptions { GiveBackFreeMemory = false });
        using ArenaMemory m = arena.Rent(3 * MiB);
        long resident = -1, committed = -1, givenBack = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == BuddyMetrics.MeterName && instrument.Name.StartsWith("buddy.arena.", StringComparison.Ordinal))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            if (!tags.ToArray().Any(t => t.Key == "allocator" && (int)t.Value! == arena.Pages.Id))
            {
                return;
            }

            switch (instrument.Name)
            {
                case "buddy.arena.resident_bytes": resident = value; break;
                case "buddy.arena.committed_bytes": committed = value; break;
                case "buddy.arena.given_back": Interlocked.Add(ref givenBack, value); break;
            }
        });
        listener.Start();
        listener.RecordObservableInstruments();
        Assert.Equal((long)arena.ResidentBytes, resident);
        Assert.Equal((long)(4 * MiB), resident); // a 4 MiB block: two chunks
        Assert.Equal((long)arena.CommittedBytes, committed);

        RentAndWrite(arena, 2 * MiB, 4 * MiB, 1).ForEach(x => ((IDisposable)x).Dispose());
        arena.GiveBack();
        listener.RecordObservableInstruments();
        Assert.Equal((long)(4 * MiB), resident);
        Assert.Equal((long)(4 * MiB), givenBack);
    }

    [Fact]
    public void A_disposed_arena_gives_nothing_back_and_a_forgotten_one_is_not_kept_alive_by_its_timer()
    {
        NativeArena arena = NativeArena.Create(new ArenaOptions { GiveBackDelay = TimeSpan.FromMilliseconds(10) });
        arena.Dispose();
        Assert.Throws<ObjectDisposedException>(() => arena.GiveBack());
        Assert.Equal(0UL, arena.ResidentBytes);

        (WeakReference arenaRef, WeakReference pagesRef) = CreateAndForget();
        for (int i = 0; i < 10 && (arenaRef.IsAlive || pagesRef.IsAlive); i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        Assert.False(arenaRef.IsAlive, "the give-back timer kept an arena alive");
        Assert.False(pagesRef.IsAlive, "the give-back timer kept an arena's allocator alive");
    }

    // The sweep holds the allocator, the handle and the reservation, so the allocator's weak reference
    // shows whether the timer keeps the sweep alive.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static (WeakReference Arena, WeakReference Pages) CreateAndForget()
    {
        NativeArena arena = NativeArena.Create(new ArenaOptions { GiveBackDelay = TimeSpan.FromMilliseconds(10), MaxSize = 16 * MiB });
        using (arena.Rent(4 * KiB))
        {
        }

        return (new WeakReference(arena), new WeakReference(arena.Pages));
    }

    internal static List<ArenaMemory> RentAndWrite(NativeArena arena, ulong blockBytes, ulong total, byte value)
    {
        var rentals = new List<ArenaMemory>();
        for (ulong rented = 0; rented < total; rented += blockBytes)
        {
            ArenaMemory m = arena.Rent(blockBytes);
            m.GetSpan().Fill(value);
            rentals.Add(m);
        }

        return rentals;
    }

    private static bool PollUntil(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(30))
            {
                return false;
            }

            Thread.Sleep(20);
        }

        return true;
    }
}

/// <summary>Commit failures and impossible growth settings are clear errors that change nothing.</summary>
public class ArenaGrowthMisuseTests
{
    public static TheoryData<string, string> ImpossibleSettings => new()
    {
        { "MaxSize = 0", "MaxSize" },
        { "MaxSize not a page multiple", "MaxSize" },
        { "MaxSize above 2^62", "MaxSize" },
        { "MaxSize differs from size", "MaxSize" },
        { "Lock without MaxSize", "MaxSize" },
        { "GiveBackOrder = -1", "GiveBackOrder" },
        { "GiveBackOrder above MaxOrder", "GiveBackOrder" },
        { "GiveBackDelay = 0", "GiveBackDelay" },
        { "GiveBackDelay negative", "GiveBackDelay" },
        { "GiveBackDelay of 60 days", "GiveBackDelay" },
    };

    private static Func<NativeArena> Case(string name) => name switch
    {
        "MaxSize = 0" => () => NativeArena.Create(new ArenaOptions { MaxSize = 0 }),
        "MaxSize not a page multiple" => () => NativeArena.Create(new ArenaOptions { MaxSize = 5000 }),
        "MaxSize above 2^62" => () => NativeArena.Create(new ArenaOptions { MaxSize = (1UL << 62) + 4096 }),
        "MaxSize differs from size" => () => NativeArena.Create(4 * MiB, new ArenaOptions { MaxSize = 8 * MiB }),
        "Lock without MaxSize" => () => NativeArena.Create(new ArenaOptions { Lock = true }),
        "GiveBackOrder = -1" => () => NativeArena.Create(new ArenaOptions { GiveBackOrder = -1 }),
        "GiveBackOrder above MaxOrder" => () => NativeArena.Create(new ArenaOptions { MaxOrder = 6, GiveBackOrder = 7 }),
        "GiveBackDelay = 0" => () => NativeArena.Create(new ArenaOptions { GiveBackDelay = TimeSpan.Zero }),
        "GiveBackDelay negative" => () => NativeArena.Create(new ArenaOptions { GiveBackDelay = TimeSpan.FromSeconds(-1) }),
        "GiveBackDelay of 60 days" => () => NativeArena.Create(new ArenaOptions { GiveBackDelay = TimeSpan.FromDays(60) }),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "no such case"),
    };

    [Theory]
    [MemberData(nameof(ImpossibleSettings))]
    public void An_impossible_growth_setting_is_an_ArgumentException_naming_it_before_anything_is_reserved(string name, string setting)
    {
        int reservations = ArenaHandle.ReservationsOnThisThread;
        var ex = Assert.Throws<ArgumentException>(Case(name));
        Assert.Equal(setting, ex.ParamName);
        Assert.Contains("ArenaOptions." + setting, ex.Message, StringComparison.Ordinal);
        Assert.Equal(reservations, ArenaHandle.ReservationsOnThisThread);
    }

    [Fact]
    public void A_refused_commit_is_a_clear_AllocationFailedException_and_leaves_the_allocator_as_it_was()
    {
        using NativeArena arena = NativeArena.Create(new ArenaOptions { MaxSize = 64 * MiB, GiveBackFreeMemory = false });
        using ArenaMemory first = arena.Rent(4 * KiB); // one chunk committed
        ulong free = arena.Pages.FreePages, allocated = arena.Pages.AllocatedPages, committed = arena.CommittedBytes, resident = arena.ResidentBytes;
        string before = Dump(arena);

        try
        {
            Faults.FailCommit(1);
            var ex = Assert.Throws<AllocationFailedException>(() => arena.Rent(4 * MiB)); // two new chunks; the first commit fails
            Assert.Contains("refused to commit", ex.Message, StringComparison.Ordinal);
            Assert.Contains("Cannot allocate memory", ex.Message, StringComparison.Ordinal);
            Assert.Contains("given back", ex.Message, StringComparison.Ordinal);
            Assert.Equal((free, allocated, committed, resident), (arena.Pages.FreePages, arena.Pages.AllocatedPages, arena.CommittedBytes, arena.ResidentBytes));
            Assert.Equal(before, Dump(arena));
            arena.Pages.Validate();

            // The second chunk's commit fails: the first stays committed (counted), nothing turns resident.
            Faults.FailCommit(2);
            Assert.Throws<AllocationFailedException>(() => arena.Rent(4 * MiB));
            Assert.Equal((free, allocated, resident), (arena.Pages.FreePages, arena.Pages.AllocatedPages, arena.ResidentBytes));
            Assert.Equal(committed + (2 * MiB), arena.CommittedBytes);
            Assert.Equal(before, Dump(arena));

            Faults.FailCommit(1);
            Assert.Throws<AllocationFailedException>(() => arena.Pool.Rent(4 << 20)); // the pool's rent fails the same way
            Assert.Equal(before, Dump(arena));
        }
        finally
        {
            Faults.FailCommit(0);
        }

        using ArenaMemory works = arena.Rent(4 * MiB);
        works.GetSpan().Fill(1);
        arena.Pages.Validate();
    }

    [Fact]
    public void A_raw_commit_that_fails_keeps_the_block_for_its_owner()
    {
        using NativeArena arena = NativeArena.Create(new ArenaOptions { MaxSize = 16 * MiB });
        Block raw = arena.Pages.Allocate(Request.ForOrder(0));
        Faults.FailCommit(1);
        try
        {
            var ex = Assert.Throws<InsufficientMemoryException>(() => arena.Commit(raw));
            Assert.Contains("Cannot allocate memory", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            Faults.FailCommit(0);
        }

        Assert.Equal(1UL, arena.Pages.AllocatedPages);
        arena.Commit(raw);
        arena.Pages.Free(raw);
    }

    [Fact]
    public void A_movable_rental_that_cannot_commit_the_arena_allocates_nothing()
    {
        using NativeArena arena = NativeArena.Create(new ArenaOptions { MaxSize = 16 * MiB });
        Faults.FailCommit(1);
        try
        {
            var ex = Assert.Throws<AllocationFailedException>(() => arena.RentMovable(Request.ForOrder(0)));
            Assert.Contains("whole arena", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            Faults.FailCommit(0);
        }

        Assert.Equal(0UL, arena.Pages.AllocatedPages);
        Assert.Empty(arena.GetLiveRentals());
        MovableBlock ok = arena.RentMovable(Request.ForOrder(0));
        arena.Return(ok);
    }

    private static string Dump(NativeArena arena) => string.Join(";", arena.Pages.GetFreeBlocks().Select(b => string.Create(CultureInfo.InvariantCulture, $"{b.Address:x}/{b.Order}")));
}

/// <summary>The RSS of one arena's mapping: the Rss of the /proc/self/smaps VMAs inside its range.</summary>
internal static class ArenaRss
{
    public static ulong Of(NativeArena arena) => Of(arena.BaseAddress, arena.BaseAddress + arena.Size);

    public static ulong Of(ulong start, ulong end)
    {
        ulong total = 0;
        bool inside = false;
        foreach (string line in File.ReadLines("/proc/self/smaps"))
        {
            int dash = line.IndexOf('-', StringComparison.Ordinal);
            int space = line.IndexOf(' ', StringComparison.Ordinal);
            if (dash > 0 && space > dash
                && ulong.TryParse(line.AsSpan(0, dash), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong from)
                && ulong.TryParse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong to))
            {
                inside = from >= start && to <= end; // a VMA header
            }
            else if (inside && line.StartsWith("Rss:", StringComparison.Ordinal))
            {
                total += ulong.Parse(line.AsSpan(4).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) * KiB;
            }
        }

        return total;
    }
}
