// IoMem: /proc/iomem in. Each line is "<start>-<end> : <name>" in hex, the end inclusive, indented two
// spaces per level of nesting (kernel/resource.c r_show). Invariants: every resource is kept as a
// half-open AddressRange [start, end + 1) with its depth and name, in file order; SystemRam holds
// the top-level "System RAM" ranges and KernelImage the "Kernel code/rodata/data/bss" ranges nested
// in them. The kernel prints every address as 0 to a reader without CAP_SYS_ADMIN: a text whose
// ranges are all 0-0 is refused with a message saying to read it as root, never parsed as empty RAM.
// Lines are read with BoundedLineReader, so a binary file or a huge line is refused too.
using System.Globalization;

namespace Buddy.Kernel;

/// <summary>One line of /proc/iomem.</summary>
/// <param name="Range">The addresses, half-open (the file's end is inclusive; this end is one past it).</param>
/// <param name="Name">The resource's name, e.g. "System RAM", "Kernel code", "PCI Bus 0000:00".</param>
/// <param name="Depth">The nesting level: 0 for a top-level resource, 1 for its children, and so on.</param>
public sealed record IoMemResource(AddressRange Range, string Name, int Depth);

/// <summary>The physical address map of /proc/iomem.</summary>
/// <remarks>Immutable; thread-safe.</remarks>
public sealed class IoMem
{
    private IoMem(IReadOnlyList<IoMemResource> resources)
    {
        Resources = resources;
        SystemRam = [.. resources.Where(r => r.Depth == 0 && r.Name == "System RAM").Select(r => r.Range)];
        KernelImage = [.. resources.Where(r => r.Depth > 0 && r.Name.StartsWith("Kernel ", StringComparison.Ordinal))];
    }

    /// <summary>Every resource, in file order.</summary>
    public IReadOnlyList<IoMemResource> Resources { get; }

    /// <summary>The top-level "System RAM" ranges: the memory the kernel manages.</summary>
    public IReadOnlyList<AddressRange> SystemRam { get; }

    /// <summary>The nested "Kernel code", "Kernel rodata", "Kernel data" and "Kernel bss" ranges.</summary>
    public IReadOnlyList<IoMemResource> KernelImage { get; }

    /// <summary>The longest line read (iomem lines are under 100 characters).</summary>
    public const int MaxLineChars = 4096;

    /// <summary>The largest file read.</summary>
    public const long MaxChars = 16L << 20;

    private const string What = "a /proc/iomem text";

    /// <summary>Reads a /proc/iomem file.</summary>
    /// <exception cref="FormatException">A line is not "start-end : name" in hex, an end is before its start, the text holds no resource or only zeroed addresses (read without root), or the file is binary or too large; the message names the file and line.</exception>
    /// <exception cref="IOException">The file cannot be opened or is a directory.</exception>
    public static IoMem Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using StreamReader text = InputFile.OpenText(path);
        return Read(text, path);
    }

    /// <summary>Reads a /proc/iomem text; <paramref name="source"/> names it in error messages.</summary>
    /// <exception cref="FormatException">As <see cref="Load"/>.</exception>
    public static IoMem Parse(string text, string source = "iomem")
    {
        ArgumentNullException.ThrowIfNull(text);
        using var reader = new StringReader(text);
        return Read(reader, source);
    }

    private static IoMem Read(TextReader text, string source)
    {
        var resources = new List<IoMemResource>();
        var lines = new BoundedLineReader(text, source, What, MaxLineChars, MaxChars);
        while (lines.TryReadLine(out string line))
        {
            if (line.Length > 0)
            {
                resources.Add(ParseLine(line, $"{source}:{lines.LineNumber}"));
            }
        }

        if (resources.Count == 0)
        {
            throw new FormatException($"{source}: not {What}: no 'start-end : name' line.");
        }

        if (resources.All(r => r.Range.Start == 0 && r.Range.End == 1))
        {
            throw new FormatException($"{source}: every address is 0: the kernel hides /proc/iomem's addresses from readers without CAP_SYS_ADMIN; read it as root (sudo cat /proc/iomem).");
        }

        return new IoMem(resources);
    }

    private static IoMemResource ParseLine(string line, string where)
    {
        int indent = line.Length - line.TrimStart(' ').Length;
        int colon = line.IndexOf(" : ", StringComparison.Ordinal);
        int dash = colon < 0 ? -1 : line.IndexOf('-', indent, colon - indent);
        if (indent % 2 != 0 || colon < 0 || dash < 0
            || !ulong.TryParse(line.AsSpan(indent, dash - indent), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong start)
            || !ulong.TryParse(line.AsSpan(dash + 1, colon - dash - 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong last))
        {
            throw new FormatException($"{where}: expected '<hex start>-<hex end> : <name>' indented by two spaces per level, found '{line}'.");
        }

        if (last < start || last == ulong.MaxValue)
        {
            throw new FormatException($"{where}: the range {start:x}-{last:x} {(last < start ? "ends before it starts" : "ends at the last address, which a half-open range cannot hold")}.");
        }

        return new IoMemResource(new AddressRange(start, last + 1), line[(colon + 3)..], indent / 2);
    }
}
