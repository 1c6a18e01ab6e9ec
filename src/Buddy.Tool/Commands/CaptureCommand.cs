// `buddy capture --out FILE|--bundle PATH [--with tracefs|perf] [--seconds N | -- COMMAND...]`: records
// kmem:mm_page_alloc and mm_page_free — and, where the kernel has them, its own record of fallbacks
// and compaction (kmem:mm_page_alloc_extfrag, mm_page_alloc_zone_locked,
// compaction:mm_compaction_begin/end; see CaptureTracepoints). With tracefs (the default) through
// tracefs (mounting it if needed), streaming trace_pipe to a file (gzip when the name ends in .gz),
// and restores each tracepoint as it was; with perf, by perf record and perf script (PerfCapture).
// With --bundle (instead of --out) the trace goes into a capture bundle with the machine's /proc
// texts read just before the tracepoints are enabled and just after they are disabled (BundleCapture).
using System.CommandLine;
using System.Diagnostics;
using System.IO.Compression;
using System.Runtime.ExceptionServices;
using System.Text;
using Buddy.Tracing;

namespace Buddy.Tool.Commands;

/// <summary>Captures a live page-allocation trace.</summary>
internal static class CaptureCommand
{
    private const string DefaultTracefs = "/sys/kernel/tracing";
    private const string StartMarker = "buddy-capture-start";
    private const string EndMarker = "buddy-capture-end";

    public static Command Create(TextWriter stdout)
    {
        var output = new Option<string>("--out") { Description = "The file to write (gzip when it ends in .gz)." }.AcceptOutputFile();
        var bundle = new Option<string>("--bundle")
        {
            Description = "Write a capture bundle instead of --out: the trace plus the machine's /proc texts (zoneinfo, buddyinfo, pagetypeinfo, vmstat, iomem, meminfo, node distances, vm sysctls) "
                + "just before and just after tracing, and bundle.json. A name ending in .tar.gz or .tgz is one archive; any other a new (or empty) directory.",
        };
        var seconds = new Option<int?>("--seconds") { Description = "Capture for this many seconds (1..3600)." };
        var tracefs = new Option<string>("--tracefs") { Description = "Where tracefs is mounted.", DefaultValueFactory = _ => DefaultTracefs };
        var with = new Option<string>("--with") { Description = "What records the events: tracefs (trace_pipe text) or perf (perf record, then perf script text).", DefaultValueFactory = _ => "tracefs" };
        with.AcceptOnlyFromAmong("tracefs", "perf");
        var command = new Argument<string[]>("COMMAND") { Description = "A command to run and trace until it exits (after --).", Arity = ArgumentArity.ZeroOrMore };
        var capture = new Command(
            "capture",
            "Record a live page-allocation trace through tracefs, or with --with perf through perf record and perf script (needs root): kmem:mm_page_alloc and mm_page_free, and where the kernel has them "
            + "kmem:mm_page_alloc_extfrag, kmem:mm_page_alloc_zone_locked, compaction:mm_compaction_begin and mm_compaction_end (the kernel's own record of "
            + "fallbacks and compaction, which buddy replay prints beside the simulation). Each tracepoint is put back as it was.")
        {
            output, bundle, with, seconds, tracefs, command,
        };
        capture.SetAction(parse =>
        {
            string? outPath = parse.GetValue(output), bundlePath = parse.GetValue(bundle);
            if ((outPath is null) == (bundlePath is null))
            {
                throw new UserInputException($"give exactly one of --out FILE and --bundle PATH{(outPath is null ? "" : $" (both were given: --out {outPath}, --bundle {bundlePath})")}, e.g. buddy capture --bundle cap.tar.gz -- make -j2");
            }

            string[] cmd = parse.GetValue(command) ?? [];
            int? secs = parse.GetValue(seconds);
            if ((secs is null) == (cmd.Length == 0))
            {
                throw new UserInputException("give either --seconds N or a command after --, e.g. buddy capture --out t.gz -- make -j2");
            }

            if (secs is < 1 or > 3600)
            {
                throw new UserInputException($"--seconds {secs}: expected 1..3600.");
            }

            // With a command, buddy exits with the command's code, as `time` and `strace` do.
            string recorder = parse.GetValue(with)!;
            using BundleCapture? bundleCapture = bundlePath is null ? null : BundleCapture.Create(bundlePath, recorder, secs, cmd);
            string tracePath = bundleCapture?.TracePath ?? outPath!;
            int code;
            TraceStats stats;
            if (recorder == "perf")
            {
                (long lines, code, IReadOnlyList<string> missing) = PerfCapture.Run(parse.GetValue(tracefs)!, tracePath, secs, cmd, bundleCapture is null ? null : bundleCapture.SnapshotBefore, bundleCapture is null ? null : bundleCapture.SnapshotAfter);
                stats = Summarize(tracePath, outPath ?? bundlePath!, lines, code, cmd, missing, stdout);
            }
            else
            {
                (code, stats) = Run(parse.GetValue(tracefs)!, tracePath, outPath ?? bundlePath!, secs, cmd, bundleCapture, stdout);
            }

            bundleCapture?.Finish(stats.LostEvents, stdout);
            return code;
        });
        return capture;
    }

