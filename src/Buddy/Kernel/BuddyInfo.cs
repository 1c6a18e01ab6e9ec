// BuddyInfo: /proc/buddyinfo, out and in, byte for byte as Linux 6.18 mm/vmstat.c prints it:
// "Node %d, zone %8s " then "%6lu " per order, then a newline, for each populated zone.
using System.Globalization;
using System.Text;

namespace Buddy.Kernel;

/// <summary>One line of /proc/buddyinfo: a zone's count of free blocks per order.</summary>
/// <param name="Node">The NUMA node.</param>
/// <param name="Zone">The zone's name.</param>
/// <param name="FreeBlocks">Free blocks per order; index = order.</param>
public sealed record BuddyInfoZone(int Node, string Zone, IReadOnlyList<long> FreeBlocks);

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

    /// <summary>Reads a buddyinfo file.</summary>
    /// <exception cref="FormatException">A line is malformed; the message names the file, line and what was expected.</exception>
    public static BuddyInfo Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses buddyinfo text; <paramref name="source"/> names it in error messages.</summary>
    /// <exception cref="FormatException">A line is malformed; the message names the source, line and what was expected.</exception>
    public static BuddyInfo Parse(string text, string source = "buddyinfo")
    {
        ArgumentNullException.ThrowIfNull(text);
        var zones = new List<BuddyInfoZone>();
        string[] lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].TrimEnd('\r');
            if (line.Trim().Length == 0)
            {
                continue;
            }

            zones.Add(ParseLine(line, source, i + 1));
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
            foreach (long count in z.FreeBlocks)
            {
                sb.Append(CFormat.Int(count, 6)).Append(' ');
            }

            sb.Append('\n');
        }

        return sb.ToString();
    }

    /// <summary>Appends "Node %d, zone %8s " (the prefix every per-zone vmstat text shares).</summary>
    internal static void AppendZonePrefix(StringBuilder sb, BuddyInfoZone zone) =>
        sb.Append("Node ").Append(zone.Node.ToString(CultureInfo.InvariantCulture)).Append(", zone ").Append(CFormat.Str(zone.Zone, 8)).Append(' ');

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

        for (int i = 0; i < counts.Length; i++)
        {
            if (!long.TryParse(parts[4 + i], NumberStyles.None, CultureInfo.InvariantCulture, out counts[i]))
            {
                throw new FormatException($"{where}: the count for order {i} of zone {zone}, '{parts[4 + i]}', is not a non-negative number; {Expected}.");
            }
        }

        return new BuddyInfoZone(node, zone, counts);
    }
}
