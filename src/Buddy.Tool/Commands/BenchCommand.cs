// `buddy bench [--json FILE] [--quick]`: a quick side-by-side of Buddy and the baselines on the
// performance issue's workloads, timed with a Stopwatch (about 10 s; BenchmarkDotNet is in
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
        var json = new Option<string?>("--json") { Description = "Also write the figures as JSON to this file." };
        var quick = new Option<bool>("--quick") { Description = "A tenth of the operations (a smoke run, not a measurement)." };
        var command = new Command("bench", "Time Buddy against ArrayPool, NativeMemory.AlignedAlloc and a reference buddy (about 10 s).") { json, quick };
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
        int pairs = 1_000_000 / scale, steps = 1_000_000 / scale;
        void Add(string workload, string who, int ops, Action run)
        {
            results.Add(new Measurement(workload, who, Time(ops, run)));
        }

        progress("order-0 pairs ...");
        var flat = new PageAllocator(MachineLayout.Flat(1 * Units.GiB) with { PerCpuCaches = true });
        var uncached = new PageAllocator(MachineLayout.Flat(1 * Units.GiB));
        var reference = new ReferenceBuddy(262_144, 10);
        Add("order-0 pair", "Buddy", pairs, () => Workloads.Order0Pairs(flat, pairs));
        Add("order-0 pair", "Buddy without per-CPU caches", pairs, () => Workloads.Order0Pairs(uncached, pairs));
        Add("order-0 pair", "ArrayPool<byte>.Shared (4 KiB)", pairs, () => Workloads.ArrayPoolPairs(pairs));
        Add("order-0 pair", "NativeMemory.AlignedAlloc(4096, 4096)", pairs, () => Workloads.NativeAlignedPairs(pairs));
        Add("order-0 pair", "reference buddy", pairs, () => Workloads.ReferencePairs(reference, pairs));

        progress("memory pools ...");
        using (Memory.NativeArena arena = Memory.NativeArena.Create(64 * Units.MiB, new Memory.ArenaOptions { PerCpuCaches = true }))
        {
            Add("4 KiB rent+return pair", "BuddyMemoryPool (native arena)", pairs, () => Workloads.PoolPairs(arena.Pool, pairs));
            Add("4 KiB rent+return pair", "MemoryPool<byte>.Shared", pairs, () => Workloads.PoolPairs(System.Buffers.MemoryPool<byte>.Shared, pairs));
        }

        progress("random mixed workload ...");
        var slots = new Block[Workloads.Slots];
        ulong x = Workloads.Seed;
        var mixed = new PageAllocator(MachineLayout.Flat(1 * Units.GiB) with { PerCpuCaches = true });
        Workloads.Mixed(mixed, slots, ref x, Workloads.Slots * 4); // reach the steady state
        Add("random mixed step", "Buddy", steps, () => Workloads.Mixed(mixed, slots, ref x, steps));
        var refSlots = new int[Workloads.Slots];
        var refOrders = new byte[Workloads.Slots];
        ulong y = Workloads.Seed;
        var mixedRef = new ReferenceBuddy(262_144, 10);
        Workloads.Mixed(mixedRef, refSlots, refOrders, ref y, Workloads.Slots * 4);
        Add("random mixed step", "reference buddy", steps, () => Workloads.Mixed(mixedRef, refSlots, refOrders, ref y, steps));
        var native = new nint[Workloads.Slots];
        ulong z = Workloads.Seed;
        Workloads.MixedNative(native, ref z, Workloads.Slots * 4);
        Add("random mixed step", "NativeMemory.AlignedAlloc (natural alignment)", steps, () => Workloads.MixedNative(native, ref z, steps));
        Workloads.FreeNative(native);

        progress("DMA-limited pairs with memory above 16 MiB full ...");
        var pc = new PageAllocator(MachineLayout.X86(1 * Units.GiB) with { Watermarks = WatermarkSettings.None, PerCpuCaches = true });
        while (pc.TryAllocate(Request.ForOrder(0).InZone(ZoneKind.Dma32), out Block b) && b.Address >= 16 * Units.MiB)
        {
        }

        Add("DMA-limited pair (above 16 MiB full)", "Buddy", pairs, () => Workloads.Pairs(pc, Request.ForOrder(0).WithDmaMask(24), pairs));
        Add("DMA-limited pair (above 16 MiB full)", "Buddy, unconstrained pair", pairs, () => Workloads.Order0Pairs(flat, pairs));

        progress("two threads ...");
        var shared = new PageAllocator(MachineLayout.Flat(1 * Units.GiB) with { PerCpuCaches = true });
        Add("order-0 pair, 1 thread (ns per pair)", "Buddy", pairs, () => Workloads.Order0Pairs(shared, pairs));
        Add("order-0 pair, 2 threads (ns per pair, aggregate)", "Buddy", pairs * 2, () =>
        {
            var threads = new[] { new Thread(() => Workloads.Order0Pairs(shared, pairs)), new Thread(() => Workloads.Order0Pairs(shared, pairs)) };
            Array.ForEach(threads, t => t.Start());
            Array.ForEach(threads, t => t.Join());
        });

        // The machine's own scaling of locked instructions on separate cache lines, for reading the
        // two-thread figure: the fast path takes a slot with a CAS and checks frees with atomics.
        long[] words = new long[1024];
        void Atomics(int index, int count)
        {
            for (int i = 0; i < count; i++)
            {
                Interlocked.CompareExchange(ref words[index], 1, 0);
                Volatile.Write(ref words[index], 0);
            }
        }

        Add("CAS + release pair, 1 thread (machine yardstick)", "Interlocked", pairs, () => Atomics(0, pairs));
        Add("CAS + release pair, 2 threads on separate cache lines (aggregate)", "Interlocked", pairs * 2, () =>
        {
            var threads = new[] { new Thread(() => Atomics(0, pairs)), new Thread(() => Atomics(512, pairs)) };
            Array.ForEach(threads, t => t.Start());
            Array.ForEach(threads, t => t.Join());
        });

        progress("trace replay ...");
        string trace = ReplayCommand.BundledTrace;
        if (File.Exists(trace))
        {
            Add("trace replay (per event, zoned, gzip decoding included)", "Buddy", 364_164, () => TraceReplay.Run(trace, new ReplayOptions { Memory = 2 * Units.GiB, Policies = ["zoned"] }));
        }

        return results;
    }

    // The median of five timed runs after one warmup, in ns per operation.
    private static double Time(int ops, Action run)
    {
        run();
        var times = new double[5];
        for (int i = 0; i < times.Length; i++)
        {
            long start = Stopwatch.GetTimestamp();
            run();
            times[i] = Stopwatch.GetElapsedTime(start).TotalNanoseconds / ops;
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
        double casOne = results.First(r => r.Workload.StartsWith("CAS + release pair, 1 thread", StringComparison.Ordinal)).NsPerOp;
        double casTwo = results.First(r => r.Workload.StartsWith("CAS + release pair, 2 threads", StringComparison.Ordinal)).NsPerOp;
        console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Two threads: {one / two:F2}× the throughput of one (this machine scales bare atomics on separate cache lines {casOne / casTwo:F2}×)."));
        console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessorCount} cores; figures are medians of 5 runs, noisy on a shared machine: compare ratios, and use bench/Buddy.Benchmarks for rigour."));
    }
}
