// `buddy bench [--json FILE] [--quick]`: a quick side-by-side of Buddy and the baselines on the
// performance issues' workloads (5, 12 and 13), timed with a Stopwatch (about 30 s; BenchmarkDotNet
// is in bench/Buddy.Benchmarks for rigour). After a warm-up, every workload runs once per round,
// five rounds, round-robin: each figure is its median, and each target ratio is the median of the
// rounds' ratios, so ratios hold while a shared machine's speed drifts. The untimed run before the
// rounds also counts the bytes each workload allocates on the GC heap. Issue 13's resident-memory
// figures (a burst, its return, the give-back) are read after the rounds.
using System.Buffers;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Buddy.Bench;
using Buddy.Simulation.Replay;
using Spectre.Console;

namespace Buddy.Tool.Commands;


/// <summary>Times the workloads and prints ns per operation side by side.</summary>
internal static class BenchCommand
{
    /// <summary>One measured figure.</summary>
    /// <param name="Workload">What was run.</param>
    /// <param name="Implementation">Who ran it.</param>
    /// <param name="NsPerOp">Median nanoseconds per operation (a pair, a step, an event).</param>
    /// <param name="AllocatedBytesPerOp">GC-heap bytes allocated per operation in the untimed run.</param>
    internal sealed record Measurement(string Workload, string Implementation, double NsPerOp, double AllocatedBytesPerOp);

