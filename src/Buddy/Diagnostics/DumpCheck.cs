// DumpCheck: every rule a loaded AllocatorDump must satisfy, so that a dump that loads is a state
// the allocator could have been in. Each failure names the JSON path of the field at fault
// ($.free[3].pages) and what was expected; AllocatorDump.Parse adds the file name.
//
// Rules: no nulls; pageSize a power of two from 512; maxOrder 0..KernelLimits.MaxPageOrder;
// pageblockOrder null or 0..maxOrder; firstPfn < endPfn <= 2^52 / pageSize; zones in order, inside
// memory, each with one pageblock letter (U, M, R) per pageblock it touches when grouping, none
// without; every run non-empty with a defined mobility; free and cached runs naturally aligned
// blocks of order <= maxOrder; free, allocated and cached runs inside one zone; and every page of
// [firstPfn, endPfn) in exactly one run (reserved, free, allocated or cached).
using System.Globalization;
using Buddy.Kernel;

namespace Buddy.Diagnostics;

/// <summary>Checks a deserialized dump field by field; returns the first problem, or null.</summary>
internal static class DumpCheck
{
    private const ulong MinPageSize = 512;

    public static string? FirstProblem(AllocatorDump d) =>
        Header(d) ?? Zones(d) ?? Runs(d) ?? Coverage(d);

    private static string? Header(AllocatorDump d)
    {
        if (d.PageSize < MinPageSize || !ulong.IsPow2(d.PageSize))
        {
            return F($"$.pageSize: {d.PageSize} is not a power of two of at least {MinPageSize}.");
        }

        if (d.MaxOrder is < 0 or > KernelLimits.MaxPageOrder)
        {
            return F($"$.maxOrder: {d.MaxOrder} is outside 0..{KernelLimits.MaxPageOrder}.");
        }

        if (d.PageblockOrder is { } pbo && (pbo < 0 || pbo > d.MaxOrder))
        {
            return F($"$.pageblockOrder: {pbo} is outside 0..maxOrder ({d.MaxOrder}).");
        }

        ulong endLimit = (1UL << KernelLimits.MaxPhysicalAddressBits) / d.PageSize;
        if (d.FirstPfn >= d.EndPfn || d.EndPfn > endLimit)
        {
            return F($"$.firstPfn, $.endPfn: [0x{d.FirstPfn:x}, 0x{d.EndPfn:x}) is empty or reaches beyond 2^{KernelLimits.MaxPhysicalAddressBits} bytes (pfn 0x{endLimit:x}).");
        }

        return NullList(d.Zones, "zones") ?? NullList(d.Reserved, "reserved") ?? NullList(d.Free, "free") ?? NullList(d.Allocated, "allocated") ?? NullList(d.Cached, "cached");
    }

    private static string? NullList<T>(IReadOnlyList<T>? list, string name)
        where T : class
    {
        if (list is null)
        {
            return F($"$.{name}: is null; expected a list (empty when there is nothing).");
        }

        for (int i = 0; i < list.Count; i++)
        {
            if (list[i] is null)
            {
                return F($"$.{name}[{i}]: is null; expected an object.");
            }
        }

        return null;
    }

    private static string? Zones(AllocatorDump d)
    {
        ulong previous = d.FirstPfn;
        for (int i = 0; i < d.Zones.Count; i++)
        {
            DumpZone z = d.Zones[i];
            string at = F($"$.zones[{i}]");
            if (z.Name is null || z.PageblockTypes is null)
            {
                return $"{at}.{(z.Name is null ? "name" : "pageblockTypes")}: is null; expected a string.";
            }

            if (z.StartPfn < previous || z.EndPfn <= z.StartPfn || z.EndPfn > d.EndPfn)
            {
                return F($"{at}: zone {z.Name} [0x{z.StartPfn:x}, 0x{z.EndPfn:x}) is empty, out of order or outside memory [0x{d.FirstPfn:x}, 0x{d.EndPfn:x}).");
            }

            int expected = d.PageblockOrder is { } pbo ? (int)(((z.EndPfn - 1) >> pbo) - (z.StartPfn >> pbo) + 1) : 0;
            if (z.PageblockTypes.Length != expected)
            {
                return F($"{at}.pageblockTypes: has {z.PageblockTypes.Length} letters; zone {z.Name} has {expected} pageblocks{(d.PageblockOrder is null ? " (none without grouping: pageblockOrder is null)" : "")}.");
            }

            int bad = z.PageblockTypes.AsSpan().IndexOfAnyExcept("UMRH");
            if (bad >= 0)
            {
                return F($"{at}.pageblockTypes: letter {bad} is '{z.PageblockTypes[bad]}'; expected U, M, R or H.");
            }

            previous = z.EndPfn;
        }

        return null;
    }

