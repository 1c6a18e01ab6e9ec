// ReportTests: the HTML report leads with a verdict whose numbers are the JSON's, names the policy
// that kept the most large blocks, weighs under 1 MB for the bundled trace, draws maps as PNG data
// URIs, says when series coincide, shows frames when a run kept them, and agrees with
// `buddy scenario highalloc` on the pages compaction moved.
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Buddy.Diagnostics;
using Buddy.Simulation.Metrics;
using Buddy.Tool;
using Buddy.Tool.Commands;
using Buddy.Tool.Rendering;
using static Buddy.Units;

namespace Buddy.Tests;

public sealed partial class ReportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("buddy-report-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [GeneratedRegex("<td id=\"(?<id>v-[^\"]+)\">(?<value>[^<]*)</td>")]
    private static partial Regex VerdictCell();

    private static Dictionary<string, string> Verdict(string html) =>
        VerdictCell().Matches(html).ToDictionary(m => m.Groups["id"].Value, m => System.Net.WebUtility.HtmlDecode(m.Groups["value"].Value));

    [Fact]
    public void The_verdicts_numbers_are_the_replays_json_and_its_sentence_names_the_policy_with_the_most_blocks()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        string report = Path.Combine(_dir, "r.html"), json = Path.Combine(_dir, "r.json");
        string[] options = ["--memory", "1GiB", "--policy", "linux-1.3.4", "--policy", "zoned", "--policy", "zoned+mobility+compaction"];
        Assert.Equal(0, Cli.Run(["report", .. options, "--out", report], stdout, stderr));
        Assert.Equal(0, Cli.Run(["replay", .. options, "--json", json], stdout, stderr));
        string html = File.ReadAllText(report);
        Dictionary<string, string> v = Verdict(html);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        string best = "";
        long most = -1;
        foreach (JsonElement p in doc.RootElement.GetProperty("policies").EnumerateArray())
        {
            string id = "v-" + new string([.. p.GetProperty("name").GetString()!.Select(c => char.IsLetterOrDigit(c) ? c : '-')]);
            Assert.Equal(p.GetProperty("allocFailures").GetInt64().ToString("N0", CultureInfo.InvariantCulture), v[id + "-failures"]);
            Assert.Equal(p.GetProperty("finalFreeBlocksAtIndexOrder").GetInt64().ToString("N0", CultureInfo.InvariantCulture), v[id + "-free-blocks"]);
            JsonElement end = p.GetProperty("largeBlocksAtEnd");
            long blocks = end.GetProperty("blocks").GetInt64();
            Assert.Equal($"{blocks:N0} of {end.GetProperty("possible").GetInt64():N0}", v[id + "-obtained"]);
            Assert.Equal(p.GetProperty("finalUnusableIndex").GetDouble().ToString("F3", CultureInfo.InvariantCulture), v[id + "-unusable"]);
            (best, most) = blocks > most ? (p.GetProperty("name").GetString()!, blocks) : (best, most);
        }

        Match sentence = Regex.Match(html, "<p id=\"verdict-sentence\">([^<]*)</p>");
        Assert.StartsWith($"{best} fragmented memory least: {most:N0} ", System.Net.WebUtility.HtmlDecode(sentence.Groups[1].Value), StringComparison.Ordinal);

        // The verdict comes before everything else the page shows.
        Assert.True(html.IndexOf("id=\"verdict\"", StringComparison.Ordinal) < html.IndexOf("id=\"summary\"", StringComparison.Ordinal));
    }

    [Fact]
    public void The_bundled_trace_report_weighs_under_a_megabyte_with_maps_as_png_data_uris()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        string report = Path.Combine(_dir, "w.html");
        Assert.Equal(0, Cli.Run(["report", "--memory", "1GiB", "--policy", "linux-1.3.4", "--policy", "zoned", "--policy", "zoned+mobility+compaction", "--out", report], stdout, stderr));
        Assert.True(new FileInfo(report).Length < 1_000_000, $"the report weighs {new FileInfo(report).Length:N0} bytes");
        string html = File.ReadAllText(report);
        foreach (string name in new[] { "linux-1-3-4", "zoned", "zoned-mobility-compaction" })
        {
            Assert.Contains($"<img id=\"map-{name}\" alt=\"memory map of", html, StringComparison.Ordinal);
        }

        Assert.Equal(3, Regex.Count(html, "<img id=\"map-[^\"]+\" alt=\"memory map of [^\"]+\" src=\"data:image/png;base64,"));
        Assert.Equal(3 * 4, Regex.Count(html, "<img class=\"frame\" alt=\"[^\"]+\" src=\"data:image/png;base64,")); // four moments of each policy
        Assert.Equal(3 + (3 * 4), Regex.Count(html, "src=\"data:image/png;base64,")); // nothing else is a picture
        Assert.True(Regex.Count(html, "<rect") < 200, $"{Regex.Count(html, "<rect")} rectangles");
        Assert.Contains("grid-template-columns:repeat(3,minmax(0,1fr))", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("id=\"x-axis-label\"", html, StringComparison.Ordinal);
        Assert.Contains("class=\"bar-value\"", html, StringComparison.Ordinal);
    }

    private static PolicyResult Result(string name, IReadOnlyList<Sample> samples, long freeBlocks = 10, IReadOnlyList<MapFrame>? frames = null) => new()
    {
        Name = name, Requests = 4, AllocFailures = 0, FailuresByOrder = [], FailuresByZone = new Dictionary<string, long>(), FailuresByReason = new Dictionary<string, long>(),
        PeakPagesInUse = 4, MeanPagesInUse = 2, InternalFragmentation = 0, InternalFragmentationDenominator = "", IndexOrder = 3, MeanUnusableIndex = 0.5,
        FinalUnusableIndex = samples[^1].UnusableIndex, FinalFragmentationIndex = -1, FinalFreeBlocksAtIndexOrder = freeBlocks, PagesSetAsideForDma = 0, PeakPagesHeldByRetries = 0,
        RetryAllocations = 0, CompactionPagesMoved = 0, EventsPerSecond = 1, BuddyInfo = "Node 0, zone   Normal      1      0      1      0", Samples = samples, Frames = frames,
    };

    [Fact]
    public void Coinciding_series_are_named_and_equal_policies_are_called_equal()
    {
        Sample[] same = [new(0, 8, 0, 0, 0, 0), new(10, 4, 4, 0.5, 0, 0)];
        string html = HtmlReport.Render("t", "d", [Result("a", same), Result("b", same), Result("c", [new(0, 8, 0, 0, 0, 0), new(10, 4, 4, 0.9, 0, 0)])], "buddy", "events");
        Assert.Contains("lines coincide (within a pixel over the whole run): a, b</text>", html, StringComparison.Ordinal);
        html = HtmlReport.Render("t", "d", [Result("a", same), Result("b", same)], "buddy", "events");
        Assert.Contains("Every policy ended alike: 10 32 KiB blocks free at the end and 0 failures each, the same unusable index (0.500); this run does not tell them apart.", html, StringComparison.Ordinal);
        html = HtmlReport.Render("t", "d", [Result("a", same, freeBlocks: 3), Result("b", same, freeBlocks: 7)], "buddy", "events");
        Assert.Contains("b fragmented memory least: 7 32 KiB blocks free at the end, no failure. a: 3 (4 fewer).", html, StringComparison.Ordinal);
    }

    [Fact]
    public void Frames_are_drawn_one_row_per_policy_one_column_per_moment_and_absent_without_frames()
    {
        var pages = new PageAllocator(MachineLayout.Flat(64 * 4 * KiB) with { MaxOrder = 5 });
        var frames = new List<MapFrame> { new(0, pages.Dump()) };
        pages.Allocate(Request.ForOrder(2));
        frames.Add(new MapFrame(5, pages.Dump()));
        pages.Allocate(Request.ForOrder(3));
        frames.Add(new MapFrame(9, pages.Dump()));
        Sample[] samples = [new(0, 64, 0, 0, 0, 0), new(9, 52, 12, 0.2, 0, 0)];
        string html = HtmlReport.Render("t", "d", [Result("a", samples, frames: frames), Result("b", samples, frames: frames[..2])], "buddy", "steps");
        Assert.Contains("<h2>Fragmentation as it unfolds</h2>", html, StringComparison.Ordinal);
        Assert.Equal(5, Regex.Count(html, "<img class=\"frame\""));
        Assert.Contains("<br>9 steps</td>", html, StringComparison.Ordinal);
        Assert.Equal(2, Regex.Count(html, "<tr><th>[ab]</th>"));
        Assert.DoesNotContain("unfolds", HtmlReport.Render("t", "d", [Result("a", samples)], "buddy", "steps"), StringComparison.Ordinal);
    }

    [Fact]
    public void The_highalloc_reports_compaction_moved_is_the_scenarios()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        string report = Path.Combine(_dir, "h.html"), json = Path.Combine(_dir, "h.json");
        Assert.Equal(0, Cli.Run(["report", "--scenario", "highalloc", "--policy", "zoned+mobility+compaction", "--out", report], stdout, stderr));
        Assert.Equal(0, Cli.Run(["scenario", "highalloc", "--policy", "zoned+mobility+compaction", "--json", json], stdout, stderr));
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement p = doc.RootElement.GetProperty("policies")[0];
        long moved = p.GetProperty("underLoad").GetProperty("pagesMovedByCompaction").GetInt64();
        Assert.True(moved > 0, "compaction moves pages for order-9 blocks under load");
        string html = File.ReadAllText(report);
        Assert.Contains($"<tr><td>pages moved by compaction for the order-9 blocks at the end</td><td>{moved:N0}</td></tr>", html, StringComparison.Ordinal);
        Dictionary<string, string> v = Verdict(html);
        JsonElement load = p.GetProperty("underLoad"), rest = p.GetProperty("atRest");
        Assert.Equal($"{load.GetProperty("blocks").GetInt64():N0} of {load.GetProperty("possible").GetInt64():N0}", v["v-zoned-mobility-compaction-obtained"]);
        Assert.Equal($"{rest.GetProperty("blocks").GetInt64():N0} of {rest.GetProperty("possible").GetInt64():N0}", v["v-zoned-mobility-compaction-at-rest"]);
    }
}