    public static Command Create(TextWriter stdout)
    {
        var json = new Option<string?>("--json") { Description = "Also write the figures as JSON to this file." }.AcceptOutputFile();
        var quick = new Option<bool>("--quick") { Description = "A tenth of the operations and no warm-up (a smoke run, not a measurement)." };
        var command = new Command("bench", "Time Buddy against ArrayPool, MemoryPool<byte>.Shared, NativeMemory.AlignedAlloc and a reference buddy (about 30 s).") { json, quick };
        command.SetAction(parse =>
        {
            int scale = parse.GetValue(quick) ? 10 : 1;
            BenchRun run = Progress.WithStatus(stdout, "timing ...", status => Run(scale, status ?? (_ => { })));
            List<Measurement> results = [.. run.Cases.Select(c => new Measurement(c.Workload, c.Implementation, c.Median, c.AllocatedPerOp))];
            Print(Output.Console(stdout), results);
            PrintIssue12(stdout, run);
            PrintIssue13(stdout, run);
            if (parse.GetValue(json) is { } file)
            {
                Output.WriteJson(file, results, ToolJson.Default.ListMeasurement);
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
    /// <param name="OtherThreads">Whether it runs on other threads (its allocations are counted over all threads).</param>
    private sealed record Case(string Workload, string Implementation, Action<int> Run, int Ops, int OpsPerCount, bool Warm, int WarmCalls = 50, bool OtherThreads = false)
    {
        public List<double> Times { get; } = [];

        /// <summary>GC-heap bytes allocated per operation in the untimed run.</summary>
        public double AllocatedPerOp { get; set; }

        public double Median => MedianOf(Times);
    }

    /// <summary>What one bench run measured: the cases with their per-round times, the huge space's figures and the bursts' resident memory.</summary>
    private sealed record BenchRun(List<Case> Cases, int Rounds, HugeSpaceFigures Huge, BurstRun Bursts)
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

    /// <summary>Issue 13's bursts: the process's resident memory around a burst on each pool.</summary>
    /// <param name="Bytes">The burst's size.</param>
    /// <param name="BufferSize">The size of each rental.</param>
    /// <param name="Arena">The burst on a fresh BuddyMemoryPool (arena with thread caches).</param>
    /// <param name="ArenaDisposed">The resident set after that arena was disposed (unmapped), the floor a give-back could reach.</param>
    /// <param name="Shared">The burst on MemoryPool&lt;byte&gt;.Shared, given back by a full aggressive collection.</param>
    private sealed record BurstRun(long Bytes, int BufferSize, BurstFigures Arena, long ArenaDisposed, BurstFigures Shared);

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
    private const string Pool4K = "4 KiB rent+return pair";
    private const string Pool64K = "64 KiB rent+return pair";
    private const string PipeGiB = "1 GiB through a Pipe, 4-64 KiB writes (per MiB)";
    private const string PoolCached = "BuddyMemoryPool (arena with thread caches)";
    private const string PoolPlain = "BuddyMemoryPool (arena, default options)";
    private const string SharedPool = "MemoryPool<byte>.Shared";
    private const string SharedArrays = "ArrayPool<byte>.Shared";
    private const string DefaultPipePool = "default pool (MemoryPool<byte>.Shared, served from ArrayPool<byte>.Shared)";

    private const int TimedRounds = 5;

    private static BenchRun Run(int scale, Action<string> progress)
    {
        progress("setting up ...");
        var set = new CaseSet(scale);
        PageAllocator? huge = Workloads.TryCreate(Workloads.HugeSpace, out string? refusal);
        PageAllocator flat = AddPairs(set, huge);
        using Memory.NativeArena arena = Memory.NativeArena.Create(64 * Units.MiB, new Memory.ArenaOptions { PerCpuCaches = true });
        using Memory.NativeArena plainArena = Memory.NativeArena.Create(64 * Units.MiB);
        AddPools(set, arena, plainArena, scale);
        nint[] native = AddMixed(set, huge);
        AddLimits(set, flat);
        AddScaling(set);
        AddConstructionAndReplay(set, huge);
        HugeSpaceFigures figures = MeasureMetadata(huge, refusal);
        if (set.Warm)
        {
            progress("warming up ...");
            WarmUp(set.Cases);
        }

        CountAllocations(set.Cases);
        TimeRounds(set.Cases, progress);
        Workloads.FreeNative(native);
        progress("resident memory ...");
        return new BenchRun(set.Cases, TimedRounds, figures, MeasureBursts(256 * Units.MiB / (ulong)scale));
    }

    // The workloads of one run, in the order they are printed and timed.
    private sealed class CaseSet(int scale)
    {
        public List<Case> Cases { get; } = [];

        /// <summary>Operations per call: 1,000,000 at full scale.</summary>
        public int Ops { get; } = 1_000_000 / scale;

        /// <summary>
        /// Operations per call on the allocator without thread caches, which costs more per
        /// operation: fewer keep a round short (ns per operation does not depend on the count).
        /// </summary>
        public int UncachedOps => Ops / 5;

        /// <summary>Whether the workloads are warmed first (at full scale only).</summary>
        public bool Warm { get; } = scale == 1;

        public void Add(string workload, string who, Action<int> run, int opsPerCount = 1, int? count = null) =>
            Cases.Add(new Case(workload, who, run, count ?? Ops, opsPerCount, Warm));
    }

    // Order-0 pairs: Buddy with and without thread caches, the huge sparse space, and the
    // baselines. Returns the cached 1 GiB allocator (the DMA-limited group's unconstrained twin).
    private static PageAllocator AddPairs(CaseSet set, PageAllocator? huge)
    {
        var flat = new PageAllocator(MachineLayout.Flat(1 * Units.GiB) with { PerCpuCaches = true });
        var uncached = new PageAllocator(MachineLayout.Flat(1 * Units.GiB));
        var reference = new ReferenceBuddy(262_144, 10);
        set.Add(Pair, Buddy, n => Workloads.Order0Pairs(flat, n));
        set.Add(Pair, Uncached, n => Workloads.Order0Pairs(uncached, n), count: set.UncachedOps);
        if (huge is not null)
        {
            set.Add(Pair, HugeUncached, n => Workloads.Order0Pairs(huge, n), count: set.UncachedOps);
        }

        set.Add(Pair, "ArrayPool<byte>.Shared (4 KiB)", Workloads.ArrayPoolPairs);
        set.Add(Pair, "NativeMemory.AlignedAlloc(4096, 4096)", Workloads.NativeAlignedPairs);
        set.Add(Pair, Reference, n => Workloads.ReferencePairs(reference, n));
        return flat;
    }

    // Issue 13: the pools, 4 KiB and 64 KiB pairs (a pair beyond the thread caches' orders, or
    // without them, costs as the uncached core does: fewer per run), and 1 GiB through a Pipe.
    private static void AddPools(CaseSet set, Memory.NativeArena arena, Memory.NativeArena plainArena, int scale)
    {
        set.Add(Pool4K, PoolCached, n => Workloads.PoolPairs(arena.Pool, 4096, n));
        set.Add(Pool4K, PoolPlain, n => Workloads.PoolPairs(plainArena.Pool, 4096, n), count: set.UncachedOps);
        set.Add(Pool4K, SharedPool, n => Workloads.SharedPoolPairs(4096, n));
        set.Add(Pool4K, SharedArrays, n => Workloads.ArrayPoolPairs(4096, n));
        set.Add(Pool64K, PoolCached, n => Workloads.PoolPairs(arena.Pool, 65536, n), count: set.UncachedOps);
        set.Add(Pool64K, PoolPlain, n => Workloads.PoolPairs(plainArena.Pool, 65536, n), count: set.UncachedOps);
        set.Add(Pool64K, SharedPool, n => Workloads.SharedPoolPairs(65536, n));
        set.Add(Pool64K, SharedArrays, n => Workloads.ArrayPoolPairs(65536, n));
        int pipeMiB = 1024 / scale;
        void AddPipe(string who, MemoryPool<byte> pool) =>
            set.Cases.Add(new Case(PipeGiB, who, n => Workloads.PipeThroughput(pool, n * (long)Units.MiB), pipeMiB, 1, set.Warm, WarmCalls: 20, OtherThreads: true));
        AddPipe(PoolCached, arena.Pool);
        AddPipe(PoolPlain, plainArena.Pool);
        AddPipe(DefaultPipePool, MemoryPool<byte>.Shared);
    }

    // The mixed step: each workload on its own allocator and slots, brought to the steady state
    // first. Returns the native baseline's slots (freed after the run).
    private static nint[] AddMixed(CaseSet set, PageAllocator? huge)
    {
        static Action<int> MixedOn(PageAllocator pages)
        {
            var slots = new Block[Workloads.Slots];
            ulong x = Workloads.Seed;
            Workloads.Mixed(pages, slots, ref x, Workloads.Slots * 4);
            return n => Workloads.Mixed(pages, slots, ref x, n);
        }

        set.Add(Mixed, Buddy, MixedOn(new PageAllocator(MachineLayout.Flat(1 * Units.GiB) with { PerCpuCaches = true })));
        set.Add(Mixed, Uncached, MixedOn(new PageAllocator(MachineLayout.Flat(1 * Units.GiB))), count: set.UncachedOps);
        if (huge is not null)
        {
            set.Add(Mixed, HugeUncached, MixedOn(new PageAllocator(Workloads.HugeSpace)), count: set.UncachedOps);
        }

        var refSlots = new int[Workloads.Slots];
        var refOrders = new byte[Workloads.Slots];
        ulong y = Workloads.Seed;
        var mixedRef = new ReferenceBuddy(262_144, 10);
        Workloads.Mixed(mixedRef, refSlots, refOrders, ref y, Workloads.Slots * 4);
        set.Add(Mixed, Reference, n => Workloads.Mixed(mixedRef, refSlots, refOrders, ref y, n));
        var native = new nint[Workloads.Slots];
        ulong z = Workloads.Seed;
        Workloads.MixedNative(native, ref z, Workloads.Slots * 4);
        set.Add(Mixed, "NativeMemory.AlignedAlloc (natural alignment)", n => Workloads.MixedNative(native, ref z, n));
        return native;
    }

    // Address limits: a 24-bit DMA mask with the memory above 16 MiB full (beside the flat cached
    // pair), then limits that cut through a zone, each beside the unconstrained pair on the same
    // allocator: 12 MiB inside DMA on a machine like the first (its own, so that its thread caches
    // do not touch the DMA-limited figures), and a 30-bit mask inside DMA32 of a 4 GiB x86 machine
    // whose memory is all free (nothing filled: DMA32's free blocks lie on both sides of 1 GiB).
    private static void AddLimits(CaseSet set, PageAllocator flat)
    {
        var pc = new PageAllocator(MachineLayout.X86(1 * Units.GiB) with { Watermarks = WatermarkSettings.None, PerCpuCaches = true });
        Workloads.FillDownTo(pc, ZoneKind.Dma32, 16 * Units.MiB);
        Request dma = Request.ForOrder(0).WithDmaMask(24);
        set.Add("DMA-limited pair (above 16 MiB full)", Buddy, n => Workloads.Pairs(pc, dma, n));
        set.Add("DMA-limited pair (above 16 MiB full)", "Buddy, unconstrained pair", n => Workloads.Order0Pairs(flat, n));

        var full = new PageAllocator(MachineLayout.X86(1 * Units.GiB) with { Watermarks = WatermarkSettings.None, PerCpuCaches = true });
        Workloads.FillDownTo(full, ZoneKind.Dma32, 16 * Units.MiB);
        Request below = Request.ForOrder(0).Below(12 * Units.MiB);
        set.Add(BelowLimit, Buddy, n => Workloads.Pairs(full, below, n));
        set.Add(BelowLimit, Unconstrained, n => Workloads.Order0Pairs(full, n));
        var x86Large = new PageAllocator(MachineLayout.X86(4 * Units.GiB) with { Watermarks = WatermarkSettings.None, PerCpuCaches = true });
        Request mask30 = Request.ForOrder(0).WithDmaMask(30);
        set.Add(Mask30, Buddy, n => Workloads.Pairs(x86Large, mask30, n));
        set.Add(Mask30, Unconstrained, n => Workloads.Order0Pairs(x86Large, n));
    }

    // One thread against two on one allocator, and ArrayPool's own scaling as the machine's
    // yardstick (its thread-local path shares nothing between threads either).
    private static void AddScaling(CaseSet set)
    {
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

        var shared = new PageAllocator(MachineLayout.Flat(1 * Units.GiB) with { PerCpuCaches = true });
        set.Add("order-0 pair, 1 thread (ns per pair)", Buddy, n => Workloads.Order0Pairs(shared, n));
        set.Cases.Add(new Case("order-0 pair, 2 threads (ns per pair, aggregate)", Buddy, OnTwoThreads(n => Workloads.Order0Pairs(shared, n)), set.Ops, 2, set.Warm, OtherThreads: true));
        set.Add("ArrayPool pair, 1 thread (machine yardstick)", "ArrayPool<byte>.Shared", Workloads.ArrayPoolPairs);
        set.Cases.Add(new Case("ArrayPool pair, 2 threads (aggregate)", "ArrayPool<byte>.Shared", OnTwoThreads(Workloads.ArrayPoolPairs), set.Ops, 2, set.Warm, OtherThreads: true));
    }

    // Construction (a few allocators per run, built and dropped) and the bundled trace's replay.
    private static void AddConstructionAndReplay(CaseSet set, PageAllocator? huge)
    {
        static Action<int> Build(MachineLayout layout) => count =>
        {
            for (int i = 0; i < count; i++)
            {
                GC.KeepAlive(new PageAllocator(layout));
            }
        };

        set.Cases.Add(new Case(Construction, "Buddy without thread caches, 1 GiB", Build(MachineLayout.Flat(1 * Units.GiB)), 4, 1, set.Warm, WarmCalls: 2));
        if (huge is not null)
        {
            set.Cases.Add(new Case(Construction, HugeUncached, Build(Workloads.HugeSpace), 4, 1, set.Warm, WarmCalls: 2));
        }

        string trace = ReplayCommand.BundledTrace;
        if (File.Exists(trace))
        {
            set.Cases.Add(new Case("trace replay (per event, zoned, gzip decoding included)", Buddy,
                _ => TraceReplay.Run(trace, new ReplayOptions { MemoryBytes = 2 * Units.GiB, Policies = ["zoned"] }), 364_164, 1, Warm: false));
        }
    }

    // Rounds of short calls of every workload with a pause after each round, so that the tiered
    // JIT takes each workload's loop through instrumented tier 0 to tier 1 with its profile (a
    // loop warmed by one long call runs as on-stack-replacement code, measured up to 1.4× slower).
    private static void WarmUp(List<Case> cases)
    {
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

    // One untimed run of each workload, which also counts the bytes it allocates on the GC heap: on
    // this thread, or on all threads for a workload that runs on others (the pipe's tasks).
    private static void CountAllocations(List<Case> cases)
    {
        foreach (Case c in cases)
        {
            long before = c.OtherThreads ? GC.GetTotalAllocatedBytes(precise: true) : GC.GetAllocatedBytesForCurrentThread();
            c.Run(c.Ops);
            long after = c.OtherThreads ? GC.GetTotalAllocatedBytes(precise: true) : GC.GetAllocatedBytesForCurrentThread();
            c.AllocatedPerOp = (double)(after - before) / ((long)c.Ops * c.OpsPerCount);
        }
    }

    // The timed rounds: every workload once per round, in the same order, so each figure is the
    // median of runs spread over the whole bench.
    private static void TimeRounds(List<Case> cases, Action<string> progress)
    {
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
    }

    // Issue 13's resident memory: a burst of 64 KiB rentals, every page written, on a fresh arena
    // with thread caches (then disposed: the floor a give-back could reach), then on
    // MemoryPool<byte>.Shared. Each figure is the process's VmRSS, read between the steps.
    private static BurstRun MeasureBursts(ulong bytes)
    {
        const int buffer = 64 * 1024;
        BurstFigures onArena;
        long disposed;
        using (Memory.NativeArena burst = Memory.NativeArena.Create(1 * Units.GiB, new Memory.ArenaOptions { PerCpuCaches = true }))
        {
            onArena = ResidentMemory.Burst(burst.Pool, (long)bytes, buffer, () => ResidentMemory.TryGiveBack(burst));
            burst.Dispose();
            disposed = ResidentMemory.ProcessBytes();
        }

        BurstFigures onShared = ResidentMemory.Burst(MemoryPool<byte>.Shared, (long)bytes, buffer, ResidentMemory.CollectAggressively);
        return new BurstRun((long)bytes, buffer, onArena, disposed, onShared);
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
        // One row per implementation under a row naming the workload: the names wrap between words
        // in 80 columns, never inside one, and the numbers keep their own columns.
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumn("workload: implementation")
            .AddColumn(new TableColumn("ns/op").RightAligned().NoWrap())
            .AddColumn(new TableColumn("vs Buddy").RightAligned().NoWrap())
            .AddColumn(new TableColumn("B/op").RightAligned().NoWrap());
        foreach (IGrouping<string, Measurement> group in results.GroupBy(r => r.Workload))
        {
            double buddy = group.First().NsPerOp;
            table.AddRow(Markup.Escape(group.Key + ":"), "", "", "");
            foreach (Measurement m in group)
            {
                table.AddRow(new Padder(new Text(m.Implementation), new Padding(2, 0, 0, 0)), new Text(m.NsPerOp.ToString("F1", CultureInfo.InvariantCulture)), new Text((m.NsPerOp / buddy).ToString("F2", CultureInfo.InvariantCulture) + "×"),
                    new Text(m.AllocatedBytesPerOp.ToString(m.AllocatedBytesPerOp < 100 ? "F1" : "N0", CultureInfo.InvariantCulture)));
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

    // Issue 13's targets, each from the per-round ratios of this run, then the bytes allocated per
    // rent and per GiB of pipe, then the bursts' resident memory. One line each, straight to stdout.
    private static void PrintIssue13(TextWriter console, BenchRun run)
    {
        static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
        static string Verdict(bool met) => met ? "met" : "not met";
        console.WriteLine("Targets (issue 13), ratios are medians over the rounds of each round's ratio:");

        Case cached4 = run.Get(Pool4K, PoolCached), plain4 = run.Get(Pool4K, PoolPlain), shared4 = run.Get(Pool4K, SharedPool);
        double pair = BenchRun.Ratio(cached4, shared4);
        console.WriteLine(F($"  target BuddyMemoryPool 4 KiB pair ≤ 1.0× MemoryPool<byte>.Shared's: measured {pair:F2}× ({cached4.Median:F1} ns vs {shared4.Median:F1} ns; arena with the default options {BenchRun.Ratio(plain4, shared4):F2}×, {plain4.Median:F1} ns): {Verdict(pair <= 1)}"));

        Case[] rents = [cached4, plain4, run.Get(Pool64K, PoolCached), run.Get(Pool64K, PoolPlain)];
        double most = rents.Max(c => c.AllocatedPerOp);
        console.WriteLine(F($"  target 0 B allocated per rent: measured {most:F2} B (BuddyMemoryPool, the most of 4 KiB and 64 KiB on both arenas; MemoryPool<byte>.Shared {shared4.AllocatedPerOp:F2} B, ArrayPool<byte>.Shared {run.Get(Pool4K, SharedArrays).AllocatedPerOp:F2} B): {Verdict(most == 0)}"));

        Case pipeCached = run.Get(PipeGiB, PoolCached), pipePlain = run.Get(PipeGiB, PoolPlain), pipeDefault = run.Get(PipeGiB, DefaultPipePool);
        double throughput = BenchRun.Ratio(pipeDefault, pipeCached); // the default pool's time / Buddy's: Buddy's throughput relative to it
        static double MsPerGiB(Case c) => c.Median * 1024 / 1e6;
        static double GiBps(Case c) => 1e9 / (c.Median * 1024);
        console.WriteLine(F($"  target pipe throughput ≥ the default pool's: measured {throughput:F2}× (1 GiB in {MsPerGiB(pipeCached):F0} ms, {GiBps(pipeCached):F1} GiB/s, vs {MsPerGiB(pipeDefault):F0} ms, {GiBps(pipeDefault):F1} GiB/s; arena with the default options {BenchRun.Ratio(pipeDefault, pipePlain):F2}×, {MsPerGiB(pipePlain):F0} ms): {Verdict(throughput >= 1)}"));

        console.WriteLine(F($"Allocated on the GC heap (issue 13): per 4 KiB rent BuddyMemoryPool {cached4.AllocatedPerOp:F1} B (default options {plain4.AllocatedPerOp:F1} B), MemoryPool<byte>.Shared {shared4.AllocatedPerOp:F1} B, ArrayPool<byte>.Shared {run.Get(Pool4K, SharedArrays).AllocatedPerOp:F1} B; per 64 KiB rent {run.Get(Pool64K, PoolCached).AllocatedPerOp:F1} B ({run.Get(Pool64K, PoolPlain).AllocatedPerOp:F1} B), {run.Get(Pool64K, SharedPool).AllocatedPerOp:F1} B, {run.Get(Pool64K, SharedArrays).AllocatedPerOp:F1} B; per GiB through the pipe {pipeCached.AllocatedPerOp * 1024:N0} B ({pipePlain.AllocatedPerOp * 1024:N0} B), default pool {pipeDefault.AllocatedPerOp * 1024:N0} B."));

        BurstRun b = run.Bursts;
        static string Delta(long bytes, long from) => F($"{(bytes - from) / (double)Units.MiB:+0.0;-0.0;0.0} MiB");
        static string GiveBack(BurstFigures f) => f.AfterGiveBack is { } after ? F($"after give-back ({f.GiveBack}) {Delta(after, f.Before)}") : $"give-back: {f.GiveBack}";
        console.WriteLine(F($"Resident memory (issue 13), VmRSS of the process around a burst of {b.Bytes / (double)Units.MiB:F0} MiB in {b.BufferSize / 1024} KiB rentals, every page written, then all returned:"));
        console.WriteLine(F($"  {PoolCached}: before {b.Arena.Before / (double)Units.MiB:F1} MiB, after the burst {Delta(b.Arena.AfterBurst, b.Arena.Before)}, after the return {Delta(b.Arena.AfterReturn, b.Arena.Before)}, {GiveBack(b.Arena)}; after disposing the arena (unmapped) {Delta(b.ArenaDisposed, b.Arena.Before)}"));
        console.WriteLine(F($"  {SharedPool}: before {b.Shared.Before / (double)Units.MiB:F1} MiB, after the burst {Delta(b.Shared.AfterBurst, b.Shared.Before)}, after the return {Delta(b.Shared.AfterReturn, b.Shared.Before)}, {GiveBack(b.Shared)}"));
    }
}
