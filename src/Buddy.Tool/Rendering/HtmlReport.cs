// HtmlReport: one self-contained HTML page comparing policies — the verdict first (ReportVerdict),
// then the summary table, the charts (ReportCharts), the maps and their frames (ReportMaps), and the
// command that made it. Inline SVG, CSS and PNG data URIs only; a Content-Security-Policy forbids
// every fetch and there is no script, so the page makes no request.
using System.Globalization;
using System.Net;
using System.Text;
using Buddy.Simulation.Metrics;
using Buddy.Simulation.Replay;

namespace Buddy.Tool.Rendering;

/// <summary>Renders a replay result as an HTML report.</summary>
internal static class HtmlReport
{
    /// <summary>The widest the page is laid out for, in CSS pixels (the maps and charts fit it).</summary>
    public const int PageWidth = 1400;

    /// <summary>The report for a trace replay, made by <paramref name="command"/>.</summary>
    public static string Render(ReplayResult result, string command)
    {
        ArgumentNullException.ThrowIfNull(result);
        TraceCounts t = result.Trace;
        string machine = result.Start is not null || (result.Policies.Count > 0 && result.Policies[0].Name == "kernel")
            ? $"the traced machine ({Units.FormatApproximateSize(result.MemoryBytes)}, its real layout{(result.Start is null ? "" : " and start state")}), the kernel's own placement (\"kernel\") beside the policies"
            : $"a {Units.FormatSize(result.MemoryBytes)} machine";
        string description = string.Create(CultureInfo.InvariantCulture, $"{t.Allocs:N0} allocations and {t.Frees:N0} frees replayed on {machine} ({result.MemoryBytes / result.PageSize:N0} pages of {Units.FormatSize(result.PageSize)}); {t.UnmatchedFrees:N0} frees of pages no allocation held, {t.PartialFrees:N0} partial frees.");
        return Render(Path.GetFileName(result.Source), description, result.Policies, command, "events", result.PageSize);
    }

    /// <summary>A report comparing <paramref name="policies"/>: title, description, verdict, summary, time series, buddyinfo bars, maps.</summary>
    public static string Render(string title, string description, IReadOnlyList<PolicyResult> policies, string command, string steps, ulong pageSize = 4096)
    {
        ArgumentNullException.ThrowIfNull(policies);
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">");
        sb.Append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">");
        sb.Append(CultureInfo.InvariantCulture, $"<title>Buddy: {Html(title)}</title><style>");
        sb.Append(CultureInfo.InvariantCulture, $"body{{font-family:sans-serif;margin:24px;color:#222;max-width:{PageWidth - 48}px}}table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}th:first-child,td:first-child{{text-align:left}}");
        sb.Append("#verdict{border:2px solid #333;padding:8px 16px;background:#fafafa}#verdict-sentence{font-size:16px;line-height:1.4}");
        sb.Append("code{background:#f4f4f4;padding:2px 4px}h2{margin-top:32px}figure{margin:0}svg text{fill:#222}");
        sb.Append(ReportMaps.Css);
        sb.Append("</style></head><body>");
        sb.Append(CultureInfo.InvariantCulture, $"<h1>Buddy: {Html(title)}</h1><p>{Html(description)}</p>");
        sb.Append(ReportVerdict.Render(policies, pageSize));
        sb.Append(CultureInfo.InvariantCulture, $"<p>Made by: <code id=\"command\">{Html(command)}</code></p>");
        Summary(sb, policies);

        sb.Append(CultureInfo.InvariantCulture, $"<h2>Fragmentation over time</h2><p>The kernel's unusable free space index at the chosen order, sampled at regular intervals of {steps}: the share of free memory in blocks too small for that order (0: every free page could serve it; 1: none could).</p>");
        sb.Append(ReportCharts.TimeSeries(policies, steps));

        sb.Append("<h2>Free blocks at the end (buddyinfo)</h2><p>Each bar is the number of free blocks of one order, written above it; bar heights grow with the logarithm of the count so that the few large blocks stay visible beside thousands of small ones.</p>");
        sb.Append(ReportCharts.BuddyInfoBars(policies, pageSize));

        sb.Append(ReportMaps.Final(policies));
        sb.Append(ReportMaps.Unfolding(policies, steps));
        sb.Append("</body></html>\n");
        return sb.ToString();
    }

    // Every number of the run, one column per policy.
    private static void Summary(StringBuilder sb, IReadOnlyList<PolicyResult> policies)
    {
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

        int order = policies.Count > 0 ? policies[0].IndexOrder : 9;
        Row("requests", p => N(p.Requests));
        Row("failures", p => N(p.AllocFailures));
        Row("peak pages in use", p => N((long)p.PeakPagesInUse));
        Row("mean pages in use", p => p.MeanPagesInUse.ToString("N0", CultureInfo.InvariantCulture));
        Row($"unusable index at order {order}, mean / end", p => string.Create(CultureInfo.InvariantCulture, $"{p.MeanUnusableIndex:F3} / {p.FinalUnusableIndex:F3}"));
        Row("pages moved by compaction during the run", p => N((long)p.CompactionPagesMoved));
        if (policies.Any(p => p.LargeBlocksAtEnd is not null))
        {
            Row($"pages moved by compaction for the order-{order} blocks at the end", p => p.LargeBlocksAtEnd is { } m ? N((long)m.PagesMovedByCompaction) : "-");
        }

        if (policies.Any(p => p.LargeBlocksAtRest is not null))
        {
            Row($"pages moved by compaction for the order-{order} blocks at rest", p => p.LargeBlocksAtRest is { } m ? N((long)m.PagesMovedByCompaction) : "-");
        }

        if (policies.Any(p => p.PageTypeInfo is not null))
        {
            // The kernel's own counters, for the policies that group by mobility (mm_page_alloc_extfrag, /proc/vmstat).
            static string Counted(PolicyResult p, Func<MobilityStatistics, string> value) => p.PageTypeInfo is null ? "-" : value(p.Mobility);
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
            Row($"order-{order} blocks more than the kernel at the end", p => Distance(p, d => d.FinalHugeGap.ToString("+#,0;-#,0;0", CultureInfo.InvariantCulture)));
        }

        Row("events per second", p => p.EventsPerSecond.ToString("N0", CultureInfo.InvariantCulture));
        sb.Append("</table>");
    }

    /// <summary>A whole number with thousands separators, as every table of the tool writes it.</summary>
    public static string N(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>A name as an HTML id fragment.</summary>
    public static string Id(string name) => new([.. name.Select(c => char.IsLetterOrDigit(c) ? c : '-')]);

    /// <summary>Text escaped for HTML (and SVG) content and attributes.</summary>
    public static string Html(string text) => WebUtility.HtmlEncode(text);
}
