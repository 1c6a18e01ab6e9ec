// `buddy replay [TRACE] [--memory SIZE] [--policy NAME]... [--json FILE]`: a real Linux trace
// through competing policies, side by side.
using System.CommandLine;
using System.Globalization;
using Buddy.Simulation.Metrics;
using Buddy.Simulation.Policies;
using Buddy.Simulation.Replay;
using Spectre.Console;

namespace Buddy.Tool.Commands;

/// <summary>Replays a page-allocation trace through the policies and prints what each did.</summary>
internal static class ReplayCommand
{
    /// <summary>The trace bundled with the tool.</summary>
    public static string BundledTrace => Path.Combine(AppContext.BaseDirectory, "data", "linux-6.18-dotnet-build.trace.gz");

    public static Command Create(TextWriter stdout)
    {
        var trace = new Argument<string?>("TRACE")
        {
            Description = "An ftrace text of kmem:mm_page_alloc and mm_page_free events, plain or gzip (default: the bundled Linux 6.18 trace).",
            Arity = ArgumentArity.ZeroOrOne,
        }.AcceptInputFile();
        var memory = new Option<string?>("--memory") { Description = "The simulated machine's memory, e.g. 2GiB (default: the smallest that covers the trace's pfns)." };
        var policies = PolicyOption();
        var json = new Option<string?>("--json") { Description = "Also write every number as JSON to this file." }.AcceptOutputFile();
        var skipBad = new Option<bool>("--skip-bad-lines") { Description = "Count malformed lines and go on instead of stopping at the first." };
        var sampleEvery = new Option<int>("--sample-every") { Description = "Sample the time series every N events.", DefaultValueFactory = _ => 4096 };
        var indexOrder = new Option<int>("--index-order") { Description = "The order at which the fragmentation indices are taken.", DefaultValueFactory = _ => 9 };
        var pool = new Option<string>("--dma-pool") { Description = "The reserved-pool policy's DMA pool size.", DefaultValueFactory = _ => "1MiB" };
        var dumpDir = new Option<string?>("--dump-dir") { Description = "Write each policy's final allocator state to DIR/<policy>.json (for `buddy map --from`)." }.AcceptOutputDirectory();
        var command = new Command("replay", "Replay a real Linux page-allocation trace through competing allocation policies.")
        {
            trace, memory, policies, json, skipBad, sampleEvery, indexOrder, pool, dumpDir,
        };
        command.SetAction(parse =>
        {
            string path = parse.GetValue(trace) ?? BundledTrace;
            int every = parse.GetValue(sampleEvery);
            int order = parse.GetValue(indexOrder);
            if (every < 1 || order is < 0 or > 10)
            {
                throw new UserInputException("--sample-every must be at least 1 and --index-order from 0 to 10.");
            }

            string[] names = CheckPolicies(parse.GetValue(policies));
            var options = new ReplayOptions
            {
                MemoryBytes = ParseMemory(parse.GetValue(memory), names),
                Policies = names,
                SkipBadLines = parse.GetValue(skipBad),
                SampleEvery = every,
                IndexOrder = order,
                DmaPoolSize = Output.ParseSize(parse.GetValue(pool)!, "--dma-pool"),
                KeepDumps = parse.GetValue(dumpDir) is not null,
            };
            ReplayResult result = Run(path, options, stdout);
            Print(Output.Console(stdout), result);
            if (options.MemoryBytes is { } asked && asked != result.MemoryBytes)
            {
                // Machines.X86 rounds up to whole max-order blocks; say so rather than replay a machine nobody asked for silently.
                stdout.WriteLine($"Note: --memory {Units.FormatSize(asked)} was rounded up to {Units.FormatSize(result.MemoryBytes)}: a machine is a whole number of max-order blocks ({Units.FormatSize(result.PageSize << MachineLayout.DefaultMaxOrder)}).");
            }
            if (parse.GetValue(json) is { } file)
            {
                Output.WriteJson(file, result, ToolJson.Default.ReplayResult);
            }

            if (parse.GetValue(dumpDir) is { } dir)
            {
                Directory.CreateDirectory(dir);
                foreach (PolicyResult p in result.Policies)
                {
                    Output.WriteFile(Path.Combine(dir, p.Name + ".json"), p.Dump!.Save);
                }
            }

            return 0;
        });
        return command;
    }

    /// <summary>The repeatable --policy option.</summary>
    public static Option<string[]> PolicyOption()
    {
        var option = new Option<string[]>("--policy")
        {
            Description = $"A policy to run (repeatable; default all): {string.Join(", ", PolicyCatalog.Names)}.",
            AllowMultipleArgumentsPerToken = false,
        };
        option.AcceptOnlyFromAmong([.. PolicyCatalog.Names]);
        return option;
    }

