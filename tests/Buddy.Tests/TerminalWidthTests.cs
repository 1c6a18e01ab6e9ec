// TerminalWidthTests: the tool's tables in an 80-column console. Each command runs in-process on a
// FixedWidthWriter(80), which the tool renders for as Spectre.Console renders for an 80-column
// terminal; no line may be wider, no cell may be cut (Spectre marks a cut with '…'), and every
// policy name must appear whole in its table rows.
using System.Text.Json;
using System.Text.RegularExpressions;
using Buddy.Simulation;
using Buddy.Simulation.Policies;
using Buddy.Simulation.Replay;
using Buddy.Tool;
using Buddy.Tool.Commands;

namespace Buddy.Tests;

public sealed class TerminalWidthTests : IDisposable
{
    private const int Width = 80;
    private readonly string _dir = Directory.CreateTempSubdirectory("buddy-width-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string[] Lines, string Stderr) Run(params string[] args)
    {
        using var stdout = new FixedWidthWriter(Width);
        using var stderr = new StringWriter();
        int code = Cli.Run(args, stdout, stderr);
        return (code, stdout.ToString().Replace("\r", "", StringComparison.Ordinal).Split('\n'), stderr.ToString());
    }

    // The table rows of a policy: "│ name │" or "│ name   │ ..." — the name whole, between borders.
    private static int RowsOf(string[] lines, string policy) =>
        lines.Count(l => Regex.IsMatch(l, "^│ " + Regex.Escape(policy) + " +│"));

    private static void AssertFits(string[] lines, Func<string, bool>? exempt = null)
    {
        foreach (string line in lines.Where(l => exempt is null || !exempt(l)))
        {
            Assert.True(line.Length <= Width, $"{line.Length} columns: {line}");
            Assert.DoesNotContain("…", line, StringComparison.Ordinal);
        }
    }

    public static TheoryData<string[], string[]> Commands => new()
    {
        { ["scenario", "isa-dma-1995", "--rounds", "5"], [.. PolicyCatalog.Names] },
        { ["scenario", "highalloc", "--steps", "8000"], ["zoned", "zoned+mobility", "zoned+mobility+compaction", "linux-6.18"] },
        { ["scenario", "highalloc", "--steps", "8000", "--atomic-share", "5", "--defrag-mode", .. PolicyCatalog.Names.SelectMany(p => new[] { "--policy", p })], [.. PolicyCatalog.Names] },
        { ["scenario", "knuth", "--ticks", "20000"], [] },
        { ["metadata", "--memory", "64MiB"], [] },
        { ["zones", "--managed", "DMA=3840,DMA32=772915,Normal=3997696"], [] },
        { ["demo"], [] },
    };

    [Theory]
    [MemberData(nameof(Commands))]
    public void Every_line_fits_80_columns_and_every_policy_name_is_whole(string[] args, string[] policies)
    {
        (int code, string[] lines, string stderr) = Run(args);
        Assert.True(code == 0, stderr);
        // The demo prints /proc/buddyinfo and extfrag/unusable_index byte for byte, as wide as the kernel does (99 and 88 columns).
        AssertFits(lines, exempt: l => args[0] == "demo" && l.StartsWith("Node 0, zone ", StringComparison.Ordinal));
        foreach (string policy in policies)
        {
            Assert.True(RowsOf(lines, policy) >= 1, $"{policy} has no table row of its own in `buddy {string.Join(' ', args)}`");
        }
    }

    [Fact]
    public void Replay_with_no_trace_sizes_the_machine_from_the_trace_says_so_and_shows_what_each_policy_can_still_give_in_80_columns()
    {
        string json = Path.Combine(_dir, "replay.json");
        (int code, string[] lines, string stderr) = Run("replay", "--details", "--json", json);
        Assert.True(code == 0, stderr);
        AssertFits(lines);
        string text = string.Join(" ", lines.Select(l => l.Trim()));

        // The machine: 1.25× the peak the trace itself reaches, and the header says so.
        ulong peak = TraceFootprint.Measure(ReplayCommand.BundledTrace, 4 * Units.KiB).PeakPages;
        ulong memory = Machines.X86(TraceReplay.MemoryFor(peak, 4 * Units.KiB)).Size;
        Assert.Contains($"Machine: {Units.FormatSize(memory)}, sized to 1.25× the trace's peak in use ({Units.FormatApproximateSize(peak * 4 * Units.KiB)}, {peak:N0} pages); --memory to change.", text, StringComparison.Ordinal);

        // Every policy has a row in the summary and in each of the three detail tables (and, when it
        // groups by mobility, in the fourth: fallbacks and compaction), its name whole, and its
        // summary row shows the blocks it obtained out of the possible ones, as the JSON has them.
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(memory, doc.RootElement.GetProperty("memoryBytes").GetUInt64());
        var obtained = new Dictionary<string, long>();
        foreach (JsonElement p in doc.RootElement.GetProperty("policies").EnumerateArray())
        {
            string name = p.GetProperty("name").GetString()!;
            JsonElement end = p.GetProperty("largeBlocksAtEnd");
            long blocks = end.GetProperty("blocks").GetInt64(), possible = end.GetProperty("possible").GetInt64();
            obtained[name] = blocks;
            bool grouped = p.GetProperty("pageTypeInfo").ValueKind == JsonValueKind.String;
            Assert.Equal(grouped ? 5 : 4, RowsOf(lines, name));
            string row = lines.First(l => Regex.IsMatch(l, "^│ " + Regex.Escape(name) + " +│"));
            Assert.Contains($"│ {blocks:N0}/{possible:N0} │", Regex.Replace(row, " +", " "), StringComparison.Ordinal);
        }

        Assert.Equal(PolicyCatalog.Names.Order(), obtained.Keys.Order());
        long most = obtained.Values.Max();
        string[] best = [.. PolicyCatalog.Names.Where(n => obtained[n] == most)];
        string names = best.Length == 1 ? best[0] : string.Join(", ", best[..^1]) + " and " + best[^1];
        Assert.Contains($"{names} obtained the most, {most:N0} of", Regex.Replace(text, @"\s+", " "), StringComparison.Ordinal);
        Assert.Contains("Next: buddy replay --memory ", text, StringComparison.Ordinal);
    }
}
