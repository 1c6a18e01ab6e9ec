// ReportVerdict: the report's first screen — per policy the numbers the run is about (failures by
// reason, large blocks obtainable at the end, the unusable index, fragmenting fallbacks, the
// distance from the traced kernel), each in an element with an id, and one sentence computed from
// them that names the policy that kept the most large blocks and what the others lost them to.
using System.Globalization;
using System.Text;
using Buddy.Kernel;
using Buddy.Simulation.Metrics;
using static Buddy.Tool.Rendering.HtmlReport;

namespace Buddy.Tool.Rendering;

/// <summary>The verdict block of a report.</summary>
internal static class ReportVerdict
{
    /// <summary>The large blocks a policy ended with: obtained by asking (compaction and watermarks applying) when the run measured it, else free without moving a page.</summary>
    public static long Blocks(PolicyResult p)
    {
        ArgumentNullException.ThrowIfNull(p);
        return p.LargeBlocksAtEnd?.Blocks ?? p.FinalFreeBlocksAtIndexOrder;
    }

    /// <summary>The verdict block: a table and a sentence.</summary>
    public static string Render(IReadOnlyList<PolicyResult> policies, ulong pageSize)
    {
        ArgumentNullException.ThrowIfNull(policies);
        if (policies.Count == 0)
        {
            return "<section id=\"verdict\"><p id=\"verdict-sentence\">No policy ran.</p></section>";
        }

        int order = policies[0].IndexOrder;
        string size = Units.FormatSize((1UL << order) * pageSize);
        bool atEnd = policies.Any(p => p.LargeBlocksAtEnd is not null), atRest = policies.Any(p => p.LargeBlocksAtRest is not null);
        bool grouping = policies.Any(p => p.PageTypeInfo is not null), distance = policies.Any(p => p.DistanceFromKernel is not null);
        var sb = new StringBuilder("<section id=\"verdict\"><h2>Verdict</h2>");
        sb.Append(CultureInfo.InvariantCulture, $"<p id=\"verdict-sentence\">{Html(Sentence(policies, size))}</p>");
        sb.Append("<table id=\"verdict-table\"><tr><th>policy</th><th>failures</th><th>by reason</th>");
        sb.Append(CultureInfo.InvariantCulture, $"<th>{size} blocks free at the end<br>(order {order}, no page moved)</th>");
        if (atEnd)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<th>{size} blocks obtained {(atRest ? "under load" : "at the end")}<br>(asked until one failed)</th>");
        }

