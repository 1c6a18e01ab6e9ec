// PairRatio: Buddy's order-0 pair against ArrayPool's, measured alternately fifteen times in one
// process and reported as medians. This is the harness behind the "gap to ArrayPool" table in
// docs/benchmarks.md, where a piece of the fast path is taken out to see what it costs.
using System.Diagnostics;
using System.Globalization;
using Buddy.Bench;
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
        Action<int> buddy = n => Workloads.Order0Pairs(pages, n);
        Action<int> pool = Workloads.ArrayPoolPairs;
        Warm(buddy);
        Warm(pool);
        var rows = new List<(double Buddy, double Pool)>();
        for (int r = 0; r < Rounds; r++)
        {
            rows.Add((Time(buddy), Time(pool)));
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"order-0 pair: Buddy {Median(rows.Select(r => r.Buddy)):F2} ns, ArrayPool {Median(rows.Select(r => r.Pool)):F2} ns, ratio {Median(rows.Select(r => r.Buddy / r.Pool)):F2} (medians of {Rounds} alternating runs of {Pairs:N0} pairs)"));
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
