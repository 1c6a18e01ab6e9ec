// PageTypeInfo.Parse: /proc/pagetypeinfo text in, as Linux 6.18 prints it (see PageTypeInfo.cs for
// the layout): "Page block order:" and "Pages per block:" (which must agree), the free table (a row
// per zone and type), "Number of blocks type" with the type names and a row per zone, and the
// optional "Number of mixed blocks" table. Invariant: Format(Parse(text)) == text for any text a
// kernel printed; anything else is a FormatException naming the source, line and what was expected.
using System.Globalization;

namespace Buddy.Kernel;

public static partial class PageTypeInfo
{
    /// <summary>The longest line read.</summary>
    public const int MaxLineChars = 4096;

    /// <summary>The largest text read (1024 nodes of 6 zones of a handful of types).</summary>
    public const long MaxChars = 64L << 20;

    private const string What = "a /proc/pagetypeinfo text";

    /// <summary>Reads a /proc/pagetypeinfo file.</summary>
    /// <exception cref="FormatException">The text is not the kernel's layout; the message names the file and line.</exception>
    /// <exception cref="IOException">The file cannot be opened or is a directory.</exception>
    public static PageTypeInfoTable Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using StreamReader text = InputFile.OpenText(path);
        return new Reader(text, path).Read();
    }

    /// <summary>Reads a /proc/pagetypeinfo text; <paramref name="source"/> names it in error messages.</summary>
    /// <exception cref="FormatException">The text is not the kernel's layout; the message names source and line.</exception>
    public static PageTypeInfoTable Parse(string text, string source = "pagetypeinfo")
    {
        ArgumentNullException.ThrowIfNull(text);
        using var reader = new StringReader(text);
        return new Reader(reader, source).Read();
    }

    private sealed class Reader(TextReader text, string source)
    {
        private readonly BoundedLineReader _lines = new(text, source, What, MaxLineChars, MaxChars);
        private string? _peeked;

        private string Where => string.Create(CultureInfo.InvariantCulture, $"{source}:{_lines.LineNumber}");

        public PageTypeInfoTable Read()
        {
            int pageblockOrder = (int)Number(After(Next("'Page block order: <n>'"), "Page block order:"), 0, 63);
            long perBlock = Number(After(Next("'Pages per block:  <n>'"), "Pages per block:"), 1, long.MaxValue);
            if (perBlock != 1L << pageblockOrder)
            {
                throw Error($"{perBlock} pages per block is not 2^{pageblockOrder}");
            }

            Blank();
            string[] orderHeader = Fields(After(Next("the free table's header"), "Free pages count per migrate type at order"));
            for (int o = 0; o < orderHeader.Length; o++)
            {
                if (orderHeader[o] != o.ToString(CultureInfo.InvariantCulture))
                {
                    throw Error($"expected the orders 0, 1, ... in the header, found '{orderHeader[o]}'");
                }
            }

            int orders = orderHeader.Length;
            var free = new List<(int Node, string Zone, List<string> Types, List<long[]> Counts)>();
            while (Peek() is { Length: > 0 })
            {
                ReadFreeRow(Next("a free row"), orders, free);
            }

            Blank();
            string[] typeNames = Fields(After(Next("'Number of blocks type' and the type names"), "Number of blocks type"));
            List<IReadOnlyList<long>> blocks = ReadTypeRows(free, typeNames);
            List<IReadOnlyList<long>>? mixed = null;
            if (Peek() is not null)
            {
                Blank();
                string[] mixedNames = Fields(After(Next("'Number of mixed blocks' and the type names"), "Number of mixed blocks"));
                if (!mixedNames.SequenceEqual(typeNames))
                {
                    throw Error("the mixed blocks table's types differ from the blocks table's");
                }

                mixed = ReadTypeRows(free, typeNames);
            }

            if (Peek() is not null)
            {
                Next("");
                throw Error("expected the end of the text after the tables");
            }

            var zones = new List<PageTypeInfoZone>();
            for (int z = 0; z < free.Count; z++)
            {
                if (!free[z].Types.SequenceEqual(typeNames))
                {
                    throw new FormatException($"{source}: zone {free[z].Zone} of node {free[z].Node} has the free rows {string.Join(", ", free[z].Types)}; expected one per type of the blocks table: {string.Join(", ", typeNames)}.");
                }

                zones.Add(new PageTypeInfoZone(free[z].Node, free[z].Zone, [.. free[z].Counts], blocks[z]) { MixedBlocks = mixed?[z] });
            }

            return new PageTypeInfoTable(pageblockOrder, orders, typeNames, zones);
        }

        // "Node    0, zone      DMA, type    Unmovable      0 ... " (a count of 100000 or more prints as ">100000").
        private void ReadFreeRow(string line, int orders, List<(int, string, List<string>, List<long[]>)> free)
        {
            string[] parts = line.Split(',');
            if (parts.Length != 3 || !parts[2].TrimStart().StartsWith("type ", StringComparison.Ordinal))
            {
                throw Error($"expected 'Node <n>, zone <name>, type <type> <count per order>', found '{line}'");
            }

            (int node, string zone) = NodeZone(parts[0] + "," + parts[1]);
            string[] fields = Fields(parts[2].TrimStart()["type ".Length..]);
            if (fields.Length != orders + 1)
            {
                throw Error($"expected a type name and {orders} counts, found {fields.Length} fields");
            }

            long[] counts = new long[orders];
            for (int o = 0; o < orders; o++)
            {
                counts[o] = Number(fields[o + 1].StartsWith('>') ? fields[o + 1][1..] : fields[o + 1], 0, long.MaxValue);
            }

            if (free.Count == 0 || free[^1].Item1 != node || free[^1].Item2 != zone)
            {
                free.Add((node, zone, [], []));
            }

            free[^1].Item3.Add(fields[0]);
            free[^1].Item4.Add(counts);
        }

        // One row per zone of the free table, in its order: "Node 0, zone      DMA   <count per type>".
        private List<IReadOnlyList<long>> ReadTypeRows(List<(int Node, string Zone, List<string>, List<long[]>)> free, string[] typeNames)
        {
            var rows = new List<IReadOnlyList<long>>();
            foreach ((int node, string zone, _, _) in free)
            {
                string line = Next($"the row of node {node}, zone {zone}");
                int comma = line.IndexOf(',', StringComparison.Ordinal);
                string[] fields = comma < 0 ? [] : Fields(line[(comma + 1)..]);
                if (comma < 0 || fields.Length != typeNames.Length + 2 || NodeZone(line[..comma] + ", zone " + fields[1]) != (node, zone))
                {
                    throw Error($"expected 'Node {node}, zone {zone}' and {typeNames.Length} counts, found '{line}'");
                }

                rows.Add([.. fields.Skip(2).Select(f => Number(f, 0, long.MaxValue))]);
            }

            return rows;
        }

        private (int Node, string Zone) NodeZone(string text)
        {
            string[] parts = text.Split(',');
            string[] zone = Fields(parts.Length == 2 ? parts[1] : "");
            string node = parts[0].StartsWith("Node ", StringComparison.Ordinal) ? parts[0][5..].Trim() : "";
            if (parts.Length != 2 || zone.Length != 2 || zone[0] != "zone" || node.Length == 0)
            {
                throw Error($"expected 'Node <n>, zone <name>', found '{text}'");
            }

            return ((int)Number(node, 0, int.MaxValue), zone[1]);
        }

        private string? Peek()
        {
            if (_peeked is null && _lines.TryReadLine(out string line))
            {
                _peeked = line;
            }

            return _peeked;
        }

        private string Next(string expected)
        {
            string? line = Peek() ?? throw new FormatException($"{source}: ends after line {_lines.LineNumber}; expected {expected}: not {What}.");
            _peeked = null;
            return line;
        }

        private void Blank()
        {
            if (Next("a blank line").Length != 0)
            {
                throw Error("expected a blank line");
            }
        }

        private string After(string line, string prefix) =>
            line.StartsWith(prefix, StringComparison.Ordinal) ? line[prefix.Length..] : throw Error($"expected '{prefix}', found '{line}'");

        private long Number(string text, long min, long max) =>
            long.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long value) && value >= min && value <= max
                ? value
                : throw Error($"'{text.Trim()}' is not a number in {min}..{max}");

        private static string[] Fields(string text) => text.Split(' ', StringSplitOptions.RemoveEmptyEntries);

        private FormatException Error(string message) => new($"{Where}: {message}: not {What}.");
    }
}
