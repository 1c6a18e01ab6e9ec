// TraceBundleTests: the committed capture bundle (Data/live-6.18.bundle.tar.gz) opened as an archive
// and as a directory, its numbers checked against the raw member texts read here on their own;
// malformed bundles refused naming member and line; and `buddy capture --bundle` end to end as root.
using System.Formats.Tar;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using Buddy.Kernel;
using Buddy.Simulation.Replay;
using Buddy.Tool.Commands;
using Buddy.Tracing;

namespace Buddy.Tests;

public sealed class TraceBundleTests : IDisposable
{
    private const string Sample = "live-6.18.bundle.tar.gz";
    private readonly string _dir = Directory.CreateTempSubdirectory("buddy-bundle-test-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // The archive's members as raw bytes, read with TarReader here (not through TraceBundle).
    private static Dictionary<string, byte[]> Members(string archive)
    {
        var members = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        using var tar = new TarReader(new GZipStream(File.OpenRead(archive), CompressionMode.Decompress));
        while (tar.GetNextEntry() is { } e)
        {
            if (e.DataStream is { } data)
            {
                using var copy = new MemoryStream();
                data.CopyTo(copy);
                members[e.Name.TrimStart('.', '/')] = copy.ToArray();
            }
        }

        return members;
    }

    private static string Text(Dictionary<string, byte[]> m, string name) => Encoding.UTF8.GetString(m[name]);

    // Writes the sample's members as a directory bundle (optionally changed) and returns its path.
    private string AsDirectory(Func<string, byte[], byte[]?>? change = null)
    {
        string dir = Path.Combine(_dir, "d" + Guid.NewGuid().ToString("n"));
        foreach ((string name, byte[] bytes) in Members(TestData.Path(Sample)))
        {
            if ((change is null ? bytes : change(name, bytes)) is { } kept)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(dir, name))!);
                File.WriteAllBytes(Path.Combine(dir, name), kept);
            }
        }

        return dir;
    }

    [Fact]
    public void The_sample_bundle_opens_and_its_snapshots_hold_what_the_raw_texts_say()
    {
        Dictionary<string, byte[]> raw = Members(TestData.Path(Sample));
        Assert.True(TraceBundle.IsBundle(TestData.Path(Sample)));
        string tracePath;
        using (TraceBundle bundle = TraceBundle.Open(TestData.Path(Sample)))
        {
            tracePath = bundle.TracePath;
            CheckAgainstRaw(bundle, raw);
        }

        Assert.False(File.Exists(tracePath), "the extracted trace is deleted on Dispose");
    }

    [Fact]
    public void The_sample_as_a_directory_opens_the_same()
    {
        Dictionary<string, byte[]> raw = Members(TestData.Path(Sample));
        string dir = AsDirectory();
        Assert.True(TraceBundle.IsBundle(dir));
        using (TraceBundle bundle = TraceBundle.Open(dir))
        {
            Assert.Equal(Path.Combine(dir, "trace.txt.gz"), bundle.TracePath);
            CheckAgainstRaw(bundle, raw);
        }

        Assert.True(File.Exists(Path.Combine(dir, "trace.txt.gz")), "a directory bundle is left as it was");

        // Packed again, it is an archive bundle with the same contents.
        string again = Path.Combine(_dir, "again.tgz");
        TraceBundle.Pack(dir, again);
        using TraceBundle packed = TraceBundle.Open(again);
        CheckAgainstRaw(packed, raw);
        Assert.False(TraceBundle.IsBundle(TestData.Path("live-6.18.zoneinfo")));
    }

    private static void CheckAgainstRaw(TraceBundle bundle, Dictionary<string, byte[]> raw)
    {
        Assert.Equal(BundleManifest.FormatName, bundle.Manifest.Format);
        Assert.Equal(1, bundle.Manifest.Version);
        Assert.Equal("tracefs", bundle.Manifest.Recorder);
        Assert.Equal(4096, bundle.Manifest.PageSize);
        Assert.StartsWith("6.18", bundle.Manifest.KernelRelease, StringComparison.Ordinal);
        Assert.True(bundle.Manifest.EndUtc > bundle.Manifest.StartUtc);
        Assert.Contains($"\"kernelRelease\": \"{bundle.Manifest.KernelRelease}\"", Text(raw, "bundle.json"), StringComparison.Ordinal);

        // The trace: events counted in its text, against the reader's count.
        string trace;
        using (var gz = new GZipStream(new MemoryStream(raw["trace.txt.gz"]), CompressionMode.Decompress))
        using (var r = new StreamReader(gz))
        {
            trace = r.ReadToEnd();
        }

        using (FtraceReader reader = FtraceReader.Open(bundle.TracePath))
        {
            while (reader.TryRead(out _))
            {
            }

            Assert.Equal(Regex.Count(trace, " mm_page_alloc: "), reader.Stats.Allocs);
            Assert.Equal(Regex.Count(trace, " mm_page_free: "), reader.Stats.Frees);
            Assert.Equal(bundle.Manifest.LostEvents, reader.Stats.LostEvents);
            Assert.True(reader.Stats.Allocs > 10_000 && reader.Stats.Frees > 10_000);
        }

        foreach ((string name, MachineSnapshot snap) in new[] { ("before", bundle.Before), ("after", bundle.After) })
        {
            Assert.Empty(snap.Missing);
            string zoneinfo = Text(raw, $"{name}/zoneinfo");
            string[] zoneNames = [.. Regex.Matches(zoneinfo, @"(?m)^Node \d+, zone +(\S+)$").Select(m => m.Groups[1].Value)];
            Assert.Equal(zoneNames, snap.ZoneInfo.Select(z => z.Name));
            Assert.Equal(Regex.Matches(zoneinfo, @"(?m)^        spanned  (\d+)$").Select(m => ulong.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)), snap.ZoneInfo.Select(z => z.SpannedPages));
            Assert.Equal(Regex.Matches(zoneinfo, @"(?m)^        present  (\d+)$").Select(m => ulong.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)), snap.ZoneInfo.Select(z => z.PresentPages));
            Assert.Equal(Regex.Matches(zoneinfo, @"(?m)^  start_pfn:\s+(\d+)$").Select(m => ulong.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)), snap.ZoneInfo.Where(z => z.SpannedPages > 0).Select(z => z.StartPfn));
            ZoneInfoZone dma = snap.ZoneInfo.Single(z => z.Name == "DMA");
            Assert.Equal((1UL, 4095UL, 3998UL, 3840UL), (dma.StartPfn, dma.SpannedPages, dma.PresentPages, dma.ManagedPages));

            string buddy = Text(raw, $"{name}/buddyinfo");
            long freeBlocks = buddy.Split('\n', StringSplitOptions.RemoveEmptyEntries).Sum(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(4).Sum(long.Parse));
            Assert.Equal(freeBlocks, snap.BuddyInfo!.Zones.Sum(z => z.FreeBlockCounts.Sum()));

            Assert.Equal(Text(raw, $"{name}/pagetypeinfo"), PageTypeInfo.Format(snap.PageTypeInfo!));

            string vmstat = Text(raw, $"{name}/vmstat");
            Assert.Equal(vmstat.Count(c => c == '\n'), snap.VmStat!.Count);
            Assert.Equal(long.Parse(Regex.Match(vmstat, @"(?m)^nr_free_pages (\d+)$").Groups[1].Value, CultureInfo.InvariantCulture), snap.VmStat["nr_free_pages"]);

            string sysctl = Text(raw, $"{name}/sysctl-vm");
            Assert.Equal(sysctl.Count(c => c == '\n'), snap.Sysctls!.Count);
            Assert.Equal(Regex.Match(sysctl, @"(?m)^vm\.min_free_kbytes = (\d+)$").Groups[1].Value, snap.Sysctls["min_free_kbytes"]);

            MatchCollection ram = Regex.Matches(Text(raw, $"{name}/iomem"), @"(?m)^([0-9a-f]+)-([0-9a-f]+) : System RAM$");
            Assert.Equal(ram.Select(m => new AddressRange(ulong.Parse(m.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture), ulong.Parse(m.Groups[2].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture) + 1)), snap.SystemRam);
            Assert.Equal(10, snap.NodeDistances![0][0]);
            Assert.Equal(Text(raw, $"{name}/node-distance").Count(c => c == '\n'), snap.NodeDistances.Length);
        }
    }

    [Fact]
    public void A_bundle_without_optional_snapshot_files_reads_them_as_absent_with_the_reason()
    {
        string dir = AsDirectory((name, bytes) => name is "before/iomem" or "after/pagetypeinfo" ? null : bytes);
        using TraceBundle bundle = TraceBundle.Open(dir);
        Assert.Null(bundle.Before.IoMem);
        Assert.Empty(bundle.Before.SystemRam);
        Assert.Equal("not in the bundle", bundle.Before.Missing["iomem"]);
        Assert.Null(bundle.After.PageTypeInfo);
        Assert.NotNull(bundle.After.IoMem);
        Assert.Equal(["pagetypeinfo"], bundle.After.Missing.Keys);
    }

    [Fact]
    public void Malformed_bundles_are_refused_naming_the_member_and_line()
    {
        string noManifest = AsDirectory((name, bytes) => name == "bundle.json" ? null : bytes);
        Assert.False(TraceBundle.IsBundle(noManifest));
        var io = Assert.Throws<IOException>(() => TraceBundle.Open(noManifest));
        Assert.Contains(Path.Combine(noManifest, "bundle.json"), io.Message, StringComparison.Ordinal);

        string v2 = AsDirectory((name, bytes) => name == "bundle.json" ? Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(bytes).Replace("\"version\": 1", "\"version\": 2", StringComparison.Ordinal)) : bytes);
        var format = Assert.Throws<FormatException>(() => TraceBundle.Open(v2));
        Assert.Contains("bundle.json: version 2: this buddy reads bundle version 1", format.Message, StringComparison.Ordinal);

        string badJson = AsDirectory((name, bytes) => name == "bundle.json" ? "{\n  \"format\": \"buddy-capture-bundle\",\n  \"version\": oops\n}\n"u8.ToArray() : bytes);
        format = Assert.Throws<FormatException>(() => TraceBundle.Open(badJson));
        Assert.Contains("bundle.json:3: not a bundle manifest", format.Message, StringComparison.Ordinal);

        string otherFormat = AsDirectory((name, bytes) => name == "bundle.json" ? "{\"format\": \"something-else\", \"version\": 1}"u8.ToArray() : bytes);
        Assert.Contains("format 'something-else'", Assert.Throws<FormatException>(() => TraceBundle.Open(otherFormat)).Message, StringComparison.Ordinal);

        string noTrace = AsDirectory((name, bytes) => name == "trace.txt.gz" ? null : bytes);
        io = Assert.Throws<IOException>(() => TraceBundle.Open(noTrace));
        Assert.Contains("trace.txt.gz: missing", io.Message, StringComparison.Ordinal);

        string zeroedIomem = AsDirectory((name, bytes) => name == "before/iomem" ? Encoding.ASCII.GetBytes(Regex.Replace(Encoding.ASCII.GetString(bytes), "[0-9a-f]+-[0-9a-f]+ :", "00000000-00000000 :")) : bytes);
        format = Assert.Throws<FormatException>(() => TraceBundle.Open(zeroedIomem));
        Assert.Contains(Path.Combine("before", "iomem") + ": every address is 0", format.Message, StringComparison.Ordinal);
        Assert.Contains("read it as root", format.Message, StringComparison.Ordinal);

        string noSpanned = AsDirectory((name, bytes) => name == "after/zoneinfo" ? Encoding.ASCII.GetBytes(Encoding.ASCII.GetString(bytes).Replace("        spanned  4095\n", "", StringComparison.Ordinal)) : bytes);
        format = Assert.Throws<FormatException>(() => TraceBundle.Open(noSpanned));
        Assert.Contains(Path.Combine("after", "zoneinfo") + ":1: zone DMA (managed 3840) lacks 'spanned'", format.Message, StringComparison.Ordinal);

        string noZoneinfo = AsDirectory((name, bytes) => name == "before/zoneinfo" ? null : bytes);
        Assert.Contains("zoneinfo: missing", Assert.Throws<IOException>(() => TraceBundle.Open(noZoneinfo)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_malformed_archive_is_refused_naming_the_archive_and_member()
    {
        // A member outside before/ and after/ below the top level: refused, not extracted.
        string odd = Path.Combine(_dir, "odd.tar.gz");
        using (var tar = new TarWriter(new GZipStream(File.Create(odd), CompressionLevel.Fastest)))
        {
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "bundle.json") { DataStream = new MemoryStream("{}"u8.ToArray()) });
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "x/y/z") { DataStream = new MemoryStream([1]) });
        }

        Assert.True(TraceBundle.IsBundle(odd));
        Assert.Contains($"{odd}:x/y/z: a RegularFile entry at a name no bundle holds", Assert.Throws<IOException>(() => TraceBundle.Open(odd)).Message, StringComparison.Ordinal);

        string garbage = Path.Combine(_dir, "garbage.tgz");
        File.WriteAllText(garbage, "not gzip");
        Assert.False(TraceBundle.IsBundle(garbage));
        Assert.Contains($"{garbage}: not a readable .tar.gz", Assert.Throws<IOException>(() => TraceBundle.Open(garbage)).Message, StringComparison.Ordinal);

        // Bad text inside an archive is named archive:member:line.
        string bad = Path.Combine(_dir, "bad.tar.gz");
        TraceBundle.Pack(AsDirectory((name, bytes) => name == "before/vmstat" ? "nr_free_pages x\n"u8.ToArray() : bytes), bad);
        Assert.StartsWith($"{bad}:before/vmstat:1: expected '<counter> <non-negative number>'", Assert.Throws<FormatException>(() => TraceBundle.Open(bad)).Message, StringComparison.Ordinal);
    }

    private static (int Code, string Stdout, string Stderr) Run(params string[] args) => CliRunner.Run(args);

    [Fact]
    public void Capture_takes_exactly_one_of_out_and_bundle()
    {
        (int code, _, string stderr) = Run("capture", "--bundle", Path.Combine(_dir, "x.tgz"), "--out", Path.Combine(_dir, "y.gz"), "--seconds", "1");
        Assert.Equal(2, code);
        Assert.Single(stderr.TrimEnd().Split('\n'));
        Assert.StartsWith("buddy: give exactly one of --out FILE and --bundle PATH", stderr, StringComparison.Ordinal);
        (code, _, stderr) = Run("capture", "--seconds", "1");
        Assert.Equal(2, code);
        Assert.Contains("give exactly one of --out FILE and --bundle PATH", stderr, StringComparison.Ordinal);

        File.WriteAllText(Path.Combine(_dir, "taken"), "");
        (code, _, stderr) = Run("capture", "--bundle", _dir, "--seconds", "1");
        Assert.Equal(2, code);
        Assert.Contains($"--bundle {_dir}: the directory is not empty", stderr, StringComparison.Ordinal);
        (code, _, stderr) = Run("capture", "--bundle", Path.Combine(_dir, "no-such-folder", "c.tgz"), "--seconds", "1");
        Assert.Equal(2, code);
        Assert.Contains("does not exist", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("live.tar.gz")]
    [InlineData("live-dir")]
    public void Capture_bundle_records_a_trace_and_both_snapshots(string name)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && Environment.IsPrivilegedProcess && (File.Exists("/sys/kernel/tracing/events/kmem/mm_page_alloc/enable") || Directory.Exists("/sys/kernel/tracing")),
            "needs root and tracefs (a Linux machine where the test runs as root)");
        string path = Path.Combine(_dir, name);
        (int code, string stdout, string stderr) = Run("capture", "--bundle", path, "--seconds", "1");
        Assert.True(code == 0, stderr);
        Assert.Contains($"Bundle written to {path}", stdout, StringComparison.Ordinal);
        Assert.True(TraceBundle.IsBundle(path));
        using TraceBundle bundle = TraceBundle.Open(path);
        Assert.Equal(1, bundle.Manifest.Seconds);
        Assert.Null(bundle.Manifest.Command);
        Assert.Equal(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), bundle.Manifest.KernelRelease);
        foreach (MachineSnapshot snap in new[] { bundle.Before, bundle.After })
        {
            Assert.NotEmpty(snap.ZoneInfo);
            Assert.All(snap.ZoneInfo, z => Assert.True(z.HasLayout));
            Assert.NotNull(snap.BuddyInfo);
            Assert.NotNull(snap.PageTypeInfo);
            Assert.NotEmpty(snap.SystemRam);
            Assert.NotNull(snap.NodeDistances);
            Assert.True(snap.VmStat!.ContainsKey("nr_free_pages"));
            Assert.True(snap.Sysctls!.ContainsKey("min_free_kbytes"));
        }

        if (!name.EndsWith(".tar.gz", StringComparison.Ordinal))
        {
            Assert.True(Directory.Exists(Path.Combine(path, "before")) && Directory.Exists(Path.Combine(path, "after")));
        }

        Assert.True(bundle.Before.VmStat!["pgalloc_normal"] <= bundle.After.VmStat!["pgalloc_normal"]);
    }
}
