// `buddy bench [--json FILE] [--quick]`: a quick side-by-side of Buddy and the baselines on the
// performance issue's workloads, timed with a Stopwatch (about 30 s; BenchmarkDotNet is in
// bench/Buddy.Benchmarks for rigour). Each figure is the median of five timed runs after a warmup.
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Buddy.Allocation;
using Buddy.Pages;
using Buddy.Simulation.Baselines;
using Buddy.Simulation.Replay;
using Buddy.Zones;
using Spectre.Console;

namespace Buddy.Tool.Commands;

/// <summary>Times the workloads and prints ns per operation side by side.</summary>
internal static class BenchCommand
{
    /// <summary>One measured figure.</summary>
    /// <param name="Workload">What was run.</param>
    /// <param name="Implementation">Who ran it.</param>
    /// <param name="NsPerOp">Median nanoseconds per operation (a pair, a step, an event).</param>
    internal sealed record Measurement(string Workload, string Implementation, double NsPerOp);

    public static Command Create(TextWriter stdout)
    {
        var json = new Option<string?>("--json") { Description = "Also write the figures as JSON to this file." }.AcceptOutputFile();
        var quick = new Option<bool>("--quick") { Description = "A tenth of the operations and no warm-up (a smoke run, not a measurement)." };
        var command = new Command("bench", "Time Buddy against ArrayPool, NativeMemory.AlignedAlloc and a reference buddy (about 30 s).") { json, quick };
        command.SetAction(parse =>
        {
            int scale = parse.GetValue(quick) ? 10 : 1;
            List<Measurement> results = Run(scale, line => stdout.WriteLine(line));
            Print(Output.Console(stdout), results);
            if (parse.GetValue(json) is { } file)
            {
                Output.WriteJson(file, results);
            }

            return 0;
        });
        return command;
    }

    private static List<Measurement> Run(int scale, Action<string> progress)
    {
        var results = new List<Measurement>();
        int ops = 1_000_000 / scale;
        void Add(string workload, string who, Action<int> run, int opsPerCount = 1)
        {
            results.Add(new Measurement(workload, who, Time(ops, opsPerCount, run, warm: scale == 1)));
        }

        // Two threads each running `run(count)`: the aggregate, timed as 2 × count operations. A
        // barrier releases both at once, so neither runs alone while the other is being created.
        static Action<int> OnTwoThreads(Action<int> run) => count =>
        {
            using var ready = new Barrier(3);
            var threads = new[] { new Thread(() => { ready.SignalAndWait(); run(count); }), new Thread(() => { ready.SignalAndWait(); run(count); }) };
            Array.ForEach(threads, t => t.Start());
            ready.SignalAndWait();
            Array.ForEach(threads, t => t.Join());
        };

        progress("order-0 pairs ...");
        var flat = new PageAllocator(MachineLayout.Flat(1 * Units.GiB) with { PerCpuCaches = true });
        var uncached = new PageAllocator(MachineLayout.Flat(1 * Units.GiB));
        var reference = new ReferenceBuddy(262_144, 10);
        Add("order-0 pair", "Buddy", n => Workloads.Order0Pairs(flat, n));
        Add("order-0 pair", "Buddy without thread caches", n => Workloads.Order0Pairs(uncached, n));
        Add("order-0 pair", "ArrayPool<byte>.Shared (4 KiB)", Workloads.ArrayPoolPairs);
        Add("order-0 pair", "NativeMemory.AlignedAlloc(4096, 4096)", Workloads.NativeAlignedPairs);
        Add("order-0 pair", "reference buddy", n => Workloads.ReferencePairs(reference, n));

        progress("memory pools ...");
        using (Memory.NativeArena arena = Memory.NativeArena.Create(64 * Units.MiB, new Memory.ArenaOptions { PerCpuCaches = true }))
        {
            Add("4 KiB rent+return pair", "BuddyMemoryPool (native arena)", n => Workloads.PoolPairs(arena.Pool, n));
            Add("4 KiB rent+return pair", "MemoryPool<byte>.Shared", n => Workloads.PoolPairs(System.Buffers.MemoryPool<byte>.Shared, n));
        }

        progress("random mixed workload ...");
        var slots = new Block[Workloads.Slots];
        ulong x = Workloads.Seed;
        var mixed = new PageAllocator(MachineLayout.Flat(1 * Units.GiB) with { PerCpuCaches = true });
        Workloads.Mixed(mixed, slots, ref x, Workloads.Slots * 4); // reach the steady state
        Add("random mixed step", "Buddy", n => Workloads.Mixed(mixed, slots, ref x, n));
        var refSlots = new int[Workloads.Slots];
        var refOrders = new byte[Workloads.Slots];
        ulong y = Workloads.Seed;
        var mixedRef = new ReferenceBuddy(262_144, 10);
        Workloads.Mixed(mixedRef, refSlots, refOrders, ref y, Workloads.Slots * 4);
        Add("random mixed step", "reference buddy", n => Workloads.Mixed(mixedRef, refSlots, refOrders, ref y, n));
        var native = new nint[Workloads.Slots];
        ulong z = Workloads.Seed;
        Workloads.MixedNative(native, ref z, Workloads.Slots * 4);
        Add("random mixed step", "NativeMemory.AlignedAlloc (natural alignment)", n => Workloads.MixedNative(native, ref z, n));
        Workloads.FreeNative(native);

        progress("DMA-limited pairs with memory above 16 MiB full ...");
        var pc = new PageAllocator(MachineLayout.X86(1 * Units.GiB) with { Watermarks = WatermarkSettings.None, PerCpuCaches = true });
        while (pc.TryAllocate(Request.ForOrder(0).InZone(ZoneKind.Dma32), out Block b) && b.Address >= 16 * Units.MiB)
        {
        }

        Request dma = Request.ForOrder(0).WithDmaMask(24);
        Add("DMA-limited pair (above 16 MiB full)", "Buddy", n => Workloads.Pairs(pc, dma, n));
        Add("DMA-limited pair (above 16 MiB full)", "Buddy, unconstrained pair", n => Workloads.Order0Pairs(flat, n));

        progress("two threads ...");
        var shared = new PageAllocator(MachineLayout.Flat(1 * Units.GiB) with { PerCpuCaches = true });
        Add("order-0 pair, 1 thread (ns per pair)", "Buddy", n => Workloads.Order0Pairs(shared, n));
        Add("order-0 pair, 2 threads (ns per pair, aggregate)", "Buddy", OnTwoThreads(n => Workloads.Order0Pairs(shared, n)), opsPerCount: 2);

        // The machine's own scaling of thread-local work, for reading the two-thread figure:
        // ArrayPool's thread-local path shares nothing between threads either.
        Add("ArrayPool pair, 1 thread (machine yardstick)", "ArrayPool<byte>.Shared", Workloads.ArrayPoolPairs);
        Add("ArrayPool pair, 2 threads (aggregate)", "ArrayPool<byte>.Shared", OnTwoThreads(Workloads.ArrayPoolPairs), opsPerCount: 2);

        progress("trace replay ...");
        string trace = ReplayCommand.BundledTrace;
        if (File.Exists(trace))
        {
            results.Add(new Measurement("trace replay (per event, zoned, gzip decoding included)", "Buddy",
                Time(364_164, 1, _ => TraceReplay.Run(trace, new ReplayOptions { Memory = 2 * Units.GiB, Policies = ["zoned"] }), warm: false)));
        }

        return results;
    }

