// PageTypeInfo: /proc/pagetypeinfo exactly as Linux 6.18 mm/vmstat.c prints it (pagetypeinfo_show,
// pagetypeinfo_showfree, pagetypeinfo_showblockcount, and pagetypeinfo_showmixedcount, which a
// kernel prints only with CONFIG_PAGE_OWNER and page_owner=on) for a kernel without CMA: the types
// are Unmovable, Movable, Reclaimable, HighAtomic and Isolate. In: Parse/Load read that text back
// into a PageTypeInfoTable, with the type names the text's "Number of blocks type" header lists (so a
// kernel with CMA, whose rows hold a CMA type, reads too), and Format(table) prints it again byte for
// byte: a count the kernel printed as ">100000" reads as 100000, which prints as ">100000" again.
// Invariants of a table read: every zone has one free row per type, in the header's order, and as
// many counts as the order header; every zone of the free table has one row in the blocks table.
using System.Globalization;
using System.Text;

namespace Buddy.Kernel;

/// <summary>One zone's lines of /proc/pagetypeinfo.</summary>
/// <param name="Node">The NUMA node.</param>
/// <param name="Name">The zone's name.</param>
/// <param name="FreeBlockCounts">How many blocks of each migrate type (index = kernel value) and order are free: <c>FreeBlockCounts[type][order]</c>.</param>
/// <param name="Pageblocks">Pageblocks per migrate type.</param>
public sealed record PageTypeInfoZone(int Node, string Name, IReadOnlyList<IReadOnlyList<long>> FreeBlockCounts, IReadOnlyList<long> Pageblocks)
{
    /// <summary>Pageblocks of each migrate type that hold an allocation of another type ("Number of mixed blocks"); null: not tracked (a kernel without page_owner prints no such table).</summary>
    public IReadOnlyList<long>? MixedBlocks { get; init; }
}

/// <summary>A whole /proc/pagetypeinfo text.</summary>
/// <param name="PageblockOrder">The "Page block order:" line's value.</param>
/// <param name="Orders">How many orders the free table has (MAX_PAGE_ORDER + 1).</param>
/// <param name="TypeNames">The migrate type names, in the kernel's order (index = migrate type).</param>
/// <param name="Zones">The zones, in the order printed.</param>
public sealed record PageTypeInfoTable(int PageblockOrder, int Orders, IReadOnlyList<string> TypeNames, IReadOnlyList<PageTypeInfoZone> Zones);

/// <summary>Formats and reads /proc/pagetypeinfo.</summary>
public static partial class PageTypeInfo
{
    /// <summary>The migrate type names the kernel prints (no CMA).</summary>
    public static IReadOnlyList<string> TypeNames { get; } = ["Unmovable", "Movable", "Reclaimable", "HighAtomic", "Isolate"];

    /// <summary>The kernel's text for these zones, with pageblocks of 2^<paramref name="pageblockOrder"/> pages and <paramref name="orders"/> orders.</summary>
    public static string Format(IReadOnlyList<PageTypeInfoZone> zones, int pageblockOrder, int orders) =>
        Format(new PageTypeInfoTable(pageblockOrder, orders, TypeNames, zones ?? throw new ArgumentNullException(nameof(zones))));

    /// <summary>The kernel's text of <paramref name="table"/>; the inverse of <see cref="Parse"/>.</summary>
    public static string Format(PageTypeInfoTable table)
    {
        ArgumentNullException.ThrowIfNull(table);
        (int pageblockOrder, int orders, IReadOnlyList<string> typeNames, IReadOnlyList<PageTypeInfoZone> zones) = table;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"Page block order: {pageblockOrder}\n");
        sb.Append(CultureInfo.InvariantCulture, $"Pages per block:  {1UL << pageblockOrder}\n\n");
        sb.Append("Free pages count per migrate type at order".PadRight(43)).Append(' ');
        for (int order = 0; order < orders; order++)
        {
            sb.Append(CFormat.Int(order, 6)).Append(' ');
        }

        sb.Append('\n');
        foreach (PageTypeInfoZone z in zones)
        {
            for (int type = 0; type < typeNames.Count; type++)
            {
                sb.Append("Node ").Append(CFormat.Int(z.Node, 4)).Append(", zone ").Append(CFormat.Str(z.Name, 8)).Append(", type ").Append(CFormat.Str(typeNames[type], 12)).Append(' ');
                for (int order = 0; order < orders; order++)
                {
                    long count = type < z.FreeBlockCounts.Count ? z.FreeBlockCounts[type][order] : 0;
                    sb.Append(count >= 100_000 ? ">" + CFormat.Int(100_000, 6) : CFormat.Int(count, 6)).Append(' ');
                }

                sb.Append('\n');
            }
        }

        AppendTypeTable(sb, "Number of blocks type ", typeNames, zones, z => z.Pageblocks);
        if (zones.Count > 0 && zones.All(z => z.MixedBlocks is not null))
        {
            AppendTypeTable(sb, "Number of mixed blocks ", typeNames, zones, z => z.MixedBlocks!); // pagetypeinfo_showmixedcount
        }

        return sb.ToString();
    }

    // A blank line, the header (left-justified in 23 columns) over the type names, then one line per
    // zone of counts per type: pagetypeinfo_showblockcount's layout, which showmixedcount shares.
    private static void AppendTypeTable(StringBuilder sb, string header, IReadOnlyList<string> typeNames, IReadOnlyList<PageTypeInfoZone> zones, Func<PageTypeInfoZone, IReadOnlyList<long>> counts)
    {
        sb.Append('\n').Append(header.PadRight(23));
        foreach (string name in typeNames)
        {
            sb.Append(CFormat.Str(name, 12)).Append(' ');
        }

        sb.Append('\n');
        foreach (PageTypeInfoZone z in zones)
        {
            IReadOnlyList<long> row = counts(z);
            sb.Append(CultureInfo.InvariantCulture, $"Node {z.Node}, zone {CFormat.Str(z.Name, 8)} ");
            for (int type = 0; type < typeNames.Count; type++)
            {
                sb.Append(CFormat.Int(type < row.Count ? row[type] : 0, 12)).Append(' ');
            }

            sb.Append('\n');
        }
    }
}
