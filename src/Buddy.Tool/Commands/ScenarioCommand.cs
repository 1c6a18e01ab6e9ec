// `buddy scenario NAME [--seed N] [--policy NAME]... [--json FILE]`: seeded, deterministic workloads.
using System.CommandLine;
using System.Globalization;
using Buddy.Simulation.Scenarios;
using Spectre.Console;

namespace Buddy.Tool.Commands;

/// <summary>Runs a named scenario and prints each policy's outcome.</summary>
internal static class ScenarioCommand
{
    private static readonly string[] s_names = ["isa-dma-1995", "knuth", "highalloc"];

    public static Command Create(TextWriter stdout)
    {
        var name = new Argument<string>("NAME") { Description = $"The scenario: {string.Join(", ", s_names)}." };
        name.AcceptOnlyFromAmong(s_names);
        var seed = new Option<int>("--seed") { Description = "The seed; the same seed gives the same run.", DefaultValueFactory = _ => 1 };
        var policies = ReplayCommand.PolicyOption();
        var json = new Option<string?>("--json") { Description = "Also write every number as JSON to this file." }.AcceptOutputFile();
        var pool = new Option<string>("--dma-pool") { Description = "isa-dma-1995: the reserved-pool policy's DMA pool size.", DefaultValueFactory = _ => "1MiB" };
        var rounds = new Option<int>("--rounds") { Description = "isa-dma-1995: how often the driver loads and unloads.", DefaultValueFactory = _ => 50 };
        var sizes = new Option<string>("--sizes") { Description = "knuth: the size distribution, S1, S2 or S3.", DefaultValueFactory = _ => "S1" };
        sizes.AcceptOnlyFromAmong("S1", "S2", "S3");
        var lifetime = new Option<int>("--lifetime") { Description = "knuth: lifetimes are uniform on 1..N ticks (10, 100 or 1000).", DefaultValueFactory = _ => 100 };
        var ticks = new Option<int>("--ticks") { Description = "knuth: ticks measured.", DefaultValueFactory = _ => 200_000 };
        var steps = new Option<int>("--steps") { Description = "highalloc: steps of load (the first quarter at 97% of memory, then 80%).", DefaultValueFactory = _ => 2_000_000 };
        var sampleEvery = new Option<int?>("--sample-every") { Description = "isa-dma-1995, highalloc: sample the time series (free pages, unusable index, failures) every N steps (default 1000 and 20000)." };
        var command = new Command("scenario", "Run a seeded scenario: the 1995 ISA DMA story, Knuth's buddy-system simulation, or highalloc (large blocks under load and at rest).")
        {
            name, seed, policies, json, pool, rounds, sizes, lifetime, ticks, steps, sampleEvery,
        };
        command.SetAction(parse =>
        {
            IAnsiConsole console = Output.Console(stdout);
            string scenario = parse.GetValue(name)!;
            int? every = parse.GetValue(sampleEvery);
            if (every is < 1)
            {
                throw new UserInputException($"--sample-every {every}: expected at least 1.");
            }

            object result;
            if (scenario == "highalloc")
            {
                int count = parse.GetValue(steps);
                if (count < 4)
                {
                    throw new UserInputException("--steps must be at least 4.");
                }

                IReadOnlyList<HighAllocPolicyResult> high = HighAlloc.Run(new HighAllocOptions
                {
                    Seed = parse.GetValue(seed),
                    Policies = ReplayCommand.CheckPolicies(parse.GetValue(policies)),
                    Steps = count,
                    FillSteps = count / 4,
                    SampleEvery = every ?? 20_000,
                });
                PrintHighAlloc(console, high, parse.GetValue(seed), count);
                result = new { scenario, seed = parse.GetValue(seed), policies = high };
            }
            else if (scenario == "knuth")
            {
                if (parse.GetValue(policies) is { Length: > 0 })
                {
                    throw new UserInputException("knuth runs on one buddy memory; --policy does not apply to it.");
                }

                if (every is not null)
                {
                    throw new UserInputException("knuth reports averages over its ticks; --sample-every does not apply to it.");
                }

                int life = parse.GetValue(lifetime), count = parse.GetValue(ticks);
                if (life < 1 || count < 1)
                {
                    throw new UserInputException("--lifetime and --ticks must be at least 1.");
                }

                var knuth = Knuth.Run(new KnuthOptions
                {
                    Seed = parse.GetValue(seed),
                    Sizes = Enum.Parse<KnuthSizes>(parse.GetValue(sizes)!),
                    MaxLifetime = life,
                    Ticks = count,
                });
                PrintKnuth(console, knuth);
                result = knuth;
            }
            else
            {
                int r = parse.GetValue(rounds);
                if (r < 1)
                {
                    throw new UserInputException("--rounds must be at least 1.");
                }

                IReadOnlyList<IsaDmaPolicyResult> isa = IsaDma1995.Run(new IsaDmaOptions
                {
                    Seed = parse.GetValue(seed),
                    Policies = ReplayCommand.CheckPolicies(parse.GetValue(policies)),
                    DriverRounds = r,
                    DmaPoolSize = Output.ParseSize(parse.GetValue(pool)!, "--dma-pool"),
                    SampleEvery = every ?? 1000,
                });

                PrintIsa(console, isa, parse.GetValue(seed));
                result = new { scenario, seed = parse.GetValue(seed), policies = isa };
            }

            if (parse.GetValue(json) is { } file)
            {
                Output.WriteJson(file, result);
            }

            return 0;
        });
        return command;
    }