    // The median of five timed runs of `run(ops)`, in ns per operation (opsPerCount operations per
    // count). Warm first: rounds of short calls with pauses, so that the tiered JIT takes the
    // workload's loop through instrumented tier 0 to tier 1 with its profile (a loop warmed by one
    // long call runs as on-stack-replacement code, measured up to 1.4× slower).
    private static double Time(int ops, int opsPerCount, Action<int> run, bool warm = true)
    {
        if (warm)
        {
            for (int round = 0; round < 6; round++)
            {
                for (int i = 0; i < 50; i++)
                {
                    run(Math.Max(1, ops / 200));
                }

                Thread.Sleep(100);
            }
        }

        run(ops);
        var times = new double[5];
        for (int i = 0; i < times.Length; i++)
        {
            long start = Stopwatch.GetTimestamp();
            run(ops);
            times[i] = Stopwatch.GetElapsedTime(start).TotalNanoseconds / ((double)ops * opsPerCount);
        }

        Array.Sort(times);
        return times[2];
    }

    private static void Print(IAnsiConsole console, List<Measurement> results)
    {
        var table = new Table().Border(TableBorder.Rounded).AddColumns("workload", "implementation", "ns/op", "vs Buddy");
        foreach (IGrouping<string, Measurement> group in results.GroupBy(r => r.Workload))
        {
            double buddy = group.First().NsPerOp;
            foreach (Measurement m in group)
            {
                table.AddRow(Markup.Escape(m.Workload), Markup.Escape(m.Implementation), m.NsPerOp.ToString("F1", CultureInfo.InvariantCulture), (m.NsPerOp / buddy).ToString("F2", CultureInfo.InvariantCulture) + "×");
            }
        }

        console.Write(table);
        double one = results.First(r => r.Workload.StartsWith("order-0 pair, 1 thread", StringComparison.Ordinal)).NsPerOp;
        double two = results.First(r => r.Workload.StartsWith("order-0 pair, 2 threads", StringComparison.Ordinal)).NsPerOp;
        double poolOne = results.First(r => r.Workload.StartsWith("ArrayPool pair, 1 thread", StringComparison.Ordinal)).NsPerOp;
        double poolTwo = results.First(r => r.Workload.StartsWith("ArrayPool pair, 2 threads", StringComparison.Ordinal)).NsPerOp;
        console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Two threads: {one / two:F2}× the throughput of one (ArrayPool's thread-local path on this machine: {poolOne / poolTwo:F2}×)."));
        double Ns(string workload, string who) => results.First(r => r.Workload == workload && r.Implementation.StartsWith(who, StringComparison.Ordinal)).NsPerOp;
        double pair = Ns("order-0 pair", "Buddy"), mixed = Ns("random mixed step", "Buddy");
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Targets (issue 5): order-0 pair {pair / Ns("order-0 pair", "ArrayPool"):F2}× ArrayPool (≤ 1.5), NativeMemory.AlignedAlloc {Ns("order-0 pair", "NativeMemory") / pair:F1}× slower (≥ 7); " +
            $"mixed step {mixed:F1} ns (≤ 40), NativeMemory {Ns("random mixed step", "NativeMemory") / mixed:F1}× slower (≥ 10); " +
            $"DMA-limited {Ns("DMA-limited pair (above 16 MiB full)", "Buddy") / Ns("DMA-limited pair (above 16 MiB full)", "Buddy, unconstrained"):F2}× unconstrained (≤ 2); two threads {one / two:F2}× (≥ 1.7)."));
        console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessorCount} cores; figures are medians of 5 runs, noisy on a shared machine: compare ratios, and use bench/Buddy.Benchmarks for rigour."));
    }
}
