// Workloads: the benchmark workloads of the performance issues (5, 12 and 13), written once and run
// by both `buddy bench` and BenchmarkDotNet, against Buddy and the baselines, with the layouts and
// set-up steps both tools share (the full x86 machine, the huge sparse space, the pipe).
using System.Buffers;
using System.IO.Pipelines;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Buddy.Bench;

/// <summary>The benchmark workloads: order-0 pairs and the random mixed workload, per allocator.</summary>
public static class Workloads
{
    /// <summary>The xorshift64 seed the mixed workload starts from.</summary>
    public const ulong Seed = 88172645463325252;

    /// <summary>The mixed workload's slots.</summary>
    public const int Slots = 65_536;

    /// <summary>The largest order the mixed workload asks for.</summary>
    public const int MaxMixedOrder = 6;

    /// <summary>How many random allocations the huge-space metadata figure makes.</summary>
    public const int HugeSpaceAllocations = 100_000;

    /// <summary>The huge space's description, for reports.</summary>
    public const string HugeSpaceName = "huge sparse space (MachineLayout.Flat(2^62) with MaxOrder 40, 4 KiB pages)";

    private static readonly Request[] s_orders = [.. Enumerable.Range(0, MaxMixedOrder + 1).Select(Request.ForOrder)];

    /// <summary>Issue 12's huge sparse space: 2^62 bytes of 4 KiB pages (2^50 pages), blocks of up to 2^40 pages, no thread caches.</summary>
    public static MachineLayout HugeSpace => MachineLayout.Flat(1UL << 62) with { MaxOrder = 40 };

    /// <summary>
    /// Builds an allocator over <paramref name="layout"/>, or returns <see langword="null"/> with the
    /// reason in <paramref name="refusal"/> when this build refuses the layout (its constructor throws
    /// <see cref="ArgumentException"/>), so a benchmark can say "not supported by this build".
    /// </summary>
    public static PageAllocator? TryCreate(MachineLayout layout, out string? refusal)
    {
        try
        {
            refusal = null;
            return new PageAllocator(layout);
        }
        catch (ArgumentException e)
        {
            refusal = e.Message;
            return null;
        }
    }

    /// <summary>
    /// Allocates order-0 pages from <paramref name="zone"/> (and the zones below it) until one lands
    /// below <paramref name="address"/>, which is kept too: fills what those zones hold at and above
    /// <paramref name="address"/>. With <see cref="ZoneKind.Dma32"/> and 16 MiB on an x86 layout of at
    /// most 4 GiB: "memory above 16 MiB full".
    /// </summary>
    public static void FillDownTo(PageAllocator pages, ZoneKind zone, ulong address)
    {
        ArgumentNullException.ThrowIfNull(pages);
        while (pages.TryAllocate(Request.ForOrder(0).InZone(zone), out Block b) && b.Address >= address)
        {
        }
    }

    /// <summary><paramref name="count"/> allocations of random orders 0..6 (picked as the mixed workload picks them), kept; returns them (empty where one failed).</summary>
    public static Block[] RandomAllocations(PageAllocator pages, ref ulong x, int count)
    {
        ArgumentNullException.ThrowIfNull(pages);
        var blocks = new Block[count];
        for (int i = 0; i < count; i++)
        {
            pages.TryAllocate(s_orders[OrderOf(Next(ref x))], out blocks[i]);
        }

        return blocks;
    }

    /// <summary>One xorshift64 step (Marsaglia's 13, 7, 17).</summary>
    public static ulong Next(ref ulong x)
    {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return x;
    }

    /// <summary>The order for a random value: its trailing zeros, capped at 6.</summary>
    public static int OrderOf(ulong random) => Math.Min(BitOperations.TrailingZeroCount(random), MaxMixedOrder);

    /// <summary><paramref name="count"/> order-0 allocate+free pairs through Buddy.</summary>
    public static void Order0Pairs(PageAllocator pages, int count)
    {
        ArgumentNullException.ThrowIfNull(pages);
        Request request = Request.ForOrder(0);
        for (int i = 0; i < count; i++)
        {
            pages.Free(pages.Allocate(request));
        }
    }

    /// <summary><paramref name="count"/> constrained allocate+free pairs through Buddy.</summary>
    public static void Pairs(PageAllocator pages, Request request, int count)
    {
        ArgumentNullException.ThrowIfNull(pages);
        for (int i = 0; i < count; i++)
        {
            pages.Free(pages.Allocate(request));
        }
    }

