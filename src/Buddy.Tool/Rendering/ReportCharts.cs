// ReportCharts: the report's SVG charts — the unusable index over time (axes with units, a legend,
// each series in its own colour, dash pattern and marker, labelled at its end, and a note naming
// the series that coincide) and the final buddyinfo as bars with their counts written on them.
using System.Globalization;
using System.Text;
using Buddy.Kernel;
using Buddy.Simulation.Metrics;
using static Buddy.Tool.Rendering.HtmlReport;

namespace Buddy.Tool.Rendering;

/// <summary>The charts of a report.</summary>
internal static class ReportCharts
{
    private static readonly string[] s_palette = ["#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f", "#5d4037", "#ad1457"];
    private static readonly string[] s_dashes = ["", "8 4", "2 3", "10 3 2 3", "5 5", "1 2", "12 2", "4 2 1 2"];

    /// <summary>The unusable index at the index order over the run, one series per policy.</summary>
    public static string TimeSeries(IReadOnlyList<PolicyResult> policies, string steps)
    {
        ArgumentNullException.ThrowIfNull(policies);
        const int W = 1100, H = 320, L = 64, R = 230, T = 14, B = 46;
        const int PlotW = W - L - R, PlotH = H - T - B;
        long maxStep = Math.Max(1, policies.SelectMany(p => p.Samples).Select(s => s.Step).DefaultIfEmpty(1).Max());
        double X(long step) => L + (PlotW * (double)step / maxStep);
        double Y(double index) => T + (PlotH * (1 - Math.Clamp(index, 0, 1)));
        int order = policies.Count > 0 ? policies[0].IndexOrder : 9;
        List<List<PolicyResult>> groups = Coinciding(policies, Y);
        int legendRows = (policies.Count + 3) / 4;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"timeseries\" width=\"{W}\" height=\"{H + 10 + (legendRows * 18) + (groups.Count(g => g.Count > 1) * 16)}\" font-family=\"sans-serif\" font-size=\"12\">");
        for (int i = 0; i <= 4; i++)
        {
            double y = Y(i / 4.0);
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{L}\" x2=\"{L + PlotW}\" y1=\"{y:F0}\" y2=\"{y:F0}\" stroke=\"#e4e4e4\"/><text x=\"{L - 6}\" y=\"{y + 4:F0}\" text-anchor=\"end\">{i / 4.0:F2}</text>");
            long step = maxStep * i / 4;
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{X(step):F0}\" x2=\"{X(step):F0}\" y1=\"{T + PlotH}\" y2=\"{T + PlotH + 4}\" stroke=\"#333\"/><text x=\"{X(step):F0}\" y=\"{T + PlotH + 17}\" text-anchor=\"middle\">{step:N0}</text>");
        }

        sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{L}\" y1=\"{T}\" x2=\"{L}\" y2=\"{T + PlotH}\" stroke=\"#333\"/><line x1=\"{L}\" y1=\"{T + PlotH}\" x2=\"{L + PlotW}\" y2=\"{T + PlotH}\" stroke=\"#333\"/>");
        sb.Append(CultureInfo.InvariantCulture, $"<text id=\"x-axis-label\" class=\"axis-label\" x=\"{L + (PlotW / 2)}\" y=\"{T + PlotH + 36}\" text-anchor=\"middle\">{Html(steps)} replayed (count)</text>");
        sb.Append(CultureInfo.InvariantCulture, $"<text id=\"y-axis-label\" class=\"axis-label\" transform=\"translate(14,{T + (PlotH / 2)}) rotate(-90)\" text-anchor=\"middle\">unusable free space index, order {order} (0 to 1)</text>");

        // Series, each with its own marker at regular places (shifted a little per series so that coinciding ones stay visible).
        var ends = new List<(double Y, string Text, string Color)>();
        for (int k = 0; k < policies.Count; k++)
        {
            PolicyResult p = policies[k];
            string color = s_palette[k % s_palette.Length], dash = s_dashes[k % s_dashes.Length];
            string points = string.Join(" ", p.Samples.Select(s => string.Create(CultureInfo.InvariantCulture, $"{X(s.Step):F1},{Y(s.UnusableIndex):F1}")));
            sb.Append(CultureInfo.InvariantCulture, $"<polyline class=\"series\" data-policy=\"{Html(p.Name)}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.8\"{(dash.Length == 0 ? "" : $" stroke-dasharray=\"{dash}\"")} points=\"{points}\"/>");
            if (p.Samples.Count > 0)
            {
                for (int m = 0; m < 8; m++)
                {
                    Sample s = p.Samples[Math.Min(p.Samples.Count - 1, (int)((m + ((double)k / Math.Max(1, policies.Count))) * p.Samples.Count / 8))];
                    sb.Append(Marker(k, X(s.Step), Y(s.UnusableIndex), color));
                }

                ends.Add((Y(p.Samples[^1].UnusableIndex), p.Name, color));
            }
        }

        // Direct labels at the lines' ends, pushed apart so that none overlaps another.
        double last = double.NegativeInfinity;
        foreach ((double y, string text, string color) in ends.OrderBy(e => e.Y))
        {
            double at = Math.Max(y + 4, last + 14);
            sb.Append(CultureInfo.InvariantCulture, $"<text class=\"end-label\" x=\"{L + PlotW + 8}\" y=\"{at:F1}\" fill=\"{color}\" style=\"fill:{color}\">{Html(text)}</text>");
            last = at;
        }

        // The legend: line, marker and name.
        for (int k = 0; k < policies.Count; k++)
        {
            double x = L + ((k % 4) * 240), y = H + ((k / 4) * 18);
            string color = s_palette[k % s_palette.Length], dash = s_dashes[k % s_dashes.Length];
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{x}\" x2=\"{x + 30}\" y1=\"{y}\" y2=\"{y}\" stroke=\"{color}\" stroke-width=\"2\"{(dash.Length == 0 ? "" : $" stroke-dasharray=\"{dash}\"")}/>{Marker(k, x + 15, y, color)}<text class=\"legend\" x=\"{x + 36}\" y=\"{y + 4}\">{Html(policies[k].Name)}</text>");
        }

        double noteY = H + (legendRows * 18) + 6;
        foreach (List<PolicyResult> g in groups.Where(g => g.Count > 1))
        {
            sb.Append(CultureInfo.InvariantCulture, $"<text class=\"coincide\" x=\"{L}\" y=\"{noteY:F0}\">lines coincide (within a pixel over the whole run): {Html(string.Join(", ", g.Select(p => p.Name)))}</text>");
            noteY += 16;
        }

        return sb.Append("</svg>").ToString();
    }

    // Policies whose series stay within a pixel of each other at every sample, grouped.
    private static List<List<PolicyResult>> Coinciding(IReadOnlyList<PolicyResult> policies, Func<double, double> y)
    {
        var groups = new List<List<PolicyResult>>();
        foreach (PolicyResult p in policies)
        {
            List<PolicyResult>? g = groups.FirstOrDefault(g => Same(g[0], p));
            if (g is null)
            {
                groups.Add([p]);
            }
            else
            {
                g.Add(p);
            }
        }

        return groups;

        bool Same(PolicyResult a, PolicyResult b)
        {
            Dictionary<long, double> at = a.Samples.GroupBy(s => s.Step).ToDictionary(s => s.Key, s => s.Last().UnusableIndex);
            return a.Samples.Count > 0 && b.Samples.Count > 0 && b.Samples.All(s => at.TryGetValue(s.Step, out double v) && Math.Abs(y(v) - y(s.UnusableIndex)) < 1);
        }
    }

    // Circle, square, triangle, diamond, cross, then again with a hollow centre.
    private static string Marker(int k, double x, double y, string color)
    {
        string fill = k / 5 % 2 == 0 ? color : "#fff";
        return (k % 5) switch
        {
            0 => string.Create(CultureInfo.InvariantCulture, $"<circle cx=\"{x:F1}\" cy=\"{y:F1}\" r=\"3.5\" fill=\"{fill}\" stroke=\"{color}\"/>"),
            1 => string.Create(CultureInfo.InvariantCulture, $"<rect x=\"{x - 3.5:F1}\" y=\"{y - 3.5:F1}\" width=\"7\" height=\"7\" fill=\"{fill}\" stroke=\"{color}\"/>"),
            2 => string.Create(CultureInfo.InvariantCulture, $"<path d=\"M{x:F1} {y - 4.5:F1}L{x + 4.5:F1} {y + 3.5:F1}L{x - 4.5:F1} {y + 3.5:F1}Z\" fill=\"{fill}\" stroke=\"{color}\"/>"),
            3 => string.Create(CultureInfo.InvariantCulture, $"<path d=\"M{x:F1} {y - 5:F1}L{x + 4:F1} {y:F1}L{x:F1} {y + 5:F1}L{x - 4:F1} {y:F1}Z\" fill=\"{fill}\" stroke=\"{color}\"/>"),
            _ => string.Create(CultureInfo.InvariantCulture, $"<path d=\"M{x - 4:F1} {y - 4:F1}L{x + 4:F1} {y + 4:F1}M{x - 4:F1} {y + 4:F1}L{x + 4:F1} {y - 4:F1}\" stroke=\"{color}\" stroke-width=\"2\"/>"),
        };
    }

    /// <summary>Each policy's final buddyinfo, zone by zone: one bar per order with its count on it.</summary>
    public static string BuddyInfoBars(IReadOnlyList<PolicyResult> policies, ulong pageSize)
    {
        ArgumentNullException.ThrowIfNull(policies);
        int columns = Math.Clamp(policies.Count, 1, 3);
        var sb = new StringBuilder(string.Create(CultureInfo.InvariantCulture, $"<div class=\"grid\" id=\"buddyinfo\" style=\"grid-template-columns:repeat({columns},minmax(0,1fr))\">"));
        foreach (PolicyResult p in policies)
        {
            BuddyInfo info = BuddyInfo.Parse(p.BuddyInfo, p.Name);
            int orders = Math.Max(1, info.Zones.Max(z => z.FreeBlockCounts.Count));
            const int Bar = 28, Gap = 6, Chart = 90, Left = 56, Zone = Chart + 58;
            int width = Left + (orders * (Bar + Gap));
            sb.Append(CultureInfo.InvariantCulture, $"<figure><svg xmlns=\"http://www.w3.org/2000/svg\" class=\"bars\" viewBox=\"0 0 {width} {(info.Zones.Count * Zone) + 24}\" width=\"100%\" font-family=\"sans-serif\" font-size=\"10\"><text x=\"0\" y=\"13\" font-size=\"13\">{Html(p.Name)}: free blocks by order</text>");
            for (int zi = 0; zi < info.Zones.Count; zi++)
            {
                BuddyInfoZone z = info.Zones[zi];
                int y0 = 34 + (zi * Zone);
                double max = Math.Log10(1 + Math.Max(1, z.FreeBlockCounts.DefaultIfEmpty(0).Max()));
                sb.Append(CultureInfo.InvariantCulture, $"<text x=\"0\" y=\"{y0 + (Chart / 2)}\" font-size=\"11\">{Html(z.Name)}</text><line x1=\"{Left - 2}\" x2=\"{width}\" y1=\"{y0 + Chart}\" y2=\"{y0 + Chart}\" stroke=\"#333\"/>");
                for (int o = 0; o < z.FreeBlockCounts.Count; o++)
                {
                    long count = z.FreeBlockCounts[o];
                    double h = Chart * Math.Log10(1 + count) / max;
                    double x = Left + (o * (Bar + Gap));
                    sb.Append(CultureInfo.InvariantCulture, $"<rect class=\"bar\" x=\"{x}\" y=\"{y0 + Chart - h:F1}\" width=\"{Bar}\" height=\"{h:F1}\" fill=\"#1565c0\"><title>order {o} ({Units.FormatSize((1UL << o) * pageSize)}): {count} free blocks</title></rect>");
                    sb.Append(CultureInfo.InvariantCulture, $"<text class=\"bar-value\" x=\"{x + (Bar / 2.0):F1}\" y=\"{y0 + Chart - h - 3:F1}\" text-anchor=\"middle\" font-size=\"{(count >= 10_000 ? 7.5 : 9)}\">{count}</text>");
                    sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{x + (Bar / 2.0):F1}\" y=\"{y0 + Chart + 12}\" text-anchor=\"middle\">{o}</text>");
                }

                sb.Append(CultureInfo.InvariantCulture, $"<text class=\"axis-label\" x=\"{Left}\" y=\"{y0 + Chart + 26}\">order (block of {Units.FormatSize(pageSize)} to {Units.FormatSize((1UL << (z.FreeBlockCounts.Count - 1)) * pageSize)}); height: log of the count</text>");
            }

            sb.Append("</svg></figure>");
        }

        return sb.Append("</div>").ToString();
    }
}
