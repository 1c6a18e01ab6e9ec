// TraceTestData: what the trace-reading tests share — real kernel lines and the trace header, the
// bundled trace's known counts, and small readers over strings, bytes and files.
using System.IO.Compression;
using System.Text;
using Buddy.Tracing;

namespace Buddy.Tests;

internal static class TraceTestData
{
    internal const long BundledLines = 364_164;
    internal const long BundledAllocs = 212_325;
    internal const long BundledFrees = 151_839;

    // The header /sys/kernel/tracing/trace prints before the events (trace_pipe prints none).
    internal const string Header =
        "# tracer: nop\n"
        + "#\n"
        + "# entries-in-buffer/entries-written: 3/3   #P:2\n"
        + "#\n"
        + "#                                _-----=> irqs-off/BH-disabled\n"
        + "#                               / _----=> need-resched\n"
        + "#                              | / _---=> hardirq/softirq\n"
        + "#                              || / _--=> preempt-depth\n"
        + "#                              ||| / _-=> migrate-disable\n"
        + "#                              |||| /     delay\n"
        + "#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n"
        + "#              | |         |   |||||     |         |\n";

    internal const int HeaderLineCount = 12;

    // Real lines (the live 6.18 trace in the research notes and the bundled trace).
    internal const string AllocLine =
        "              dd-3929    [000] .....   443.469122: mm_page_alloc: page=00000000083e66ce pfn=0x11cee6 order=0 migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_COMP";

    internal const string KernelAllocLine =
        "              dd-3929    [000] .....   443.469178: mm_page_alloc: page=00000000deab91fa pfn=0x10acff order=2 migratetype=0 gfp_flags=GFP_KERNEL_ACCOUNT|__GFP_ZERO|__GFP_COMP";

    internal const string FreeLine =
        "             csc-4088    [001] d..1.   224.598769: mm_page_free: page=00000000175c6634 pfn=0x120000 order=10";

    internal static string BundledTracePath => Path.Combine(RepoPaths.Root, "data", "linux-6.18-dotnet-build.trace.gz");

    internal static byte[] BundledTraceBytes => s_bundledBytes.Value;

    private static readonly Lazy<byte[]> s_bundledBytes = new(() => File.ReadAllBytes(BundledTracePath));

    internal static PageEvent ReadAllocWith(string field)
    {
        string line = $"          insmod-500     [000] .....    10.000001: mm_page_alloc: page=0000000012345678 pfn=0x10 order=0 migratetype=0 gfp_flags=GFP_KERNEL";
        string key = field[..(field.IndexOf('=', StringComparison.Ordinal) + 1)];
        int start = line.IndexOf(" " + key, StringComparison.Ordinal) + 1;
        int end = line.IndexOf(' ', start);
        line = line[..start] + field + (end < 0 ? "" : line[end..]);
        return Assert.Single(Read(line + "\n").Events);
    }

    internal static (List<PageEvent> Events, TraceStats Stats) Read(string text, FtraceOptions? options = null, string source = "test.trace") =>
        Read(Encoding.ASCII.GetBytes(text), options, source);

    internal static (List<PageEvent> Events, TraceStats Stats) Read(byte[] bytes, FtraceOptions? options = null, string source = "test.trace")
    {
        using var reader = new FtraceReader(new MemoryStream(bytes, writable: false), source, options);
        return ReadAll(reader);
    }

    internal static (List<PageEvent> Events, TraceStats Stats) ReadFile(string path)
    {
        using FtraceReader reader = FtraceReader.Open(path);
        return ReadAll(reader);
    }

    internal static (List<PageEvent> Events, TraceStats Stats) ReadAll(FtraceReader reader)
    {
        var events = new List<PageEvent>();
        while (reader.TryRead(out PageEvent e))
        {
            events.Add(e);
        }

        return (events, reader.Stats);
    }

    internal static long CountLines(string path, FtraceOptions options)
    {
        using FtraceReader reader = FtraceReader.Open(path, options);
        while (reader.TryRead(out _))
        {
        }

        return reader.Stats.Lines;
    }

    internal static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            gzip.Write(data);
        }

        return output.ToArray();
    }
}

/// <summary>Finds files of the repository (data/, fuzz/) by walking up to the folder holding Buddy.slnx.</summary>
internal static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Buddy.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException($"no folder holding Buddy.slnx above {AppContext.BaseDirectory}");
    }
}
