// TraceBundle.Write: what `buddy capture --bundle` uses to make a bundle (layout in TraceBundle.cs):
// a snapshot directory read from the live machine, the manifest, and the archive of a bundle
// directory. Invariant: a snapshot holds zoneinfo or the capture fails; every other file that cannot
// be read is left out and its reason returned, for the manifest's Missing.
using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json;
using Buddy.Kernel;

namespace Buddy.Simulation.Replay;

public sealed partial class TraceBundle
{
    /// <summary>Writes the live machine's snapshot files (<see cref="MachineSnapshot.FileNames"/>) into <paramref name="directory"/> (created); returns the files left out, by name, with the reason.</summary>
    /// <param name="directory">Where to write, e.g. the bundle's before/.</param>
    /// <param name="proc">Where procfs is mounted.</param>
    /// <param name="nodes">Where sysfs lists the NUMA nodes.</param>
    /// <exception cref="IOException">zoneinfo cannot be read, or the directory cannot be written.</exception>
    public static IReadOnlyDictionary<string, string> WriteSnapshot(string directory, string proc = "/proc", string nodes = NodeDistances.SysfsNodes)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(proc);
        ArgumentNullException.ThrowIfNull(nodes);
        Directory.CreateDirectory(directory);
        var missing = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string name in MachineSnapshot.FileNames)
        {
            byte[] text;
            try
            {
                text = name switch
                {
                    "node-distance" => System.Text.Encoding.ASCII.GetBytes(NodeDistances.Format(NodeDistances.ReadSysfs(nodes))),
                    "sysctl-vm" => System.Text.Encoding.UTF8.GetBytes(VmStat.ReadSysctlVm(System.IO.Path.Combine(proc, "sys", "vm"))),
                    _ => File.ReadAllBytes(System.IO.Path.Combine(proc, name)),
                };
                if (name == "iomem")
                {
                    _ = IoMem.Parse(System.Text.Encoding.UTF8.GetString(text), System.IO.Path.Combine(proc, name)); // refuses the zeroed text a reader without root sees
                }
            }
            catch (Exception e) when (name != "zoneinfo" && e is IOException or UnauthorizedAccessException or FormatException)
            {
                missing[name] = e.Message;
                continue;
            }

            File.WriteAllBytes(System.IO.Path.Combine(directory, name), text);
        }

        return missing;
    }

    /// <summary>Writes <paramref name="manifest"/> as <paramref name="directory"/>/bundle.json.</summary>
    public static void WriteManifest(string directory, BundleManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(manifest);
        File.WriteAllText(System.IO.Path.Combine(directory, ManifestName), JsonSerializer.Serialize(manifest, BundleJson.Default.BundleManifest) + "\n");
    }

    /// <summary>Packs the bundle directory <paramref name="directory"/> into the gzip'd tar <paramref name="archive"/>, its files at the archive's top level.</summary>
    /// <exception cref="IOException">The directory holds no bundle.json, or the archive cannot be written.</exception>
    public static void Pack(string directory, string archive)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(archive);
        if (!File.Exists(System.IO.Path.Combine(directory, ManifestName)))
        {
            throw new IOException($"{directory}: holds no {ManifestName}: not a bundle directory.");
        }

        using var gzip = new GZipStream(File.Create(archive), CompressionLevel.SmallestSize);
        TarFile.CreateFromDirectory(directory, gzip, includeBaseDirectory: false);
    }
}
