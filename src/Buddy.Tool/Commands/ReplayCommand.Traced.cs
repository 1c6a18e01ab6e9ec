// ReplayCommand (the traced machine): what a replay on the traced machine adds to the first screen —
// the start state (what the trace proves, what the snapshot made the rest), each policy's distance
// from the kernel's own placement, and the kernel placement's end beside the buddyinfo read after
// the capture. docs/design.md, "How close is each policy", defines the two distances.
using System.Globalization;
using Buddy.Simulation.Metrics;
using Buddy.Simulation.Policies;
using Buddy.Simulation.Replay;
using Spectre.Console;

namespace Buddy.Tool.Commands;

internal static partial class ReplayCommand
{
    /// <summary>The traced machine's part of the first screen; nothing for a replay on a simulated machine.</summary>
    public static void PrintTracedMachine(IAnsiConsole console, ReplayResult r)
    {
        if (r.Policies.Count == 0 || r.Policies[0].Name != KernelPlacementPolicy.PolicyName)
        {
            return;
        }

        PolicyResult kernel = r.Policies[0];
        console.WriteLine();
        string conflicts = kernel.AllocFailures == 0
            ? "every one found its pages free in the reconstruction"
            : $"{N(kernel.AllocFailures)} found a page the reconstruction held ({string.Join(", ", kernel.FailuresByReason.Where(x => x.Value > 0).Select(x => $"{x.Key} {N(x.Value)}"))}): a lost event or an inferred start page";
        console.WriteLine($"kernel: the traced kernel's own placement, each of its {N(kernel.Requests)} allocations at the page frame the trace names; {conflicts}.");
        if (r.Start is { } start)
        {
            PrintStart(console, start, r.PageSize);
        }

        PrintDistances(console, r.Policies);
        if (r.EndCheck is { } end)
        {
            PrintEndCheck(console, end);
        }
    }

    private static void PrintStart(IAnsiConsole console, StartSummary s, ulong pageSize)
    {
        long matching = s.Zones.Count(z => z.SnapshotFreeBlocks.SequenceEqual(z.RebuiltFreeBlocks));
        long unplaced = s.Zones.Sum(z => z.UnplacedPages);
        string differing = string.Join("; ", s.Zones.Where(z => !z.SnapshotFreeBlocks.SequenceEqual(z.RebuiltFreeBlocks))
            .Select(z => $"{z.Zone} has {N(Pages(z.RebuiltFreeBlocks))} free pages against the snapshot's {N(Pages(z.SnapshotFreeBlocks))} (the pages the trace allocates first include per-CPU pages, which buddyinfo does not count)"));
        console.WriteLine(
            $"Start state, the same for every policy: {N(s.PreCapturePages)} pages allocated before the capture and freed in it, the pages the trace allocates first free (both exact); "
            + $"{N(s.FreeAtStartPages)} free pages in all, the rest of the snapshot's free blocks placed in pages the trace never names, and {N(s.HeldPages)} such pages held ({Units.FormatApproximateSize(s.HeldPages * pageSize)}, inferred). "
            + $"Free blocks per order equal the start snapshot's in {matching} of {s.Zones.Count} zones{(differing.Length > 0 ? $"; {differing}" : "")}{(unplaced > 0 ? $"; {N(unplaced)} free pages found no room" : "")}.");
    }

    private static void PrintDistances(IAnsiConsole console, IReadOnlyList<PolicyResult> policies)
    {
        PolicyResult[] measured = [.. policies.Where(p => p.DistanceFromKernel is not null)];
        if (measured.Length == 0)
        {
            return;
        }

        int order = measured[0].IndexOrder;
        console.WriteLine();
        console.WriteLine("How close each policy stayed to the kernel's own placement:");
        var table = new Table().Border(TableBorder.Rounded).AddColumn(new TableColumn("policy").NoWrap());
        foreach (string h in (string[])["buddyinfo\nmean", "buddyinfo\nat end", "free shape\nmean", "free shape\nat end", $"order-{order}\ngap at end"])
        {
            table.AddColumn(new TableColumn(h).RightAligned());
        }

        foreach (PolicyResult p in measured.OrderBy(p => p.DistanceFromKernel!.MeanBuddyInfo))
        {
            KernelDistance d = p.DistanceFromKernel!;
            table.AddRow(Markup.Escape(p.Name), F3(d.MeanBuddyInfo), F3(d.FinalBuddyInfo), F3(d.MeanFreeShape), F3(d.FinalFreeShape), d.FinalHugeGap.ToString("+#,0;-#,0;0", CultureInfo.InvariantCulture));
        }

        console.Write(table);
        PolicyResult closest = measured.MinBy(p => p.DistanceFromKernel!.MeanBuddyInfo)!;
        console.WriteLine(
            $"buddyinfo: how different its /proc/buddyinfo line is from the kernel's, column by column (mean of |policy - kernel| / the larger), 0 the same to 1 nothing alike, averaged over {N(closest.DistanceFromKernel!.Samples)} samples. "
            + $"free shape: the share of free memory lying in differently sized blocks (small when the trace touches little of the memory). order-{order} gap: its free order-{order} blocks minus the kernel's. Closest: {closest.Name}.");
    }

    private static void PrintEndCheck(IAnsiConsole console, IReadOnlyList<ZoneFreeCheck> zones)
    {
        console.WriteLine();
        console.WriteLine("The kernel placement at the end beside /proc/buddyinfo read after the capture (free pages):");
        var table = new Table().Border(TableBorder.Rounded).AddColumn("zone")
            .AddColumn(new TableColumn("snapshot").RightAligned()).AddColumn(new TableColumn("rebuilt").RightAligned()).AddColumn(new TableColumn("free shape").RightAligned());
        foreach (ZoneFreeCheck z in zones)
        {
            table.AddRow($"{z.Node} {Markup.Escape(z.Zone)}", N(Pages(z.SnapshotFreeBlocks)), N(Pages(z.RebuiltFreeBlocks)), z.SnapshotFreeBlocks.Count == 0 ? "-" : F3(KernelDistance.FreeShape(z.RebuiltFreeBlocks, z.SnapshotFreeBlocks)));
        }

        console.Write(table);
        console.WriteLine("The difference is what the trace does not show: per-CPU lists (free to the trace, not to buddyinfo), events lost, and the start pages inferred.");
    }

    // "DMA, DMA32, Normal (node 0)" from a buddyinfo text.
    private static string TracedZones(string buddyInfo) =>
        string.Join("; ", Buddy.Kernel.BuddyInfo.Parse(buddyInfo).Zones.GroupBy(z => z.Node).Select(g => $"{string.Join(", ", g.Select(z => z.Name))} (node {g.Key})"));

    private static long Pages(IReadOnlyList<long> freeBlocks) => freeBlocks.Select((n, o) => n << o).Sum();

    private static string F3(double v) => v.ToString("F3", CultureInfo.InvariantCulture);

}
