// BundleCapture: the bundle side of `buddy capture --bundle PATH` (layout in
// Buddy.Simulation.Replay.TraceBundle). It owns the bundle's working directory — PATH itself for a
// directory bundle, a private temporary directory for a .tar.gz/.tgz — and writes there the trace,
// before/ (SnapshotBefore, called just before the tracepoints are enabled), after/ (SnapshotAfter,
// just after they are disabled) and at last bundle.json, then packs an archive. Invariants: PATH is
// checked before anything is traced (an existing non-empty directory, or an archive whose folder
// does not exist, is refused); the temporary directory is always deleted; a directory bundle this
// capture created is deleted again if the capture fails, so no half bundle is left behind.
using System.Globalization;
using Buddy.Simulation.Replay;

namespace Buddy.Tool.Commands;

/// <summary>Writes a capture bundle around a capture.</summary>
internal sealed class BundleCapture : IDisposable
{
    private readonly string _path;
    private readonly string _work;
    private readonly bool _archive;
    private readonly bool _created;
    private readonly string _recorder;
    private readonly int? _seconds;
    private readonly string[] _command;
    private readonly Dictionary<string, string> _missing = new(StringComparer.Ordinal);
    private DateTimeOffset _start, _end;
    private bool _done;

    private BundleCapture(string path, string work, bool archive, bool created, string recorder, int? seconds, string[] command)
    {
        _path = path;
        _created = created;
        _work = work;
        _archive = archive;
        _recorder = recorder;
        _seconds = seconds;
        _command = command;
    }

    /// <summary>Where the recorder writes the trace.</summary>
    public string TracePath => Path.Combine(_work, "trace.txt.gz");

    /// <summary>Checks <paramref name="path"/> and makes the working directory.</summary>
    /// <exception cref="UserInputException">The path cannot hold a new bundle.</exception>
    public static BundleCapture Create(string path, string recorder, int? seconds, string[] command)
    {
        bool archive = TraceBundle.IsArchiveName(path);
        if (archive)
        {
            string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
            if (Directory.Exists(path))
            {
                throw new UserInputException($"--bundle {path}: is a directory; expected a .tar.gz/.tgz file to write, or a directory name without that ending.");
            }

            if (folder is null || !Directory.Exists(folder))
            {
                throw new UserInputException($"--bundle {path}: the folder {folder} does not exist; expected an archive path in an existing folder.");
            }

            return new BundleCapture(path, Directory.CreateTempSubdirectory("buddy-capture-").FullName, true, true, recorder, seconds, command);
        }

        if (File.Exists(path))
        {
            throw new UserInputException($"--bundle {path}: is a file; expected a new or empty directory, or a name ending in .tar.gz or .tgz.");
        }

        if (Directory.Exists(path) && Directory.EnumerateFileSystemEntries(path).Any())
        {
            throw new UserInputException($"--bundle {path}: the directory is not empty; expected a new or empty directory, so that no file of it is overwritten.");
        }

        bool created = !Directory.Exists(path);
        try
        {
            Directory.CreateDirectory(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserInputException($"--bundle {path}: cannot create the directory: {e.Message}", e);
        }

        return new BundleCapture(path, path, false, created, recorder, seconds, command);
    }

    /// <summary>Reads the machine's texts into before/; call just before the tracepoints are enabled.</summary>
    public void SnapshotBefore()
    {
        Snapshot("before");
        _start = DateTimeOffset.UtcNow;
    }

    /// <summary>Reads the machine's texts into after/; call just after the tracepoints are disabled.</summary>
    public void SnapshotAfter()
    {
        _end = DateTimeOffset.UtcNow;
        Snapshot("after");
    }

    /// <summary>Writes the manifest, packs an archive and says what was written.</summary>
    public void Finish(long lostEvents, TextWriter stdout)
    {
        var manifest = new BundleManifest
        {
            KernelRelease = File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : Environment.OSVersion.VersionString,
            PageSize = Environment.SystemPageSize,
            StartUtc = _start,
            EndUtc = _end,
            Command = _command.Length > 0 ? _command : null,
            Seconds = _seconds,
            Recorder = _recorder,
            TraceFile = Path.GetFileName(TracePath),
            LostEvents = lostEvents,
            Missing = _missing,
        };
        TraceBundle.WriteManifest(_work, manifest);
        if (_archive)
        {
            TraceBundle.Pack(_work, _path);
        }

        _done = true;
        string left = _missing.Count == 0 ? "" : "; left out: " + string.Join("; ", _missing.Select(m => $"{m.Key} ({m.Value})"));
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Bundle written to {_path}: {manifest.TraceFile}, before/ and after/ snapshots of /proc, bundle.json{left}."));
    }

    /// <summary>Deletes the temporary directory, and a directory bundle that was not finished.</summary>
    public void Dispose()
    {
        if ((_archive || (!_done && _created)) && Directory.Exists(_work))
        {
            Directory.Delete(_work, recursive: true);
        }
    }

    private void Snapshot(string name)
    {
        foreach ((string file, string why) in TraceBundle.WriteSnapshot(Path.Combine(_work, name)))
        {
            _missing[$"{name}/{file}"] = why;
        }
    }
}