    /// <summary>The --memory option's size, checked against what the policies' allocators can get; null when not given.</summary>
    public static ulong? ParseMemory(string? text, IReadOnlyList<string> policies)
    {
        if (text is null)
        {
            return null;
        }

        ulong memory = Output.ParseSize(text, "--memory");
        SimulationBudget.CheckReplay("--memory", memory, policies);
        return memory;
    }

    /// <summary>The policies named, without duplicates.</summary>
    public static string[] CheckPolicies(string[]? names) => names is null ? [] : [.. names.Distinct(StringComparer.Ordinal)];

    private static ReplayResult Run(string path, ReplayOptions options, TextWriter stdout) =>
        Progress.WithBar(stdout, $"replaying {Path.GetFileName(path)}", report =>
            TraceReplay.Run(path, options, report is null ? null : (position, length) => report(length == 0 ? 1 : (double)position / length)));

    private static void Print(IAnsiConsole console, ReplayResult r)
    {
        TraceCounts t = r.Trace;
        console.WriteLine($"Trace {r.Source}: {t.Lines:N0} lines, {t.Allocs:N0} allocations, {t.Frees:N0} frees, {t.FailedAllocs:N0} failed allocations, {t.Skipped:N0} other events skipped{(t.BadLines > 0 ? $", {t.BadLines:N0} bad lines skipped" : "")}.");
        console.WriteLine($"Frees of pages allocated before the capture: {t.UnmatchedFrees:N0}; partial frees: {t.PartialFrees:N0}; allocations of pages still held (untraced free): {t.StaleAllocs:N0}.");
        console.WriteLine($"Machine: {Units.FormatSize(r.MemoryBytes)} ({r.MemoryBytes / r.PageSize:N0} pages of {Units.FormatSize(r.PageSize)}), x86-64 zones. Replay took {r.Seconds:F2} s.");
        console.WriteLine();
        PrintTable(console, r.Policies, r.PageSize);
    }

    /// <summary>One column per policy, one row per number.</summary>
    public static void PrintTable(IAnsiConsole console, IReadOnlyList<PolicyResult> policies, ulong pageSize)
    {
        var table = new Table().Border(TableBorder.Rounded).AddColumn("");
        foreach (PolicyResult p in policies)
        {
            table.AddColumn(new TableColumn(p.Name).RightAligned());
        }

        void Row(string label, Func<PolicyResult, string> value) =>
            table.AddRow([label, .. policies.Select(p => Markup.Escape(value(p)))]);

        static string N(double v) => v.ToString("N0", CultureInfo.InvariantCulture);
        Row("requests", p => N(p.Requests));
        Row("failures", p => N(p.AllocFailures));
        Row("failures by zone DMA/DMA32/Normal", p => $"{p.FailuresByZone["DMA"]}/{p.FailuresByZone["DMA32"]}/{p.FailuresByZone["Normal"]}");
        Row("failures by order", p => string.Join(" ", p.FailuresByOrder.Select((n, o) => (n, o)).Where(x => x.n > 0).Select(x => $"{x.o}:{x.n}")) is { Length: > 0 } s ? s : "-");
        Row("failures by reason", p => string.Join(" ", p.FailuresByReason.Where(x => x.Value > 0).Select(x => $"{x.Key}:{x.Value}")) is { Length: > 0 } s ? s : "-");
        Row("peak in use", p => $"{N(p.PeakPagesInUse)} pages ({Units.FormatApproximateSize(p.PeakPagesInUse * pageSize)})");
        Row("mean in use (pages)", p => N(p.MeanPagesInUse));
        Row("internal fragmentation", p => p.InternalFragmentation.ToString("F3", CultureInfo.InvariantCulture));
        Row("unusable index, mean / end", p => string.Create(CultureInfo.InvariantCulture, $"order {p.IndexOrder}: {p.MeanUnusableIndex:F3} / {p.FinalUnusableIndex:F3}"));
        Row("fragmentation index at end", p => p.FinalFragmentationIndex.ToString("F3", CultureInfo.InvariantCulture));
        Row("set aside for DMA", p => N(p.PagesSetAsideForDma) + " pages");
        Row("peak held by retry loops", p => N(p.PeakPagesHeldByRetries) + " pages");
        Row("pages moved by compaction", p => N(p.CompactionPagesMoved));
        Row("events per second", p => N(p.EventsPerSecond));
        console.Write(table);
        console.WriteLine($"Internal fragmentation is wasted / {(policies.Count > 0 ? policies[0].InternalFragmentationDenominator : "allocated")}. Indices are the kernel's (mm/vmstat.c) over all of a policy's free memory.");
        foreach (PolicyResult p in policies)
        {
            console.WriteLine();
            console.WriteLine($"{p.Name}: /proc/buddyinfo at the end");
            console.Write(new Text(p.BuddyInfo));
        }
    }
}