        if (atRest)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<th>{size} blocks obtained at rest<br>(movable pages freed first)</th>");
        }

        sb.Append(CultureInfo.InvariantCulture, $"<th>unusable index<br>at order {order}, end</th>");
        if (grouping)
        {
            sb.Append("<th>fragmenting fallbacks</th><th>mixed pageblocks</th>");
        }

        if (distance)
        {
            sb.Append(CultureInfo.InvariantCulture, $"<th>{size} blocks more than the kernel</th><th>free-shape distance from the kernel</th>");
        }

        sb.Append("</tr>");
        foreach (PolicyResult p in policies)
        {
            string id = "v-" + Id(p.Name);
            void Cell(string what, string value) => sb.Append(CultureInfo.InvariantCulture, $"<td id=\"{id}-{what}\">{Html(value)}</td>");
            sb.Append(CultureInfo.InvariantCulture, $"<tr id=\"{id}\"><td>{Html(p.Name)}</td>");
            Cell("failures", N(p.AllocFailures));
            Cell("reasons", Reasons(p));
            Cell("free-blocks", N(p.FinalFreeBlocksAtIndexOrder));
            if (atEnd)
            {
                Cell("obtained", p.LargeBlocksAtEnd is { } m ? $"{N(m.Blocks)} of {N(m.Possible)}" : "-");
            }

            if (atRest)
            {
                Cell("at-rest", p.LargeBlocksAtRest is { } r ? $"{N(r.Blocks)} of {N(r.Possible)}" : "-");
            }

            Cell("unusable", p.FinalUnusableIndex.ToString("F3", CultureInfo.InvariantCulture));
            if (grouping)
            {
                Cell("fragmenting", p.PageTypeInfo is null ? "-" : N(p.Mobility.FragmentingEvents));
                Cell("mixed", MixedBlocks(p) is long mixed ? N(mixed) : "-");
            }

            if (distance)
            {
                Cell("huge-gap", p.DistanceFromKernel is { } d ? d.FinalHugeGap.ToString("+#,0;-#,0;0", CultureInfo.InvariantCulture) : "-");
                Cell("free-shape", p.DistanceFromKernel is { } d2 ? d2.FinalFreeShape.ToString("F3", CultureInfo.InvariantCulture) : "-");
            }

            sb.Append("</tr>");
        }

        sb.Append("</table>");
        if (policies.Any(p => p.Name == "kernel"))
        {
            sb.Append("<p>\"kernel\" is the traced kernel's own placement, replayed; the distances measure how far each policy's free memory ended from it.</p>");
        }

        return sb.Append("</section>").ToString();
    }

    // "Fragmented 12, Watermark 3 (Normal 15)": the reasons and zones of the failures, largest first.
    private static string Reasons(PolicyResult p)
    {
        if (p.AllocFailures == 0)
        {
            return "-";
        }

        string reasons = string.Join(", ", p.FailuresByReason.Where(r => r.Value > 0).OrderByDescending(r => r.Value).Select(r => $"{r.Key} {N(r.Value)}"));
        string zones = string.Join(", ", p.FailuresByZone.Where(z => z.Value > 0).OrderByDescending(z => z.Value).Select(z => $"{z.Key} {N(z.Value)}"));
        return zones.Length == 0 ? reasons : $"{reasons} (in {zones})";
    }

    /// <summary>Pageblocks holding an allocation of another type, over every zone and type (null: the policy does not track them).</summary>
    public static long? MixedBlocks(PolicyResult p)
    {
        ArgumentNullException.ThrowIfNull(p);
        if (p.PageTypeInfo is null)
        {
            return null;
        }

        var zones = PageTypeInfo.Parse(p.PageTypeInfo, p.Name).Zones;
        return zones.All(z => z.MixedBlocks is null) ? null : zones.Sum(z => z.MixedBlocks?.Sum() ?? 0);
    }

    // ", most Watermark in Normal": the commonest reason and zone of a policy's failures.
    private static string Most(PolicyResult p)
    {
        var top = p.FailuresByReason.Where(r => r.Value > 0).OrderByDescending(r => r.Value).FirstOrDefault();
        var zone = p.FailuresByZone.Where(z => z.Value > 0).OrderByDescending(z => z.Value).FirstOrDefault();
        return $"{(top.Key is null ? "" : $", most {top.Key}")}{(zone.Key is null ? "" : $" in {zone.Key}")}";
    }

    /// <summary>One sentence from the numbers: who kept the most large blocks, and where each other policy lost.</summary>
    public static string Sentence(IReadOnlyList<PolicyResult> policies, string size)
    {
        ArgumentNullException.ThrowIfNull(policies);
        var ranked = policies.Where(p => p.Name != "kernel").OrderByDescending(Blocks).ThenBy(p => p.AllocFailures).ThenBy(p => p.FinalUnusableIndex).ToList();
        PolicyResult? kernel = policies.FirstOrDefault(p => p.Name == "kernel");
        if (ranked.Count == 0)
        {
            return $"Only the traced kernel's own placement ran: it ended with {N(Blocks(kernel!))} {size} blocks free.";
        }

        string what = ranked.Any(p => p.LargeBlocksAtEnd is not null) ? $"{size} blocks obtained{(ranked.Any(p => p.LargeBlocksAtRest is not null) ? " under load" : " at the end")}" : $"{size} blocks free at the end";
        string kernelSays = kernel is null ? "" : $" The traced kernel itself ended with {N(Blocks(kernel))}.";
        PolicyResult best = ranked[0];
        if (ranked.All(p => Blocks(p) == Blocks(best) && p.AllocFailures == best.AllocFailures))
        {
            bool sameIndex = ranked.All(p => Math.Abs(p.FinalUnusableIndex - best.FinalUnusableIndex) < 0.0005);
            return (ranked.Count == 1 ? $"{best.Name} ended with {N(Blocks(best))} {what} and {N(best.AllocFailures)} failures."
                : $"Every policy ended alike: {N(Blocks(best))} {what} and {N(best.AllocFailures)} failures each" + (sameIndex
                    ? string.Create(CultureInfo.InvariantCulture, $", the same unusable index ({best.FinalUnusableIndex:F3}); this run does not tell them apart.")
                    : $"; they differ only in the unusable index at the end ({string.Join(", ", ranked.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Name} {p.FinalUnusableIndex:F3}")))}).")) + kernelSays;
        }

        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{best.Name} fragmented memory least: {N(Blocks(best))} {what}");
        sb.Append(best.AllocFailures == 0 ? ", no failure" : $", {N(best.AllocFailures)} failures{Most(best)}");
        ulong bestMoved = best.LargeBlocksAtEnd?.PagesMovedByCompaction ?? 0;
        sb.Append(bestMoved > 0 ? $" ({N(best.FinalFreeBlocksAtIndexOrder)} were free; compaction moved {N((long)bestMoved)} pages for the rest)." : ".");
        foreach (PolicyResult p in ranked.Skip(1))
        {
            long lost = Blocks(best) - Blocks(p);
            sb.Append(CultureInfo.InvariantCulture, $" {p.Name}: {N(Blocks(p))}");
            sb.Append(lost > 0 ? $" ({N(lost)} fewer)" : "");
            var why = new List<string>();
            if (p.AllocFailures != best.AllocFailures)
            {
                why.Add($"{N(p.AllocFailures)} failures{Most(p)}");
            }

            if (MixedBlocks(p) is long mixed && mixed > (MixedBlocks(best) ?? 0))
            {
                why.Add($"{N(mixed)} pageblocks mixing types");
            }

            if (p.PageTypeInfo is not null && p.Mobility.FragmentingEvents > (best.PageTypeInfo is null ? 0 : best.Mobility.FragmentingEvents))
            {
                why.Add($"{N(p.Mobility.FragmentingEvents)} fragmenting fallbacks");
            }

            if (p.PageTypeInfo is null && best.PageTypeInfo is not null && lost > 0)
            {
                why.Add("no grouping by mobility");
            }

            if (bestMoved > 0 && lost > 0 && (p.LargeBlocksAtEnd?.PagesMovedByCompaction ?? 0) == 0)
            {
                why.Add("no page moved to make more");
            }

            if (p.FinalUnusableIndex > best.FinalUnusableIndex + 0.0005)
            {
                why.Add(string.Create(CultureInfo.InvariantCulture, $"unusable index {p.FinalUnusableIndex:F3} against {best.FinalUnusableIndex:F3}"));
            }

            sb.Append(why.Count == 0 ? "." : $", {string.Join("; ", why)}.");
        }

        return sb.Append(kernelSays).ToString();
    }
}