    /// <summary><paramref name="count"/> 4 KiB rent+return pairs through ArrayPool&lt;byte&gt;.Shared.</summary>
    public static void ArrayPoolPairs(int count) => ArrayPoolPairs(4096, count);

    /// <summary><paramref name="count"/> rent+return pairs of <paramref name="size"/> bytes through ArrayPool&lt;byte&gt;.Shared.</summary>
    public static void ArrayPoolPairs(int size, int count)
    {
        ArrayPool<byte> pool = ArrayPool<byte>.Shared;
        for (int i = 0; i < count; i++)
        {
            pool.Return(pool.Rent(size));
        }
    }

    /// <summary><paramref name="count"/> NativeMemory.AlignedAlloc(4096, 4096) + AlignedFree pairs.</summary>
    public static unsafe void NativeAlignedPairs(int count)
    {
        for (int i = 0; i < count; i++)
        {
            NativeMemory.AlignedFree(NativeMemory.AlignedAlloc(4096, 4096));
        }
    }

    /// <summary><paramref name="count"/> 4 KiB rent+dispose pairs through a <see cref="MemoryPool{T}"/>.</summary>
    public static void PoolPairs(MemoryPool<byte> pool, int count) => PoolPairs(pool, 4096, count);

    /// <summary><paramref name="count"/> rent+dispose pairs of <paramref name="size"/> bytes through a <see cref="MemoryPool{T}"/>.</summary>
    public static void PoolPairs(MemoryPool<byte> pool, int size, int count)
    {
        ArgumentNullException.ThrowIfNull(pool);
        for (int i = 0; i < count; i++)
        {
            pool.Rent(size).Dispose();
        }
    }

    /// <summary>
    /// <paramref name="count"/> rent+dispose pairs of <paramref name="size"/> bytes through
    /// <see cref="MemoryPool{T}.Shared"/>: the same loop as <see cref="PoolPairs(MemoryPool{byte}, int, int)"/>,
    /// kept apart so that in a process timing both, the JIT's profile of each loop sees one pool
    /// type and devirtualizes its calls, as BenchmarkDotNet's process per benchmark does.
    /// </summary>
    public static void SharedPoolPairs(int size, int count)
    {
        MemoryPool<byte> pool = MemoryPool<byte>.Shared;
        for (int i = 0; i < count; i++)
        {
            pool.Rent(size).Dispose();
        }
    }

    /// <summary>The smallest write of <see cref="PipeThroughput"/>: 4 KiB.</summary>
    public const int MinPipeWrite = 4096;

    private static int s_pipeSink;

