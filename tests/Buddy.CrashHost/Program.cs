// Buddy.CrashHost: runs one named use-after-arena-dispose scenario and prints one line per step —
// "ok" or the name of the exception the step threw as expected. Exit code 0 when the scenario ran
// to its end; an access violation kills the process with a signal instead, which the test sees.
using System.Buffers;
using System.IO.Pipelines;
using Buddy;
using Buddy.Memory;

return args.Length == 1 && Scenarios.All.TryGetValue(args[0], out Action? scenario)
    ? Run(scenario)
    : Usage();

static int Run(Action scenario)
{
    try
    {
        scenario();
        return 0;
    }
    catch (Exception e)
    {
        Console.WriteLine($"unexpected {e.GetType().Name}: {e.Message}");
        return 1;
    }
}

static int Usage()
{
    Console.Error.WriteLine($"usage: Buddy.CrashHost <scenario>; scenarios: {string.Join(", ", Scenarios.All.Keys)}");
    return 2;
}

/// <summary>The scenarios: each uses a rental after its arena was disposed.</summary>
internal static unsafe class Scenarios
{
    public static readonly Dictionary<string, Action> All = new()
    {
        ["memory"] = Memory,
        ["pipe-segment"] = PipeSegment,
        ["memory-handle"] = MemoryHandle,
        ["movable"] = Movable,
        ["arena-pin"] = ArenaPinned,
    };

    private static ArenaOptions Movables => new() { MaxOrder = 6, Mobility = MobilitySettings.GroupingAndCompaction with { PageblockOrder = 4 } };

    // An ArenaMemory written and read after the arena's disposal, then given back.
    private static void Memory()
    {
        NativeArena arena = NativeArena.Create(4 * Buddy.Units.MiB);
        ArenaMemory m = arena.Rent(64 * Buddy.Units.KiB);
        arena.Dispose();
        m.GetSpan().Fill(0x5A);
        Say(m.GetSpan().IndexOfAnyExcept((byte)0x5A) < 0);
        ((IDisposable)m).Dispose();
        Expect<ObjectDisposedException>(() => m.GetSpan().Fill(1));
    }

    // A pipe over the arena's pool: data written before the arena's disposal is read after it.
    private static void PipeSegment()
    {
        NativeArena arena = NativeArena.Create(4 * Buddy.Units.MiB);
        var pipe = new Pipe(new PipeOptions(pool: arena.Pool, minimumSegmentSize: 4096, pauseWriterThreshold: 0, useSynchronizationContext: false));
        byte[] data = [.. Enumerable.Range(0, 100_000).Select(i => (byte)i)];
        pipe.Writer.Write(data);
        pipe.Writer.FlushAsync().AsTask().GetAwaiter().GetResult();
        pipe.Writer.Complete();
        arena.Dispose();
        ReadResult read = pipe.Reader.ReadAsync().AsTask().GetAwaiter().GetResult();
        Say(read.Buffer.ToArray().AsSpan().SequenceEqual(data));
        pipe.Reader.AdvanceTo(read.Buffer.End);
        pipe.Reader.Complete(); // gives the segments back: the memory is unmapped now
        Expect<ObjectDisposedException>(() => arena.Pool.Rent(4096));
    }

    // A MemoryHandle outlives both the arena and its rental's Dispose: the block waits for the unpin.
    private static void MemoryHandle()
    {
        NativeArena arena = NativeArena.Create(4 * Buddy.Units.MiB);
        ArenaMemory m = arena.Rent(4 * Buddy.Units.KiB);
        System.Buffers.MemoryHandle pin = m.Memory.Pin();
        arena.Dispose();
        ((IDisposable)m).Dispose();
        var bytes = new Span<byte>(pin.Pointer, 4096);
        bytes.Fill(7);
        Say(bytes.IndexOfAnyExcept((byte)7) < 0);
        pin.Dispose();
        Expect<ObjectDisposedException>(() => m.Pin());
    }

    // A movable rental pinned, compacted and given back after the arena's disposal.
    private static void Movable()
    {
        NativeArena arena = NativeArena.Create(4 * Buddy.Units.MiB, Movables);
        List<MovableBlock> blocks = [.. Enumerable.Range(0, 64).Select(_ => arena.RentMovable(Request.ForOrder(0)))];
        for (int i = 0; i < blocks.Count; i += 2)
        {
            arena.Return(blocks[i]);
        }

        arena.Dispose();
        arena.Pages.Compact(ZoneKind.Normal); // moves copy bytes within the still-mapped arena
        using (ArenaPin pin = arena.Pin(blocks[1]))
        {
            pin.Span.Fill(9);
            Say(pin.Span.IndexOfAnyExcept((byte)9) < 0);
        }

        for (int i = 1; i < blocks.Count; i += 2)
        {
            arena.Return(blocks[i]);
        }

        Expect<ObjectDisposedException>(() => arena.RentMovable(Request.ForOrder(0)));
    }

    // An ArenaPin taken before the arena's disposal keeps its span.
    private static void ArenaPinned()
    {
        NativeArena arena = NativeArena.Create(4 * Buddy.Units.MiB, Movables);
        MovableBlock block = arena.RentMovable(Request.ForOrder(1));
        ArenaPin pin = arena.Pin(block);
        arena.Dispose();
        pin.Span.Fill(4);
        Say(pin.Span.IndexOfAnyExcept((byte)4) < 0);
        pin.Dispose();
        arena.Return(block);
        Expect<ObjectDisposedException>(() => _ = pin.Span.Length);
    }

    private static void Say(bool ok) => Console.WriteLine(ok ? "ok" : "wrong bytes");

    private static void Expect<T>(Action step)
        where T : Exception
    {
        try
        {
            step();
            Console.WriteLine("no exception");
        }
        catch (T e)
        {
            Console.WriteLine(e.GetType().Name);
        }
    }
}
