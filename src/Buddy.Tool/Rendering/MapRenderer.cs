// MapRenderer: a PageMap as SVG or PNG, both with the same words: a title, an address axis on the
// left (ticks at row starts, labelled in round IEC sizes, never closer than a line of text), zone
// names on the right at the rows their zones start (pushed down rather than overlapping, joined to
// their row by a line), a mark inside the map at each zone's first cell, a legend with every swatch
// named, and a note of what a cell and a row hold. Cells sit in a rectangle of Columns × Rows cells
// of `cell` pixels at a margin (SVG: a translated group, so cell coordinates stay map-relative;
// PNG: the origin PngGeometry gives); the legend swatches are in the order of PageState.
using System.Globalization;
using System.Text;
using Buddy.Diagnostics;

namespace Buddy.Tool.Rendering;

/// <summary>Where a PNG map's parts are, in pixels.</summary>
/// <param name="Width">The picture's width.</param>
/// <param name="Height">The picture's height.</param>
/// <param name="MapX">The left edge of the cells.</param>
/// <param name="MapY">The top edge of the cells.</param>
internal readonly record struct MapGeometry(int Width, int Height, int MapX, int MapY);

/// <summary>Draws memory maps.</summary>
internal static class MapRenderer
{
    /// <summary>The title when the caller gives none.</summary>
    public const string DefaultTitle = "memory map";

    private const int Pad = 8, TextScale = 2, TitleScale = 3, Swatch = 6;

    private static readonly PageState[] s_legend = [PageState.Free, PageState.Unmovable, PageState.Movable, PageState.Reclaimable, PageState.Reserved, PageState.Cached];
    private static readonly Rgb[] s_rgb = [.. Enum.GetValues<PageState>().Select(s => Rgb.Parse(PageMap.Colors[s]))];
    private static readonly Rgb s_grey = Rgb.Parse("#999999");

    // A line of bitmap text: glyph rows and a gap.
    private static int LineHeight => (BitmapFont.GlyphHeight * TextScale) + 6;

