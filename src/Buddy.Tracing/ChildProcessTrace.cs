// ChildProcessTrace: the standard output of a program that prints a recording as text (perf
// script, trace-cmd report), read as a stream while the program runs — no temporary file. Its
// standard error is drained as it comes (so the child never blocks on a full pipe) and its last
// lines kept; at the end of the output the program's exit code is checked, and a failure is a
// TraceFormatException naming the recording, the command and what the program said. Disposing
// before the end kills the child (and its children) it started, and nothing else.
using System.Diagnostics;

namespace Buddy.Tracing;

/// <summary>A child process's standard output as a read-only stream, its exit checked at the end.</summary>
internal sealed class ChildProcessTrace : ReadOnlyStream
{
    private const int KeptErrorLines = 8;
    private readonly Process _process;
    private Stream _stdout = Null; // the child's standard output, once it has started
    private readonly string _source;
    private readonly string _command;
    private readonly Queue<string> _stderr = new();
    private bool _checked;

    private ChildProcessTrace(Process process, string source, string command)
    {
        _process = process;
        _source = source;
        _command = command;
    }

    /// <summary>Starts <paramref name="tool"/> with <paramref name="arguments"/> to print the recording <paramref name="source"/>.</summary>
    /// <exception cref="IOException">The program is not installed or cannot be started (the message names its package).</exception>
    public static ChildProcessTrace Start(TraceTool tool, string source, params string[] arguments)
    {
        string program = tool.Find() ?? throw tool.Missing(source);
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = info };
        string command = $"{tool.Program} {string.Join(' ', arguments)}";
        var trace = new ChildProcessTrace(process, source, command);
        process.ErrorDataReceived += (_, e) => trace.KeepError(e.Data);
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            process.Dispose();
            throw tool.Missing(source, $"{program}: {e.Message}");
        }

        trace._stdout = process.StandardOutput.BaseStream;
        process.BeginErrorReadLine();
        return trace;
    }

    public override int Read(Span<byte> buffer)
    {
        int n = _stdout.Read(buffer);
        if (n == 0 && buffer.Length > 0 && !_checked)
        {
            _checked = true;
            _process.WaitForExit(); // and for the standard error to be drained
            if (_process.ExitCode != 0)
            {
                string said;
                lock (_stderr)
                {
                    said = _stderr.Count == 0 ? "it printed nothing on standard error" : "it said: " + string.Join(" | ", _stderr);
                }

                throw new TraceFormatException(_source, 0, null, $"`{_command}` failed with exit code {_process.ExitCode}; {said}");
            }
        }

        return n;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            try
            {
                if (!_process.HasExited)
                {
                    _process.Kill(entireProcessTree: true); // stopped early (a bad line): end the child this stream started
                    _process.WaitForExit();
                }
            }
            catch (InvalidOperationException)
            {
                // It had already ended.
            }

            _stdout.Dispose();
            _process.Dispose();
        }

        base.Dispose(disposing);
    }

    private void KeepError(string? line)
    {
        if (string.IsNullOrWhiteSpace(line))
        {
            return;
        }

        lock (_stderr)
        {
            if (_stderr.Count == KeptErrorLines)
            {
                _stderr.Dequeue();
            }

            _stderr.Enqueue(line.Trim());
        }
    }
}
