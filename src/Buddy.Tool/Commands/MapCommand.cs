// `buddy map` and `buddy report`: pictures of what a policy did to memory. `buddy map --frames N`
// draws the policy's map at N moments of the replay or scenario (evenly spaced, the last at the end:
// PolicyResult.Frames) as one animated PNG; a dump (--from) has one moment only, so it refuses
// --frames, as do SVG output and counts outside 2..64 — parse errors, one line, exit code 2.
using System.CommandLine;
using System.Globalization;
using Buddy.Diagnostics;
using Buddy.Simulation.Metrics;
using Buddy.Simulation.Policies;
using Buddy.Simulation.Replay;
using Buddy.Tool.Rendering;

namespace Buddy.Tool.Commands;

/// <summary>`buddy map` (PNG or SVG of one allocator) and `buddy report` (HTML comparing policies).</summary>
internal static class MapCommand
{
    public static Command CreateMap(TextWriter stdout)
    {
        var from = new Option<string?>("--from") { Description = "A dump written by `buddy replay --dump-dir` or PageAllocator.Dump()." }.AcceptInputFile();
        var trace = new Option<string?>("--trace") { Description = "Replay this trace or capture bundle (default: the bundled trace) and draw the policy's memory at the end." }.AcceptInputFile();
        var memory = new Option<string?>("--memory") { Description = "The machine's memory for the replay." };
        var policy = new Option<string>("--policy") { Description = "The policy to draw (replay); kernel: the traced kernel's own placement (a capture bundle, or --zoneinfo).", DefaultValueFactory = _ => "zoned" };
        policy.AcceptOnlyFromAmong([.. Simulation.Policies.PolicyCatalog.Names, KernelPlacementPolicy.PolicyName]);
        var traced = new TracedMachineOptions();
        var output = new Option<string>("--out") { Description = "The picture: FILE.png or FILE.svg.", Required = true }.AcceptOutputFile();
        var scenario = ScenarioOption();
        var seed = new Option<int>("--seed") { Description = "The scenario's seed.", DefaultValueFactory = _ => 1 };
        var frames = new Option<int?>("--frames") { Description = "Draw N moments of the run (2 to 64, evenly spaced, the last at the end) as an animated PNG (APNG; viewers without APNG show the first)." };
        var command = new Command("map", "Draw a memory map: one cell per page or group of pages, colored by state, zones and pageblocks marked.")
        {
            from, trace, memory, policy, output, scenario, seed, frames,
        };
        foreach (Option option in traced.All)
        {
            command.Options.Add(option);
        }

        command.Validators.Add(result =>
        {
            // A parse error, so that it is reported with any other (a missing --from file) in the one line.
            if (new Option[] { from, scenario, trace }.Count(o => result.GetResult(o) is not null) > 1)
            {
                result.AddError("--from, --scenario and --trace each name what to draw: give at most one");
            }

            if (result.GetResult(frames) is not null)
            {
                int? n = result.GetValue(frames);
                if (n is not (>= 2 and <= ReplayOptions.MaxFrames))
                {
                    result.AddError($"--frames {n}: expected 2 to {ReplayOptions.MaxFrames} moments");
                }
                else if (result.GetResult(from) is not null)
                {
                    result.AddError("--frames draws moments of a replay or scenario; a dump (--from) holds one moment only");
                }
                else if (result.GetValue(output) is { } file && !file.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
                {
                    result.AddError($"--frames writes an animated PNG: --out {file} should end in .png");
                }
            }
        });
        command.SetAction(parse =>
        {
            string file = parse.GetValue(output)!;
            bool png = file.EndsWith(".png", StringComparison.OrdinalIgnoreCase);
            if (!png && !file.EndsWith(".svg", StringComparison.OrdinalIgnoreCase))
            {
                throw new UserInputException($"--out {file}: expected a name ending in .png or .svg.");
            }

            if (parse.GetValue(from) is { } dumpFile)
            {
                Write(stdout, file, png, PageMap.From(AllocatorDump.Load(dumpFile)), Path.GetFileName(dumpFile));
                return 0;
            }

            int frameCount = parse.GetValue(frames) ?? 0;
            PolicyResult drawn;
            string title;
            if (parse.GetValue(scenario) is { } scenarioName)
            {
                string p = parse.GetValue(policy)!;
                int s = parse.GetValue(seed);
                drawn = Progress.WithStatus(stdout, $"{scenarioName}: running ...", _ => ScenarioCatalog.RunForPictures(scenarioName, s, [p], frameCount)).Policies[0];
                title = $"{p} after {scenarioName} (seed {s}{ScenarioCatalog.Moment(scenarioName)})";
            }
            else
            {
                string name = parse.GetValue(policy)!;
                bool kernel = name == KernelPlacementPolicy.PolicyName;
                ReplayResult result = Replay(stdout, parse, parse.GetValue(trace), parse.GetValue(memory), kernel ? [] : [name], traced, kernelOnly: kernel, frameCount);
                drawn = result.Policies.Single(p => p.Name == name);
                string machine = Units.FormatApproximateSize(result.MemoryBytes);
                title = kernel ? $"the kernel's own placement, {machine}, after {Path.GetFileName(result.Source)}" : $"{name}, {machine}, after {Path.GetFileName(result.Source)}";
            }

            if (frameCount == 0)
            {
                Write(stdout, file, png, PageMap.From(drawn.Dump!), title);
                return 0;
            }

            IReadOnlyList<MapFrame> moments = drawn.Frames!;
            string unit = parse.GetValue(scenario) is null ? "events" : "steps";
            (byte[] apng, PageMap first) = MapAnimation.Png(moments, m => string.Create(CultureInfo.InvariantCulture, $"{drawn.Name}: {m.Step:N0} {unit}"));
            Output.WriteFile(file, apng);
            stdout.WriteLine($"Wrote {file}: {moments.Count} frames, after {string.Join(", ", moments.Select(m => m.Step.ToString("N0", CultureInfo.InvariantCulture)))} {unit}; {first.Cells.Length:N0} cells of {first.PagesPerCell} page(s), {first.Columns} a row.");
            return 0;
        });
        return command;
    }

    public static Command CreateReport(TextWriter stdout, string[] args)
    {
        var trace = new Argument<string?>("TRACE") { Description = "The trace: trace_pipe, perf script or trace-cmd report text, or perf.data / trace.dat (default: the bundled one).", Arity = ArgumentArity.ZeroOrOne }.AcceptInputFile();
        var memory = new Option<string?>("--memory") { Description = "The machine's memory." };
        var policies = ReplayCommand.PolicyOption();
        var output = new Option<string>("--out") { Description = "The HTML file to write.", Required = true }.AcceptOutputFile();
        var scenario = new Option<string?>("--scenario") { Description = "Report on a scenario instead of a trace: isa-dma-1995, or highalloc (its load)." };
        scenario.AcceptOnlyFromAmong(ScenarioCatalog.Drawable);
        var seed = new Option<int>("--seed") { Description = "The scenario's seed.", DefaultValueFactory = _ => 1 };
        var traced = new TracedMachineOptions();
        var command = new Command("report", "Replay a trace or capture bundle (or run a scenario) and write one self-contained HTML report comparing the policies; with a bundle or --zoneinfo, the kernel's own placement beside them.")
        {
            trace, memory, policies, output, scenario, seed,
        };
        foreach (Option option in traced.All)
        {
            command.Options.Add(option);
        }

        command.SetAction(parse =>
        {
            string commandLine = "buddy " + string.Join(' ', args.Select(a => a.Contains(' ', StringComparison.Ordinal) ? $"\"{a}\"" : a));
            string html;
            int count;
            if (parse.GetValue(scenario) is { } scenarioName)
            {
                int s = parse.GetValue(seed);
                DrawnScenario drawn = Progress.WithStatus(stdout, $"{scenarioName}: running ...", _ => ScenarioCatalog.RunForPictures(scenarioName, s, ReplayCommand.CheckPolicies(parse.GetValue(policies))));
                html = HtmlReport.Render($"{scenarioName}, seed {s}", drawn.Summary, drawn.Policies, commandLine, "steps");
                count = drawn.Policies.Count;
            }
            else
            {
                ReplayResult result = Replay(stdout, parse, parse.GetValue(trace), parse.GetValue(memory), ReplayCommand.CheckPolicies(parse.GetValue(policies)), traced, kernelOnly: false, frames: ReportFrames);
                html = HtmlReport.Render(result, commandLine);
                count = result.Policies.Count;
            }

            string file = parse.GetValue(output)!;
            Output.WriteFile(file, System.Text.Encoding.UTF8.GetBytes(html));
            stdout.WriteLine($"Wrote {file}: {count} policies.");
            return 0;
        });
        return command;
    }

    // One moment's map as PNG or SVG.
    private static void Write(TextWriter stdout, string file, bool png, PageMap map, string title)
    {
        Output.WriteFile(file, png ? MapRenderer.Png(map, title: title) : System.Text.Encoding.UTF8.GetBytes(MapRenderer.Svg(map, title: title)));
        stdout.WriteLine($"Wrote {file}: {map.Cells.Length:N0} cells of {map.PagesPerCell} page(s), {map.Columns} a row.");
    }

    private static Option<string?> ScenarioOption()
    {
        var scenario = new Option<string?>("--scenario") { Description = "Draw the policy's memory after a scenario: isa-dma-1995, or highalloc (at the end of its load)." };
        scenario.AcceptOnlyFromAmong(ScenarioCatalog.Drawable);
        return scenario;
    }

    // Replays the trace (or the bundle's) keeping dumps; on the traced machine (a bundle, or
    // --zoneinfo) with the kernel placement first. kernelOnly: no policy beside it.
    // The moments a report shows of each policy's memory as it unfolds (small multiples).
    private const int ReportFrames = 4;

    private static ReplayResult Replay(TextWriter stdout, ParseResult parse, string? trace, string? memory, IReadOnlyList<string> policies, TracedMachineOptions traced, bool kernelOnly, int frames = 0)
    {
        string path = trace ?? ReplayCommand.BundledTrace;
        using TraceBundle? bundle = TraceBundle.IsBundle(path) ? TraceBundle.Open(path) : null;
        TracedMachine? machine = traced.Read(parse, bundle);
        if (machine is null && kernelOnly)
        {
            throw new UserInputException("--policy kernel draws the traced kernel's own placement, which needs the traced machine: a capture bundle (buddy capture --bundle) or --zoneinfo FILE.");
        }

        if (machine is not null && memory is not null)
        {
            throw new UserInputException("--memory sizes a simulated machine; the traced machine's layout (a bundle or --zoneinfo) fixes its memory. Give one of them.");
        }

        var options = new ReplayOptions
        {
            MemoryBytes = ReplayCommand.ParseMemory(memory, policies),
            Policies = kernelOnly ? ["zoned"] : policies,
            KeepDumps = true,
            Traced = machine,
            KernelPlacement = machine is not null,
            Frames = frames,
        };
        string file = bundle?.TracePath ?? path;
        ReplayResult result = Progress.WithBar(stdout, $"replaying {Path.GetFileName(path)}", report =>
            TraceReplay.Run(file, options, report is null ? null : (position, length) => report(length == 0 ? 1 : (double)position / length)));
        return bundle is null ? result : result with { Source = path };
    }
}
