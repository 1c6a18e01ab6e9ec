// TraceTool: where the programs are that turn binary recordings into trace text — perf for
// perf.data, trace-cmd for trace.dat — and the one-line error, naming the Debian package, when one
// is missing. The environment variables BUDDY_PERF and BUDDY_TRACE_CMD name the program to run
// instead of searching PATH (a path that does not exist means "not installed"): packagers point
// them at their build of perf, tests at a missing or a failing program.
namespace Buddy.Tracing;

/// <summary>A program that prints a binary trace recording as text.</summary>
/// <param name="Program">The program's name on PATH.</param>
/// <param name="OverrideVariable">The environment variable that names the program to run instead.</param>
/// <param name="Recording">What it reads, as users call it (perf.data, trace.dat).</param>
/// <param name="Package">The Debian package and how to install it.</param>
internal sealed record TraceTool(string Program, string OverrideVariable, string Recording, string Package)
{
    /// <summary>perf, which prints perf.data with <c>perf script -i FILE</c>.</summary>
    public static TraceTool Perf { get; } = new("perf", "BUDDY_PERF", "perf.data", "Debian's linux-perf (apt-get install linux-perf)");

    /// <summary>trace-cmd, which prints trace.dat with <c>trace-cmd report -i FILE</c>.</summary>
    public static TraceTool TraceCmd { get; } = new("trace-cmd", "BUDDY_TRACE_CMD", "trace.dat", "Debian's trace-cmd (apt-get install trace-cmd)");

    /// <summary>The program's full path, or null when it is not installed (or the override names no file).</summary>
    public string? Find()
    {
        string? forced = Environment.GetEnvironmentVariable(OverrideVariable);
        if (!string.IsNullOrEmpty(forced))
        {
            return File.Exists(forced) ? forced : null;
        }

        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, Program);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>The error for a recording at <paramref name="path"/> when the program is missing: one line, naming the package.</summary>
    public IOException Missing(string path, string? reason = null) =>
        new($"{path}: reading {Recording} needs {Program}: install {Package}{(reason is null ? "" : $" ({reason})")}");
}
