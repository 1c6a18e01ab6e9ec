// NodeDistances: the NUMA distance table, as /sys/devices/system/node/nodeN/distance prints it (one
// line per node: its distance to every node, space-separated) and as a capture bundle stores it:
// one file of lines "node<N>: <d0> <d1> ...", node 0 first, one line per node. Invariants of a table
// read: nodes are numbered 0..n-1 with none missing, every row has n distances, each in 1..255 (the
// kernel keeps them in a u8; 10 is a node's distance to itself).
using System.Globalization;
using System.Text;

namespace Buddy.Kernel;

/// <summary>Reads and writes NUMA node distance tables.</summary>
/// <remarks>Stateless; thread-safe.</remarks>
public static class NodeDistances
{
    /// <summary>Where Linux lists the nodes.</summary>
    public const string SysfsNodes = "/sys/devices/system/node";

    /// <summary>The most nodes read (MAX_NUMNODES on x86-64 is 1024).</summary>
    public const int MaxNodes = 1024;

    private const string What = "a node distance table ('node<N>: <distance> ...' lines)";

    /// <summary>The bundle's text of <paramref name="distances"/>: a line "node&lt;i&gt;: d0 d1 ..." for each node.</summary>
    /// <exception cref="ArgumentException">The table is not square.</exception>
    public static string Format(IReadOnlyList<IReadOnlyList<int>> distances)
    {
        ArgumentNullException.ThrowIfNull(distances);
        var sb = new StringBuilder();
        for (int node = 0; node < distances.Count; node++)
        {
            if (distances[node] is not { } row || row.Count != distances.Count)
            {
                throw new ArgumentException($"row {node} has {distances[node]?.Count ?? 0} distances; expected {distances.Count}, one per node.", nameof(distances));
            }

            sb.Append(CultureInfo.InvariantCulture, $"node{node}:");
            foreach (int d in row)
            {
                sb.Append(' ').Append(d.ToString(CultureInfo.InvariantCulture));
            }

            sb.Append('\n');
        }

        return sb.ToString();
    }

    /// <summary>Reads a table file written by <see cref="Format"/>.</summary>
    /// <exception cref="FormatException">A line is malformed, a node is missing or out of order, a row has the wrong length, a distance is outside 1..255; the message names the file and line.</exception>
    /// <exception cref="IOException">The file cannot be opened or is a directory.</exception>
    public static int[][] Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using StreamReader text = InputFile.OpenText(path);
        return Read(text, path);
    }

    /// <summary>Reads a table text written by <see cref="Format"/>; <paramref name="source"/> names it in error messages.</summary>
    /// <exception cref="FormatException">As <see cref="Load"/>.</exception>
    public static int[][] Parse(string text, string source = "node-distance")
    {
        ArgumentNullException.ThrowIfNull(text);
        using var reader = new StringReader(text);
        return Read(reader, source);
    }

    /// <summary>Reads the live table from sysfs: <c>nodeN/distance</c> under <paramref name="nodeRoot"/>.</summary>
    /// <exception cref="IOException">The directory holds no node, a node is missing (nodes not numbered 0..n-1), or a file cannot be read.</exception>
    /// <exception cref="FormatException">A distance file is not a line of numbers, one per node.</exception>
    public static int[][] ReadSysfs(string nodeRoot = SysfsNodes)
    {
        ArgumentNullException.ThrowIfNull(nodeRoot);
        var numbers = new SortedSet<int>();
        foreach (string dir in Directory.EnumerateDirectories(nodeRoot, "node*"))
        {
            if (int.TryParse(Path.GetFileName(dir).AsSpan(4), NumberStyles.None, CultureInfo.InvariantCulture, out int n))
            {
                numbers.Add(n);
            }
        }

        if (numbers.Count == 0 || numbers.Max != numbers.Count - 1)
        {
            throw new IOException($"{nodeRoot}: expected directories node0..node<n-1>, found {(numbers.Count == 0 ? "none" : string.Join(", ", numbers.Select(n => "node" + n)))}.");
        }

        var text = new StringBuilder();
        foreach (int n in numbers)
        {
            string file = Path.Combine(nodeRoot, $"node{n}", "distance");
            text.Append(CultureInfo.InvariantCulture, $"node{n}: ").Append(File.ReadAllText(file).Trim()).Append('\n');
        }

        return Parse(text.ToString(), nodeRoot);
    }

    private static int[][] Read(TextReader text, string source)
    {
        var rows = new List<int[]>();
        var lines = new BoundedLineReader(text, source, What, 8 * MaxNodes, 8L * MaxNodes * MaxNodes);
        while (lines.TryReadLine(out string line))
        {
            string where = $"{source}:{lines.LineNumber}";
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            string expected = $"node{rows.Count}";
            if (colon < 0 || line[..colon] != expected)
            {
                throw new FormatException($"{where}: expected '{expected}: <distance> ...' (nodes in order from node0), found '{line}'.");
            }

            string[] fields = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var row = new int[fields.Length];
            for (int i = 0; i < fields.Length; i++)
            {
                if (!int.TryParse(fields[i], NumberStyles.None, CultureInfo.InvariantCulture, out row[i]) || row[i] is < 1 or > 255)
                {
                    throw new FormatException($"{where}: distance '{fields[i]}' to node {i} is not a number in 1..255.");
                }
            }

            rows.Add(row);
            if (rows.Count > MaxNodes)
            {
                throw new FormatException($"{where}: more than {MaxNodes} nodes: not {What}.");
            }
        }

        if (rows.Count == 0)
        {
            throw new FormatException($"{source}: not {What}: no line.");
        }

        for (int node = 0; node < rows.Count; node++)
        {
            if (rows[node].Length != rows.Count)
            {
                throw new FormatException($"{source}:{node + 1}: node{node} has {rows[node].Length} distances; expected {rows.Count}, one per node.");
            }
        }

        return [.. rows];
    }
}