    // Captures through tracefs into outPath (shown as `shownAs`); a bundle's snapshots are read just
    // before the tracepoints are enabled and just after they are put back.
    private static (int Code, TraceStats Stats) Run(string tracefs, string outPath, string shownAs, int? seconds, string[] command, BundleCapture? bundle, TextWriter stdout)
    {
        EnsureTracefs(tracefs);
        CaptureTracepoints tracepoints = CaptureTracepoints.Find(tracefs);
        string tracingOn = Path.Combine(tracefs, "tracing_on");
        string previousOn = File.Exists(tracingOn) ? File.ReadAllText(tracingOn).Trim() : "1";
        Stream file = File.Create(outPath);
        using Stream sink = outPath.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(file, CompressionLevel.Optimal) : file;
        long lines = 0;
        var reader = new Thread(() => lines = Pump(Path.Combine(tracefs, "trace_pipe"), sink)) { IsBackground = true, Name = "trace_pipe" };
        int exitCode = 0;
        try
        {
            // What the ring buffer held before is skipped up to the start marker (truncating the trace
            // file would clear it, but .NET opens with O_CREAT and then ftruncate, which tracefs ignores).
            File.WriteAllText(tracingOn, "1");
            File.WriteAllText(Path.Combine(tracefs, "trace_marker"), StartMarker + "\n");
            bundle?.SnapshotBefore();
            tracepoints.Enable();
            reader.Start();
            if (seconds is { } s)
            {
                // A spinner while the seconds pass (a command prints on the terminal itself: none then).
                Progress.WithStatus(stdout, $"capturing page events for {s} s ...", _ =>
                {
                    Thread.Sleep(TimeSpan.FromSeconds(s));
                    return 0;
                });
            }
            else
            {
                exitCode = RunCommand(command);
            }
        }
        finally
        {
            tracepoints.Restore();
            ExceptionDispatchInfo? snapshotError = null;
            try
            {
                bundle?.SnapshotAfter(); // before anything else, so the snapshot is of the moment tracing stopped
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                snapshotError = ExceptionDispatchInfo.Capture(e); // thrown once the tracefs state is put back
            }

            File.WriteAllText(Path.Combine(tracefs, "trace_marker"), EndMarker + "\n");
            if (reader.IsAlive && !reader.Join(TimeSpan.FromSeconds(10)))
            {
                Console.Error.WriteLine("buddy: trace_pipe did not deliver the end marker within 10 s; the capture may miss its last events.");
            }

            File.WriteAllText(tracingOn, previousOn);
            snapshotError?.Throw();
        }

        sink.Flush();
        sink.Dispose();
        return (exitCode, Summarize(outPath, shownAs, lines, exitCode, command, tracepoints.Missing, stdout));
    }

    // Copies trace_pipe to the sink from the start marker until the end marker arrives (what came
    // before the start marker is an earlier session's); returns the lines written.
    private static long Pump(string pipe, Stream sink)
    {
        long count = 0;
        bool started = false;
        using var input = new StreamReader(new FileStream(pipe, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.None), Encoding.ASCII);
        while (input.ReadLine() is { } line)
        {
            if (!started)
            {
                started = line.Contains(StartMarker, StringComparison.Ordinal);
                continue;
            }

            if (line.Contains(EndMarker, StringComparison.Ordinal))
            {
                break;
            }

            if (line.Contains("tracing_mark_write", StringComparison.Ordinal))
            {
                continue;
            }

            byte[] bytes = Encoding.ASCII.GetBytes(line + "\n");
            sink.Write(bytes);
            count++;
        }

        return count;
    }

    private static int RunCommand(string[] command)
    {
        var start = new ProcessStartInfo(command[0]) { UseShellExecute = false };
        foreach (string arg in command.Skip(1))
        {
            start.ArgumentList.Add(arg);
        }

        try
        {
            using Process process = Process.Start(start)!;
            process.WaitForExit();
            return process.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new UserInputException($"cannot run '{command[0]}': {e.Message}", e);
        }
    }

