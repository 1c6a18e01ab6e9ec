// `buddy replay [TRACE] [--memory SIZE] [--policy NAME]... [--json FILE]`: a real Linux trace
// through competing policies, side by side.
using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using Buddy.Simulation.Metrics;
using Buddy.Simulation.Policies;
using Buddy.Simulation.Replay;
using Buddy.Simulation.Scenarios;
using Buddy.Tracing;
using Spectre.Console;

namespace Buddy.Tool.Commands;

/// <summary>Replays a page-allocation trace through the policies and prints what each did.</summary>
internal static partial class ReplayCommand
{
    /// <summary>The trace bundled with the tool.</summary>
    public static string BundledTrace => Path.Combine(AppContext.BaseDirectory, "data", "linux-6.18-dotnet-build.trace.gz");

    public static Command Create(TextWriter stdout)
    {
        var trace = new Argument<string?>("TRACE")
        {
            Description = "A trace of kmem:mm_page_alloc and mm_page_free events: trace_pipe, perf script or trace-cmd report text (plain or gzip), or a perf.data / trace.dat recording (read with perf / trace-cmd) (default: the bundled Linux 6.18 trace).",
            Arity = ArgumentArity.ZeroOrOne,
        }.AcceptInputFile();
        var memory = new Option<string?>("--memory") { Description = $"The simulated machine's memory, e.g. 2GiB (default: {ReplayOptions.PeakMultiple}× the trace's peak in use, rounded up to whole max-order blocks)." };
        var policies = PolicyOption();
        var json = new Option<string?>("--json") { Description = "Also write every number as JSON to this file." }.AcceptOutputFile();
        var skipBad = new Option<bool>("--skip-bad-lines") { Description = "Count malformed lines and go on instead of stopping at the first." };
        var sampleEvery = new Option<int>("--sample-every") { Description = "Sample the time series every N events.", DefaultValueFactory = _ => 4096 };
        var indexOrder = new Option<int>("--index-order") { Description = "The order at which the fragmentation indices are taken.", DefaultValueFactory = _ => 9 };
        var pool = new Option<string>("--dma-pool") { Description = "The reserved-pool policy's DMA pool size.", DefaultValueFactory = _ => "1MiB" };
        var details = new Option<bool>("--details") { Description = "Also print each policy's failures, pages in use, fragmentation indices, speed and /proc/buddyinfo." };
        var dumpDir = new Option<string?>("--dump-dir") { Description = "Write each policy's final allocator state to DIR/<policy>.json (for `buddy map --from`)." }.AcceptOutputDirectory();
        var tunables = new KernelTunableOptions();
        var traced = new TracedMachineOptions();
        var node = new Option<int?>("--node") { Description = "The NUMA node the trace's requests prefer, as the allocating CPU's node (default: the machine's lowest); the zoned policies fall back to the other nodes by distance." };
        var command = new Command("replay", "Replay a real Linux page-allocation trace through competing allocation policies; on the traced machine's real layout and start state, beside the kernel's own placement, when the trace is a capture bundle (buddy capture --bundle) or --zoneinfo is given.")
        {
            trace, memory, policies, json, skipBad, sampleEvery, indexOrder, pool, details, dumpDir, node,
        };
        foreach (Option option in tunables.All.Concat(traced.All))
        {
            command.Options.Add(option);
        }

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
            using TraceBundle? bundle = TraceBundle.IsBundle(path) ? TraceBundle.Open(path) : null;
            TracedMachine? machine = traced.Read(parse, bundle);
            if (machine is not null && parse.GetValue(memory) is not null)
            {
                throw new UserInputException("--memory sizes a simulated machine; the traced machine's layout (a bundle or --zoneinfo) fixes its memory. Give one of them.");
            }

            var options = new ReplayOptions
            {
                Traced = machine,
                KernelPlacement = machine is not null,
                Node = parse.GetValue(node) is int n && (n < 0 || (machine is null && n > 0)) ? throw new UserInputException($"--node {n}: a machine's nodes are numbered from 0, and a simulated machine has only node 0 (give --zoneinfo or a bundle for the traced machine's nodes).") : parse.GetValue(node),
                MemoryBytes = ParseMemory(parse.GetValue(memory), names),
                Policies = names,
                SkipBadLines = parse.GetValue(skipBad),
                SampleEvery = every,
                IndexOrder = order,
                DmaPoolSize = Output.ParseSize(parse.GetValue(pool)!, "--dma-pool"),
                KeepDumps = parse.GetValue(dumpDir) is not null,
                Tunables = tunables.Read(parse),
            };
            ReplayResult result = Run(bundle?.TracePath ?? path, options, stdout);
            result = bundle is null ? result : result with { Source = $"{path} (capture bundle)" };
            Print(Output.Console(stdout), result, bundled: parse.GetValue(trace) is null, parse.GetValue(details));
            if (tunables.AnyGiven(parse))
            {
                stdout.WriteLine($"vm sysctls: {KernelTunableOptions.Describe(options.Tunables)}.");
            }

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

    private static void Print(IAnsiConsole console, ReplayResult r, bool bundled, bool details)
    {
        TraceCounts t = r.Trace;
        string name = bundled ? $"{Path.GetFileName(r.Source)} (bundled)" : r.Source;
        string failed = t.FailedAllocs > 0 ? $", {t.FailedAllocs:N0} failed allocations (not replayed)" : "";
        string skipped = (t.Skipped > 0 ? $", {t.Skipped:N0} other events skipped" : "") + (t.BadLines > 0 ? $", {t.BadLines:N0} bad lines skipped" : "");
        string unmatched = r.Start is null ? "frees of pages allocated before the capture" : "frees of pages the start state did not hold";
        console.WriteLine($"Trace {name}, replayed in {r.Seconds:F2} s: {t.Lines:N0} lines, {t.Allocs:N0} allocations, {t.Frees:N0} frees{failed}{skipped}; {t.UnmatchedFrees:N0} {unmatched}, {t.PartialFrees:N0} partial frees, {t.StaleAllocs:N0} allocations of pages still held (untraced free).");
        string sizing = r.SizedToPeakPages is { } peak
            ? string.Create(CultureInfo.InvariantCulture, $", sized to {ReplayOptions.PeakMultiple}× the trace's peak in use ({Units.FormatApproximateSize(peak * r.PageSize)}, {peak:N0} pages); --memory to change")
            : "";
        if (r.Policies.Count > 0 && r.Policies[0].Name == KernelPlacementPolicy.PolicyName)
        {
            console.WriteLine($"Machine: the traced one from its zoneinfo, {Units.FormatApproximateSize(r.MemoryBytes)} from its first to its last page frame; zones {TracedZones(r.Policies[0].BuddyInfo)}; holes and boot reservations reserved, the kernel's own watermarks; {Units.FormatSize(r.PageSize)} pages.");
        }
        else
        {
            console.WriteLine($"Machine: {Units.FormatSize(r.MemoryBytes)}{sizing}. {Units.FormatSize(r.PageSize)} pages; zones {Zones(r.MemoryBytes)}.");
        }

        console.WriteLine();
        PrintSummary(console, r);
        PrintTracedMachine(console, r);
        if (r.KernelEvidence is { } evidence)
        {
            console.WriteLine();
            PrintKernelEvidence(console, evidence);
            PrintFallbacksBeside(console, evidence, r.Policies);
        }

        if (details)
        {
            console.WriteLine();
            PrintDetails(console, r.Policies, r.PageSize);
        }
    }

    /// <summary>
    /// The first screen: one row per policy — failures during the trace, and what it can still give
    /// at the index order when the trace ends — then what the numbers mean and what to try next.
    /// </summary>
    public static void PrintSummary(IAnsiConsole console, ReplayResult r)
    {
        IReadOnlyList<PolicyResult> policies = r.Policies;
        if (policies.Count == 0)
        {
            return;
        }

        int order = policies[0].IndexOrder;
        string block = Units.FormatSize(r.PageSize << order);
        console.WriteLine($"When the trace ends, {block} blocks (order {order}) each policy can still give:");
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumn(new TableColumn("policy").NoWrap())
            .AddColumn(new TableColumn("failed").RightAligned())
            .AddColumn(new TableColumn("free").RightAligned())
            .AddColumn(new TableColumn("obtained").RightAligned())
            .AddColumn(new TableColumn("moved").RightAligned())
            .AddColumn(new TableColumn("unusable").RightAligned());
        foreach (PolicyResult p in policies)
        {
            HighAllocMeasurement end = p.LargeBlocksAtEnd!;
            bool kernel = p.Name == KernelPlacementPolicy.PolicyName; // it follows the trace: it has no choice to measure
            table.AddRow(
                Markup.Escape(p.Name),
                N(p.AllocFailures),
                N(p.FinalFreeBlocksAtIndexOrder),
                kernel ? "-" : $"{N(end.Blocks)}/{N(end.Possible)}",
                kernel ? "-" : N(end.PagesMovedByCompaction),
                p.FinalUnusableIndex.ToString("F3", CultureInfo.InvariantCulture));
        }

        console.Write(table);
        console.WriteLine($"failed: trace requests refused. free: {block} blocks free as the trace ends. obtained: movable order-{order} requests (as a THP fault makes) until the first failure, of free memory / {block}. moved: pages compaction migrated for them. unusable: the kernel's unusable free space index, order {order}.");
        PolicyResult[] chosen = [.. policies.Where(p => p.Name != KernelPlacementPolicy.PolicyName)];
        if (chosen.Length > 0)
        {
            console.WriteLine(Verdict(chosen));
        }
        string smaller = r.SizedToPeakPages is { } peak ? $"buddy replay --memory {Units.FormatSize(SmallerThan(peak * r.PageSize, r.PageSize)).Replace(" ", "", StringComparison.Ordinal)} (below the peak: failures); " : "";
        console.WriteLine($"Next: {smaller}buddy replay --details (failures, memory, speed, /proc/buddyinfo); buddy scenario highalloc; buddy report --out report.html.");
    }

    /// <summary>
    /// What the traced kernel recorded itself (its extfrag, zone-locked and compaction events), one
    /// line per kind of event the trace holds: copied from the trace, beside the policies' simulation.
    /// </summary>
    public static void PrintKernelEvidence(IAnsiConsole console, KernelEvidence e)
    {
        console.WriteLine("What the traced kernel recorded (its own events, not simulated):");
        if (e.Fallbacks > 0)
        {
            string routes = string.Join(", ", e.FallbacksByMigrateType.Select(r => $"{r.AllocMigrateType} from {r.FallbackMigrateType} {N(r.Count)}"));
            console.WriteLine($"  Fragmenting fallbacks: {N(e.FragmentingFallbacks)} of {N(e.Fallbacks)} fallbacks to another migrate type (fragmenting: a block smaller than a pageblock taken); pageblock ownership changes: {N(e.OwnershipChanges)}; asked from taken: {routes}.");
        }

        if (e.CompactionRuns > 0 || e.CompactionEnds > 0)
        {
            string outcomes = e.CompactionOutcomes.Count == 0 ? "none ended in the trace" : "ended: " + string.Join(", ", e.CompactionOutcomes.Select(o => $"{o.Key} {N(o.Value)}"));
            console.WriteLine($"  Compaction runs: {N(e.CompactionRuns)} (sync {N(e.SyncCompactionRuns)}, async {N(e.AsyncCompactionRuns)}); {outcomes}.");
        }

        if (e.ZoneLockedAllocations > 0)
        {
            console.WriteLine($"  Zone-locked allocations: {N(e.ZoneLockedAllocations)} (per-cpu list refills {N(e.PercpuRefills)}).");
        }
    }

    // What the summary shows, in one sentence computed from it: the policy that obtained the most
    // blocks against the others.
    private static string Verdict(IReadOnlyList<PolicyResult> policies)
    {
        long most = policies.Max(p => p.LargeBlocksAtEnd!.Blocks);
        PolicyResult[] best = [.. policies.Where(p => p.LargeBlocksAtEnd!.Blocks == most)];
        HighAllocMeasurement b = best[0].LargeBlocksAtEnd!;
        long[] others = [.. policies.Where(p => p.LargeBlocksAtEnd!.Blocks != most).Select(p => p.LargeBlocksAtEnd!.Blocks)];
        if (others.Length == 0)
        {
            return $"{(best.Length == 1 ? best[0].Name : "Every policy")} obtained {N(b.Blocks)} of {N(b.Possible)}.";
        }

        string names = best.Length == 1 ? best[0].Name : string.Join(", ", best[..^1].Select(p => p.Name)) + " and " + best[^1].Name;
        string range = others.Min() == others.Max() ? N(others.Min()) : $"{N(others.Min())} to {N(others.Max())}";
        string moved = best.Length == 1 && b.PagesMovedByCompaction > 0 ? $" by moving {N(b.PagesMovedByCompaction)} pages" : "";
        return $"{names} obtained the most, {N(b.Blocks)} of {N(b.Possible)}{moved}; the others {range}.";
    }

    // A machine below the trace's peak, where requests fail: seven eighths of the peak, rounded down
    // to whole max-order blocks (the machine's unit, so --memory is not rounded up again).
    private static ulong SmallerThan(ulong peakBytes, ulong pageSize)
    {
        ulong unit = pageSize << MachineLayout.DefaultMaxOrder;
        return Math.Max(1, peakBytes / 8 * 7 / unit) * unit;
    }

    // The x86-64 zones of a machine of `memory` bytes and their sizes, e.g. "DMA 16 MiB, DMA32 588 MiB".
    private static string Zones(ulong memory)
    {
        var parts = new List<string>();
        ulong start = 0;
        foreach (ZoneLimit zone in MachineLayout.X86Zones)
        {
            ulong end = Math.Min(zone.Limit, memory);
            if (end > start)
            {
                parts.Add($"{zone.Kind.KernelName()} {Units.FormatApproximateSize(end - start)}");
            }

            start = Math.Max(start, end);
        }

        return string.Join(", ", parts);
    }

    private static string N(double v) => v.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>The rest, for --details: one row per policy in each table, then each policy's /proc/buddyinfo.</summary>
    public static void PrintDetails(IAnsiConsole console, IReadOnlyList<PolicyResult> policies, ulong pageSize)
    {
        // Headers are short words on deliberate lines, so that 80 columns hold the table and a
        // column is never narrower than its numbers; the widest policy name stays whole.
        Table Policies(params string[] headers)
        {
            var table = new Table().Border(TableBorder.Rounded).AddColumn(new TableColumn("policy").NoWrap());
            foreach (string h in headers)
            {
                table.AddColumn(new TableColumn(h).RightAligned());
            }

            return table;
        }

        static string Counts(string prefix, IEnumerable<(string Key, long Count)> counts) =>
            string.Join(" ", counts.Where(x => x.Count > 0).Select(x => $"{prefix}{x.Key}:{N(x.Count)}"));
        static string F3(double v) => v.ToString("F3", CultureInfo.InvariantCulture);

        console.WriteLine("Failures during the trace (every policy was asked the trace's allocations):");
        Table failures = Policies("failed", "DMA/DMA32\n/Normal", "by order, by reason");
        failures.Columns[^1].LeftAligned();
        foreach (PolicyResult p in policies)
        {
            string orders = Counts("o", p.FailuresByOrder.Select((n, o) => (o.ToString(CultureInfo.InvariantCulture), n)));
            string reasons = Counts("", p.FailuresByReason.Select(x => (x.Key, x.Value)));
            failures.AddRow(Markup.Escape(p.Name), N(p.AllocFailures), $"{N(p.FailuresByZone["DMA"])}/{N(p.FailuresByZone["DMA32"])}/{N(p.FailuresByZone["Normal"])}", Markup.Escape(p.AllocFailures == 0 ? "-" : $"{orders} {reasons}"));
        }

        console.Write(failures);
        console.WriteLine("DMA/DMA32/Normal: failures by the highest zone requested. o3:12 is 12 failures at order 3.");
        console.WriteLine();

        console.WriteLine("Pages during the trace:");
        Table memory = Policies("peak\nin use", "mean\nin use", "set aside\nfor DMA", "retry loops'\npeak");
        foreach (PolicyResult p in policies)
        {
            memory.AddRow(Markup.Escape(p.Name), N(p.PeakPagesInUse), N(p.MeanPagesInUse), N(p.PagesSetAsideForDma), N(p.PeakPagesHeldByRetries));
        }

        console.Write(memory);
        console.WriteLine($"In pages of {Units.FormatSize(pageSize)}. retry loops' peak: the most pages a DMA retry loop held at once. Trace requests are whole blocks: no internal fragmentation.");
        console.WriteLine();

        int order = policies.Count > 0 ? policies[0].IndexOrder : 9;
        console.WriteLine($"Fragmentation at order {order} and speed:");
        Table frag = Policies("unusable\nmean", "extfrag\nat end", "moved in\nthe trace", "events\nper s");
        foreach (PolicyResult p in policies)
        {
            frag.AddRow(Markup.Escape(p.Name), F3(p.MeanUnusableIndex), F3(p.FinalFragmentationIndex), N(p.CompactionPagesMoved), N(p.EventsPerSecond));
        }

        console.Write(frag);
        console.WriteLine("The kernel's indices (mm/vmstat.c) over all of a policy's free memory, the mean over the samples; extfrag -1.000: a block of the order is free. moved in the trace: pages compaction migrated. events per s: of the time spent in the policy.");
        PrintMobility(console, Policies, policies);
        foreach (PolicyResult p in policies)
        {
            console.WriteLine();
            console.WriteLine($"{p.Name}: /proc/buddyinfo at the end of the trace");
            console.Write(new Text(FitBuddyInfo(p.BuddyInfo, console.Profile.Width)));
        }
    }

    // The kernel's own counters for the policies that group by mobility: fallbacks as
    // mm_page_alloc_extfrag reports them, direct compaction and kcompactd as /proc/vmstat counts them.
    private static void PrintMobility(IAnsiConsole console, Func<string[], Table> policiesTable, IReadOnlyList<PolicyResult> policies)
    {
        PolicyResult[] grouped = [.. policies.Where(p => p.PageTypeInfo is not null)];
        if (grouped.Length == 0)
        {
            return;
        }

        console.WriteLine();
        console.WriteLine("Fallbacks and compaction, as the kernel counts them:");
        Table mobility = policiesTable(["frag./\nfallbacks", "boosts", "stalls/\nfails", "kcomp-\nactd", "high-\natomic"]);
        foreach (PolicyResult p in grouped)
        {
            MobilityStatistics m = p.Mobility;
            mobility.AddRow(
                Markup.Escape(p.Name),
                $"{N(m.FragmentingEvents)}/{N(m.FallbackEvents)}",
                N(m.WatermarkBoosts),
                $"{N(m.VmEvents["compact_stall"])}/{N(m.VmEvents["compact_fail"])}",
                N(m.KcompactdWakes),
                N(m.ReservedHighAtomicPages));
        }

        console.Write(mobility);
        console.WriteLine("frag.: fragmenting fallbacks, to another type's free block smaller than a pageblock (mm_page_alloc_extfrag fragmenting=1). boosts: watermark boosts. stalls/fails: direct compactions (compact_stall) and those after which the request still failed (compact_fail). kcompactd: its wakes. high-atomic: pages reserved for high-order atomic requests at the end. --json has every /proc/vmstat counter and pagetypeinfo with its mixed blocks.");
    }

    /// <summary>One line: each grouping policy's fragmenting fallbacks beside the traced kernel's.</summary>
    public static void PrintFallbacksBeside(IAnsiConsole console, KernelEvidence e, IReadOnlyList<PolicyResult> policies)
    {
        string simulated = string.Join(", ", policies.Where(p => p.PageTypeInfo is not null).Select(p => $"{p.Name} {N(p.Mobility.FragmentingEvents)}"));
        if (simulated.Length > 0 && e.Fallbacks > 0)
        {
            console.WriteLine($"  Beside it, the policies' fragmenting fallbacks on this machine: {simulated}.");
        }
    }

    // The kernel's buddyinfo lines are 99 columns wide: in a narrower console the runs of spaces
    // between fields become one space (--json and --dump-dir keep the kernel's text).
    private static string FitBuddyInfo(string text, int width) =>
        text.Split('\n').Max(l => l.Length) <= width ? text : string.Join('\n', text.Split('\n').Select(l => SpaceRuns().Replace(l, " ").TrimEnd()));

    [GeneratedRegex(" +")]
    private static partial Regex SpaceRuns();
}
