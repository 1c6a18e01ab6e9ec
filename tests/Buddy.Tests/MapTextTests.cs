// MapTextTests: the words on memory maps (issue 18). The bitmap font draws the same pixels every
// time and exactly as wide as it measures; every printable character has a glyph of its own; axis
// ticks are round and apart; the SVG names what the PNG names; and Debian's tesseract OCR reads a
// PNG map's title, legend and axis back (skipped when tesseract is not installed; .ci/run installs it).
using System.Diagnostics;
using System.Xml.Linq;
using Buddy.Diagnostics;
using Buddy.Tool.Rendering;
using static Buddy.Units;

namespace Buddy.Tests;

public sealed class MapTextTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("buddy-map-text-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // 64 MiB of a PC (zones DMA and DMA32) with blocks of each mobility allocated.
    private static PageMap SmallPc(int columns)
    {
        var pages = new PageAllocator(MachineLayout.X86(64 * MiB));
        for (int i = 0; i < 40; i++)
        {
            pages.Allocate(Request.ForOrder(i % 5).WithMobility((MigrateType)(i % 3)));
        }

        return PageMap.From(pages.Dump(), columns);
    }

    [Fact]
    public void Text_draws_the_same_pixels_every_time_and_exactly_as_wide_and_tall_as_measured()
    {
        const string Text = "MiB gig 512";
        const int Width = 240, Height = 40, X = 7, Y = 5;
        var white = new Rgb(255, 255, 255);
        foreach (int scale in new[] { 1, 2, 3 })
        {
            var first = new byte[Width * Height * 3];
            var second = new byte[Width * Height * 3];
            BitmapFont.DrawText(first, Width, X, Y, Text, white, scale);
            BitmapFont.DrawText(second, Width, X, Y, Text, white, scale);
            Assert.Equal(first, second);

            // 'M' inks the first column and top row, '2' the last column, 'g' the last descender row;
            // drawn in white on a zeroed (black) buffer, the ink is every 255.
            int left = int.MaxValue, rightmost = -1, top = int.MaxValue, bottom = -1;
            byte[] ink = first;
            for (int y = 0; y < Height; y++)
            {
                for (int x = 0; x < Width; x++)
                {
                    if (ink[((y * Width) + x) * 3] == 255)
                    {
                        left = Math.Min(left, x);
                        rightmost = Math.Max(rightmost, x);
                        top = Math.Min(top, y);
                        bottom = Math.Max(bottom, y);
                    }
                }
            }

            (int w, int h) = BitmapFont.MeasureText(Text, scale);
            Assert.Equal((X, Y), (left, top));
            Assert.Equal(w, rightmost - left + 1);
            Assert.Equal(h, bottom - top + 1);
            Assert.Equal(Text.Length * BitmapFont.Advance * scale, w + scale);
        }

        Assert.Equal((0, BitmapFont.GlyphHeight * 2), BitmapFont.MeasureText(""));
    }

    [Fact]
    public void Every_printable_character_has_a_glyph_of_its_own_within_the_cell()
    {
        var seen = new Dictionary<string, char>();
        for (char c = '!'; c <= '~'; c++)
        {
            ReadOnlySpan<byte> rows = BitmapFont.Glyph(c);
            Assert.Equal(BitmapFont.GlyphHeight, rows.Length);
            Assert.True(rows.ToArray().Any(r => r != 0), $"'{c}' draws nothing");
            Assert.All(rows.ToArray(), r => Assert.True(r < 1 << BitmapFont.GlyphWidth));
            string key = Convert.ToHexString(rows);
            Assert.False(seen.TryGetValue(key, out char twin), $"'{c}' looks exactly like '{twin}'");
            seen[key] = c;
        }

        Assert.All(BitmapFont.Glyph(' ').ToArray(), r => Assert.Equal(0, r));
        Assert.Equal(BitmapFont.Glyph('?').ToArray(), BitmapFont.Glyph('é').ToArray());
    }

    [Fact]
    public void Axis_ticks_fall_on_row_starts_at_round_addresses_at_least_the_asked_rows_apart()
    {
        var pages = new PageAllocator(MachineLayout.X86(2 * GiB));
        PageMap map = PageMap.From(pages.Dump());
        Assert.Equal(4 * MiB, map.RowBytes); // 512 cells of 2 pages
        IReadOnlyList<(int Row, string Label)> ticks = map.AddressTicks(12);
        Assert.Equal((0, "0"), ticks[0]);
        Assert.Equal((16, "64 MiB"), ticks[1]);
        Assert.Contains((128, "512 MiB"), ticks);
        Assert.Contains((256, "1 GiB"), ticks);
        Assert.All(ticks.Zip(ticks.Skip(1)), p => Assert.Equal(16, p.Second.Row - p.First.Row));
        Assert.Equal("one cell = 2 pages (8 KiB)", map.CellNote);
        Assert.Equal([(0, "0")], map.AddressTicks(1000));
    }

    [Fact]
    public void The_svg_map_names_its_title_legend_axis_zones_and_cells()
    {
        PageMap map = SmallPc(columns: 128);
        XDocument svg = XDocument.Parse(MapRenderer.Svg(map, cell: 4, title: "zoned policy after boot"));
        XNamespace ns = "http://www.w3.org/2000/svg";
        List<string> texts = [.. svg.Descendants(ns + "text").Select(t => t.Value)];
        Assert.Equal("zoned policy after boot", texts[0]);
        Assert.Equal(["free", "unmovable", "movable", "reclaimable", "reserved", "cached"], svg.Descendants(ns + "text").Where(t => (string?)t.Attribute("class") == "legend-label").Select(t => t.Value));
        Assert.Equal(["DMA", "DMA32"], svg.Descendants(ns + "text").Where(t => (string?)t.Attribute("class") == "zone-label").Select(t => t.Value));
        List<XElement> axis = [.. svg.Descendants(ns + "text").Where(t => (string?)t.Attribute("class") == "axis")];
        Assert.Equal(["0", "2 MiB", "4 MiB"], axis.Take(3).Select(t => t.Value));
        Assert.All(axis.Zip(axis.Skip(1)), p => Assert.True((int)p.Second.Attribute("y")! - (int)p.First.Attribute("y")! >= 14));
        Assert.Contains(texts, t => t.StartsWith("one cell = 1 page (4 KiB); 128 cells a row (512 KiB)", StringComparison.Ordinal));
        List<XElement> zoneLabels = [.. svg.Descendants(ns + "text").Where(t => (string?)t.Attribute("class") == "zone-label")];
        Assert.True((int)zoneLabels[1].Attribute("y")! - (int)zoneLabels[0].Attribute("y")! >= 14, "zone labels overlap");
        Assert.Equal("memory map", XDocument.Parse(MapRenderer.Svg(map)).Descendants(ns + "text").First().Value);
    }

    [Fact]
    public async Task Tesseract_reads_the_png_maps_title_legend_axis_and_zones()
    {
        string? tesseract = new[] { "/usr/bin/tesseract", "/usr/local/bin/tesseract" }.FirstOrDefault(File.Exists);
        Assert.SkipWhen(tesseract is null, "Debian's tesseract-ocr is not installed (.ci/run installs it)");
        PageMap map = SmallPc(columns: 128);
        string png = Path.Combine(_dir, "map.png");
        File.WriteAllBytes(png, MapRenderer.Png(map, cell: 4, title: "zoned policy after boot"));

        var start = new ProcessStartInfo(tesseract!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in new[] { png, "stdout" })
        {
            start.ArgumentList.Add(a);
        }

        using Process p = Process.Start(start)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        Task<string> stderr = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromMinutes(1));
        await p.WaitForExitAsync(timeout.Token);
        string text = await stdout;
        Assert.True(p.ExitCode == 0, $"tesseract failed: {await stderr}");

        // OCR may split or join words at a pixel font's spacing; the letters in order are what counts.
        string letters = string.Concat(text.Where(c => !char.IsWhiteSpace(c)));
        foreach (string word in new[] { "zonedpolicyafterboot", "free", "unmovable", "movable", "reclaimable", "DMA", "MiB" })
        {
            Assert.True(letters.Contains(word, StringComparison.Ordinal), $"OCR did not read \"{word}\" in:\n{text}");
        }

        Assert.Contains("4 MiB", text, StringComparison.Ordinal);
        Assert.Contains("onecell=1page", letters, StringComparison.Ordinal);
    }
}
