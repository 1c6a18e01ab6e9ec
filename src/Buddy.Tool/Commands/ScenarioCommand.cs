// `buddy scenario NAME [--seed N] [--policy NAME]... [--json FILE]`: seeded, deterministic workloads.
// The vm sysctls of Linux 6.18 (KernelTunableOptions) apply to the scenarios that run policies.
using System.CommandLine;
using System.Globalization;
using System.Text.Json.Serialization.Metadata;
using Buddy.Simulation.Policies;
using Buddy.Simulation.Scenarios;
using Spectre.Console;

namespace Buddy.Tool.Commands;

/// <summary>Runs a named scenario and prints each policy's outcome.</summary>
internal static class ScenarioCommand
{
    // The scenario's options: common ones first, then each scenario's own.
    private sealed record Options(
        Option<int> Seed, Option<string[]> Policies, Option<int?> SampleEvery,
        Option<string> Pool, Option<int> Rounds, Option<string> Sizes, Option<int> Lifetime, Option<int> Ticks, Option<int> Steps,
        Option<double> AtomicShare, Option<double> FillTarget, KernelTunableOptions Tunables);

    // Each scenario's run: checks its options, runs, prints, and returns what writes its --json file.
    private static readonly Dictionary<string, Func<ParseResult, Options, TextWriter, Action<string>>> s_runs = new()
    {
        [ScenarioCatalog.IsaDma] = RunIsaDma,
        [ScenarioCatalog.Knuth] = RunKnuth,
        [ScenarioCatalog.HighAlloc] = RunHighAlloc,
    };

    public static Command Create(TextWriter stdout)
    {
        var name = new Argument<string>("NAME") { Description = $"The scenario: {string.Join(", ", ScenarioCatalog.Names)}." };
        name.AcceptOnlyFromAmong(ScenarioCatalog.Names);
        var sizes = new Option<string>("--sizes") { Description = "knuth: the size distribution, S1, S2 or S3.", DefaultValueFactory = _ => "S1" };
        sizes.AcceptOnlyFromAmong("S1", "S2", "S3");
        var options = new Options(
            Seed: new Option<int>("--seed") { Description = "The seed; the same seed gives the same run.", DefaultValueFactory = _ => 1 },
            Policies: ReplayCommand.PolicyOption(),
            SampleEvery: new Option<int?>("--sample-every") { Description = "isa-dma-1995, highalloc: sample the time series (free pages, unusable index, failures) every N steps (default 1000 and 20000)." },
            Pool: new Option<string>("--dma-pool") { Description = "isa-dma-1995: the reserved-pool policy's DMA pool size.", DefaultValueFactory = _ => "1MiB" },
            Rounds: new Option<int>("--rounds") { Description = "isa-dma-1995: how often the driver loads and unloads.", DefaultValueFactory = _ => 50 },
            Sizes: sizes,
            Lifetime: new Option<int>("--lifetime") { Description = "knuth: lifetimes are uniform on 1..N ticks (10, 100 or 1000).", DefaultValueFactory = _ => 100 },
            Ticks: new Option<int>("--ticks") { Description = "knuth: ticks measured.", DefaultValueFactory = _ => 200_000 },
            Steps: new Option<int>("--steps") { Description = "highalloc: steps of load (the first quarter at --fill-target of memory, then 80%).", DefaultValueFactory = _ => 2_000_000 },
            AtomicShare: new Option<double>("--atomic-share") { Description = "highalloc: percent of allocations (0..100) that are order-3 unmovable GFP_ATOMIC requests, as a network driver's; default 0 (try 1)." },
            FillTarget: new Option<double>("--fill-target") { Description = "highalloc: percent of memory (above 0, at most 100) the first quarter of the load keeps in use; 99.5 works at the watermarks.", DefaultValueFactory = _ => 97 },
            Tunables: new KernelTunableOptions());
        var json = new Option<string?>("--json") { Description = "Also write every number as JSON to this file." }.AcceptOutputFile();
        var command = new Command("scenario", "Run a seeded scenario: the 1995 ISA DMA story, Knuth's buddy-system simulation, or highalloc (large blocks under load and at rest).")
        {
            name, options.Seed, options.Policies, json, options.Pool, options.Rounds, options.Sizes, options.Lifetime, options.Ticks, options.Steps, options.SampleEvery,
            options.AtomicShare, options.FillTarget,
        };
        foreach (Option tunable in options.Tunables.All)
        {
            command.Options.Add(tunable);
        }

        command.SetAction(parse =>
        {
            if (parse.GetValue(options.SampleEvery) is < 1 and int every)
            {
                throw new UserInputException($"--sample-every {every}: expected at least 1.");
            }

            Action<string> writeJson = s_runs[parse.GetValue(name)!](parse, options, stdout);
            if (parse.GetValue(json) is { } file)
            {
                writeJson(file);
            }

            return 0;
        });
        return command;
    }

