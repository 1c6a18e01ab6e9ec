// PerfCapture: `buddy capture --with perf` — the same events as the tracefs capture (the two page
// events, and the kernel's own fallback and compaction events where this kernel has them, as
// CaptureTracepoints lists them), recorded by `perf record -a` around `sleep N` or the command,
// then printed by `perf script` (TraceFile streams it from the child) into the output file, gzip
// when its name ends in .gz: text FtraceReader reads. The perf.data perf record writes sits beside
// the output file while the capture runs and is deleted afterwards. perf is found as replay finds
// it (BUDDY_PERF, else PATH); perf record's own messages go to the terminal. A bundle's snapshots
// (before, after) are read just before perf record starts and just after it exits.
using System.Diagnostics;
using System.IO.Compression;
using Buddy.Tracing;

namespace Buddy.Tool.Commands;

/// <summary>Records a page-allocation trace with perf.</summary>
internal static class PerfCapture
{
    /// <summary>The message when perf is not installed.</summary>
    public const string Missing = "capture --with perf needs perf: install Debian's linux-perf (apt-get install linux-perf)";

    /// <summary>
    /// Records for <paramref name="seconds"/> or around <paramref name="command"/> into
    /// <paramref name="outPath"/>; returns the lines written and perf record's exit code (the command's, as perf returns it).
    /// </summary>
    public static (long Lines, int ExitCode, IReadOnlyList<string> Missing) Run(string tracefs, string outPath, int? seconds, string[] command, Action? before = null, Action? after = null)
    {
        string perf = Environment.GetEnvironmentVariable("BUDDY_PERF") is { Length: > 0 } forced ? forced : "perf";
        (List<string> events, List<string> missing) = Events(tracefs);
        string data = outPath + ".perf.data";
        var record = new ProcessStartInfo(perf) { UseShellExecute = false };
        List<string> arguments = ["record", "-a", "-o", data, .. events.SelectMany(e => (string[])["-e", e]), "--"];
        arguments.AddRange(seconds is { } s ? ["sleep", s.ToString(System.Globalization.CultureInfo.InvariantCulture)] : command);
        arguments.ForEach(record.ArgumentList.Add);

        try
        {
            int exitCode;
            before?.Invoke();
            try
            {
                using Process process = Process.Start(record)!;
                process.WaitForExit();
                exitCode = process.ExitCode;
                after?.Invoke();
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new UserInputException($"{Missing} ({perf}: {e.Message})", e);
            }

            if (!File.Exists(data) || new FileInfo(data).Length == 0)
            {
                throw new UserInputException($"perf record wrote no recording (exit code {exitCode}; its message is above): `{perf} {string.Join(' ', record.ArgumentList)}`");
            }

            long lines = 0;
            using (Stream text = TraceFile.OpenRead(data))
            {
                Stream file = File.Create(outPath);
                using Stream sink = outPath.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(file, CompressionLevel.Optimal) : file;
                byte[] buffer = new byte[1 << 16];
                int n;
                while ((n = text.Read(buffer)) > 0)
                {
                    lines += buffer.AsSpan(0, n).Count((byte)'\n');
                    sink.Write(buffer, 0, n);
                }
            }

            return (lines, exitCode, missing);
        }
        finally
        {
            File.Delete(data);
        }
    }

    // The perf event names: the required ones, then those of CaptureTracepoints.WhereAvailable this
    // kernel has (by tracefs's events directory; when it cannot be read, only the required ones).
    private static (List<string> Events, List<string> Missing) Events(string tracefs)
    {
        var events = CaptureTracepoints.Required.Select(e => e.Replace('/', ':')).ToList();
        var missing = new List<string>();
        string dir = Path.Combine(tracefs, "events");
        foreach (string e in CaptureTracepoints.WhereAvailable)
        {
            if (Directory.Exists(Path.Combine(dir, e)))
            {
                events.Add(e.Replace('/', ':'));
            }
            else
            {
                missing.Add(e);
            }
        }

        return (events, missing);
    }
}
