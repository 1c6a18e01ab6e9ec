// VmStat: the counters of /proc/vmstat ("name value" per line) and the vm sysctls as a capture
// bundle stores them ("vm.name = value" per line, as `sysctl vm` prints them). Invariants of a read:
// every line has its form, names are unique, vmstat values are non-negative 64-bit numbers, and
// sysctl values are kept as text (some are lists, e.g. lowmem_reserve_ratio "256 256 32 0 0").
// ReadSysctlVm reads /proc/sys/vm itself: write-only files (drop_caches, compact_memory) and files
// that refuse to be read are skipped, so the text lists only what the kernel let us read.
using System.Globalization;
using System.Text;

namespace Buddy.Kernel;

/// <summary>Reads /proc/vmstat and vm sysctl texts.</summary>
/// <remarks>Stateless; thread-safe.</remarks>
public static class VmStat
{
    /// <summary>The longest line read.</summary>
    public const int MaxLineChars = 4096;

    /// <summary>The largest text read.</summary>
    public const long MaxChars = 16L << 20;

    /// <summary>Reads /proc/vmstat text: "name value" lines.</summary>
    /// <exception cref="FormatException">A line is not "name value" with a non-negative number, or a name repeats; the message names <paramref name="source"/> and line.</exception>
    public static IReadOnlyDictionary<string, long> Parse(string text, string source = "vmstat")
    {
        ArgumentNullException.ThrowIfNull(text);
        var counters = new Dictionary<string, long>(StringComparer.Ordinal);
        ForEachLine(text, source, "a /proc/vmstat text", (line, where) =>
        {
            string[] kv = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (kv.Length != 2 || !long.TryParse(kv[1], NumberStyles.None, CultureInfo.InvariantCulture, out long value))
            {
                throw new FormatException($"{where}: expected '<counter> <non-negative number>', found '{line}'.");
            }

            Add(counters, kv[0], value, where);
        });
        return counters;
    }

    /// <summary>Reads vm sysctls as "vm.name = value" lines (the bundle's sysctl-vm file); keys are the names without "vm.".</summary>
    /// <exception cref="FormatException">A line is not "vm.name = value", or a name repeats; the message names <paramref name="source"/> and line.</exception>
    public static IReadOnlyDictionary<string, string> ParseSysctlVm(string text, string source = "sysctl-vm")
    {
        ArgumentNullException.ThrowIfNull(text);
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        ForEachLine(text, source, "a vm sysctl text", (line, where) =>
        {
            int eq = line.IndexOf(" = ", StringComparison.Ordinal);
            if (!line.StartsWith("vm.", StringComparison.Ordinal) || eq <= 3)
            {
                throw new FormatException($"{where}: expected 'vm.<name> = <value>', found '{line}'.");
            }

            Add(values, line[3..eq], line[(eq + 3)..], where);
        });
        return values;
    }

    /// <summary>The readable files of <paramref name="directory"/> (/proc/sys/vm) as "vm.name = value" lines, sorted by name; tabs in a value become spaces.</summary>
    /// <exception cref="IOException">The directory cannot be listed.</exception>
    public static string ReadSysctlVm(string directory = "/proc/sys/vm")
    {
        ArgumentNullException.ThrowIfNull(directory);
        var sb = new StringBuilder();
        foreach (string file in Directory.GetFiles(directory).Order(StringComparer.Ordinal))
        {
            string value;
            try
            {
                value = File.ReadAllText(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue; // write-only (drop_caches, compact_memory) or refused by the kernel: not a setting to record
            }

            sb.Append("vm.").Append(Path.GetFileName(file)).Append(" = ").Append(value.Trim().Replace('\t', ' ').Replace('\n', ' ')).Append('\n');
        }

        return sb.ToString();
    }

    private static void ForEachLine(string text, string source, string what, Action<string, string> read)
    {
        using var reader = new StringReader(text);
        var lines = new BoundedLineReader(reader, source, what, MaxLineChars, MaxChars);
        while (lines.TryReadLine(out string line))
        {
            if (line.Length > 0)
            {
                read(line, string.Create(CultureInfo.InvariantCulture, $"{source}:{lines.LineNumber}"));
            }
        }
    }

    private static void Add<T>(Dictionary<string, T> map, string key, T value, string where)
    {
        if (!map.TryAdd(key, value))
        {
            throw new FormatException($"{where}: '{key}' appears twice.");
        }
    }
}
