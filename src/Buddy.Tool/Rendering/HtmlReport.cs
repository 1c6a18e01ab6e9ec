// HtmlReport: one self-contained HTML page comparing policies — summary table, fragmentation over
// time, final buddyinfo as bars, memory maps side by side, and the command that made it. Inline
// SVG and CSS only; a Content-Security-Policy forbids every fetch, so the page makes no request.
using System.Globalization;
using System.Net;
using System.Text;
using Buddy.Kernel;
using Buddy.Simulation.Metrics;
using Buddy.Simulation.Replay;

namespace Buddy.Tool.Rendering;

/// <summary>Renders a replay result as an HTML report.</summary>
internal static class HtmlReport
{
    private static readonly string[] s_palette = ["#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f", "#5d4037", "#ad1457"];

    /// <summary>The report for a trace replay, made by <paramref name="command"/>.</summary>
    public static string Render(ReplayResult result, string command)
    {
        ArgumentNullException.ThrowIfNull(result);
        TraceCounts t = result.Trace;
        string machine = result.Start is not null || (result.Policies.Count > 0 && result.Policies[0].Name == "kernel")
            ? $"the traced machine ({Units.FormatApproximateSize(result.MemoryBytes)}, its real layout{(result.Start is null ? "" : " and start state")}), the kernel's own placement (\"kernel\") beside the policies"
            : $"a {Units.FormatSize(result.MemoryBytes)} machine";
        string description = string.Create(CultureInfo.InvariantCulture, $"{t.Allocs:N0} allocations and {t.Frees:N0} frees replayed on {machine} ({result.MemoryBytes / result.PageSize:N0} pages of {Units.FormatSize(result.PageSize)}); {t.UnmatchedFrees:N0} frees of pages no allocation held, {t.PartialFrees:N0} partial frees.");
        return Render(Path.GetFileName(result.Source), description, result.Policies, command, "events");
    }

