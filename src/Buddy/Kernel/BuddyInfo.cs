// BuddyInfo: /proc/buddyinfo, out and in, byte for byte as Linux 6.18 mm/vmstat.c prints it:
// "Node %d, zone %8s " then "%6lu " per order, then a newline, for each populated zone.
// Reading refuses what no kernel prints (KernelLimits): more than 23 order columns, a zone with
// more free pages than any machine has, lines longer than MaxLineChars, binary files.
using System.Globalization;
using System.Text;

namespace Buddy.Kernel;

/// <summary>One line of /proc/buddyinfo: a zone's count of free blocks per order.</summary>
/// <param name="Node">The NUMA node.</param>
/// <param name="Name">The zone's name.</param>
/// <param name="FreeBlockCounts">How many blocks of each order are free (the kernel's nr_free); index = order.</param>
public sealed record BuddyInfoZone(int Node, string Name, IReadOnlyList<long> FreeBlockCounts);

/// <summary>The text of /proc/buddyinfo: zones with their free blocks per order.</summary>
/// <remarks>Immutable; thread-safe. <see cref="ToString"/> is the kernel's exact text.</remarks>
public sealed class BuddyInfo
{
    /// <summary>Creates the table from zone lines.</summary>
    public BuddyInfo(IReadOnlyList<BuddyInfoZone> zones)
    {
        ArgumentNullException.ThrowIfNull(zones);
        Zones = zones;
    }

    /// <summary>The zones, in the order printed.</summary>
    public IReadOnlyList<BuddyInfoZone> Zones { get; }

    /// <summary>The longest line read: "Node N, zone NAME " and 23 counts of up to 20 digits, with room to spare.</summary>
    public const int MaxLineChars = 4096;

    /// <summary>The largest file read: 1024 nodes (MAX_NUMNODES) times 6 zones of full-length lines.</summary>
    public const long MaxChars = 1024L * 6 * MaxLineChars;

    private const string What = "a /proc/buddyinfo text";

    /// <summary>Reads a buddyinfo file.</summary>
    /// <exception cref="FormatException">A line is malformed or impossible, or the file is binary or too large; the message names the file, line and what was expected.</exception>
    /// <exception cref="IOException">The file cannot be opened or is a directory.</exception>
    public static BuddyInfo Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using StreamReader text = InputFile.OpenText(path);
        return Read(text, path);
    }

    /// <summary>Parses buddyinfo text; <paramref name="source"/> names it in error messages.</summary>
    /// <exception cref="FormatException">A line is malformed or impossible; the message names the source, line and what was expected.</exception>
    public static BuddyInfo Parse(string text, string source = "buddyinfo")
    {
        ArgumentNullException.ThrowIfNull(text);
        using var reader = new StringReader(text);
        return Read(reader, source);
    }

    private static BuddyInfo Read(TextReader text, string source)
    {
        var zones = new List<BuddyInfoZone>();
        var lines = new BoundedLineReader(text, source, What, MaxLineChars, MaxChars);
        while (lines.TryReadLine(out string line))
        {
            if (line.Trim().Length > 0)
            {
                zones.Add(ParseLine(line, source, lines.LineNumber));
            }
        }

        if (zones.Count == 0)
        {
            throw new FormatException($"{source}: no zone lines; expected lines like 'Node 0, zone   Normal   6901   2488 ...'.");
        }

        return new BuddyInfo(zones);
    }

    /// <summary>The exact text the kernel prints.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        foreach (BuddyInfoZone z in Zones)
        {
            AppendZonePrefix(sb, z);
            foreach (long count in z.FreeBlockCounts)
            {
                sb.Append(CFormat.Int(count, 6)).Append(' ');
            }

            sb.Append('\n');
        }

        return sb.ToString();
    }

    /// <summary>Appends "Node %d, zone %8s " (the prefix every per-zone vmstat text shares).</summary>
    internal static void AppendZonePrefix(StringBuilder sb, BuddyInfoZone zone) =>
        sb.Append("Node ").Append(zone.Node.ToString(CultureInfo.InvariantCulture)).Append(", zone ").Append(CFormat.Str(zone.Name, 8)).Append(' ');

    private static BuddyInfoZone ParseLine(string line, string source, int lineNumber)
    {
        string where = $"{source}:{lineNumber}";
        const string Expected = "expected 'Node <number>, zone <name>' followed by one count per order";
        string[] parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 4 || parts[0] != "Node" || !parts[1].EndsWith(',') || parts[2] != "zone")
        {
            throw new FormatException($"{where}: {Expected}, but found '{line.Trim()}'.");
        }

        if (!int.TryParse(parts[1].AsSpan(0, parts[1].Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out int node))
        {
            throw new FormatException($"{where}: the node '{parts[1].TrimEnd(',')}' is not a number; {Expected}.");
        }

        string zone = parts[3];
        var counts = new long[parts.Length - 4];
        if (counts.Length == 0)
        {
            throw new FormatException($"{where}: zone {zone} has no counts; {Expected}.");
        }

        if (counts.Length > KernelLimits.MaxOrderColumns)
        {
            throw new FormatException($"{where}: zone {zone} has {counts.Length} order columns; no kernel prints more than {KernelLimits.MaxOrderColumns} (NR_PAGE_ORDERS = MAX_PAGE_ORDER + 1, and MAX_PAGE_ORDER is at most {KernelLimits.MaxPageOrder}).");
        }

        for (int i = 0; i < counts.Length; i++)
        {
            if (!long.TryParse(parts[4 + i], NumberStyles.None, CultureInfo.InvariantCulture, out counts[i]))
            {
                throw new FormatException($"{where}: the count for order {i} of zone {zone}, '{parts[4 + i]}', is not a non-negative number below 2^63; {Expected}.");
            }
        }

        CheckFreePages(counts, zone, where);
        return new BuddyInfoZone(node, zone, counts);
    }

    // The kernel sums count << order into the zone's free pages (an unsigned long); no zone can hold
    // KernelLimits.MaxPages or more, so a sum that reaches it (or overflows) is no real machine's.
    private static void CheckFreePages(long[] counts, string zone, string where)
    {
        UInt128 pages = 0;
        for (int order = 0; order < counts.Length; order++)
        {
            pages += (UInt128)(ulong)counts[order] << order;
            if (pages >= KernelLimits.MaxPages)
            {
                throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"{where}: zone {zone}'s counts up to order {order} add up to {pages} free pages; no machine has {KernelLimits.MaxPages:N0} pages or more (2^{KernelLimits.MaxPhysicalAddressBits} bytes of 4 KiB pages)."));
            }
        }
    }
}
