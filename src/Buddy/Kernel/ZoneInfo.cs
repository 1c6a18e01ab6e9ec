// ZoneInfo: the watermark and layout subset of /proc/zoneinfo, out and in. Out: for each zone the
// lines "Node %d, zone %8s", then min, low, high, promo, managed and "protection: (...)" exactly as
// Linux 6.18 mm/vmstat.c zoneinfo_show_print spells them. In: any zoneinfo text; only these fields
// and the layout fields (spanned, present, and the two-space "  start_pfn:" line) are read and the
// rest are skipped. A text with no "Node N, zone NAME" header, or a zone without all of min, low,
// high, managed and protection, is refused (never all-zero watermarks). The layout fields are
// optional for Load/Parse (HasLayout says whether they were there); LoadLayout/ParseLayout refuse a
// zone without spanned and present, a populated zone (spanned > 0) without start_pfn, and
// managed > present > spanned — the kernel omits start_pfn only for an empty zone, whose StartPfn
// is then 0. Lines are read with BoundedLineReader, so a binary file or a huge line is refused too.
using System.Globalization;
using System.Text;

namespace Buddy.Kernel;

/// <summary>One zone's watermark and layout fields from /proc/zoneinfo.</summary>
/// <param name="Node">The NUMA node.</param>
/// <param name="Name">The zone's name.</param>
/// <param name="ManagedPages">The managed page count.</param>
/// <param name="Watermarks">min, low, high and promo (promo is 0 where the kernel printed none).</param>
/// <param name="Protection">The protection array (lowmem_reserve).</param>
public sealed record ZoneInfoZone(int Node, string Name, ulong ManagedPages, Watermarks Watermarks, IReadOnlyList<ulong> Protection)
{
    /// <summary>The zone's first page frame ("  start_pfn:"); 0 for an empty zone, which the kernel may print without it.</summary>
    public ulong StartPfn { get; init; }

    /// <summary>The pages the zone spans, holes included ("spanned").</summary>
    public ulong SpannedPages { get; init; }

    /// <summary>The pages of memory in the span ("present"), before the kernel's own reservations.</summary>
    public ulong PresentPages { get; init; }

    /// <summary>Whether the text held the layout fields (spanned, present and, for a zone with pages, start_pfn); without them <see cref="StartPfn"/>, <see cref="SpannedPages"/> and <see cref="PresentPages"/> are 0 and mean nothing.</summary>
    public bool HasLayout { get; init; }

    /// <summary>The page frame one past the zone's span: <see cref="StartPfn"/> + <see cref="SpannedPages"/>.</summary>
    public ulong EndPfn => StartPfn + SpannedPages;
}

