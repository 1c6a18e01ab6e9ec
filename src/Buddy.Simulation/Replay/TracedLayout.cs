// TracedLayout: builds a MachineLayout from a TracedMachine (see its header for what is exact and
// what is inferred): the populated zones in address order with their nodes, the gaps between
// zones, the holes (outside System RAM, or at each zone's top) and the boot reservations (present
// but not managed) reserved, and each zone's watermarks and protection as the kernel printed them.
//
// Invariant: for every populated zone, the layout's managed pages in that zone equal zoneinfo's
// managed count, and its pages not reserved include every page the trace names there (unless the
// trace names more pages than the zone manages, which Build refuses).
using System.Globalization;
using Buddy.Kernel;

namespace Buddy.Simulation.Replay;

/// <summary>The layout of a traced machine.</summary>
internal static class TracedLayout
{
    private const ulong LowMemoryPfnEnd = 256; // 1 MiB of 4 KiB pages: x86-64 reserves all of it at boot

    public static MachineLayout Build(TracedMachine traced, ulong pageSize, Func<ulong, bool> isTouched)
    {
        List<ZoneInfoZone> zones = Populated(traced);
        int shift = PageMath.Log2(pageSize);
        ulong first = zones[0].StartPfn, end = zones.Max(z => z.EndPfn);
        var reserved = new List<(ulong Start, ulong End)>();
        var limits = new List<ZoneLimit>();
        ulong previousEnd = first;
        foreach (ZoneInfoZone z in zones)
        {
            if (z.StartPfn < previousEnd)
            {
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"zoneinfo: node {z.Node} zone {z.Name} starts at pfn {z.StartPfn}, inside the zone before it (which ends at {previousEnd}); interleaved zones are not modelled."), nameof(traced));
            }

            if (z.StartPfn > previousEnd)
            {
                reserved.Add((previousEnd, z.StartPfn)); // a gap between zones
            }

            bool[] hole = Holes(traced, z, shift);
            Reserve(reserved, z, hole, isTouched, pageSize);
            limits.Add(Limit(z, shift));
            previousEnd = z.EndPfn;
        }

        return new MachineLayout
        {
            PageSize = pageSize,
            BaseAddress = first << shift,
            Size = (end - first) << shift,
            Zones = limits,
            Reserved = [.. Merge(reserved).Select(r => new AddressRange(r.Start << shift, r.End << shift))],
            Watermarks = WatermarkSettings.Kernel, // every zone carries the marks and protection zoneinfo printed
            NodeDistances = traced.NodeDistances,
        };
    }

    public static IReadOnlyList<string> Notes(TracedMachine traced)
    {
        var notes = new List<string>();
        if (traced.SystemRam is null)
        {
            notes.Add("holes (spanned - present pages) placed at the top of each zone: no /proc/iomem");
        }

        notes.Add("pages present but not managed (boot reservations) placed below 1 MiB, then from each zone's top down, never on a page the trace names");
        return notes;
    }

    private static List<ZoneInfoZone> Populated(TracedMachine traced)
    {
        ArgumentNullException.ThrowIfNull(traced);
        var zones = traced.ZoneInfo.Where(z => z.SpannedPages > 0 && z.PresentPages > 0).OrderBy(z => z.Node).ThenBy(z => z.StartPfn).ToList();
        if (zones.Count == 0)
        {
            throw new ArgumentException("zoneinfo: no populated zone (every zone has spanned or present 0); expected a /proc/zoneinfo with start_pfn, spanned, present and managed lines.", nameof(traced));
        }

        foreach (ZoneInfoZone z in zones)
        {
            if (!ZoneKindNames.TryParse(z.Name, out _))
            {
                throw new ArgumentException($"zoneinfo: node {z.Node} zone {z.Name} is populated, but Buddy models only DMA, DMA32, Normal and Movable zones.", nameof(traced));
            }

            if (z.ManagedPages > z.PresentPages || z.PresentPages > z.SpannedPages)
            {
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"zoneinfo: node {z.Node} zone {z.Name} has managed {z.ManagedPages} > present {z.PresentPages} or present > spanned {z.SpannedPages}."), nameof(traced));
            }
        }

        return zones;
    }

    private static ZoneLimit Limit(ZoneInfoZone z, int shift)
    {
        bool known = ZoneKindNames.TryParse(z.Name, out ZoneKind kind);
        System.Diagnostics.Debug.Assert(known, "Populated refuses zones Buddy does not model");
        return new ZoneLimit(kind, z.EndPfn << shift) { Node = z.Node, Watermarks = z.Watermarks, Protection = z.Protection };
    }

    // Which pages of the zone's span are holes: outside System RAM when iomem is known, else the
    // top (spanned - present) pages of the span.
    private static bool[] Holes(TracedMachine traced, ZoneInfoZone z, int shift)
    {
        var hole = new bool[z.SpannedPages];
        if (traced.SystemRam is { } ram)
        {
            for (ulong i = 0; i < z.SpannedPages; i++)
            {
                ulong address = (z.StartPfn + i) << shift;
                hole[i] = !ram.Any(r => address >= r.Start && address < r.End);
            }

            return hole;
        }

        for (ulong i = z.PresentPages; i < z.SpannedPages; i++)
        {
            hole[i] = true;
        }

        return hole;
    }

    // Reserves the zone's holes and its present-but-unmanaged pages: first those below 1 MiB, then
    // from the top down, skipping pages the trace names.
    private static void Reserve(List<(ulong Start, ulong End)> reserved, ZoneInfoZone z, bool[] hole, Func<ulong, bool> isTouched, ulong pageSize)
    {
        ulong present = (ulong)hole.LongCount(h => !h);
        ulong boot = present - Math.Min(present, z.ManagedPages);
        var taken = (bool[])hole.Clone();
        ulong lowEnd = pageSize == 4 * Units.KiB ? LowMemoryPfnEnd : 0;
        for (ulong i = 0; boot > 0 && i < z.SpannedPages && z.StartPfn + i < lowEnd; i++)
        {
            if (!taken[i] && !isTouched(z.StartPfn + i))
            {
                (taken[i], boot) = (true, boot - 1);
            }
        }

        for (ulong i = z.SpannedPages; boot > 0 && i-- > 0;)
        {
            if (!taken[i] && !isTouched(z.StartPfn + i))
            {
                (taken[i], boot) = (true, boot - 1);
            }
        }

        if (boot > 0)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"zoneinfo: node {z.Node} zone {z.Name} manages {z.ManagedPages} pages, but the trace names more of its present pages than that."), nameof(z));
        }

        for (ulong i = 0; i < z.SpannedPages; i++)
        {
            if (taken[i])
            {
                reserved.Add((z.StartPfn + i, z.StartPfn + i + 1));
            }
        }
    }

    private static List<(ulong Start, ulong End)> Merge(List<(ulong Start, ulong End)> ranges)
    {
        var merged = new List<(ulong Start, ulong End)>();
        foreach ((ulong start, ulong end) in ranges.OrderBy(r => r.Start))
        {
            if (merged.Count > 0 && merged[^1].End >= start)
            {
                merged[^1] = (merged[^1].Start, Math.Max(merged[^1].End, end));
            }
            else
            {
                merged.Add((start, end));
            }
        }

        return merged;
    }
}