    /// <summary>The map as a standalone SVG document (or an inline &lt;svg&gt; element with <paramref name="id"/>).</summary>
    public static string Svg(PageMap map, int cell = 2, string? title = null, string? id = null)
    {
        ArgumentNullException.ThrowIfNull(map);
        AllocatorDump dump = map.Dump;
        const int Line = 14;
        IReadOnlyList<(int Row, string Label)> ticks = map.AddressTicks((Line + cell - 1) / cell);
        int axis = ticks.Max(t => SvgWidth(t.Label)) + 10;
        int mapX = Pad + axis, top = 34, mapW = map.Columns * cell, mapH = map.Rows * cell;
        List<(DumpZone Zone, int Y, int LabelY)> zones = ZoneLabels(map, cell, top, Line, -4);
        int zoneW = dump.Zones.Count == 0 ? 0 : dump.Zones.Max(z => SvgWidth(z.Name)) + 16;
        int width = Math.Max(mapX + mapW + zoneW + Pad, 420);
        int bottom = Math.Max(top + mapH, zones.Count == 0 ? 0 : zones[^1].LabelY + 4);
        int ly = bottom + 22, height = ly + 44;

        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\"{(id is null ? "" : $" id=\"{id}\"")} width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"11\">");
        sb.Append(CultureInfo.InvariantCulture, $"<text class=\"title\" x=\"{Pad}\" y=\"16\" font-size=\"13\">{Escape(title ?? DefaultTitle)}</text>");

        // The address axis: a tick and a label at the start of every few rows.
        foreach ((int row, string label) in ticks)
        {
            int y = top + (row * cell);
            sb.Append(CultureInfo.InvariantCulture, $"<line class=\"tick\" x1=\"{mapX - 5}\" x2=\"{mapX - 1}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#000\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<text class=\"axis\" x=\"{mapX - 7}\" y=\"{y + 4}\" text-anchor=\"end\">{label}</text>");
        }

        sb.Append(CultureInfo.InvariantCulture, $"<g class=\"map\" transform=\"translate({mapX},{top})\">");
        for (int row = 0; row < map.Rows; row++)
        {
            int start = row * map.Columns, end = Math.Min(start + map.Columns, map.Cells.Length);
            for (int c = start; c < end;)
            {
                int run = c;
                while (run < end && map.Cells[run] == map.Cells[c])
                {
                    run++;
                }

                if (map.Cells[c] != PageState.None)
                {
                    sb.Append(CultureInfo.InvariantCulture, $"<rect class=\"cell {map.Cells[c].ToString().ToLowerInvariant()}\" x=\"{(c - start) * cell}\" y=\"{row * cell}\" width=\"{(run - c) * cell}\" height=\"{cell}\" fill=\"{PageMap.Colors[map.Cells[c]]}\"/>");
                }

                c = run;
            }
        }

        // Pageblock boundaries, where a pageblock spans whole rows.
        ulong rowPages = (ulong)map.Columns * map.PagesPerCell;
        if (dump.PageblockOrder is int pbo && (1UL << pbo) >= rowPages && (1UL << pbo) % rowPages == 0)
        {
            ulong rows = (1UL << pbo) / rowPages;
            for (ulong r = rows; r < (ulong)map.Rows; r += rows)
            {
                sb.Append(CultureInfo.InvariantCulture, $"<line class=\"pageblock\" x1=\"0\" x2=\"{mapW}\" y1=\"{(int)r * cell}\" y2=\"{(int)r * cell}\" stroke=\"#ffffff\" stroke-width=\"0.5\"/>");
            }
        }

        foreach (DumpZone z in dump.Zones)
        {
            long c = map.CellOf(z.StartPfn);
            int x = (int)(c % map.Columns) * cell, y = (int)(c / map.Columns) * cell;
            sb.Append(CultureInfo.InvariantCulture, $"<line class=\"zone\" x1=\"{x}\" x2=\"{x}\" y1=\"{y - 4}\" y2=\"{y + cell + 4}\" stroke=\"#000\" stroke-width=\"2\"/>");
        }

        sb.Append("</g>");

        // Zone names right of the map, each joined to the row its zone starts in.
        int right = mapX + mapW;
        foreach ((DumpZone z, int y, int labelY) in zones)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<polyline class=\"zone-tick\" points=\"{right + 1},{y} {right + 6},{y} {right + 6},{labelY - 4} {right + 9},{labelY - 4}\" fill=\"none\" stroke=\"#000\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<text class=\"zone-label\" x=\"{right + 11}\" y=\"{labelY}\">{Escape(z.Name)}</text>");
        }

        int lx = Pad;
        foreach (PageState s in s_legend)
        {
            string name = s.ToString().ToLowerInvariant();
            sb.Append(CultureInfo.InvariantCulture, $"<rect class=\"legend\" x=\"{lx}\" y=\"{ly - 9}\" width=\"10\" height=\"10\" fill=\"{PageMap.Colors[s]}\" stroke=\"#999\"/><text class=\"legend-label\" x=\"{lx + 14}\" y=\"{ly}\">{name}</text>");
            lx += 14 + SvgWidth(name) + 12;
        }

        sb.Append(CultureInfo.InvariantCulture, $"<text class=\"note\" x=\"{Pad}\" y=\"{ly + 18}\">{map.CellNote}{(map.PagesPerCell > 1 ? ", colored by the state of most of its pages" : "")}; {map.Columns} cells a row ({Units.FormatSize(map.RowBytes)}); black bars: zone starts{(dump.PageblockOrder is int o ? string.Create(CultureInfo.InvariantCulture, $"; white lines: pageblocks of {1UL << o} pages") : "")}</text>");
        sb.Append("</svg>");
        return sb.ToString();
    }

    /// <summary>
    /// The map as PNG: <paramref name="cell"/>×<paramref name="cell"/> pixels per cell at
    /// <see cref="PngGeometry"/>'s origin, with <paramref name="title"/> (default "memory map"),
    /// the address axis, zone names and marks, the labelled legend and the cell note in a built-in
    /// bitmap font.
    /// </summary>
    public static byte[] Png(PageMap map, int cell = 2, string? title = null)
    {
        ArgumentNullException.ThrowIfNull(map);
        ArgumentOutOfRangeException.ThrowIfLessThan(cell, 1);
        PngPlan p = Plan(map, cell, title ?? DefaultTitle);
        var r = new Raster(p.Geometry.Width, p.Geometry.Height);
        (_, _, int mapX, int mapY) = p.Geometry;
        int mapW = map.Columns * cell, mapH = map.Rows * cell;
        r.Text(Pad, Pad, p.Title, Rgb.Black, p.TitleScale);

        for (int c = 0; c < map.Cells.Length; c++)
        {
            r.Fill(mapX + ((c % map.Columns) * cell), mapY + ((c / map.Columns) * cell), cell, cell, s_rgb[(int)map.Cells[c]]);
        }

        // The address axis: a line beside the map, a tick and a label at the start of every few rows,
        // each label centred on its tick.
        int capsMiddle = 7 * TextScale / 2;
        r.Fill(mapX - 2, mapY, 1, mapH, s_grey);
        foreach ((int row, string label) in p.Ticks)
        {
            int y = mapY + (row * cell);
            r.Fill(mapX - 5, y, 3, 1, Rgb.Black);
            r.Text(mapX - 14 - BitmapFont.MeasureText(label, TextScale).Width, y - capsMiddle, label, Rgb.Black);
        }

        // Zones: a mark at the first cell (none at the map's first), a tick right of its row and its name.
        int right = mapX + mapW;
        foreach ((DumpZone z, int y, int labelY) in p.Zones)
        {
            long c = map.CellOf(z.StartPfn);
            if (c > 0)
            {
                r.Fill(mapX + ((int)(c % map.Columns) * cell), Math.Max(mapY, y - cell), Math.Max(1, cell / 2), 3 * cell, Rgb.Black);
            }

            r.Fill(right + 1, y, 6, 1, Rgb.Black);
            r.Fill(right + 6, Math.Min(y, labelY + capsMiddle), 1, Math.Abs(labelY + capsMiddle - y) + 1, Rgb.Black);
            r.Text(right + 16, labelY, z.Name, Rgb.Black);
        }

        // Each state's name over a bar of its colour (a light bar edged in grey): a square swatch
        // beside a word is what OCR reads as a stray letter.
        foreach ((PageState s, int x, int y) in p.Legend)
        {
            string name = s.ToString().ToLowerInvariant();
            int w = BitmapFont.MeasureText(name, TextScale).Width, barY = y + (BitmapFont.GlyphHeight * TextScale) + 2;
            Rgb fill = s_rgb[(int)s];
            r.Fill(x, barY, w, Swatch, fill.R + fill.G + fill.B > 600 ? s_grey : fill);
            r.Fill(x + 1, barY + 1, w - 2, Swatch - 2, fill);
            r.Text(x, y, name, Rgb.Black);
        }

        for (int i = 0; i < p.Notes.Count; i++)
        {
            r.Text(Pad, p.NotesY + (i * LineHeight), p.Notes[i], Rgb.Black);
        }

        return r.ToPng();
    }

    /// <summary>The size of <see cref="Png"/>'s picture and where its cells start.</summary>
    public static MapGeometry PngGeometry(PageMap map, int cell = 2, string? title = null)
    {
        ArgumentNullException.ThrowIfNull(map);
        return Plan(map, cell, title ?? DefaultTitle).Geometry;
    }

    // Everything placed before anything is drawn, so the picture's size is known.
    private static PngPlan Plan(PageMap map, int cell, string title)
    {
        int line = LineHeight;
        int titleH = BitmapFont.GlyphHeight * TitleScale;
        IReadOnlyList<(int Row, string Label)> ticks = map.AddressTicks((line + cell - 1) / cell);
        int axis = ticks.Max(t => BitmapFont.MeasureText(t.Label, TextScale).Width) + 17;
        int mapX = Pad + axis, mapY = Pad + titleH + 14, mapW = map.Columns * cell, mapH = map.Rows * cell;
        List<(DumpZone Zone, int Y, int LabelY)> zones = ZoneLabels(map, cell, mapY, line, 7 * TextScale / 2);
        int zoneW = map.Dump.Zones.Count == 0 ? 0 : map.Dump.Zones.Max(z => BitmapFont.MeasureText(z.Name, TextScale).Width) + 20;

        var notes = new List<string> { $"{map.CellNote}; {map.Columns} cells a row ({Units.FormatSize(map.RowBytes)})" };
        notes.Add((map.PagesPerCell > 1 ? "colored by the state of most of its pages; " : "") + "black marks: zone starts");

        int legendItem(PageState s) => BitmapFont.MeasureText(s.ToString().ToLowerInvariant(), TextScale).Width;
        int width = new[]
        {
            mapX + mapW + zoneW + Pad,
            Pad + notes.Max(n => BitmapFont.MeasureText(n, TextScale).Width) + Pad,
            Pad + s_legend.Max(legendItem) + Pad,
        }.Max();

        (string fitted, int titleScale) = FitTitle(title, width - (2 * Pad));
        int y = Math.Max(mapY + mapH, zones.Count == 0 ? 0 : zones[^1].LabelY + line) + 14;
        int x = Pad;
        var legend = new List<(PageState, int, int)>();
        foreach (PageState s in s_legend)
        {
            if (x > Pad && x + legendItem(s) > width - Pad)
            {
                x = Pad;
                y += line + Swatch;
            }

            legend.Add((s, x, y));
            x += legendItem(s) + 24;
        }

        int notesY = y + line + Swatch + 6;
        int height = notesY + (notes.Count * line) + Pad;
        return new PngPlan(new MapGeometry(width, height, mapX, mapY), fitted, titleScale, ticks, zones, legend, notes, notesY);
    }

    // The title never widens the picture (so maps of one allocator, titled differently, are one
    // size): drawn large when it fits, smaller when that fits, else cut short with "...".
    private static (string Title, int Scale) FitTitle(string title, int room)
    {
        if (BitmapFont.MeasureText(title, TitleScale).Width <= room)
        {
            return (title, TitleScale);
        }

        string cut = title;
        while (cut.Length > 0 && BitmapFont.MeasureText(cut == title ? cut : cut + "...", TextScale).Width > room)
        {
            cut = cut[..^1];
        }

        return (cut == title ? cut : cut + "...", TextScale);
    }

    // Each zone's row top (the y of its first cell's row) and the top of its label: level with the
    // row (less `middle`, to centre the text on it) or just below the previous label.
    private static List<(DumpZone Zone, int Y, int LabelY)> ZoneLabels(PageMap map, int cell, int mapY, int line, int middle)
    {
        var labels = new List<(DumpZone, int, int)>();
        int next = int.MinValue;
        foreach (DumpZone z in map.Dump.Zones)
        {
            int y = mapY + (int)(map.CellOf(z.StartPfn) / map.Columns * cell);
            int labelY = Math.Max(y - middle, next);
            labels.Add((z, y, labelY));
            next = labelY + line;
        }

        return labels;
    }

    // An estimate of the width of 11-pixel sans-serif text, generous so labels never collide.
    private static int SvgWidth(string text) => (int)Math.Ceiling(text.Length * 6.5);

    private static string Escape(string text) => text.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);

    private sealed record PngPlan(MapGeometry Geometry, string Title, int TitleScale, IReadOnlyList<(int Row, string Label)> Ticks, List<(DumpZone Zone, int Y, int LabelY)> Zones, List<(PageState State, int X, int Y)> Legend, List<string> Notes, int NotesY);
}