    /// <summary>A report comparing <paramref name="policies"/>: title, description, summary, time series, buddyinfo bars, maps.</summary>
    public static string Render(string title, string description, IReadOnlyList<PolicyResult> policies, string command, string steps)
    {
        ArgumentNullException.ThrowIfNull(policies);
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">");
        sb.Append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">");
        sb.Append(CultureInfo.InvariantCulture, $"<title>Buddy: {Html(title)}</title><style>");
        sb.Append("body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th:first-child,td:first-child{text-align:left}");
        sb.Append(".maps{display:flex;flex-wrap:wrap;gap:24px}.maps figure{margin:0}code{background:#f4f4f4;padding:2px 4px}h2{margin-top:32px}</style></head><body>");
        sb.Append(CultureInfo.InvariantCulture, $"<h1>Buddy: {Html(title)}</h1><p>{Html(description)}</p>");
        sb.Append(CultureInfo.InvariantCulture, $"<p>Made by: <code id=\"command\">{Html(command)}</code></p>");

        sb.Append("<h2>Summary</h2><table id=\"summary\"><tr><th></th>");
        foreach (PolicyResult p in policies)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<th>{Html(p.Name)}</th>");
        }

        sb.Append("</tr>");
        void Row(string label, Func<PolicyResult, string> value)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<tr><td>{Html(label)}</td>");
            foreach (PolicyResult p in policies)
            {
                sb.Append(CultureInfo.InvariantCulture, $"<td>{Html(value(p))}</td>");
            }

            sb.Append("</tr>");
        }

        Row("requests", p => p.Requests.ToString("N0", CultureInfo.InvariantCulture));
        Row("failures", p => p.AllocFailures.ToString("N0", CultureInfo.InvariantCulture));
        Row("peak pages in use", p => p.PeakPagesInUse.ToString("N0", CultureInfo.InvariantCulture));
        Row("mean pages in use", p => p.MeanPagesInUse.ToString("N0", CultureInfo.InvariantCulture));
        Row($"unusable index at order {(policies.Count > 0 ? policies[0].IndexOrder : 9)}, mean / end", p => string.Create(CultureInfo.InvariantCulture, $"{p.MeanUnusableIndex:F3} / {p.FinalUnusableIndex:F3}"));
        Row("pages moved by compaction", p => p.CompactionPagesMoved.ToString("N0", CultureInfo.InvariantCulture));
        if (policies.Any(p => p.PageTypeInfo is not null))
        {
            // The kernel's own counters, for the policies that group by mobility (mm_page_alloc_extfrag, /proc/vmstat).
            static string Counted(PolicyResult p, Func<MobilityStatistics, string> value) => p.PageTypeInfo is null ? "-" : value(p.Mobility);
            static string N(long n) => n.ToString("N0", CultureInfo.InvariantCulture);
            Row("fragmenting fallbacks / all fallbacks", p => Counted(p, m => $"{N(m.FragmentingEvents)} / {N(m.FallbackEvents)}"));
            Row("watermark boosts", p => Counted(p, m => N(m.WatermarkBoosts)));
            Row("compact_stall / compact_fail", p => Counted(p, m => $"{N(m.VmEvents["compact_stall"])} / {N(m.VmEvents["compact_fail"])}"));
            Row("kcompactd wakes", p => Counted(p, m => N(m.KcompactdWakes)));
            Row("highatomic pages reserved at the end", p => Counted(p, m => N((long)m.ReservedHighAtomicPages)));
        }

        if (policies.Any(p => p.DistanceFromKernel is not null))
        {
            // How far each policy stayed from the traced kernel's own placement (the "kernel" column); docs/design.md defines them.
            static string Distance(PolicyResult p, Func<KernelDistance, string> value) => p.DistanceFromKernel is { } d ? value(d) : "-";
            Row("distance from the kernel: buddyinfo, mean / end", p => Distance(p, d => string.Create(CultureInfo.InvariantCulture, $"{d.MeanBuddyInfo:F3} / {d.FinalBuddyInfo:F3}")));
            Row("distance from the kernel: free shape, mean / end", p => Distance(p, d => string.Create(CultureInfo.InvariantCulture, $"{d.MeanFreeShape:F3} / {d.FinalFreeShape:F3}")));
            Row("order-9 blocks more than the kernel at the end", p => Distance(p, d => d.FinalHugeGap.ToString("+#,0;-#,0;0", CultureInfo.InvariantCulture)));
        }

        Row("events per second", p => p.EventsPerSecond.ToString("N0", CultureInfo.InvariantCulture));
        sb.Append("</table>");

        sb.Append(CultureInfo.InvariantCulture, $"<h2>Fragmentation over time</h2><p>The kernel's unusable free space index at the chosen order, sampled at regular intervals of {steps}: the share of free memory in blocks too small for that order.</p>");
        sb.Append(TimeSeries(policies, steps));

        sb.Append("<h2>Free blocks at the end (buddyinfo)</h2>");
        sb.Append(BuddyInfoBars(policies));

        sb.Append("<h2>Memory maps at the end</h2><div class=\"maps\">");
        foreach (PolicyResult p in policies.Where(p => p.Dump is not null))
        {
            PageMap map = PageMap.From(p.Dump!, columns: 256);
            sb.Append(CultureInfo.InvariantCulture, $"<figure>{MapRenderer.Svg(map, cell: 2, title: p.Name, id: "map-" + Id(p.Name))}</figure>");
        }

        sb.Append("</div></body></html>\n");
        return sb.ToString();
    }

    private static string TimeSeries(IReadOnlyList<PolicyResult> policies, string steps)
    {
        const int W = 760, H = 260, L = 48, B = 30;
        long maxStep = Math.Max(1, policies.SelectMany(p => p.Samples).Select(s => s.Step).DefaultIfEmpty(1).Max());
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"timeseries\" width=\"{W}\" height=\"{H + 20 + (policies.Count * 16)}\" font-family=\"sans-serif\" font-size=\"11\">");
        sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{L}\" y1=\"10\" x2=\"{L}\" y2=\"{H - B}\" stroke=\"#333\"/><line x1=\"{L}\" y1=\"{H - B}\" x2=\"{W - 10}\" y2=\"{H - B}\" stroke=\"#333\"/>");
        for (int i = 0; i <= 4; i++)
        {
            double y = 10 + ((H - B - 10) * (1 - (i / 4.0)));
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"4\" y=\"{y + 4:F0}\">{i / 4.0:F2}</text><line x1=\"{L}\" x2=\"{W - 10}\" y1=\"{y:F0}\" y2=\"{y:F0}\" stroke=\"#eee\"/>");
        }

        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{L}\" y=\"{H - 8}\">0</text><text x=\"{W - 120}\" y=\"{H - 8}\">{maxStep:N0} {steps}</text>");
        for (int k = 0; k < policies.Count; k++)
        {
            string color = s_palette[k % s_palette.Length];
            var points = string.Join(" ", policies[k].Samples.Select(s =>
                string.Create(CultureInfo.InvariantCulture, $"{L + ((W - 10 - L) * (double)s.Step / maxStep):F1},{10 + ((H - B - 10) * (1 - s.UnusableIndex)):F1}")));
            sb.Append(CultureInfo.InvariantCulture, $"<polyline class=\"series\" data-policy=\"{Html(policies[k].Name)}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{points}\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{L}\" y=\"{H + 6 + (k * 16)}\" width=\"12\" height=\"3\" fill=\"{color}\"/><text x=\"{L + 18}\" y=\"{H + 11 + (k * 16)}\">{Html(policies[k].Name)}</text>");
        }

        sb.Append("</svg>");
        return sb.ToString();
    }

    private static string BuddyInfoBars(IReadOnlyList<PolicyResult> policies)
    {
        var sb = new StringBuilder("<div class=\"maps\" id=\"buddyinfo\">");
        foreach (PolicyResult p in policies)
        {
            BuddyInfo info = BuddyInfo.Parse(p.BuddyInfo, p.Name);
            int orders = info.Zones.Max(z => z.FreeBlockCounts.Count);
            const int Bar = 10, Gap = 4, Chart = 90;
            int width = 60 + (orders * (Bar + Gap));
            sb.Append(CultureInfo.InvariantCulture, $"<figure><svg xmlns=\"http://www.w3.org/2000/svg\" class=\"bars\" width=\"{width}\" height=\"{(info.Zones.Count * (Chart + 24)) + 24}\" font-family=\"sans-serif\" font-size=\"10\"><text x=\"0\" y=\"12\" font-size=\"12\">{Html(p.Name)}</text>");
            for (int zi = 0; zi < info.Zones.Count; zi++)
            {
                BuddyInfoZone z = info.Zones[zi];
                int y0 = 24 + (zi * (Chart + 24));
                double max = Math.Log10(1 + z.FreeBlockCounts.Max());
                sb.Append(CultureInfo.InvariantCulture, $"<text x=\"0\" y=\"{y0 + (Chart / 2)}\">{Html(z.Name)}</text>");
                for (int o = 0; o < z.FreeBlockCounts.Count; o++)
                {
                    double h = max == 0 ? 0 : Chart * Math.Log10(1 + z.FreeBlockCounts[o]) / max;
                    sb.Append(CultureInfo.InvariantCulture, $"<rect class=\"bar\" x=\"{56 + (o * (Bar + Gap))}\" y=\"{y0 + Chart - h:F1}\" width=\"{Bar}\" height=\"{h:F1}\" fill=\"#1565c0\"><title>order {o}: {z.FreeBlockCounts[o]} free blocks</title></rect>");
                }

                sb.Append(CultureInfo.InvariantCulture, $"<text x=\"56\" y=\"{y0 + Chart + 12}\">order 0 .. {z.FreeBlockCounts.Count - 1} (log scale)</text>");
            }

            sb.Append("</svg></figure>");
        }

        return sb.Append("</div>").ToString();
    }

    private static string Id(string name) => new([.. name.Select(c => char.IsLetterOrDigit(c) ? c : '-')]);

    private static string Html(string text) => WebUtility.HtmlEncode(text);
}