    private static void EnsureTracefs(string tracefs)
    {
        string probe = Path.Combine(tracefs, "events", "kmem", "mm_page_alloc", "enable");
        if (File.Exists(probe))
        {
            if (!Environment.IsPrivilegedProcess)
            {
                throw new UserInputException($"capture needs root to enable tracepoints in {tracefs}; run it with sudo.");
            }

            return;
        }

        if (!OperatingSystem.IsLinux())
        {
            throw new UserInputException("capture needs Linux tracefs (kmem tracepoints); this is not Linux.");
        }

        if (WhyUnavailable(tracefs, probe, IsMounted(tracefs), Environment.IsPrivilegedProcess) is { } why)
        {
            throw new UserInputException(why);
        }

        if (tracefs == DefaultTracefs && Directory.Exists(tracefs))
        {
            var mount = new ProcessStartInfo("mount", ["-t", "tracefs", "nodev", tracefs]) { RedirectStandardError = true, UseShellExecute = false };
            try
            {
                using Process p = Process.Start(mount)!;
                string error = p.StandardError.ReadToEnd();
                p.WaitForExit();
                if (p.ExitCode == 0 && File.Exists(probe))
                {
                    return;
                }

                throw new UserInputException($"tracefs could not be mounted at {tracefs}: {error.Trim()}");
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new UserInputException($"tracefs is not mounted at {tracefs} and 'mount' could not run: {e.Message}", e);
            }
        }

        throw new UserInputException($"tracefs is not available at {tracefs}: {probe} does not exist (a kernel with CONFIG_FTRACE and the kmem tracepoints is needed).");
    }

    // Why the probe file cannot be seen, when mounting is not the answer: tracefs is mounted but mode
    // 0700 (only root may look inside), or it is not mounted and only root may mount it. Null when
    // root may try to mount it.
    internal static string? WhyUnavailable(string tracefs, string probe, bool mounted, bool privileged) => (mounted, privileged) switch
    {
        (true, false) => $"permission denied: tracefs is mounted at {tracefs}, but only root can read it; run with sudo.",
        (true, true) => $"tracefs is mounted at {tracefs} but {probe} does not exist (a kernel with CONFIG_FTRACE and the kmem tracepoints is needed).",
        (false, false) => $"tracefs is not mounted at {tracefs}, and mounting it needs root; run with sudo, or mount it: mount -t tracefs nodev {tracefs}",
        (false, true) => null,
    };

    // Whether /proc/self/mounts lists a tracefs at the path (readable by every user, unlike tracefs).
    private static bool IsMounted(string tracefs)
    {
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(tracefs));
        try
        {
            return File.ReadLines("/proc/self/mounts").Select(line => line.Split(' ')).Any(f => f.Length > 2 && f[2] == "tracefs" && f[1] == full);
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    // Reads the trace back and says what it holds; `shownAs` is the name the user gave (--out or --bundle).
    private static TraceStats Summarize(string path, string shownAs, long lines, int exitCode, string[] command, IReadOnlyList<string> missing, TextWriter stdout)
    {
        using FtraceReader reader = FtraceReader.Open(path, new FtraceOptions { SkipBadLines = true });
        while (reader.TryRead(out _))
        {
        }

        TraceStats s = reader.Stats;
        stdout.WriteLine($"Captured {lines:N0} lines to {shownAs}: {s.Allocs:N0} allocations, {s.Frees:N0} frees, {s.FailedAllocs:N0} failed allocations{(s.LostEvents > 0 ? $", {s.LostEvents:N0} events LOST (ring buffer full)" : ", no lost events")}.");
        KernelEvidence e = s.Evidence;
        stdout.WriteLine($"The kernel recorded {e.Fallbacks:N0} migrate-type fallbacks ({e.FragmentingFallbacks:N0} fragmenting), {e.CompactionRuns:N0} compaction runs and {e.ZoneLockedAllocations:N0} zone-locked allocations"
            + (missing.Count > 0 ? $"; not on this kernel: {string.Join(", ", missing)}." : "."));
        if (s.BadLines > 0)
        {
            stdout.WriteLine($"{s.BadLines:N0} lines were not page events; the first: {s.FirstBadLine}");
        }

        if (command.Length > 0 && exitCode != 0)
        {
            stdout.WriteLine($"The command '{string.Join(' ', command)}' exited with code {exitCode}.");
        }

        return s;
    }
}
