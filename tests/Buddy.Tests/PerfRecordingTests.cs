// PerfRecordingTests: binary recordings (issue 19) — a perf.data recorded here replays through
// `perf script` in a child process, line for line what perf script itself prints; a missing perf
// or trace-cmd is one line naming the package (simulated with BUDDY_PERF / BUDDY_TRACE_CMD naming
// a path that does not exist), a failing child is a clear error naming the file, and a trace with
// no page event is an error in replay, report and map alike. The tests set process-wide
// environment variables, so they live in one class (xunit runs a class's tests one at a time) and
// put each variable back.
using System.Diagnostics;
using System.Globalization;
using Buddy.Simulation.Replay;
using Buddy.Tool.Commands;
using Buddy.Tracing;

namespace Buddy.Tests;

public sealed class PerfRecordingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("buddy-perf-recording-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_perf_data_recorded_here_replays_through_perf_script_line_for_line()
    {
        string? perf = FindOnPath("perf");
        Assert.SkipWhen(perf is null, "perf is not installed (Debian: apt-get install linux-perf); the perf.data round trip needs it");
        string data = Path.Combine(_dir, "tiny.perf.data");
        (int recorded, string why) = Run(perf!, "record", "-q", "-e", "kmem:mm_page_alloc", "-e", "kmem:mm_page_free", "-a", "-o", data, "--", "sh", "-c", "head -c 2000000 /dev/urandom | gzip > /dev/null");
        Assert.SkipWhen(recorded != 0 || !File.Exists(data), $"perf record may not record kmem tracepoints here (needs root or perf_event_paranoid <= -1 and tracefs): exit {recorded}: {why}");
        (int printed, string text) = Run(perf!, "script", "-i", data);
        Assert.Equal(0, printed);
        string[] lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

        var events = new List<PageEvent>();
        using (FtraceReader reader = FtraceReader.Open(data))
        {
            while (reader.TryRead(out PageEvent e))
            {
                events.Add(e);
            }

            Assert.Equal(lines.Length, reader.Stats.Lines);
            Assert.Equal(lines.Length, reader.Stats.Allocs + reader.Stats.Frees + reader.Stats.FailedAllocs);
        }

        Assert.Equal(lines.Count(l => l.Contains("kmem:mm_page_free:", StringComparison.Ordinal)), events.Count(e => e.Kind == PageEventKind.Free));
        ReplayResult result = TraceReplay.Run(data, new ReplayOptions { Policies = ["linux-6.18"] });
        Assert.Equal(lines.Length, result.Trace.Lines);
    }

    [Theory]
    [InlineData("replay {0} --policy zoned")]
    [InlineData("report {0} --out {1}/r.html --policy zoned")]
    [InlineData("map --trace {0} --policy zoned --out {1}/m.svg")]
    public void Without_perf_a_perf_data_is_one_line_naming_the_package_with_exit_code_2(string commandLine)
    {
        string data = Path.Combine(_dir, "recording");
        File.WriteAllBytes(data, [.. "PERFILE2"u8, .. new byte[100]]);

        (int exit, string stderr) = WithEnvironment("BUDDY_PERF", "/nonexistent/perf", () => RunCli(string.Format(CultureInfo.InvariantCulture, commandLine, data, _dir)));

        Assert.Equal(2, exit);
        Assert.Equal($"buddy: {data}: reading perf.data needs perf: install Debian's linux-perf (apt-get install linux-perf)\n", stderr);
    }

    [Fact]
    public void Without_trace_cmd_a_trace_dat_is_one_line_naming_the_package()
    {
        string data = Path.Combine(_dir, "trace.dat");
        File.WriteAllBytes(data, [.. "\x17\x08\x44tracing6\0"u8, .. new byte[100]]);

        (int exit, string stderr) = WithEnvironment("BUDDY_TRACE_CMD", "/nonexistent/trace-cmd", () => RunCli($"replay {data}"));

        Assert.Equal(2, exit);
        Assert.Equal($"buddy: {data}: reading trace.dat needs trace-cmd: install Debian's trace-cmd (apt-get install trace-cmd)\n", stderr);
    }

    [Fact]
    public void A_failing_perf_script_is_an_error_naming_the_file_its_exit_code_and_what_it_said()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Skip("the stand-in perf is a shell script");
            return;
        }
        string data = Path.Combine(_dir, "broken.data");
        File.WriteAllBytes(data, [.. "PERFILE2"u8, .. new byte[100]]);
        string fake = Path.Combine(_dir, "fake-perf");
        File.WriteAllText(fake, "#!/bin/sh\necho 'kmem:mm_page_alloc: not a real line' \necho 'failed to open broken.data: Invalid argument' >&2\nexit 3\n");
        File.SetUnixFileMode(fake, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.UserWrite);

        (int exit, string stderr) = WithEnvironment("BUDDY_PERF", fake, () => RunCli($"replay {data} --skip-bad-lines"));

        Assert.Equal(2, exit);
        Assert.Equal($"buddy: {data}: `perf script -i {data}` failed with exit code 3; it said: failed to open broken.data: Invalid argument\n", stderr);
    }

    [Fact]
    public void Capture_with_perf_without_perf_is_one_line_naming_the_package()
    {
        (int exit, string stderr) = WithEnvironment("BUDDY_PERF", "/nonexistent/perf", () => RunCli($"capture --with perf --out {_dir}/c.trace --seconds 1"));

        Assert.Equal(2, exit);
        Assert.StartsWith("buddy: capture --with perf needs perf: install Debian's linux-perf (apt-get install linux-perf)", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
        Assert.False(File.Exists($"{_dir}/c.trace"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("# tracer: nop\n#\n")]
    [InlineData("cpus=2\n")]
    [InlineData("            bash-1     [000] .....     1.000001: mm_page_free_batched: page=0000000012345678 pfn=0x10\n")]
    public void A_trace_with_no_page_event_is_an_error_in_replay_report_and_map(string text)
    {
        string trace = Path.Combine(_dir, "nothing.trace");
        File.WriteAllText(trace, text);

        foreach (string commandLine in new[] { $"replay {trace}", $"report {trace} --out {_dir}/r.html", $"map --trace {trace} --out {_dir}/m.svg --policy zoned" })
        {
            (int exit, string stderr) = RunCli(commandLine);

            Assert.Equal(2, exit);
            Assert.Single(stderr.TrimEnd('\n').Split('\n'));
            Assert.Contains(text.Length == 0 ? "the file is empty" : $"{trace}: no page events found", stderr, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_trace_whose_every_line_was_bad_and_skipped_says_so()
    {
        string trace = Path.Combine(_dir, "bad.trace");
        File.WriteAllText(trace, "this is no trace\n");

        (int exit, string stderr) = RunCli($"replay {trace} --skip-bad-lines");

        Assert.Equal(2, exit);
        Assert.Contains("no page events found: 1 lines, 0 events", stderr, StringComparison.Ordinal);
        Assert.Contains("1 bad lines skipped", stderr, StringComparison.Ordinal);
    }

    private static (int Exit, string Stderr) RunCli(string commandLine)
    {
        using var stderr = new StringWriter(CultureInfo.InvariantCulture) { NewLine = "\n" };
        int exit = Cli.Run(commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries), TextWriter.Null, stderr);
        return (exit, stderr.ToString());
    }

    private static T WithEnvironment<T>(string name, string value, Func<T> action)
    {
        string? before = Environment.GetEnvironmentVariable(name);
        Environment.SetEnvironmentVariable(name, value);
        try
        {
            return action();
        }
        finally
        {
            Environment.SetEnvironmentVariable(name, before);
        }
    }

    private static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);

    private static (int Exit, string Output) Run(string program, params string[] arguments)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in arguments)
        {
            info.ArgumentList.Add(a);
        }

        using Process p = Process.Start(info)!;
        Task<string> error = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, p.ExitCode == 0 ? output : error.Result.Trim());
    }
}
