// TraceBundle: a capture bundle — a trace and the machine's /proc and /sys texts just before the
// tracepoints were enabled and just after they were disabled — opened for reading. A bundle is a
// directory, or the same files in one .tar.gz/.tgz archive (no enclosing folder):
//
//   bundle.json     the manifest (BundleManifest): format "buddy-capture-bundle", version 1, kernel
//                   release, page size, start and end UTC, command or seconds, recorder (tracefs or
//                   perf), the trace's file name, lost events, and the absent snapshot files and why
//   trace.txt.gz    the trace: trace_pipe text (tracefs) or perf script text (perf), gzip
//   before/         zoneinfo buddyinfo pagetypeinfo vmstat iomem meminfo node-distance sysctl-vm
//   after/          the same files, read just after tracing stopped
//
// The snapshot files are the kernel's texts byte for byte, except node-distance (one line
// "node<N>: <distance to node 0> <to node 1> ..." per node, from /sys/devices/system/node/nodeN/distance)
// and sysctl-vm (one "vm.<name> = <value>" line per readable file of /proc/sys/vm, sorted; the
// write-only drop_caches and compact_memory are left out). Only zoneinfo is required; any other may
// be absent (an older bundle, a capture without root), and the snapshot's part is then null.
// Invariants: an archive is extracted to a private temporary directory that Dispose deletes; only
// regular files at the names above (and other top-level files) are extracted, each within a size
// bound; every error names the bundle, the member and, for a text, the line.
using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json;
using Buddy.Kernel;

namespace Buddy.Simulation.Replay;

/// <summary>An opened capture bundle: its manifest, trace and before/after machine snapshots.</summary>
/// <remarks>Not thread-safe to dispose while in use; the parsed parts are immutable.</remarks>
public sealed partial class TraceBundle : IDisposable
{
    /// <summary>The manifest's member name.</summary>
    public const string ManifestName = "bundle.json";

    /// <summary>The largest snapshot file read (256 MiB).</summary>
    public const long MaxSnapshotBytes = 256L << 20;

    /// <summary>The largest trace extracted from an archive (16 GiB).</summary>
    public const long MaxTraceBytes = 16L << 30;

    private readonly string? _tempDirectory;

    private TraceBundle(string path, string root, string? tempDirectory, BundleManifest manifest, MachineSnapshot before, MachineSnapshot after)
    {
        Path = path;
        _tempDirectory = tempDirectory;
        Manifest = manifest;
        TracePath = System.IO.Path.Combine(root, manifest.TraceFile);
        Before = before;
        After = after;
    }

    /// <summary>The bundle as given to <see cref="Open"/>.</summary>
    public string Path { get; }

    /// <summary>The trace file, readable by FtraceReader (inside the bundle directory, or extracted from the archive until <see cref="Dispose"/>).</summary>
    public string TracePath { get; }

    /// <summary>The manifest.</summary>
    public BundleManifest Manifest { get; }

    /// <summary>The machine just before the tracepoints were enabled.</summary>
    public MachineSnapshot Before { get; }

    /// <summary>The machine just after the tracepoints were disabled.</summary>
    public MachineSnapshot After { get; }

    /// <summary>Whether <paramref name="path"/> names an archive by its name (.tar.gz or .tgz) rather than a directory.</summary>
    public static bool IsArchiveName(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return path.EndsWith(".tar.gz", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".tgz", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Whether <paramref name="path"/> is a bundle: a directory holding bundle.json, or a .tar.gz/.tgz file holding it.</summary>
    public static bool IsBundle(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path))
        {
            return File.Exists(System.IO.Path.Combine(path, ManifestName));
        }

        if (!IsArchiveName(path) || !File.Exists(path))
        {
            return false;
        }

        try
        {
            using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
            using var tar = new TarReader(gzip);
            while (tar.GetNextEntry() is { } entry)
            {
                if (MemberName(entry.Name) == ManifestName)
                {
                    return true;
                }
            }
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException)
        {
            return false; // not a gzip'd tar: not a bundle
        }

        return false;
    }