    private static void PrintIsa(IAnsiConsole console, IReadOnlyList<IsaDmaPolicyResult> results, int seed)
    {
        console.WriteLine($"isa-dma-1995, seed {seed}: a 32 MiB PC (ISA hole and a 1 MiB kernel image reserved); processes and page cache");
        console.WriteLine("churn at orders 0-2 around 24 MiB in use; a driver loads 50 times and asks for 2 × 64 KiB (8-bit channel),");
        console.WriteLine("1 × 128 KiB (16-bit channel), a 32 KiB floppy track buffer (16 KiB fallback) and 8 kmalloc(GFP_DMA) pages.");
        console.WriteLine();
        var table = new Table().Border(TableBorder.Rounded).AddColumn("");
        foreach (IsaDmaPolicyResult r in results)
        {
            table.AddColumn(new TableColumn(r.Name).RightAligned());
        }

        void Row(string label, Func<IsaDmaPolicyResult, string> value) => table.AddRow([label, .. results.Select(r => Markup.Escape(value(r)))]);
        static string N(double v) => v.ToString("N0", CultureInfo.InvariantCulture);
        Row("DMA requests satisfied", r => $"{N(r.DmaSatisfied)} / {N(r.DmaRequests)}");
        Row("64/128 KiB channel buffers", r => r.ChannelBuffers);
        Row("floppy 32 KiB / 16 KiB / none", r => r.Floppy);
        Row("general requests refused", r => $"{N(r.GeneralRefused)} / {N(r.GeneralRequests)}");
        Row("memory set aside for DMA", r => Units.FormatApproximateSize(r.BytesSetAsideForDma));
        Row("peak held by retry loops", r => Units.FormatApproximateSize(r.PeakBytesHeldByRetries));
        Row("retry allocations", r => N(r.RetryAllocations));
        Row("peak in use", r => Units.FormatApproximateSize(r.Metrics.PeakPagesInUse * 4096));
        Row("failures by reason", r => string.Join(" ", r.Metrics.FailuresByReason.Where(x => x.Value > 0).Select(x => $"{x.Key}:{x.Value}")) is { Length: > 0 } s ? s : "-");
        console.Write(table);
    }

    private static void PrintHighAlloc(IAnsiConsole console, IReadOnlyList<HighAllocPolicyResult> results, int seed, int steps)
    {
        console.WriteLine($"highalloc, seed {seed}: a 1 GiB machine (4 KiB pages, pageblocks of 512), {steps:N0} steps of load: allocate while use is below");
        console.WriteLine("97% (first quarter) or 80%, else free a random allocation; 5% unmovable, 2% reclaimable, 93% movable; orders 0-3.");
        console.WriteLine("Then order-9 blocks until one fails: under load, and at rest (every movable allocation freed first).");
        console.WriteLine("Share = blocks obtained / floor(free pages / 512) at the start of the measurement.");
        console.WriteLine();
        var table = new Table().Border(TableBorder.Rounded).AddColumns("policy", "under load", "at rest", "pages moved per block (load)", "load failures");
        foreach (HighAllocPolicyResult r in results)
        {
            table.AddRow(
                Markup.Escape(r.Name),
                string.Create(CultureInfo.InvariantCulture, $"{r.UnderLoad.Blocks} / {r.UnderLoad.Possible} = {r.UnderLoad.Share:P1}"),
                string.Create(CultureInfo.InvariantCulture, $"{r.AtRest.Blocks} / {r.AtRest.Possible} = {r.AtRest.Share:P1}"),
                r.UnderLoad.MovedPerBlock.ToString("F0", CultureInfo.InvariantCulture),
                r.Metrics.AllocFailures.ToString(CultureInfo.InvariantCulture));
        }

        console.Write(table);
    }

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
