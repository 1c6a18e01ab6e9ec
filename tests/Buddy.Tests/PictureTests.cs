using System.Diagnostics;
using System.Text.Json;
using System.Xml.Linq;
using Buddy.Diagnostics;
using Buddy.Tool;
using Buddy.Tool.Rendering;
using static Buddy.Units;
using Buddy.Tool.Commands;

namespace Buddy.Tests;

public sealed class PictureTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("buddy-pictures-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // A known small state: 64 pages in pageblocks of 8; an unmovable order-2 block, a movable
    // order-3 block and a reclaimable order-1 block, wherever the fallback rules put them.
    private static (PageAllocator Pages, AllocatorDump Dump, Block Unmovable, Block Movable, Block Reclaimable) KnownState()
    {
        var pages = new PageAllocator(MachineLayout.Flat(64 * 4 * KiB) with { MaxOrder = 5, Mobility = MobilitySettings.Grouping with { PageblockOrder = 3 } });
        Block unmovable = pages.Allocate(Request.ForOrder(2));
        Block movable = pages.Allocate(Request.ForOrder(3).WithMobility(MigrateType.Movable));
        Block reclaimable = pages.Allocate(Request.ForOrder(1).WithMobility(MigrateType.Reclaimable));
        return (pages, pages.Dump(), unmovable, movable, reclaimable);
    }

    [Fact]
    public void A_dump_reads_back_equal_and_lists_every_page_once()
    {
        (PageAllocator pages, AllocatorDump dump, Block u, Block m, Block r) = KnownState();
        AllocatorDump back = AllocatorDump.Parse(dump.ToJson());
        Assert.Equal(dump.ToJson(), back.ToJson());
        ulong covered = back.Free.Concat(back.Allocated).Concat(back.Reserved).Concat(back.Cached).Aggregate(0UL, (s, run) => s + run.Pages);
        Assert.Equal(pages.TotalPages, covered);
        Assert.Contains(back.Allocated, run => run.Pfn == u.Pfn && run.Pages == 4 && run.Mobility == MigrateType.Unmovable);
        Assert.Contains(back.Allocated, run => run.Pfn == m.Pfn && run.Pages == 8 && run.Mobility == MigrateType.Movable);
        Assert.Contains(back.Allocated, run => run.Pfn == r.Pfn && run.Pages == 2 && run.Mobility == MigrateType.Reclaimable);
        Assert.Equal(8, back.Zones[0].PageblockTypes.Length);
        Assert.Equal('U', back.Zones[0].PageblockTypes[(int)(u.Pfn / 8)]);
        Assert.Equal('M', back.Zones[0].PageblockTypes[(int)(m.Pfn / 8)]);
    }

    [Fact]
    public void Dumps_of_another_version_truncated_or_hand_edited_are_refused_naming_the_problem()
    {
        (_, AllocatorDump known, _, _, Block reclaimable) = KnownState();
        string json = known.ToJson();
        var version = Assert.Throws<FormatException>(() => AllocatorDump.Parse(json.Replace("\"version\":1", "\"version\":2", StringComparison.Ordinal), "v2.json"));
        Assert.Contains("v2.json", version.Message, StringComparison.Ordinal);
        Assert.Contains("version 2", version.Message, StringComparison.Ordinal);
        var truncated = Assert.Throws<FormatException>(() => AllocatorDump.Parse(json[..(json.Length / 2)], "cut.json"));
        Assert.Contains("cut.json", truncated.Message, StringComparison.Ordinal);
        string overlapping = json.Replace($"{{\"pfn\":{reclaimable.Pfn},\"pages\":2", $"{{\"pfn\":{reclaimable.Pfn - 1},\"pages\":2", StringComparison.Ordinal);
        var edited = Assert.Throws<FormatException>(() => AllocatorDump.Parse(overlapping, "edited.json"));
        Assert.Contains("overlaps", edited.Message, StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => AllocatorDump.Parse("{\"format\":\"something-else\"}"));
    }

    [Fact]
    public void The_map_of_a_known_state_has_the_expected_colors_at_known_cells_in_png_and_svg()
    {
        (_, AllocatorDump dump, Block u, Block m, Block r) = KnownState();
        PageMap map = PageMap.From(dump, columns: 16);
        Assert.Equal(1UL, map.PagesPerCell);
        int uc = (int)u.Pfn, mc = (int)m.Pfn + 1, rc = (int)r.Pfn + 1, fc = (int)dump.Free[^1].Pfn;
        Assert.Equal(PageState.Unmovable, map.Cells[uc]);
        Assert.Equal(PageState.Movable, map.Cells[mc]);
        Assert.Equal(PageState.Reclaimable, map.Cells[rc]);
        Assert.Equal(PageState.Free, map.Cells[fc]);

        const int Cell = 4;
        (int width, int height, byte[] rgb) = PngWriter.Decode(MapRenderer.Png(map, Cell));
        MapGeometry at = MapRenderer.PngGeometry(map, Cell);
        Assert.Equal((at.Width, at.Height), (width, height));
        Assert.True(at.MapX + (16 * Cell) <= width && at.MapY + (4 * Cell) <= height);
        string Pixel(int cell)
        {
            // The cells start at the geometry's origin, right of the axis and below the title.
            int x = at.MapX + ((cell % 16) * Cell) + (Cell - 1), y = at.MapY + ((cell / 16) * Cell) + (Cell / 2); // away from zone marks
            int i = ((y * width) + x) * 3;
            return $"#{rgb[i]:x2}{rgb[i + 1]:x2}{rgb[i + 2]:x2}";
        }

        Assert.Equal(PageMap.Colors[PageState.Unmovable], Pixel(uc + 1));
        Assert.Equal(PageMap.Colors[PageState.Movable], Pixel(mc));
        Assert.Equal(PageMap.Colors[PageState.Reclaimable], Pixel(rc));
        Assert.Equal(PageMap.Colors[PageState.Free], Pixel(fc + 1));

        XDocument svg = XDocument.Parse(MapRenderer.Svg(map, cell: Cell));
        XNamespace ns = "http://www.w3.org/2000/svg";
        var cells = svg.Descendants(ns + "rect").Where(r => ((string?)r.Attribute("class"))?.StartsWith("cell", StringComparison.Ordinal) == true).ToList();
        string FillAt(int x, int y) => (string)cells.Single(r =>
            (int)r.Attribute("x")! <= x && x < (int)r.Attribute("x")! + (int)r.Attribute("width")! &&
            (int)r.Attribute("y")! <= y && y < (int)r.Attribute("y")! + (int)r.Attribute("height")!).Attribute("fill")!;
        int top = (int)cells.Min(r => (int)r.Attribute("y")!);
        Assert.Equal(PageMap.Colors[PageState.Movable], FillAt(((mc % 16) * Cell) + 1, top + ((mc / 16) * Cell) + 1));
        Assert.Equal(PageMap.Colors[PageState.Reclaimable], FillAt(((rc % 16) * Cell) + 1, top + ((rc / 16) * Cell) + 1));
        Assert.Contains(svg.Descendants(ns + "line"), l => (string?)l.Attribute("class") == "zone");
        Assert.Contains(svg.Descendants(ns + "text"), t => t.Value.StartsWith("one cell = 1 page", StringComparison.Ordinal));
    }

    [Fact]
    public void A_map_of_a_gibibyte_aggregates_cells_and_says_so()
    {
        var pages = new PageAllocator(MachineLayout.X86(2 * GiB));
        pages.Allocate(Request.ForOrder(3));
        PageMap map = PageMap.From(pages.Dump());
        Assert.Equal(2UL, map.PagesPerCell);
        Assert.Contains("colored by the state of most of its pages", MapRenderer.Svg(map), StringComparison.Ordinal);
    }

    [Fact]
    public void Buddy_map_and_report_write_files_and_refuse_bad_input()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        string dumps = Path.Combine(_dir, "dumps");
        Assert.Equal(0, Cli.Run(["replay", "--memory", "1GiB", "--policy", "zoned", "--dump-dir", dumps], stdout, stderr));
        string png = Path.Combine(_dir, "zoned.png");
        Assert.Equal(0, Cli.Run(["map", "--from", Path.Combine(dumps, "zoned.json"), "--out", png], stdout, stderr));
        Assert.True(PngWriter.Decode(File.ReadAllBytes(png)).Width > 0);
        Assert.Equal(2, Cli.Run(["map", "--from", Path.Combine(dumps, "zoned.json"), "--out", Path.Combine(_dir, "x.gif")], stdout, stderr));
        File.WriteAllText(Path.Combine(_dir, "bad.json"), "{\"format\":\"buddy-dump\",\"version\":7}");
        Assert.Equal(2, Cli.Run(["map", "--from", Path.Combine(_dir, "bad.json"), "--out", png], stdout, stderr));
        Assert.Contains("version 7", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_report_shows_each_grouping_policys_kernel_counters_as_the_replays_json_has_them()
    {
        // Below the trace's peak, linux-6.18 mixes types (fragmenting fallbacks), boosts and wakes
        // kcompactd; zoned does not group by mobility, so its cells say "-".
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        string report = Path.Combine(_dir, "counters.html"), json = Path.Combine(_dir, "counters.json");
        Assert.Equal(0, Cli.Run(["report", "--memory", "420MiB", "--policy", "zoned", "--policy", "linux-6.18", "--out", report], stdout, stderr));
        Assert.Equal(0, Cli.Run(["replay", "--memory", "420MiB", "--policy", "zoned", "--policy", "linux-6.18", "--json", json], stdout, stderr));
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement m = doc.RootElement.GetProperty("policies")[1].GetProperty("mobility");
        long fragmenting = m.GetProperty("fragmentingEvents").GetInt64(), all = m.GetProperty("fallbackEvents").GetInt64();
        Assert.True(fragmenting > 0, "linux-6.18 at 420 MiB mixes types");
        string html = File.ReadAllText(report);
        Assert.Contains($"<tr><td>fragmenting fallbacks / all fallbacks</td><td>-</td><td>{fragmenting:N0} / {all:N0}</td></tr>", html, StringComparison.Ordinal);
        Assert.Contains($"<tr><td>watermark boosts</td><td>-</td><td>{m.GetProperty("watermarkBoosts").GetInt64():N0}</td></tr>", html, StringComparison.Ordinal);
        JsonElement vm = m.GetProperty("vmEvents");
        Assert.Contains($"<tr><td>compact_stall / compact_fail</td><td>-</td><td>{vm.GetProperty("compact_stall").GetInt64():N0} / {vm.GetProperty("compact_fail").GetInt64():N0}</td></tr>", html, StringComparison.Ordinal);
    }

    [Fact]
    public void Buddy_map_and_report_draw_the_seeded_scenarios()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        string svg = Path.Combine(_dir, "isa.svg");
        Assert.Equal(0, Cli.Run(["map", "--scenario", "isa-dma-1995", "--policy", "zoned", "--out", svg], stdout, stderr));
        XDocument map = XDocument.Parse(File.ReadAllText(svg));
        Assert.Contains("isa-dma-1995", map.ToString(), StringComparison.Ordinal);
        string report = Path.Combine(_dir, "isa.html");
        Assert.Equal(0, Cli.Run(["report", "--scenario", "isa-dma-1995", "--out", report], stdout, stderr));
        string html = File.ReadAllText(report);
        Assert.Contains("isa-dma-1995", html, StringComparison.Ordinal);
        Assert.Contains("<svg", html, StringComparison.Ordinal);
        string high = Path.Combine(_dir, "highalloc.html");
        Assert.Equal(0, Cli.Run(["report", "--scenario", "highalloc", "--policy", "zoned+mobility", "--out", high], stdout, stderr));
        html = File.ReadAllText(high);
        Assert.Contains("id=\"map-zoned-mobility\"", html, StringComparison.Ordinal);
        Assert.Contains("under load", html, StringComparison.Ordinal);
        Assert.Contains("<polyline", html, StringComparison.Ordinal);
        Assert.Equal(2, Cli.Run(["map", "--scenario", "no-such-scenario", "--out", svg], stdout, stderr));
        Assert.Contains("no-such-scenario", stderr.ToString(), StringComparison.Ordinal);
        Assert.Equal(2, Cli.Run(["map", "--scenario", "highalloc", "--from", "x.json", "--out", svg], stdout, stderr));
        Assert.Contains("give at most one", stderr.ToString(), StringComparison.Ordinal);
        Assert.Equal(2, Cli.Run(["scenario", "highalloc", "--sample-every", "0"], stdout, stderr));
        Assert.Contains("--sample-every 0: expected at least 1", stderr.ToString(), StringComparison.Ordinal);
        Assert.Equal(2, Cli.Run(["scenario", "knuth", "--sample-every", "5"], stdout, stderr));
        Assert.Contains("--sample-every does not apply", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_html_report_renders_in_a_real_headless_browser_without_any_network_request()
    {
        string? chromium = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists);
        Assert.SkipWhen(chromium is null, "Debian's chromium is not installed (.ci/run installs it)");
        string report = Path.Combine(_dir, "report.html");
        using (var stdout = new StringWriter())
        using (var stderr = new StringWriter())
        {
            Assert.Equal(0, Cli.Run(["report", "--memory", "1GiB", "--policy", "zoned", "--policy", "zoned+mobility", "--out", report], stdout, stderr));
        }

        string html = File.ReadAllText(report);
        Assert.DoesNotContain("src=\"http", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("href=\"http", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("default-src 'none'", html, StringComparison.Ordinal);

        string screenshot = Path.Combine(_dir, "report.png"), netlog = Path.Combine(_dir, "netlog.json");
        string[] common = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir=" + Path.Combine(_dir, "profile")];
        Run(chromium!, [.. common, "--window-size=1400,3000", "--screenshot=" + screenshot, "--log-net-log=" + netlog, new Uri(report).AbsoluteUri]);
        string dom = Run(chromium!, [.. common, "--dump-dom", new Uri(report).AbsoluteUri]);

        // Not blank: many distinct colors, and the charts' colors among them.
        (int width, int height, byte[] rgb) = PngWriter.Decode(File.ReadAllBytes(screenshot));
        var colors = new HashSet<int>();
        for (int i = 0; i < rgb.Length; i += 3 * 7)
        {
            colors.Add((rgb[i] << 16) | (rgb[i + 1] << 8) | rgb[i + 2]);
        }

        Assert.True(width >= 1000 && height >= 1000);
        Assert.True(colors.Count > 20, $"the screenshot has only {colors.Count} colors");
        Assert.Contains(0x1565c0, colors); // movable pages and bars

        // The charts' elements are in the rendered page.
        Assert.Contains("id=\"summary\"", dom, StringComparison.Ordinal);
        Assert.Contains("id=\"timeseries\"", dom, StringComparison.Ordinal);
        Assert.Contains("class=\"series\"", dom, StringComparison.Ordinal);
        Assert.Contains("class=\"bar\"", dom, StringComparison.Ordinal);
        Assert.Contains("id=\"map-zoned\"", dom, StringComparison.Ordinal);
        Assert.Contains("id=\"map-zoned-mobility\"", dom, StringComparison.Ordinal);
        Assert.Contains("id=\"verdict-sentence\"", dom, StringComparison.Ordinal);
        Assert.Contains("id=\"x-axis-label\"", dom, StringComparison.Ordinal);
        Assert.Contains("id=\"y-axis-label\"", dom, StringComparison.Ordinal);

        // The two maps sit side by side: some screenshot rows hold many pixels of free memory's colour
        // (only the maps have it) in both halves of the page. Wrapped, every such row would hold one map.
        int sideBySide = 0;
        for (int y = 0; y < height; y++)
        {
            int left = 0, right = 0;
            for (int x = 0; x < width; x++)
            {
                int i = ((y * width) + x) * 3;
                if (rgb[i] == 0xe6 && rgb[i + 1] == 0xef && rgb[i + 2] == 0xe9)
                {
                    _ = x < width / 2 ? left++ : right++;
                }
            }

            sideBySide += left > 100 && right > 100 ? 1 : 0;
        }

        Assert.True(sideBySide > 50, $"only {sideBySide} rows show both maps");

        // No request from the page: the net log's URLs are the report itself and, at most, the
        // browser's own services (which the flags above mostly silence), never anything the page names.
        using JsonDocument log = JsonDocument.Parse(File.ReadAllText(netlog));
        var urls = log.RootElement.GetProperty("events").EnumerateArray()
            .Select(e => e.TryGetProperty("params", out JsonElement p) && p.TryGetProperty("url", out JsonElement u) ? u.GetString() : null)
            .OfType<string>().Distinct().ToList();
        Assert.All(urls.Where(u => !u.StartsWith("file://", StringComparison.Ordinal)), u =>
            Assert.True(new Uri(u).Host.EndsWith("google.com", StringComparison.Ordinal) || new Uri(u).Host.EndsWith("googleapis.com", StringComparison.Ordinal) || new Uri(u).Host.EndsWith("gvt1.com", StringComparison.Ordinal),
                $"the page made a request: {u}"));
    }

    private static string Run(string exe, string[] args)
    {
        var start = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args)
        {
            start.ArgumentList.Add(a);
        }

        using Process p = Process.Start(start)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(120_000), "chromium did not finish within 2 minutes");
        _ = stderr.Result;
        return stdout.Result;
    }
}