    /// <summary>
    /// Moves <paramref name="bytes"/> through a <see cref="Pipe"/> whose segments come from
    /// <paramref name="pool"/> (the pipe's other options are its defaults: 4 KiB segments at least,
    /// the writer paused at 64 KiB unread). A writer task writes 4 KiB, 8 KiB, ... up to
    /// <paramref name="maxWrite"/> bytes in turn (4-64 KiB: 24.8 KiB on average), fills each write
    /// (memset) and flushes it; a reader task reads the first byte of every segment it is given and
    /// advances past everything. Waits for both. Returns the bytes the reader saw (= <paramref name="bytes"/>).
    /// </summary>
    /// <remarks>
    /// For <see cref="MemoryPool{T}.Shared"/> (and so for <see cref="PipeOptions.Default"/>) the pipe
    /// rents its segments from <see cref="ArrayPool{T}.Shared"/> directly: that is "the default pool".
    /// </remarks>
    /// <exception cref="InvalidOperationException">The reader saw a different number of bytes.</exception>
    public static long PipeThroughput(MemoryPool<byte> pool, long bytes, int maxWrite = 64 * 1024)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxWrite, MinPipeWrite);
        var pipe = new Pipe(new PipeOptions(pool: pool, useSynchronizationContext: false));
        Task writer = Task.Run(() => WritePipe(pipe.Writer, bytes, maxWrite));
        Task<long> reader = Task.Run(() => ReadPipe(pipe.Reader));
        Task.WaitAll(writer, reader);
        long read = reader.Result;
        return read == bytes ? read : throw new InvalidOperationException($"The pipe's reader saw {read} bytes of {bytes}.");
    }

    private static async Task WritePipe(PipeWriter writer, long bytes, int maxWrite)
    {
        int size = MinPipeWrite;
        byte fill = 0;
        for (long left = bytes; left > 0;)
        {
            int n = (int)Math.Min(left, size);
            writer.GetMemory(n).Span[..n].Fill(++fill);
            writer.Advance(n);
            FlushResult flushed = await writer.FlushAsync().ConfigureAwait(false);
            if (flushed.IsCompleted)
            {
                break;
            }

            left -= n;
            size = size >= maxWrite ? MinPipeWrite : size * 2;
        }

        await writer.CompleteAsync().ConfigureAwait(false);
    }

    private static async Task<long> ReadPipe(PipeReader reader)
    {
        long total = 0;
        int check = 0;
        while (true)
        {
            ReadResult result = await reader.ReadAsync().ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            foreach (ReadOnlyMemory<byte> segment in buffer)
            {
                if (!segment.IsEmpty)
                {
                    check += segment.Span[0];
                }
            }

            total += buffer.Length;
            reader.AdvanceTo(buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }

        await reader.CompleteAsync().ConfigureAwait(false);
        Volatile.Write(ref s_pipeSink, check); // keeps the reads
        return total;
    }

    /// <summary><paramref name="count"/> order-0 pairs through the reference buddy.</summary>
    public static void ReferencePairs(ReferenceBuddy buddy, int count)
    {
        ArgumentNullException.ThrowIfNull(buddy);
        for (int i = 0; i < count; i++)
        {
            buddy.Free(buddy.Allocate(0), 0);
        }
    }

    /// <summary>The mixed workload through Buddy: <paramref name="steps"/> steps over <paramref name="slots"/> (empty blocks = free slots).</summary>
    public static void Mixed(PageAllocator pages, Block[] slots, ref ulong x, int steps)
    {
        ArgumentNullException.ThrowIfNull(pages);
        ArgumentNullException.ThrowIfNull(slots);
        for (int i = 0; i < steps; i++)
        {
            ref Block slot = ref slots[(int)(Next(ref x) & (Slots - 1))];
            if (!slot.IsEmpty)
            {
                pages.Free(slot);
                slot = default;
            }
            else
            {
                pages.TryAllocate(s_orders[OrderOf(Next(ref x))], out slot);
            }
        }
    }

    /// <summary>The mixed workload through the reference buddy (slots hold page + 1, 0 for empty; orders beside).</summary>
    public static void Mixed(ReferenceBuddy buddy, int[] slots, byte[] orders, ref ulong x, int steps)
    {
        ArgumentNullException.ThrowIfNull(buddy);
        ArgumentNullException.ThrowIfNull(slots);
        ArgumentNullException.ThrowIfNull(orders);
        for (int i = 0; i < steps; i++)
        {
            int s = (int)(Next(ref x) & (Slots - 1));
            if (slots[s] != 0)
            {
                buddy.Free(slots[s] - 1, orders[s]);
                slots[s] = 0;
            }
            else
            {
                int order = OrderOf(Next(ref x));
                int page = buddy.Allocate(order);
                slots[s] = page + 1;
                orders[s] = (byte)order;
            }
        }
    }

    /// <summary>The mixed workload through NativeMemory.AlignedAlloc with natural alignment (4 KiB × 2^order).</summary>
    public static unsafe void MixedNative(nint[] slots, ref ulong x, int steps)
    {
        ArgumentNullException.ThrowIfNull(slots);
        for (int i = 0; i < steps; i++)
        {
            ref nint slot = ref slots[(int)(Next(ref x) & (Slots - 1))];
            if (slot != 0)
            {
                NativeMemory.AlignedFree((void*)slot);
                slot = 0;
            }
            else
            {
                nuint size = (nuint)4096 << OrderOf(Next(ref x));
                slot = (nint)NativeMemory.AlignedAlloc(size, size);
            }
        }
    }

    /// <summary>Frees whatever the native mixed workload left.</summary>
    public static unsafe void FreeNative(nint[] slots)
    {
        ArgumentNullException.ThrowIfNull(slots);
        for (int i = 0; i < slots.Length; i++)
        {
            if (slots[i] != 0)
            {
                NativeMemory.AlignedFree((void*)slots[i]);
                slots[i] = 0;
            }
        }
    }
}