    private static Action<string> RunHighAlloc(ParseResult parse, Options o, TextWriter stdout)
    {
        int count = AtLeast(parse.GetValue(o.Steps), 4, "--steps");
        double percent = parse.GetValue(o.AtomicShare);
        if (percent is not (>= 0 and <= 100))
        {
            throw new UserInputException(string.Create(CultureInfo.InvariantCulture, $"--atomic-share {percent}: expected a percentage, 0..100."));
        }

        double fill = parse.GetValue(o.FillTarget);
        if (fill is not (> 0 and <= 100))
        {
            throw new UserInputException(string.Create(CultureInfo.InvariantCulture, $"--fill-target {fill}: expected a percentage above 0, at most 100."));
        }

        return RunPolicies(parse, o, stdout, ScenarioCatalog.HighAlloc, $"highalloc: {count:N0} steps of load ...",
            c => HighAlloc.Run(new HighAllocOptions
            {
                Seed = c.Seed, Policies = c.Policies, SampleEvery = c.SampleEvery ?? 20_000, Steps = count, FillSteps = count / 4, AtomicShare = percent / 100, Tunables = c.Tunables, FillTarget = fill / 100,
            }),
            (console, results, seed) => PrintHighAlloc(console, results, seed, count, percent, fill), ToolJson.Default.ScenarioRunHighAllocPolicyResult);
    }

    // The options every policy-comparing scenario takes.
    private sealed record CommonOptions(int Seed, string[] Policies, int? SampleEvery, KernelTunables Tunables);

    // A scenario that runs policies side by side: run it with a status line, print its table, and
    // return what writes its --json file.
    private static Action<string> RunPolicies<T>(ParseResult parse, Options o, TextWriter stdout, string scenario, string status,
        Func<CommonOptions, IReadOnlyList<T>> run, Action<IAnsiConsole, IReadOnlyList<T>, int> print, JsonTypeInfo<ScenarioRun<T>> json)
    {
        var common = new CommonOptions(parse.GetValue(o.Seed), ReplayCommand.CheckPolicies(parse.GetValue(o.Policies)), parse.GetValue(o.SampleEvery), o.Tunables.Read(parse));
        IReadOnlyList<T> results = Progress.WithStatus(stdout, status, _ => run(common));
        IAnsiConsole console = Output.Console(stdout);
        print(console, results, common.Seed);
        if (common.Tunables != KernelTunables.Defaults)
        {
            console.WriteLine($"vm sysctls: {KernelTunableOptions.Describe(common.Tunables)}.");
        }

        var record = new ScenarioRun<T>(scenario, common.Seed, results);
        return file => Output.WriteJson(file, record, json);
    }

    private static int AtLeast(int value, int least, string option) =>
        value >= least ? value : throw new UserInputException(string.Create(CultureInfo.InvariantCulture, $"{option} must be at least {least}."));

    private static Action<string> RunKnuth(ParseResult parse, Options o, TextWriter stdout)
    {
        if (parse.GetValue(o.Policies) is { Length: > 0 })
        {
            throw new UserInputException("knuth runs on one buddy memory; --policy does not apply to it.");
        }

        if (parse.GetValue(o.SampleEvery) is not null)
        {
            throw new UserInputException("knuth reports averages over its ticks; --sample-every does not apply to it.");
        }

        if (o.Tunables.AnyGiven(parse))
        {
            throw new UserInputException("knuth runs on one buddy memory without the kernel's rules; the vm sysctl options do not apply to it.");
        }

        int life = parse.GetValue(o.Lifetime), count = parse.GetValue(o.Ticks);
        if (life < 1 || count < 1)
        {
            throw new UserInputException("--lifetime and --ticks must be at least 1.");
        }

        KnuthResult knuth = Progress.WithStatus(stdout, $"knuth: {count:N0} ticks ...", _ => Knuth.Run(new KnuthOptions
        {
            Seed = parse.GetValue(o.Seed),
            Sizes = Enum.Parse<KnuthSizes>(parse.GetValue(o.Sizes)!),
            MaxLifetime = life,
            Ticks = count,
        }));
        PrintKnuth(Output.Console(stdout), knuth);
        return file => Output.WriteJson(file, knuth, ToolJson.Default.KnuthResult);
    }

