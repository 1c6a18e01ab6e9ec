// ReportMaps: the report's pictures of memory — each policy's map at the end as a PNG data URI, side
// by side in a grid that fits the page at one scale, each carrying its own title, address axis, zone
// names and legend (MapRenderer.Png), a legend above them too; and, when
// the run kept frames, "fragmentation as it unfolds": small maps, one row per policy, one column
// per moment, labelled with the step.
using System.Globalization;
using System.Text;
using Buddy.Simulation.Metrics;
using static Buddy.Tool.Rendering.HtmlReport;

namespace Buddy.Tool.Rendering;

/// <summary>The maps of a report.</summary>
internal static class ReportMaps
{
    /// <summary>At most this many maps a row; more policies make more rows, each map keeping the same scale.</summary>
    public const int MapsPerRow = 4;

    /// <summary>At most this many moments of the run in the frames grid.</summary>
    public const int Moments = 6;

    /// <summary>The style the maps need.</summary>
    public const string Css =
        ".grid{display:grid;gap:16px;width:100%}.map{display:block}" +
        ".map img,.frames img{width:100%;height:auto;image-rendering:pixelated;display:block}.legend span{display:inline-block;margin-right:14px;font-size:13px}" +
        ".legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px;border:1px solid #999}" +
        ".frames{border-collapse:collapse}.frames td,.frames th{border:none;padding:2px 4px;vertical-align:top;text-align:center;font-size:11px}.frames img{width:120px}";

    private static readonly (PageState State, string Name)[] s_legend =
        [(PageState.Free, "free"), (PageState.Unmovable, "unmovable"), (PageState.Movable, "movable"), (PageState.Reclaimable, "reclaimable"), (PageState.Reserved, "reserved"), (PageState.Cached, "cached (per-CPU lists)")];

    /// <summary>"Memory maps at the end": every policy's map, side by side.</summary>
    public static string Final(IReadOnlyList<PolicyResult> policies)
    {
        ArgumentNullException.ThrowIfNull(policies);
        var drawn = policies.Where(p => p.Dump is not null).ToList();
        if (drawn.Count == 0)
        {
            return "";
        }

        int columns = Math.Min(drawn.Count, MapsPerRow);
        var sb = new StringBuilder("<h2>Memory maps at the end</h2>");
        PageMap first = PageMap.From(drawn[0].Dump!, columns: 512);
        sb.Append(CultureInfo.InvariantCulture, $"<p>One row of pixels = {first.Columns} cells of {first.PagesPerCell} page{(first.PagesPerCell == 1 ? "" : "s")} ({Units.FormatSize((ulong)first.Columns * first.PagesPerCell * drawn[0].Dump!.PageSize)}), addresses growing downwards; every map at the same scale, {columns} a row{(drawn.Count > columns ? $" ({drawn.Count} maps make {(drawn.Count + columns - 1) / columns} rows)" : "")}.</p>");
        sb.Append(Legend());
        sb.Append(CultureInfo.InvariantCulture, $"<div class=\"grid maps\" id=\"maps\" style=\"grid-template-columns:repeat({columns},minmax(0,1fr))\">");
        foreach (PolicyResult p in drawn)
        {
            PageMap map = PageMap.From(p.Dump!, columns: 512);
            byte[] png = MapRenderer.Png(map, title: p.Name); // the picture carries its own title, address axis, zone names and legend
            sb.Append(CultureInfo.InvariantCulture, $"<figure><figcaption><b>{Html(p.Name)}</b></figcaption><div class=\"map\">");
            sb.Append(CultureInfo.InvariantCulture, $"<img id=\"map-{Id(p.Name)}\" alt=\"memory map of {Html(p.Name)}\" src=\"data:image/png;base64,{Convert.ToBase64String(png)}\"></div></figure>");
        }

        return sb.Append("</div>").ToString();
    }

    /// <summary>"Fragmentation as it unfolds": each policy's frames as small maps (empty when no policy kept frames).</summary>
    public static string Unfolding(IReadOnlyList<PolicyResult> policies, string steps)
    {
        ArgumentNullException.ThrowIfNull(policies);
        var framed = policies.Where(p => p.Frames is { Count: > 0 }).ToList();
        if (framed.Count == 0)
        {
            return "";
        }

        var sb = new StringBuilder("<h2>Fragmentation as it unfolds</h2>");
        sb.Append(CultureInfo.InvariantCulture, $"<p>Each policy's memory at moments of the run (at most {Moments}, evenly chosen), labelled with the {Html(steps)} done; colours as in the maps above, each small map four times coarser.</p>");
        sb.Append("<table class=\"frames\" id=\"frames\">");
        foreach (PolicyResult p in framed)
        {
            IReadOnlyList<MapFrame> frames = p.Frames!;
            int n = Math.Min(Moments, frames.Count);
            sb.Append(CultureInfo.InvariantCulture, $"<tr><th>{Html(p.Name)}</th>");
            for (int i = 0; i < n; i++)
            {
                MapFrame f = frames[n == 1 ? frames.Count - 1 : i * (frames.Count - 1) / (n - 1)];
                sb.Append(CultureInfo.InvariantCulture, $"<td><img class=\"frame\" alt=\"{Html(p.Name)} after {f.Step:N0} {Html(steps)}\" src=\"data:image/png;base64,{Convert.ToBase64String(Thumbnail(PageMap.From(f.Dump, columns: 512), 4))}\"><br>{f.Step:N0} {Html(steps)}</td>");
            }

            sb.Append("</tr>");
        }

        return sb.Append("</table>").ToString();
    }

    // The colours and what they mean.
    private static string Legend()
    {
        var sb = new StringBuilder("<p class=\"legend\" id=\"map-legend\">");
        foreach ((PageState state, string name) in s_legend)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<span><i style=\"background:{PageMap.Colors[state]}\"></i>{name}</span>");
        }

        return sb.Append("<span>black mark at a row's start: a zone begins</span></p>").ToString();
    }

    // A map at 1/factor of its cells each way, every pixel coloured by the state most of its cells are in.
    private static byte[] Thumbnail(PageMap map, int factor)
    {
        int width = Math.Max(1, (map.Columns + factor - 1) / factor), height = Math.Max(1, (map.Rows + factor - 1) / factor);
        var rgb = new byte[width * height * 3];
        Span<int> counts = stackalloc int[7];
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                counts.Clear();
                for (int dy = 0; dy < factor; dy++)
                {
                    for (int dx = 0; dx < factor; dx++)
                    {
                        long c = ((long)((y * factor) + dy) * map.Columns) + (x * factor) + dx;
                        if ((x * factor) + dx < map.Columns && c < map.Cells.Length)
                        {
                            counts[(int)map.Cells[c]]++;
                        }
                    }
                }

                int best = 0;
                for (int s = 1; s < counts.Length; s++)
                {
                    best = counts[s] > counts[best] ? s : best;
                }

                string color = PageMap.Colors[(PageState)best];
                int i = ((y * width) + x) * 3;
                rgb[i] = Convert.ToByte(color[1..3], 16);
                rgb[i + 1] = Convert.ToByte(color[3..5], 16);
                rgb[i + 2] = Convert.ToByte(color[5..7], 16);
            }
        }

        return PngWriter.Encode(width, height, rgb);
    }
}
