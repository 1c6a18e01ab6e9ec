// ZoneInfo: the watermark subset of /proc/zoneinfo, out and in. Out: for each zone the lines
// "Node %d, zone %8s", then min, low, high, promo, managed and "protection: (...)" exactly as
// Linux 6.18 mm/vmstat.c zoneinfo_show_print spells them. In: any zoneinfo text; only these
// fields are read and the rest are skipped. A text with no "Node N, zone NAME" header, or a zone
// without all of min, low, high, managed and protection, is refused (never all-zero watermarks);
// lines are read with BoundedLineReader, so a binary file or a huge line is refused too.
using System.Globalization;
using System.Text;
using Buddy.Zones;

namespace Buddy.Kernel;

/// <summary>One zone's watermark fields from /proc/zoneinfo.</summary>
/// <param name="Node">The NUMA node.</param>
/// <param name="Name">The zone's name.</param>
/// <param name="ManagedPages">The managed page count.</param>
/// <param name="Marks">min, low, high and promo (promo is 0 where the kernel printed none).</param>
/// <param name="Protection">The protection array (lowmem_reserve).</param>
public sealed record ZoneInfoZone(int Node, string Name, ulong ManagedPages, Watermarks Marks, IReadOnlyList<ulong> Protection);

/// <summary>The watermark subset of /proc/zoneinfo.</summary>
/// <remarks>Immutable; thread-safe.</remarks>
public static class ZoneInfo
{
    /// <summary>The kernel's zones on x86-64 with ZONE_DEVICE: DMA, DMA32, Normal, Movable, Device.</summary>
    public static IReadOnlyList<string> X86ZoneNames { get; } = ["DMA", "DMA32", "Normal", "Movable", "Device"];

    /// <summary>Prints <paramref name="zones"/> as /proc/zoneinfo shows these fields, node <paramref name="node"/>.</summary>
    public static string Format(IReadOnlyList<ZoneWatermarks> zones, int node = 0)
    {
        ArgumentNullException.ThrowIfNull(zones);
        var sb = new StringBuilder();
        foreach (ZoneWatermarks z in zones)
        {
            sb.Append(CultureInfo.InvariantCulture, $"Node {node}, zone {CFormat.Str(z.Zone.Name, 8)}");
            sb.Append(CultureInfo.InvariantCulture, $"\n        min      {z.Marks.Min}");
            sb.Append(CultureInfo.InvariantCulture, $"\n        low      {z.Marks.Low}");
            sb.Append(CultureInfo.InvariantCulture, $"\n        high     {z.Marks.High}");
            sb.Append(CultureInfo.InvariantCulture, $"\n        promo    {z.Marks.Promo}");
            sb.Append(CultureInfo.InvariantCulture, $"\n        managed  {z.Zone.ManagedPages}");
            sb.Append("\n        protection: (");
            for (int i = 0; i < z.Protection.Count; i++)
            {
                sb.Append(i == 0 ? "" : ", ").Append(z.Protection[i].ToString(CultureInfo.InvariantCulture));
            }

            sb.Append(")\n");
        }

        return sb.ToString();
    }

    /// <summary>The longest line read (zoneinfo lines are under 200 characters).</summary>
    public const int MaxLineChars = 4096;

    /// <summary>The largest file read (a zoneinfo of thousands of CPUs is tens of MB).</summary>
    public const long MaxChars = 256L << 20;

    private const string What = "a /proc/zoneinfo text";

    /// <summary>Reads the zones of a /proc/zoneinfo file.</summary>
    /// <exception cref="FormatException">No zone, a zone lacks a field, a value is not a number, or the file is binary or too large; the message names the file and line.</exception>
    /// <exception cref="IOException">The file cannot be opened or is a directory.</exception>
    public static IReadOnlyList<ZoneInfoZone> Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using StreamReader text = InputFile.OpenText(path);
        return Read(text, path);
    }

    /// <summary>Reads the zones of a /proc/zoneinfo text.</summary>
    /// <exception cref="FormatException">No zone, a zone lacks a field or a value is not a number; the message names source and line.</exception>
    public static IReadOnlyList<ZoneInfoZone> Parse(string text, string source = "zoneinfo")
    {
        ArgumentNullException.ThrowIfNull(text);
        using var reader = new StringReader(text);
        return Read(reader, source);
    }

    private static List<ZoneInfoZone> Read(TextReader text, string source)
    {
        var zones = new List<ZoneInfoZone>();
        var lines = new BoundedLineReader(text, source, What, MaxLineChars, MaxChars);
        int node = 0, headerLine = 0;
        string? name = null;
        ulong? managed = null, min = null, low = null, high = null, promo = null;
        ulong[]? protection = null;

        void Finish()
        {
            if (name is null)
            {
                return;
            }

            if (managed is null || min is null || low is null || high is null || protection is null)
            {
                throw new FormatException($"{source}:{headerLine}: zone {name} lacks one of 'min', 'low', 'high', 'managed', 'protection:'.");
            }

            zones.Add(new ZoneInfoZone(node, name, managed.Value, new Watermarks(min.Value, low.Value, high.Value, promo ?? 0), protection));
            name = null;
            managed = min = low = high = promo = null;
            protection = null;
        }

        while (lines.TryReadLine(out string line))
        {
            string where = $"{source}:{lines.LineNumber}";
            if (line.StartsWith("Node ", StringComparison.Ordinal))
            {
                Finish();
                string[] parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length != 4 || parts[2] != "zone" || !int.TryParse(parts[1].TrimEnd(','), NumberStyles.None, CultureInfo.InvariantCulture, out node))
                {
                    throw new FormatException($"{where}: expected 'Node <number>, zone <name>', found '{line.Trim()}'.");
                }

                name = parts[3];
                headerLine = lines.LineNumber;
                continue;
            }

            if (name is null || !line.StartsWith("        ", StringComparison.Ordinal))
            {
                continue; // per-node stats, pagesets and other fields
            }

            string trimmed = line.Trim();
            if (trimmed.StartsWith("protection:", StringComparison.Ordinal))
            {
                string inner = trimmed["protection:".Length..].Trim().TrimStart('(').TrimEnd(')');
                string[] values = inner.Split(',', StringSplitOptions.TrimEntries);
                protection = new ulong[values.Length];
                for (int v = 0; v < values.Length; v++)
                {
                    if (!ulong.TryParse(values[v], NumberStyles.None, CultureInfo.InvariantCulture, out protection[v]))
                    {
                        throw new FormatException($"{where}: protection value '{values[v]}' is not a non-negative number.");
                    }
                }

                continue;
            }

            string[] kv = trimmed.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (kv.Length != 2)
            {
                continue;
            }

            // Per-CPU pageset lines ("high:", "high_min:") end their key with a colon and fall
            // through the switch; only the zone's own fields are read.
            ref ulong? slot = ref managed;
            switch (kv[0])
            {
                case "min": slot = ref min; break;
                case "low": slot = ref low; break;
                case "high": slot = ref high; break;
                case "promo": slot = ref promo; break;
                case "managed": slot = ref managed; break;
                default: continue;
            }

            if (!ulong.TryParse(kv[1], NumberStyles.None, CultureInfo.InvariantCulture, out ulong value))
            {
                throw new FormatException($"{where}: the value of '{kv[0]}', '{kv[1]}', is not a non-negative number.");
            }

            slot = value;
        }

        Finish();
        if (zones.Count == 0)
        {
            throw new FormatException($"{source}: not {What}: no 'Node <number>, zone <name>' line followed by the zone's 'min', 'low', 'high', 'managed' and 'protection:' lines.");
        }

        return zones;
    }
}