    private static Action<string> RunIsaDma(ParseResult parse, Options o, TextWriter stdout)
    {
        int rounds = AtLeast(parse.GetValue(o.Rounds), 1, "--rounds");
        ulong pool = Output.ParseSize(parse.GetValue(o.Pool)!, "--dma-pool");
        return RunPolicies(parse, o, stdout, ScenarioCatalog.IsaDma, $"isa-dma-1995: {rounds} driver rounds ...",
            c => IsaDma1995.Run(new IsaDmaOptions { Seed = c.Seed, Policies = c.Policies, SampleEvery = c.SampleEvery ?? 1000, DriverRounds = rounds, DmaPoolSize = pool, Tunables = c.Tunables }),
            PrintIsa, ToolJson.Default.ScenarioRunIsaDmaPolicyResult);
    }

    private static void PrintIsa(IAnsiConsole console, IReadOnlyList<IsaDmaPolicyResult> results, int seed)
    {
        console.WriteLine($"isa-dma-1995, seed {seed}: a 32 MiB PC (ISA hole and a 1 MiB kernel image reserved); processes and page cache churn at orders 0-2 around 24 MiB in use; a driver loads 50 times and asks for 2 × 64 KiB (8-bit channel), 1 × 128 KiB (16-bit channel), a 32 KiB floppy track buffer (16 KiB fallback) and 8 kmalloc(GFP_DMA) pages.");
        console.WriteLine();
        static string N(double v) => v.ToString("N0", CultureInfo.InvariantCulture);
        static Table Policies(params string[] headers)
        {
            // One row per policy, short headers on deliberate lines: 80 columns hold it and the widest policy name stays whole.
            var table = new Table().Border(TableBorder.Rounded).AddColumn(new TableColumn("policy").NoWrap());
            foreach (string h in headers)
            {
                table.AddColumn(new TableColumn(h).RightAligned());
            }

            return table;
        }

        Table dma = Policies("DMA\nsatisfied", "64/128 KiB\nbuffers", "floppy 32/16\nKiB/none", "peak\nin use");
        foreach (IsaDmaPolicyResult r in results)
        {
            dma.AddRow(Markup.Escape(r.Name), $"{N(r.DmaSatisfied)}/{N(r.DmaRequests)}", Markup.Escape(r.ChannelBuffers), Markup.Escape(r.Floppy), Units.FormatApproximateSize(r.Metrics.PeakPagesInUse * 4096));
        }

        console.Write(dma);
        console.WriteLine("What it costs everyone else:");
        Table cost = Policies("general\nrefused", "set aside\nfor DMA", "retry\npeak", "retry\nallocations");
        foreach (IsaDmaPolicyResult r in results)
        {
            cost.AddRow(Markup.Escape(r.Name), $"{N(r.GeneralRefused)}/{N(r.GeneralRequests)}", Units.FormatApproximateSize(r.BytesSetAsideForDma), Units.FormatApproximateSize(r.PeakBytesHeldByRetries), N(r.RetryAllocations));
        }

        console.Write(cost);
        string reasons = string.Join("; ", results.Select(r => (r.Name, Why: string.Join(" ", r.Metrics.FailuresByReason.Where(x => x.Value > 0).Select(x => $"{x.Key}:{N(x.Value)}")))).Where(x => x.Why.Length > 0).Select(x => $"{x.Name} {x.Why}"));
        console.WriteLine($"general refused: ordinary requests refused / made. retry peak: the most a DMA retry loop held at once. Failures by reason: {(reasons.Length > 0 ? reasons : "none")}.");
    }

    private static void PrintHighAlloc(IAnsiConsole console, IReadOnlyList<HighAllocPolicyResult> results, int seed, int steps, double atomicPercent, double fillPercent)
    {
        string fill = fillPercent.ToString("0.###", CultureInfo.InvariantCulture);
        string atomic = atomicPercent > 0 ? string.Create(CultureInfo.InvariantCulture, $" {atomicPercent:0.##}% of allocations are order-3 unmovable GFP_ATOMIC requests.") : "";
        console.WriteLine($"highalloc, seed {seed}: a 1 GiB machine (4 KiB pages, pageblocks of 512), {steps:N0} steps of load: allocate while use is below {fill}% (first quarter) or 80%, else free a random allocation; 5% unmovable, 2% reclaimable, 93% movable; orders 0-3.{atomic} Then order-9 blocks until one fails: under load, and at rest (every movable allocation freed first).");
        console.WriteLine();
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumn(new TableColumn("policy").NoWrap())
            .AddColumn(new TableColumn("under\nload").RightAligned())
            .AddColumn(new TableColumn("at\nrest").RightAligned())
            .AddColumn(new TableColumn("moved per\nblock (load)").RightAligned())
            .AddColumn(new TableColumn("load\nfailures").RightAligned());
        foreach (HighAllocPolicyResult r in results)
        {
            table.AddRow(
                Markup.Escape(r.Name),
                string.Create(CultureInfo.InvariantCulture, $"{r.UnderLoad.Blocks}/{r.UnderLoad.Possible}\n{r.UnderLoad.Share:P1}"),
                string.Create(CultureInfo.InvariantCulture, $"{r.AtRest.Blocks}/{r.AtRest.Possible}\n{r.AtRest.Share:P1}"),
                r.UnderLoad.MovedPerBlock.ToString("F0", CultureInfo.InvariantCulture),
                r.Metrics.AllocFailures.ToString("N0", CultureInfo.InvariantCulture));
        }

        console.Write(table);
        console.WriteLine("Blocks obtained / floor(free pages / 512) when the measurement started, and that share.");
        console.WriteLine();
        PrintHighAllocCounters(console, results, atomicPercent > 0);
    }