/// <summary>The watermark and layout subset of /proc/zoneinfo.</summary>
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
            sb.Append(CultureInfo.InvariantCulture, $"\n        min      {z.Watermarks.Min}");
            sb.Append(CultureInfo.InvariantCulture, $"\n        low      {z.Watermarks.Low}");
            sb.Append(CultureInfo.InvariantCulture, $"\n        high     {z.Watermarks.High}");
            sb.Append(CultureInfo.InvariantCulture, $"\n        promo    {z.Watermarks.Promo}");
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

    /// <summary>Reads the zones of a /proc/zoneinfo file and requires each zone's layout: spanned, present and (for a zone that spans pages) start_pfn.</summary>
    /// <exception cref="FormatException">As <see cref="Load"/>, or a zone lacks a layout field or its counts contradict (managed &gt; present &gt; spanned); the message names the file and the zone's line.</exception>
    /// <exception cref="IOException">The file cannot be opened or is a directory.</exception>
    public static IReadOnlyList<ZoneInfoZone> LoadLayout(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using StreamReader text = InputFile.OpenText(path);
        return Read(text, path, requireLayout: true);
    }

    /// <summary>Reads the zones of a /proc/zoneinfo text and requires each zone's layout, as <see cref="LoadLayout"/>.</summary>
    /// <exception cref="FormatException">As <see cref="LoadLayout"/>; the message names source and line.</exception>
    public static IReadOnlyList<ZoneInfoZone> ParseLayout(string text, string source = "zoneinfo")
    {
        ArgumentNullException.ThrowIfNull(text);
        using var reader = new StringReader(text);
        return Read(reader, source, requireLayout: true);
    }

    private static List<ZoneInfoZone> Read(TextReader text, string source, bool requireLayout = false)
    {
        var zones = new List<ZoneInfoZone>();
        var lines = new BoundedLineReader(text, source, What, MaxLineChars, MaxChars);
        ZoneFields? zone = null;
        while (lines.TryReadLine(out string line))
        {
            string where = $"{source}:{lines.LineNumber}";
            if (line.StartsWith("Node ", StringComparison.Ordinal))
            {
                zone?.AddTo(zones, source, requireLayout);
                zone = ZoneFields.FromHeader(line, where, lines.LineNumber);
            }
            else if (zone is not null && line.StartsWith("  start_pfn:", StringComparison.Ordinal))
            {
                zone.ReadStartPfn(line["  start_pfn:".Length..].Trim(), where);
            }
            else if (zone is not null && line.StartsWith("        ", StringComparison.Ordinal))
            {
                zone.Read(line.Trim(), where); // per-node stats, pagesets and other fields are skipped
            }
        }

        zone?.AddTo(zones, source, requireLayout);
        if (zones.Count == 0)
        {
            throw new FormatException($"{source}: not {What}: no 'Node <number>, zone <name>' line followed by the zone's 'min', 'low', 'high', 'managed' and 'protection:' lines.");
        }

        return zones;
    }

    // The fields of one zone as they are read, from its 'Node N, zone NAME' line to the next.
    private sealed class ZoneFields(int node, string name, int headerLine)
    {
        private ulong? _managed, _min, _low, _high, _promo, _spanned, _present, _startPfn;
        private ulong[]? _protection;

        public static ZoneFields FromHeader(string line, string where, int lineNumber)
        {
            string[] parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 4 || parts[2] != "zone" || !int.TryParse(parts[1].TrimEnd(','), NumberStyles.None, CultureInfo.InvariantCulture, out int node))
            {
                throw new FormatException($"{where}: expected 'Node <number>, zone <name>', found '{line.Trim()}'.");
            }

            return new ZoneFields(node, parts[3], lineNumber);
        }

        // One trimmed line of the zone: 'protection: (a, b, ...)' or 'key value' for the zone's own
        // keys. Per-CPU pageset lines ("high:", "high_min:") end their key with a colon and are skipped.
        public void Read(string trimmed, string where)
        {
            if (trimmed.StartsWith("protection:", StringComparison.Ordinal))
            {
                _protection = ParseProtection(trimmed["protection:".Length..], where);
                return;
            }

            string[] kv = trimmed.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (kv.Length != 2 || kv[0] is not ("min" or "low" or "high" or "promo" or "managed" or "spanned" or "present"))
            {
                return;
            }

            if (!ulong.TryParse(kv[1], NumberStyles.None, CultureInfo.InvariantCulture, out ulong value))
            {
                throw new FormatException($"{where}: the value of '{kv[0]}', '{kv[1]}', is not a non-negative number.");
            }

            switch (kv[0])
            {
                case "min": _min = value; break;
                case "low": _low = value; break;
                case "high": _high = value; break;
                case "promo": _promo = value; break;
                case "spanned": _spanned = value; break;
                case "present": _present = value; break;
                default: _managed = value; break;
            }
        }

        // The value of the zone's '  start_pfn:' line (zoneinfo_show_print prints it after the pagesets).
        public void ReadStartPfn(string value, string where)
        {
            if (!ulong.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out ulong pfn))
            {
                throw new FormatException($"{where}: the value of 'start_pfn:', '{value}', is not a non-negative number.");
            }

            _startPfn = pfn;
        }

        public void AddTo(List<ZoneInfoZone> zones, string source, bool requireLayout)
        {
            if (_managed is null || _min is null || _low is null || _high is null || _protection is null)
            {
                throw new FormatException($"{source}:{headerLine}: zone {name} lacks one of 'min', 'low', 'high', 'managed', 'protection:'.");
            }

            // An empty zone (spanned 0) may have no start_pfn line: its start is 0, which no layout reads.
            bool hasLayout = _spanned is not null && _present is not null && (_startPfn is not null || _spanned == 0);
            if (requireLayout)
            {
                CheckLayout(source);
            }

            zones.Add(new ZoneInfoZone(node, name, _managed.Value, new Watermarks(_min.Value, _low.Value, _high.Value, _promo ?? 0), _protection)
            {
                StartPfn = hasLayout ? _startPfn ?? 0 : 0,
                SpannedPages = hasLayout ? _spanned!.Value : 0,
                PresentPages = hasLayout ? _present!.Value : 0,
                HasLayout = hasLayout,
            });
        }

        private void CheckLayout(string source)
        {
            string where = $"{source}:{headerLine}: zone {name}";
            if (_spanned is null || _present is null)
            {
                throw new FormatException($"{where} (managed {_managed}) lacks '{(_spanned is null ? "spanned" : "present")}': its layout cannot be read; expected the 'spanned' and 'present' lines /proc/zoneinfo prints for every zone.");
            }

            if (_startPfn is null && _spanned > 0)
            {
                throw new FormatException($"{where} spans {_spanned} pages but has no '  start_pfn:' line: its layout cannot be read; expected the line Linux prints for every zone with pages.");
            }

            if (_present > _spanned || _managed > _present)
            {
                throw new FormatException($"{where}: spanned {_spanned}, present {_present}, managed {_managed}: expected managed <= present <= spanned.");
            }
        }

        private static ulong[] ParseProtection(string text, string where)
        {
            string[] values = text.Trim().TrimStart('(').TrimEnd(')').Split(',', StringSplitOptions.TrimEntries);
            var protection = new ulong[values.Length];
            for (int v = 0; v < values.Length; v++)
            {
                if (!ulong.TryParse(values[v], NumberStyles.None, CultureInfo.InvariantCulture, out protection[v]))
                {
                    throw new FormatException($"{where}: protection value '{values[v]}' is not a non-negative number.");
                }
            }

            return protection;
        }
    }
}
