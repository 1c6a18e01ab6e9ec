// `buddy map` and `buddy report`: pictures of what a policy did to memory.
using System.CommandLine;
using Buddy.Dumps;
using Buddy.Simulation.Metrics;
using Buddy.Simulation.Replay;
using Buddy.Tool.Rendering;
using Buddy.Tracing;

namespace Buddy.Tool.Commands;

/// <summary>`buddy map` (PNG or SVG of one allocator) and `buddy report` (HTML comparing policies).</summary>
internal static class MapCommand
{
    public static Command CreateMap(TextWriter stdout)
    {
        var from = new Option<string?>("--from") { Description = "A dump written by `buddy replay --dump-dir` or PageAllocator.Dump()." };
        var trace = new Option<string?>("--trace") { Description = "Replay this trace (default: the bundled one) and draw the policy's memory at the end." };
        var memory = new Option<string?>("--memory") { Description = "The machine's memory for the replay." };
        var policy = new Option<string>("--policy") { Description = "The policy to draw (replay).", DefaultValueFactory = _ => "zoned" };
        policy.AcceptOnlyFromAmong([.. Simulation.Policies.PolicyCatalog.Names]);
        var output = new Option<string>("--out") { Description = "The picture: FILE.png or FILE.svg.", Required = true };
        var command = new Command("map", "Draw a memory map: one cell per page or group of pages, colored by state, zones and pageblocks marked.")
        {
            from, trace, memory, policy, output,
        };
        command.SetAction(parse =>
        {
            string file = parse.GetValue(output)!;
            bool png = file.EndsWith(".png", StringComparison.OrdinalIgnoreCase);
            if (!png && !file.EndsWith(".svg", StringComparison.OrdinalIgnoreCase))
            {
                throw new UserInputException($"--out {file}: expected a name ending in .png or .svg.");
            }

            AllocatorDump dump;
            string title;
            if (parse.GetValue(from) is { } dumpFile)
            {
                dump = LoadDump(dumpFile);
                title = Path.GetFileName(dumpFile);
            }
            else
            {
                string name = parse.GetValue(policy)!;
                ReplayResult result = Replay(parse.GetValue(trace), parse.GetValue(memory), [name]);
                dump = result.Policies[0].Dump!;
                title = $"{name} after {Path.GetFileName(result.Source)}";
            }

            PageMap map = PageMap.From(dump);
            Write(file, png ? MapRenderer.Png(map) : System.Text.Encoding.UTF8.GetBytes(MapRenderer.Svg(map, title: title)));
            stdout.WriteLine($"Wrote {file}: {map.Cells.Length:N0} cells of {map.PagesPerCell} page(s), {map.Columns} a row.");
            return 0;
        });
        return command;
    }

    public static Command CreateReport(TextWriter stdout, string[] args)
    {
        var trace = new Argument<string?>("TRACE") { Description = "The trace (default: the bundled one).", Arity = ArgumentArity.ZeroOrOne };
        var memory = new Option<string?>("--memory") { Description = "The machine's memory." };
        var policies = ReplayCommand.PolicyOption();
        var output = new Option<string>("--out") { Description = "The HTML file to write.", Required = true };
        var command = new Command("report", "Replay a trace and write one self-contained HTML report comparing the policies.")
        {
            trace, memory, policies, output,
        };
        command.SetAction(parse =>
        {
            ReplayResult result = Replay(parse.GetValue(trace), parse.GetValue(memory), ReplayCommand.CheckPolicies(parse.GetValue(policies)));
            string file = parse.GetValue(output)!;
            Write(file, System.Text.Encoding.UTF8.GetBytes(HtmlReport.Render(result, "buddy " + string.Join(' ', args.Select(a => a.Contains(' ', StringComparison.Ordinal) ? $"\"{a}\"" : a)))));
            stdout.WriteLine($"Wrote {file}: {result.Policies.Count} policies.");
            return 0;
        });
        return command;
    }

    internal static AllocatorDump LoadDump(string file)
    {
        try
        {
            return AllocatorDump.Load(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            throw new UserInputException(e.Message, e);
        }
    }

    private static ReplayResult Replay(string? trace, string? memory, IReadOnlyList<string> policies)
    {
        string path = trace ?? ReplayCommand.BundledTrace;
        try
        {
            return TraceReplay.Run(path, new ReplayOptions
            {
                Memory = memory is null ? null : Output.ParseSize(memory, "--memory"),
                Policies = policies,
                KeepDumps = true,
            });
        }
        catch (Exception e) when (e is TraceFormatException or IOException or ArgumentException)
        {
            throw new UserInputException(e.Message, e);
        }
    }

    private static void Write(string file, byte[] bytes)
    {
        try
        {
            File.WriteAllBytes(file, bytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserInputException($"cannot write '{file}': {e.Message}", e);
        }
    }
}
