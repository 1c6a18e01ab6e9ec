// MapRenderer: a PageMap as SVG (cells merged into runs, zone and pageblock boundaries, a legend)
// or PNG (one square of pixels per cell, boundaries as dark marks, legend swatches in the
// order of PageState).
using System.Globalization;
using System.Text;
using Buddy.Diagnostics;

namespace Buddy.Tool.Rendering;

/// <summary>Draws memory maps.</summary>
internal static class MapRenderer
{
    private static readonly PageState[] s_legend = [PageState.Free, PageState.Unmovable, PageState.Movable, PageState.Reclaimable, PageState.Reserved, PageState.Cached];

    /// <summary>The map as a standalone SVG document (or an inline &lt;svg&gt; element with <paramref name="id"/>).</summary>
    public static string Svg(PageMap map, int cell = 2, string? title = null, string? id = null)
    {
        ArgumentNullException.ThrowIfNull(map);
        int width = Math.Max(map.Columns * cell, 420), top = 28, height = top + (map.Rows * cell) + 70;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\"{(id is null ? "" : $" id=\"{id}\"")} width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"11\">");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"0\" y=\"14\" font-size=\"13\">{Escape(title ?? "memory map")}</text>");
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
                    sb.Append(CultureInfo.InvariantCulture, $"<rect class=\"cell {map.Cells[c].ToString().ToLowerInvariant()}\" x=\"{(c - start) * cell}\" y=\"{top + (row * cell)}\" width=\"{(run - c) * cell}\" height=\"{cell}\" fill=\"{PageMap.Colors[map.Cells[c]]}\"/>");
                }

                c = run;
            }
        }

        // Pageblock boundaries, where a pageblock spans whole rows.
        AllocatorDump dump = map.Dump;
        ulong rowPages = (ulong)map.Columns * map.PagesPerCell;
        if (dump.PageblockOrder is int pbo && (1UL << pbo) >= rowPages && (1UL << pbo) % rowPages == 0)
        {
            ulong rows = (1UL << pbo) / rowPages;
            for (ulong r = rows; r < (ulong)map.Rows; r += rows)
            {
                sb.Append(CultureInfo.InvariantCulture, $"<line class=\"pageblock\" x1=\"0\" x2=\"{map.Columns * cell}\" y1=\"{top + ((int)r * cell)}\" y2=\"{top + ((int)r * cell)}\" stroke=\"#ffffff\" stroke-width=\"0.5\"/>");
            }
        }

        foreach (DumpZone z in dump.Zones)
        {
            long c = map.CellOf(z.StartPfn);
            int x = (int)(c % map.Columns) * cell, y = top + ((int)(c / map.Columns) * cell);
            sb.Append(CultureInfo.InvariantCulture, $"<line class=\"zone\" x1=\"{x}\" x2=\"{x}\" y1=\"{y - 4}\" y2=\"{y + cell + 4}\" stroke=\"#000\" stroke-width=\"2\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<text class=\"zone-label\" x=\"{x + 3}\" y=\"{y - 2}\" font-size=\"10\">{Escape(z.Name)}</text>");
        }

        int ly = top + (map.Rows * cell) + 16;
        int lx = 0;
        foreach (PageState s in s_legend)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<rect class=\"legend\" x=\"{lx}\" y=\"{ly - 9}\" width=\"10\" height=\"10\" fill=\"{PageMap.Colors[s]}\" stroke=\"#999\"/><text x=\"{lx + 14}\" y=\"{ly}\">{s.ToString().ToLowerInvariant()}</text>");
            lx += 14 + (s.ToString().Length * 7) + 12;
        }

        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"0\" y=\"{ly + 18}\">one cell = {map.PagesPerCell} page{(map.PagesPerCell == 1 ? "" : "s")} of {dump.PageSize / 1024} KiB{(map.PagesPerCell > 1 ? ", colored by the state of most of its pages" : "")}; {map.Columns} cells a row; black bars: zone starts{(dump.PageblockOrder is int o ? string.Create(CultureInfo.InvariantCulture, $"; white lines: pageblocks of {1UL << o} pages") : "")}</text>");
        sb.Append("</svg>");
        return sb.ToString();
    }

    /// <summary>The map as PNG: <paramref name="cell"/>×<paramref name="cell"/> pixels per cell, zone starts as black marks, legend swatches below.</summary>
    public static byte[] Png(PageMap map, int cell = 2)
    {
        ArgumentNullException.ThrowIfNull(map);
        int width = map.Columns * cell, mapHeight = map.Rows * cell, height = mapHeight + (4 * cell) + 12;
        var rgb = new byte[width * height * 3];
        rgb.AsSpan().Fill(0xFF);
        void Fill(int x0, int y0, int w, int h, string color)
        {
            byte r = Convert.ToByte(color[1..3], 16), g = Convert.ToByte(color[3..5], 16), b = Convert.ToByte(color[5..7], 16);
            for (int y = y0; y < Math.Min(y0 + h, height); y++)
            {
                for (int x = x0; x < Math.Min(x0 + w, width); x++)
                {
                    int i = ((y * width) + x) * 3;
                    rgb[i] = r;
                    rgb[i + 1] = g;
                    rgb[i + 2] = b;
                }
            }
        }

        for (int c = 0; c < map.Cells.Length; c++)
        {
            Fill((c % map.Columns) * cell, (c / map.Columns) * cell, cell, cell, PageMap.Colors[map.Cells[c]]);
        }

        foreach (DumpZone z in map.Dump.Zones.Skip(1))
        {
            long c = map.CellOf(z.StartPfn);
            Fill((int)(c % map.Columns) * cell, (int)(c / map.Columns) * cell, Math.Max(1, cell / 2), cell, "#000000");
        }

        for (int i = 0; i < s_legend.Length; i++)
        {
            Fill(i * 4 * cell * 3, mapHeight + cell + 4, 3 * cell * 3, 3 * cell, PageMap.Colors[s_legend[i]]);
        }

        return PngWriter.Encode(width, height, rgb);
    }

    private static string Escape(string text) => text.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);
}
