// TraceFile: opens a trace file by what it holds, never by its name. Text (plain or gzip: the
// reader's TraceInput tells them apart) is read as it is; a perf.data recording (magic
// "PERFILE2", or "2ELIFREP" from a big-endian machine) is printed by `perf script -i FILE`, and a
// trace-cmd recording (magic "\x17\x08\x44tracing") by `trace-cmd report -i FILE`, each streamed
// from the child process (ChildProcessTrace) — no temporary file. A missing program is one line
// naming its Debian package (TraceTool).
using Buddy.Kernel;

namespace Buddy.Tracing;

/// <summary>Opens trace files for <see cref="FtraceReader"/>: trace text, perf.data or trace.dat, told apart by content.</summary>
public static class TraceFile
{
    /// <summary>
    /// Opens <paramref name="path"/> as trace text: the file itself when it is text (plain or gzip),
    /// or the text <c>perf script</c> / <c>trace-cmd report</c> prints for a perf.data / trace.dat
    /// recording, read from the running program. A text file comes back seekable when the file is.
    /// </summary>
    /// <exception cref="IOException">The file cannot be opened; or it is a recording whose program is not installed (one line naming the package to install).</exception>
    /// <remarks>A recording's program failing (a nonzero exit code) is a <see cref="TraceFormatException"/> when its output ends.</remarks>
    public static Stream OpenRead(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        FileStream file = InputFile.OpenRead(path);
        TraceTool? tool;
        try
        {
            Span<byte> magic = stackalloc byte[10];
            int got = 0;
            while (got < magic.Length)
            {
                int n = file.Read(magic[got..]);
                if (n == 0)
                {
                    break;
                }

                got += n;
            }

            tool = RecordingTool(magic[..got]);
            if (tool is null)
            {
                if (file.CanSeek)
                {
                    file.Position = 0;
                    return file;
                }

                var input = new PushbackStream(file);
                input.PushBack(magic[..got]);
                return input;
            }
        }
        catch
        {
            file.Dispose();
            throw;
        }

        file.Dispose();
        return tool == TraceTool.Perf
            ? ChildProcessTrace.Start(tool, path, "script", "-i", path)
            : ChildProcessTrace.Start(tool, path, "report", "-i", path);
    }

    // The program that prints a recording starting with these bytes, or null for text.
    internal static TraceTool? RecordingTool(ReadOnlySpan<byte> start) =>
        start.StartsWith("PERFILE2"u8) || start.StartsWith("2ELIFREP"u8) ? TraceTool.Perf
        : start.StartsWith("\x17\x08\x44tracing"u8) ? TraceTool.TraceCmd
        : null;
}