    private static string? Runs(AllocatorDump d)
    {
        foreach ((string name, IReadOnlyList<DumpRun> list) in Lists(d))
        {
            for (int i = 0; i < list.Count; i++)
            {
                string? problem = Run(d, name, i, list[i]);
                if (problem is not null)
                {
                    return problem;
                }
            }
        }

        return null;
    }

    private static string? Run(AllocatorDump d, string name, int i, DumpRun r)
    {
        string at = F($"$.{name}[{i}]");
        if (!Enum.IsDefined(r.Mobility))
        {
            return F($"{at}.mobility: {(int)r.Mobility} is not a mobility; expected Unmovable, Movable or Reclaimable.");
        }

        if (r.Pages == 0 || r.Pfn < d.FirstPfn || r.Pfn >= d.EndPfn || d.EndPfn - r.Pfn < r.Pages)
        {
            return F($"{at}: pfn 0x{r.Pfn:x}, {r.Pages} pages lies outside memory [0x{d.FirstPfn:x}, 0x{d.EndPfn:x}) or is empty.");
        }

        if (name is "free" or "cached")
        {
            if (!ulong.IsPow2(r.Pages) || r.Pfn % r.Pages != 0)
            {
                return F($"{at}: pfn 0x{r.Pfn:x}, {r.Pages} pages is not a naturally aligned power-of-two block.");
            }

            if (r.Pages > 1UL << d.MaxOrder)
            {
                return F($"{at}.pages: {r.Pages} is a block of order {ulong.Log2(r.Pages)}, above maxOrder ({d.MaxOrder}).");
            }
        }

        if (name != "reserved" && !d.Zones.Any(z => r.Pfn >= z.StartPfn && r.Pfn + r.Pages <= z.EndPfn))
        {
            return F($"{at}: pfn 0x{r.Pfn:x}, {r.Pages} pages lies in no single zone.");
        }

        return null;
    }

    // Every page of [firstPfn, endPfn) in exactly one run.
    private static string? Coverage(AllocatorDump d)
    {
        var runs = new List<(ulong Start, ulong End, string What)>();
        foreach ((string name, IReadOnlyList<DumpRun> list) in Lists(d))
        {
            for (int i = 0; i < list.Count; i++)
            {
                runs.Add((list[i].Pfn, list[i].Pfn + list[i].Pages, F($"$.{name}[{i}] (pfn 0x{list[i].Pfn:x}, {list[i].Pages} pages)")));
            }
        }

        runs.Sort((a, b) => a.Start.CompareTo(b.Start));
        ulong next = d.FirstPfn;
        string previous = "$.firstPfn";
        foreach ((ulong start, ulong end, string what) in runs)
        {
            if (start < next)
            {
                return $"{what} overlaps {previous}: page 0x{start:x} is in two runs.";
            }

            if (start > next)
            {
                return F($"page 0x{next:x} is in no run (reserved, free, allocated or cached); the next run is {what}.");
            }

            next = end;
            previous = what;
        }

        return next < d.EndPfn ? F($"page 0x{next:x} is in no run (reserved, free, allocated or cached): the runs end before $.endPfn (0x{d.EndPfn:x}).") : null;
    }

    private static (string Name, IReadOnlyList<DumpRun> List)[] Lists(AllocatorDump d) =>
        [("reserved", d.Reserved), ("free", d.Free), ("allocated", d.Allocated), ("cached", d.Cached)];

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
