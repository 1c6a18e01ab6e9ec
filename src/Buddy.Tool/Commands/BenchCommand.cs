// `buddy bench [--json FILE] [--quick]`: a quick side-by-side of Buddy and the baselines on the
// performance issues' workloads (5 and 12), timed with a Stopwatch (about 30 s; BenchmarkDotNet is
// in bench/Buddy.Benchmarks for rigour). After a warm-up, every workload runs once per round, five
// rounds, round-robin: each figure is its median, and each target ratio is the median of the
// rounds' ratios, so ratios hold while a shared machine's speed drifts.
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
            BenchRun run = Run(scale, line => stdout.WriteLine(line));
            List<Measurement> results = [.. run.Cases.Select(c => new Measurement(c.Workload, c.Implementation, c.Median))];
            Print(Output.Console(stdout), results);
            PrintIssue12(stdout, run);
            if (parse.GetValue(json) is { } file)
            {
                Output.WriteJson(file, results);
            }

            return 0;
        });
        return command;
    }

    /// <summary>One workload run by one implementation, timed once per round.</summary>
    /// <param name="Workload">What is run (the table's group).</param>
    /// <param name="Implementation">Who runs it.</param>
    /// <param name="Run">Runs the workload <c>count</c> times.</param>
    /// <param name="Ops">The count of one timed run.</param>
    /// <param name="OpsPerCount">Operations per count (2 for two threads).</param>
    /// <param name="Warm">Whether to warm it (rounds of short calls) before the timed rounds.</param>
    /// <param name="WarmCalls">Short calls per warm-up round.</param>
    private sealed record Case(string Workload, string Implementation, Action<int> Run, int Ops, int OpsPerCount, bool Warm, int WarmCalls = 50)
    {
        public List<double> Times { get; } = [];

        public double Median => MedianOf(Times);
    }

    /// <summary>What one bench run measured: the cases with their per-round times, and the huge space's figures.</summary>
    private sealed record BenchRun(List<Case> Cases, int Rounds, HugeSpaceFigures Huge)
    {
        public Case Get(string workload, string implementation) =>
            Cases.First(c => c.Workload == workload && c.Implementation == implementation);

        public Case? Find(string workload, string implementation) =>
            Cases.FirstOrDefault(c => c.Workload == workload && c.Implementation == implementation);

        // The median over rounds of a's time / b's time in the same round: a ratio taken from runs a
        // few milliseconds apart, which holds while the machine's speed drifts between rounds.
        public static double Ratio(Case a, Case b) => MedianOf(a.Times.Zip(b.Times, (x, y) => x / y));
    }

    /// <summary>The huge sparse space's figures beside the 1 GiB space's.</summary>
    /// <param name="Refusal">Why this build refuses the huge space, or null when it builds.</param>
    /// <param name="IdleBytes">The huge space's metadata bytes when idle.</param>
    /// <param name="AfterBytes">Its metadata bytes after the random allocations.</param>
    /// <param name="IdleBytes1GiB">A 1 GiB space's metadata bytes when idle.</param>
    /// <param name="AfterBytes1GiB">Its metadata bytes after the random allocations.</param>
    private sealed record HugeSpaceFigures(string? Refusal, long IdleBytes, long AfterBytes, long IdleBytes1GiB, long AfterBytes1GiB);

    // Workload and implementation names the summary lines look up.
    private const string Pair = "order-0 pair";
    private const string Mixed = "random mixed step";
    private const string Buddy = "Buddy";
    private const string Uncached = "Buddy without thread caches";
    private const string HugeUncached = "Buddy without thread caches, 2^62-byte sparse space";
    private const string Reference = "reference buddy";
    private const string Unconstrained = "Buddy, unconstrained pair (same allocator)";
    private const string BelowLimit = "Below(12 MiB) pair, x86 1 GiB, above 16 MiB full";
    private const string Mask30 = "30-bit DMA mask pair, x86 4 GiB, all free";
    private const string Construction = "allocator construction (ns per allocator)";

    private const int TimedRounds = 5;

    private static BenchRun Run(int scale, Action<string> progress)
    {
        var cases = new List<Case>();
        int ops = 1_000_000 / scale;
        bool warm = scale == 1;

        // The allocator without thread caches costs more per operation: fewer operations per run
        // keep a round short (ns per operation does not depend on the count).
        int uncachedOps = ops / 5;
        void Add(string workload, string who, Action<int> run, int opsPerCount = 1, int? count = null)
        {
            cases.Add(new Case(workload, who, run, count ?? ops, opsPerCount, warm));
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

        progress("setting up ...");
        var flat = new PageAllocator(MachineLayout.Flat(1 * Units.GiB) with { PerCpuCaches = true });
        var uncached = new PageAllocator(MachineLayout.Flat(1 * Units.GiB));
        var reference = new ReferenceBuddy(262_144, 10);
        PageAllocator? huge = Workloads.TryCreate(Workloads.HugeSpace, out string? refusal);
        Add(Pair, Buddy, n => Workloads.Order0Pairs(flat, n));
        Add(Pair, Uncached, n => Workloads.Order0Pairs(uncached, n), count: uncachedOps);
        if (huge is not null)
        {
            Add(Pair, HugeUncached, n => Workloads.Order0Pairs(huge, n), count: uncachedOps);
        }

        Add(Pair, "ArrayPool<byte>.Shared (4 KiB)", Workloads.ArrayPoolPairs);
        Add(Pair, "NativeMemory.AlignedAlloc(4096, 4096)", Workloads.NativeAlignedPairs);
        Add(Pair, Reference, n => Workloads.ReferencePairs(reference, n));

        using Memory.NativeArena arena = Memory.NativeArena.Create(64 * Units.MiB, new Memory.ArenaOptions { PerCpuCaches = true });
        Add("4 KiB rent+return pair", "BuddyMemoryPool (native arena)", n => Workloads.PoolPairs(arena.Pool, n));
        Add("4 KiB rent+return pair", "MemoryPool<byte>.Shared", n => Workloads.PoolPairs(System.Buffers.MemoryPool<byte>.Shared, n));

        // Each mixed workload runs on its own allocator and slots, brought to the steady state first.
        Action<int> MixedOn(PageAllocator pages)
        {
            var slots = new Block[Workloads.Slots];
            ulong x = Workloads.Seed;
            Workloads.Mixed(pages, slots, ref x, Workloads.Slots * 4);
            return n => Workloads.Mixed(pages, slots, ref x, n);
        }

        Add(Mixed, Buddy, MixedOn(new PageAllocator(MachineLayout.Flat(1 * Units.GiB) with { PerCpuCaches = true })));
        Add(Mixed, Uncached, MixedOn(new PageAllocator(MachineLayout.Flat(1 * Units.GiB))), count: uncachedOps);
        if (huge is not null)
        {
            Add(Mixed, HugeUncached, MixedOn(new PageAllocator(Workloads.HugeSpace)), count: uncachedOps);
        }

        var refSlots = new int[Workloads.Slots];
        var refOrders = new byte[Workloads.Slots];
        ulong y = Workloads.Seed;
        var mixedRef = new ReferenceBuddy(262_144, 10);
        Workloads.Mixed(mixedRef, refSlots, refOrders, ref y, Workloads.Slots * 4);
        Add(Mixed, Reference, n => Workloads.Mixed(mixedRef, refSlots, refOrders, ref y, n));
        var native = new nint[Workloads.Slots];
        ulong z = Workloads.Seed;
        Workloads.MixedNative(native, ref z, Workloads.Slots * 4);
        Add(Mixed, "NativeMemory.AlignedAlloc (natural alignment)", n => Workloads.MixedNative(native, ref z, n));

        var pc = new PageAllocator(MachineLayout.X86(1 * Units.GiB) with { Watermarks = WatermarkSettings.None, PerCpuCaches = true });
        Workloads.FillDownTo(pc, ZoneKind.Dma32, 16 * Units.MiB);
        Request dma = Request.ForOrder(0).WithDmaMask(24);
        Add("DMA-limited pair (above 16 MiB full)", Buddy, n => Workloads.Pairs(pc, dma, n));
        Add("DMA-limited pair (above 16 MiB full)", "Buddy, unconstrained pair", n => Workloads.Order0Pairs(flat, n));

        // Limits that cut through a zone, each beside the unconstrained pair on the same allocator:
        // 12 MiB inside DMA on a machine like the one above (its own, so that its thread caches do
        // not touch the DMA-limited figures), and a 30-bit mask inside DMA32 of a 4 GiB x86 machine
        // whose memory is all free (nothing filled: DMA32's free blocks lie on both sides of 1 GiB).
        var full = new PageAllocator(MachineLayout.X86(1 * Units.GiB) with { Watermarks = WatermarkSettings.None, PerCpuCaches = true });
        Workloads.FillDownTo(full, ZoneKind.Dma32, 16 * Units.MiB);
        Request below = Request.ForOrder(0).Below(12 * Units.MiB);
        Add(BelowLimit, Buddy, n => Workloads.Pairs(full, below, n));
        Add(BelowLimit, Unconstrained, n => Workloads.Order0Pairs(full, n));
        var x86Large = new PageAllocator(MachineLayout.X86(4 * Units.GiB) with { Watermarks = WatermarkSettings.None, PerCpuCaches = true });
        Request mask30 = Request.ForOrder(0).WithDmaMask(30);
        Add(Mask30, Buddy, n => Workloads.Pairs(x86Large, mask30, n));
        Add(Mask30, Unconstrained, n => Workloads.Order0Pairs(x86Large, n));

        var shared = new PageAllocator(MachineLayout.Flat(1 * Units.GiB) with { PerCpuCaches = true });
        Add("order-0 pair, 1 thread (ns per pair)", Buddy, n => Workloads.Order0Pairs(shared, n));
        Add("order-0 pair, 2 threads (ns per pair, aggregate)", Buddy, OnTwoThreads(n => Workloads.Order0Pairs(shared, n)), opsPerCount: 2);

        // The machine's own scaling of thread-local work, for reading the two-thread figure:
        // ArrayPool's thread-local path shares nothing between threads either.
        Add("ArrayPool pair, 1 thread (machine yardstick)", "ArrayPool<byte>.Shared", Workloads.ArrayPoolPairs);
        Add("ArrayPool pair, 2 threads (aggregate)", "ArrayPool<byte>.Shared", OnTwoThreads(Workloads.ArrayPoolPairs), opsPerCount: 2);

        // Construction: a few allocators per run, built and dropped.
        static Action<int> Build(MachineLayout layout) => count =>
        {
            for (int i = 0; i < count; i++)
            {
                GC.KeepAlive(new PageAllocator(layout));
            }
        };

        cases.Add(new Case(Construction, "Buddy without thread caches, 1 GiB", Build(MachineLayout.Flat(1 * Units.GiB)), 4, 1, warm, WarmCalls: 2));
        if (huge is not null)
        {
            cases.Add(new Case(Construction, HugeUncached, Build(Workloads.HugeSpace), 4, 1, warm, WarmCalls: 2));
        }

        string trace = ReplayCommand.BundledTrace;
        if (File.Exists(trace))
        {
            cases.Add(new Case("trace replay (per event, zoned, gzip decoding included)", Buddy,
                _ => TraceReplay.Run(trace, new ReplayOptions { Memory = 2 * Units.GiB, Policies = ["zoned"] }), 364_164, 1, Warm: false));
        }

        HugeSpaceFigures figures = MeasureMetadata(huge, refusal);

        // Warm first: rounds of short calls of every workload with a pause after each round, so that
        // the tiered JIT takes each workload's loop through instrumented tier 0 to tier 1 with its
        // profile (a loop warmed by one long call runs as on-stack-replacement code, measured up to
        // 1.4× slower). Then one untimed run of each, then the timed rounds: every workload once per
        // round, in the same order, so each figure is the median of runs spread over the whole bench.
        if (warm)
        {
            progress("warming up ...");
            for (int round = 0; round < 6; round++)
            {
                foreach (Case c in cases.Where(c => c.Warm))
                {
                    for (int i = 0; i < c.WarmCalls; i++)
                    {
                        c.Run(Math.Max(1, c.Ops / 200));
                    }
                }

                Thread.Sleep(100);
            }
        }

        foreach (Case c in cases)
        {
            c.Run(c.Ops);
        }

        for (int round = 0; round < TimedRounds; round++)
        {
            progress(string.Create(CultureInfo.InvariantCulture, $"round {round + 1} of {TimedRounds} ..."));
            foreach (Case c in cases)
            {
                long start = Stopwatch.GetTimestamp();
                c.Run(c.Ops);
                c.Times.Add(Stopwatch.GetElapsedTime(start).TotalNanoseconds / ((double)c.Ops * c.OpsPerCount));
            }
        }

        Workloads.FreeNative(native);
        return new BenchRun(cases, TimedRounds, figures);
    }

    // Metadata of the huge space and of 1 GiB, each without thread caches: idle, then after
    // 100,000 allocations of random orders 0..6 that stay allocated.
    private static HugeSpaceFigures MeasureMetadata(PageAllocator? huge, string? refusal)
    {
        static (long Idle, long After) Of(PageAllocator pages)
        {
            long idle = pages.MetadataBytes;
            ulong x = Workloads.Seed;
            Workloads.RandomAllocations(pages, ref x, Workloads.HugeSpaceAllocations);
            return (idle, pages.MetadataBytes);
        }

        (long idle1, long after1) = Of(new PageAllocator(MachineLayout.Flat(1 * Units.GiB)));
        if (huge is null)
        {
            return new HugeSpaceFigures(refusal, 0, 0, idle1, after1);
        }

        (long idle, long after) = Of(new PageAllocator(Workloads.HugeSpace));
        return new HugeSpaceFigures(null, idle, after, idle1, after1);
    }

    private static double MedianOf(IEnumerable<double> values)
    {
        double[] sorted = [.. values.Order()];
        return sorted.Length == 0 ? double.NaN : sorted[sorted.Length / 2];
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
        console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessorCount} cores; figures are medians of {TimedRounds} interleaved rounds (every workload once per round), noisy on a shared machine: compare ratios, and use bench/Buddy.Benchmarks for rigour."));
    }

    // Issue 12's targets, each from the per-round ratios of this run, then the huge space's figures.
    // Written straight to stdout, one line each (the console would wrap long lines at 200 columns).
    private static void PrintIssue12(TextWriter console, BenchRun run)
    {
        console.WriteLine("Targets (issue 12), ratios are medians over the rounds of each round's ratio:");
        void Target(string what, string limit, double measured, string unit, bool met, string detail) =>
            console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  target {what} {limit}: measured {measured:F2}{unit} ({detail}): {(met ? "met" : "not met")}"));
        void AtMost(string what, Case a, Case b, double limit, string of) =>
            Target(what, string.Create(CultureInfo.InvariantCulture, $"≤ {limit:F1}× {of}"), BenchRun.Ratio(a, b), "×", BenchRun.Ratio(a, b) <= limit,
                string.Create(CultureInfo.InvariantCulture, $"{a.Median:F1} ns vs {b.Median:F1} ns"));
        void NotMeasured(string what, string limit) =>
            console.WriteLine($"  target {what} {limit}: not measured (the huge space is not supported by this build): not met");

        AtMost("uncached mixed step", run.Get(Mixed, Uncached), run.Get(Mixed, Reference), 1, "the reference buddy's");
        AtMost("uncached order-0 pair", run.Get(Pair, Uncached), run.Get(Pair, Reference), 1, "the reference buddy's");
        AtMost("cached order-0 pair", run.Get(Pair, Buddy), run.Get(Pair, "ArrayPool<byte>.Shared (4 KiB)"), 1.5, "ArrayPool<byte>.Shared's 4 KiB rent+return");
        double mixed = run.Get(Mixed, Buddy).Median;
        Target("cached mixed step", "≤ 20 ns", mixed, " ns", mixed <= 20, "median");
        AtMost("Below(12 MiB) pair, above 16 MiB full", run.Get(BelowLimit, Buddy), run.Get(BelowLimit, Unconstrained), 2, "the unconstrained pair on the same allocator");
        AtMost("30-bit DMA mask pair through DMA32", run.Get(Mask30, Buddy), run.Get(Mask30, Unconstrained), 2, "the unconstrained pair on the same allocator");
        AtMost("DMA-zone (24-bit mask) pair, above 16 MiB full", run.Get("DMA-limited pair (above 16 MiB full)", Buddy), run.Get("DMA-limited pair (above 16 MiB full)", "Buddy, unconstrained pair"), 2, "the unconstrained pair");
        if (run.Find(Pair, HugeUncached) is { } hugePair && run.Find(Mixed, HugeUncached) is { } hugeMixed)
        {
            AtMost("huge-space uncached order-0 pair", hugePair, run.Get(Pair, Uncached), 2, "1 GiB's");
            AtMost("huge-space uncached mixed step", hugeMixed, run.Get(Mixed, Uncached), 2, "1 GiB's");
        }
        else
        {
            NotMeasured("huge-space uncached order-0 pair", "≤ 2.0× 1 GiB's");
            NotMeasured("huge-space uncached mixed step", "≤ 2.0× 1 GiB's");
        }

        Case one = run.Get("order-0 pair, 1 thread (ns per pair)", Buddy);
        Case two = run.Get("order-0 pair, 2 threads (ns per pair, aggregate)", Buddy);
        double scaling = BenchRun.Ratio(one, two);
        Target("two threads' throughput", "≥ 1.7× one thread's", scaling, "×", scaling >= 1.7,
            string.Create(CultureInfo.InvariantCulture, $"{one.Median:F1} ns per pair on one thread, {two.Median:F1} ns on two"));

        HugeSpaceFigures h = run.Huge;
        string size1 = string.Create(CultureInfo.InvariantCulture, $"1 GiB: idle {h.IdleBytes1GiB:N0} bytes, after {Workloads.HugeSpaceAllocations:N0} random allocations of orders 0..{Workloads.MaxMixedOrder} {h.AfterBytes1GiB:N0} bytes");
        if (h.Refusal is not null)
        {
            console.WriteLine($"Huge space: the {Workloads.HugeSpaceName} is not supported by this build ({h.Refusal}). For comparison, {size1}.");
            return;
        }

        double Ms(string who) => run.Get(Construction, who).Median / 1e6;
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Huge space: the {Workloads.HugeSpaceName} without thread caches: construction {Ms(HugeUncached):F3} ms (1 GiB: {Ms("Buddy without thread caches, 1 GiB"):F3} ms); metadata idle {h.IdleBytes:N0} bytes, after {Workloads.HugeSpaceAllocations:N0} random allocations of orders 0..{Workloads.MaxMixedOrder} {h.AfterBytes:N0} bytes ({size1})."));
    }
}