    /// <summary>Opens the bundle at <paramref name="path"/> (a directory or a .tar.gz/.tgz archive) and parses its manifest and snapshots.</summary>
    /// <exception cref="IOException">The path does not exist, the manifest or the trace is missing, an archive is corrupt or holds an entry that is not a regular file within the size bounds; the message names the bundle and member.</exception>
    /// <exception cref="FormatException">The manifest is not JSON, names another format or version, or a snapshot text is malformed; the message names the bundle, member and line.</exception>
    public static TraceBundle Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path))
        {
            return Read(path, path, null);
        }

        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{path}: no such bundle (expected a directory holding {ManifestName}, or a .tar.gz/.tgz archive of one).", path);
        }

        if (!IsArchiveName(path))
        {
            throw new IOException($"{path}: a file whose name does not end in .tar.gz or .tgz: not a bundle (a bundle is a directory or such an archive).");
        }

        string temp = Directory.CreateTempSubdirectory("buddy-bundle-").FullName;
        try
        {
            Extract(path, temp);
            return Read(path, temp, temp);
        }
        catch
        {
            Directory.Delete(temp, recursive: true);
            throw;
        }
    }

    /// <summary>Deletes the directory an archive was extracted to (a directory bundle is left as it is).</summary>
    public void Dispose()
    {
        if (_tempDirectory is not null && Directory.Exists(_tempDirectory))
        {
            Directory.Delete(_tempDirectory, recursive: true);
        }
    }

    private static TraceBundle Read(string path, string root, string? temp)
    {
        bool archive = temp is not null;
        string Source(string member) => archive ? $"{path}:{member}" : System.IO.Path.Combine(path, member);

        string manifestFile = System.IO.Path.Combine(root, ManifestName);
        if (!File.Exists(manifestFile))
        {
            throw new IOException($"{Source(ManifestName)}: missing: not a capture bundle (every bundle holds its manifest, {ManifestName}).");
        }

        BundleManifest manifest = ReadManifest(ReadText(manifestFile, Source(ManifestName)), Source(ManifestName));
        if (!File.Exists(System.IO.Path.Combine(root, manifest.TraceFile)))
        {
            throw new IOException($"{Source(manifest.TraceFile)}: missing: the manifest names it as the bundle's trace.");
        }

        return new TraceBundle(path, root, temp, manifest,
            ReadSnapshot(root, "before", manifest, Source),
            ReadSnapshot(root, "after", manifest, Source));
    }

    private static BundleManifest ReadManifest(string json, string source)
    {
        BundleManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize(json, BundleJson.Default.BundleManifest);
        }
        catch (JsonException e)
        {
            throw new FormatException($"{source}:{(e.LineNumber ?? 0) + 1}: not a bundle manifest: {e.Message}", e);
        }

        if (manifest is null)
        {
            throw new FormatException($"{source}:1: not a bundle manifest: expected a JSON object, found null.");
        }

        if (manifest.Format != BundleManifest.FormatName)
        {
            throw new FormatException($"{source}: format '{manifest.Format}': expected \"format\": \"{BundleManifest.FormatName}\".");
        }

        if (manifest.Version != BundleManifest.CurrentVersion)
        {
            throw new FormatException($"{source}: version {manifest.Version}: this buddy reads bundle version {BundleManifest.CurrentVersion}.");
        }

        if (manifest.TraceFile.Length == 0 || manifest.TraceFile != System.IO.Path.GetFileName(manifest.TraceFile) || manifest.TraceFile is "." or "..")
        {
            throw new FormatException($"{source}: traceFile '{manifest.TraceFile}': expected a file name in the bundle's top level, such as trace.txt.gz.");
        }

        return manifest;
    }

    private static MachineSnapshot ReadSnapshot(string root, string name, BundleManifest manifest, Func<string, string> source)
    {
        var missing = new Dictionary<string, string>(StringComparer.Ordinal);
        string? Text(string file)
        {
            string member = $"{name}/{file}";
            string full = System.IO.Path.Combine(root, name, file);
            if (File.Exists(full))
            {
                return ReadText(full, source(member));
            }

            missing[file] = manifest.Missing.TryGetValue(member, out string? why) ? why : "not in the bundle";
            return null;
        }

        string zoneinfo = Text("zoneinfo") ?? throw new IOException($"{source($"{name}/zoneinfo")}: missing: every bundle snapshot holds zoneinfo.");
        string? buddy = Text("buddyinfo"), pagetype = Text("pagetypeinfo"), vmstat = Text("vmstat"), iomem = Text("iomem");
        string? distance = Text("node-distance"), sysctl = Text("sysctl-vm");
        return new MachineSnapshot(
            ZoneInfo.ParseLayout(zoneinfo, source($"{name}/zoneinfo")),
            buddy is null ? null : BuddyInfo.Parse(buddy, source($"{name}/buddyinfo")),
            pagetype is null ? null : PageTypeInfo.Parse(pagetype, source($"{name}/pagetypeinfo")),
            vmstat is null ? null : VmStat.Parse(vmstat, source($"{name}/vmstat")),
            sysctl is null ? null : VmStat.ParseSysctlVm(sysctl, source($"{name}/sysctl-vm")),
            iomem is null ? null : IoMem.Parse(iomem, source($"{name}/iomem")),
            distance is null ? null : NodeDistances.Parse(distance, source($"{name}/node-distance")),
            missing);
    }

    private static string ReadText(string file, string source)
    {
        long length = new FileInfo(file).Length;
        if (length > MaxSnapshotBytes)
        {
            throw new IOException($"{source}: {length:N0} bytes: larger than {MaxSnapshotBytes:N0}, not a kernel text.");
        }

        return File.ReadAllText(file);
    }

    // Extracts the archive's regular files to `into`, refusing links, devices, paths outside it and
    // sizes beyond the bounds (a crafted archive cannot write elsewhere or fill the disk).
    private static void Extract(string archive, string into)
    {
        try
        {
            using var gzip = new GZipStream(File.OpenRead(archive), CompressionMode.Decompress);
            using var tar = new TarReader(gzip);
            while (tar.GetNextEntry() is { } entry)
            {
                string name = MemberName(entry.Name);
                if (entry.EntryType is TarEntryType.Directory || name.Length == 0)
                {
                    continue;
                }

                string[] parts = name.Split('/');
                bool known = parts.Length == 1 || (parts.Length == 2 && parts[0] is "before" or "after");
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || !known || parts.Any(p => p is "" or "." or ".."))
                {
                    throw new IOException($"{archive}:{entry.Name}: a {entry.EntryType} entry at a name no bundle holds; expected regular files at the top level or in before/ and after/.");
                }

                long bound = parts.Length == 1 && name != ManifestName ? MaxTraceBytes : MaxSnapshotBytes;
                if (entry.Length > bound)
                {
                    throw new IOException($"{archive}:{name}: {entry.Length:N0} bytes: larger than {bound:N0}.");
                }

                string target = System.IO.Path.Combine(into, name);
                Directory.CreateDirectory(System.IO.Path.GetDirectoryName(target)!);
                entry.ExtractToFile(target, overwrite: true);
            }
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException)
        {
            throw new IOException($"{archive}: not a readable .tar.gz: {e.Message}", e);
        }
    }

    private static string MemberName(string entryName) => entryName.StartsWith("./", StringComparison.Ordinal) ? entryName[2..].TrimEnd('/') : entryName.TrimEnd('/');
}