    // The load's counters, one row each and a column per policy (at most four policies a table, so
    // that 80 columns hold them): fallbacks as mm_page_alloc_extfrag reports them, the kernel's
    // watermark boosts and daemons, /proc/vmstat's compaction counters, the highatomic reserve.
    private static void PrintHighAllocCounters(IAnsiConsole console, IReadOnlyList<HighAllocPolicyResult> results, bool atomic)
    {
        console.WriteLine("Over the load and the order-9 requests under load: fallbacks to another migrate type's lists (fragmenting: a block below a pageblock taken, mixing types), /proc/vmstat's compaction counters, pageblocks reserved for high-order atomic requests and the pages reserved at the end.");
        static string N(long v) => v.ToString("N0", CultureInfo.InvariantCulture);
        (string Label, Func<HighAllocPolicyResult, string> Value)[] rows =
        [
            ("fallbacks", r => N(r.MobilityAtEnd.FallbackEvents)),
            ("  fragmenting", r => N(r.MobilityAtEnd.FragmentingEvents)),
            ("watermark boosts", r => N(r.MobilityAtEnd.WatermarkBoosts)),
            ("compact_stall", r => N(Vm(r, "compact_stall"))),
            ("compact_success", r => N(Vm(r, "compact_success"))),
            ("compact_fail", r => N(Vm(r, "compact_fail"))),
            ("compact_daemon_wake", r => N(Vm(r, "compact_daemon_wake"))),
            ("highatomic reserved", r => N(r.MobilityAtEnd.HighAtomicReservations)),
            ("highatomic pages", r => N((long)r.MobilityAtEnd.ReservedHighAtomicPages)),
            .. atomic ? [("atomic failed", (Func<HighAllocPolicyResult, string>)(r => $"{N(r.AtomicFailures)}/{N(r.AtomicRequests)}"))] : Array.Empty<(string, Func<HighAllocPolicyResult, string>)>(),
        ];
        foreach (HighAllocPolicyResult[] group in results.Chunk(4))
        {
            var table = new Table().Border(TableBorder.Rounded).AddColumn(new TableColumn("").NoWrap());
            foreach (HighAllocPolicyResult r in group)
            {
                // Policy names break after each '+', so that four of them fit side by side.
                table.AddColumn(new TableColumn(Markup.Escape(r.Name.Replace("+", "+\n", StringComparison.Ordinal))).RightAligned());
            }

            foreach ((string label, Func<HighAllocPolicyResult, string> value) in rows)
            {
                table.AddRow([Markup.Escape(label), .. group.Select(r => Markup.Escape(value(r)))]);
            }

            console.Write(table);
        }
    }

    private static long Vm(HighAllocPolicyResult r, string counter) => r.MobilityAtEnd.VmEvents.GetValueOrDefault(counter);

    private static void PrintKnuth(IAnsiConsole console, KnuthResult k)
    {
        KnuthOptions o = k.Options;
        console.WriteLine($"knuth, seed {o.Seed}: sizes {o.Sizes}, lifetimes uniform on 1..{o.MaxLifetime}, one request per tick, {o.Ticks:N0} ticks measured after {o.WarmupTicks:N0}, memory 2^{o.MemoryOrder} words.");
        var table = new Table().Border(TableBorder.Rounded).AddColumns("", "buddy");
        table.AddRow("internal fragmentation (wasted / allocated)", k.InternalFragmentation.ToString("F4", CultureInfo.InvariantCulture));
        table.AddRow("mean words requested / allocated", string.Create(CultureInfo.InvariantCulture, $"{k.MeanRequestedWords:N0} / {k.MeanAllocatedWords:N0}"));
        table.AddRow("peak words allocated", k.PeakAllocatedWords.ToString("N0", CultureInfo.InvariantCulture));
        table.AddRow("memory reached (high-water, words)", k.HighWaterWords.ToString("N0", CultureInfo.InvariantCulture));
        table.AddRow("requests / overflows", string.Create(CultureInfo.InvariantCulture, $"{k.Requests:N0} / {k.Overflows:N0}"));
        console.Write(table);
        console.WriteLine($"Internal fragmentation is time-averaged: wasted words / {k.InternalFragmentationDenominator}.");
    }
}
