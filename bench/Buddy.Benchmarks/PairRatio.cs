// PairRatio: Buddy's order-0 pair against ArrayPool's (`pair-ratio`), or BuddyMemoryPool's 4 KiB
// rent+dispose against MemoryPool<byte>.Shared's (`pool-ratio`), measured alternately fifteen
// times in one process and reported as medians. This is the harness behind the "gap to
// ArrayPool" tables in docs/benchmarks.md, where a piece of the fast path is taken out (or a
// change is tried) to see what it costs: the ratio within one process holds while the machine
// drifts, where two BenchmarkDotNet runs differ by more than the change.
using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using Buddy.Bench;
using Buddy.Memory;
using static Buddy.Units;

namespace Buddy.Benchmarks;


/// <summary>The interleaved order-0 pair harness.</summary>
internal static class PairRatio
{
    private const int Rounds = 15;
    private const int Pairs = 2_000_000;

    /// <summary>Warms both loops to tier-1 code, then times them alternately and prints the medians.</summary>
    public static void Run(TextWriter output)
    {
        var pages = new PageAllocator(MachineLayout.Flat(1 * GiB) with { PerCpuCaches = true });
        Compare(output, "order-0 pair: Buddy", n => Workloads.Order0Pairs(pages, n), "ArrayPool", Workloads.ArrayPoolPairs);
    }

    /// <summary>The same for BuddyMemoryPool (a 64 MiB arena with the default options) against MemoryPool&lt;byte&gt;.Shared, 4 KiB.</summary>
    public static void RunPool(TextWriter output)
    {
        using NativeArena arena = NativeArena.Create(64 * MiB);
        Compare(output, "4 KiB rent+dispose: BuddyMemoryPool", n => Workloads.PoolPairs(arena.Pool, 4096, n), "MemoryPool<byte>.Shared", n => Workloads.SharedPoolPairs(4096, n));
    }

    private static void Compare(TextWriter output, string name, Action<int> buddy, string baseline, Action<int> pool)
    {
        Warm(buddy);
        Warm(pool);
        var rows = new List<(double Buddy, double Pool)>();
        for (int r = 0; r < Rounds; r++)
        {
            rows.Add((Time(buddy), Time(pool)));
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name} {Median(rows.Select(r => r.Buddy)):F2} ns, {baseline} {Median(rows.Select(r => r.Pool)):F2} ns, ratio {Median(rows.Select(r => r.Buddy / r.Pool)):F2} (medians of {Rounds} alternating runs of {Pairs:N0} pairs)"));
    }

    // Rounds of short calls with pauses, so that the tiered JIT takes the loop to tier 1.
    private static void Warm(Action<int> run)
    {
        for (int round = 0; round < 6; round++)
        {
            for (int i = 0; i < 50; i++)
            {
                run(5_000);
            }

            Thread.Sleep(100);
        }
    }

    private static double Time(Action<int> run)
    {
        long start = Stopwatch.GetTimestamp();
        run(Pairs);
        return Stopwatch.GetElapsedTime(start).TotalNanoseconds / Pairs;
    }

    private static double Median(IEnumerable<double> values)
    {
        double[] sorted = [.. values.Order()];
        return sorted[sorted.Length / 2];
    }
}
