// CliTests: the `buddy` command line driven in-process through Cli.Run, its output compared with
// the kernel reference texts and its user errors checked for exit code 2 and a useful message.
using System.Globalization;
using Buddy.Tool;
using Buddy.Tool.Commands;

namespace Buddy.Tests;

public sealed class CliTests : IDisposable
{
    private readonly string _tempDir = Directory.CreateTempSubdirectory("buddy-cli-tests-").FullName;

    public void Dispose() => Directory.Delete(_tempDir, recursive: true);

    [Theory]
    [InlineData("vm-6.18")]
    [InlineData("two-node-2020")]
    [InlineData("live-6.18")]
    public void Frag_index_unusable_prints_exactly_the_kernels_text(string set)
    {
        (int code, string stdout, string stderr) = Run("frag", TestData.Path(set + ".buddyinfo"), "--index", "unusable");
        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        Assert.Equal(TestData.Read(set + ".unusable_index"), stdout);
    }

    [Theory]
    [InlineData("vm-6.18")]
    [InlineData("two-node-2020")]
    [InlineData("live-6.18")]
    public void Frag_index_extfrag_prints_exactly_the_kernels_text(string set)
    {
        (int code, string stdout, string stderr) = Run("frag", TestData.Path(set + ".buddyinfo"), "--index", "extfrag");
        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        Assert.Equal(TestData.Read(set + ".extfrag_index"), stdout);
    }

    [Fact]
    public void Frag_without_index_prints_both_texts_under_their_headers()
    {
        (int code, string stdout, _) = Run("frag", TestData.Path("two-node-2020.buddyinfo"));
        Assert.Equal(0, code);
        string expected =
            "# /sys/kernel/debug/extfrag/unusable_index\n" + TestData.Read("two-node-2020.unusable_index")
            + "# /sys/kernel/debug/extfrag/extfrag_index\n" + TestData.Read("two-node-2020.extfrag_index");
        Assert.Equal(expected, stdout);
    }

    [Fact]
    public void Frag_on_a_malformed_file_exits_2_naming_file_line_and_expectation()
    {
        string path = Path.Combine(_tempDir, "bad.buddyinfo");
        File.WriteAllText(path, "Node 0, zone      DMA      0      1 \nNode 0 zone DMA32 1 2\n");

        (int code, string stdout, string stderr) = Run("frag", path);

        Assert.Equal(Cli.UsageError, code);
        Assert.Equal("", stdout);
        Assert.StartsWith("buddy: ", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
        Assert.Contains(path + ":2", stderr, StringComparison.Ordinal);
        Assert.Contains("expected 'Node <number>, zone <name>'", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Frag_on_a_bad_count_names_the_order()
    {
        string path = Path.Combine(_tempDir, "badcount.buddyinfo");
        File.WriteAllText(path, "Node 0, zone      DMA      0      1 \nNode 0, zone DMA 1 x 3\n");

        (int code, _, string stderr) = Run("frag", path, "--index", "extfrag");

        Assert.Equal(Cli.UsageError, code);
        Assert.Contains(path + ":2", stderr, StringComparison.Ordinal);
        Assert.Contains("order 1", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Frag_on_a_missing_file_exits_2_with_cannot_read()
    {
        string path = Path.Combine(_tempDir, "no-such-file");
        (int code, string stdout, string stderr) = Run("frag", path);
        Assert.Equal(Cli.UsageError, code);
        Assert.Equal("", stdout);
        Assert.StartsWith("buddy: cannot read", stderr, StringComparison.Ordinal);
        Assert.Contains(path, stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Frag_rejects_an_unknown_index()
    {
        (int code, string stdout, string stderr) = Run("frag", TestData.Path("vm-6.18.buddyinfo"), "--index", "bogus");
        Assert.Equal(2, code);
        Assert.StartsWith("buddy: ", stderr, StringComparison.Ordinal);
        Assert.Contains("bogus", stderr, StringComparison.Ordinal);

        // No index text is printed (System.CommandLine may print the command's help).
        Assert.DoesNotContain("Node 0, zone", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Zones_from_the_live_zoneinfo_prints_exactly_its_watermark_lines()
    {
        string minFree = KernelReference.LiveMinFreeKbytes().ToString(CultureInfo.InvariantCulture);
        (int code, string stdout, string stderr) = Run("zones", "--zoneinfo", TestData.Path("live-6.18.zoneinfo"), "--min-free-kbytes", minFree);
        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        Assert.Equal(string.Join("\n", KernelReference.LiveWatermarkLines()) + "\n", stdout);
    }

    [Fact]
    public void Zones_from_the_live_zoneinfo_with_thp_default_prints_the_same()
    {
        // Without --min-free-kbytes, --thp raises the default to the live value (67584).
        (int code, string stdout, _) = Run("zones", "--zoneinfo", TestData.Path("live-6.18.zoneinfo"), "--thp");
        Assert.Equal(0, code);
        Assert.Equal(string.Join("\n", KernelReference.LiveWatermarkLines()) + "\n", stdout);
    }

    [Fact]
    public void Zones_from_managed_pages_follows_the_kernel_formulas()
    {
        const ulong Dma = 3840, Dma32 = 772915, Normal = 3997696, MinFreeKbytes = 67584;
        (int code, string stdout, string stderr) = Run("zones", "--managed", "DMA=3840,DMA32=772915,Normal=3997696", "--min-free-kbytes", "67584");
        Assert.Equal(0, code);
        Assert.Equal("", stderr);

        Dictionary<string, string> dma = ZoneFields(stdout, "DMA");
        ulong pagesMin = MinFreeKbytes * 1024 / 4096;
        ulong expectedMin = pagesMin * Dma / (Dma + Dma32 + Normal);
        ulong step = Math.Max(expectedMin / 4, Dma * 10 / 10_000);
        Assert.Equal(expectedMin, ulong.Parse(dma["min"], CultureInfo.InvariantCulture));
        Assert.Equal(expectedMin + step, ulong.Parse(dma["low"], CultureInfo.InvariantCulture));
        Assert.Equal(expectedMin + (2 * step), ulong.Parse(dma["high"], CultureInfo.InvariantCulture));
        Assert.Equal(Dma, ulong.Parse(dma["managed"], CultureInfo.InvariantCulture));

        ulong[] protection = ParseProtection(dma["protection:"]);
        ulong toNormal = (Dma32 + Normal) / 256;
        Assert.Equal([0, Dma32 / 256, toNormal, toNormal, toNormal], protection);

        // DMA32's reserve against Normal uses its own ratio, 256 as well.
        Assert.Equal([0, 0, Normal / 256, Normal / 256, Normal / 256], ParseProtection(ZoneFields(stdout, "DMA32")["protection:"]));
    }

    [Fact]
    public void Zones_without_managed_or_zoneinfo_exits_2_naming_both()
    {
        (int code, string stdout, string stderr) = Run("zones");
        Assert.Equal(Cli.UsageError, code);
        Assert.Equal("", stdout);
        Assert.StartsWith("buddy: ", stderr, StringComparison.Ordinal);
        Assert.Contains("--managed", stderr, StringComparison.Ordinal);
        Assert.Contains("--zoneinfo", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Zones_with_both_managed_and_zoneinfo_exits_2()
    {
        (int code, _, string stderr) = Run("zones", "--managed", "DMA=1", "--zoneinfo", TestData.Path("live-6.18.zoneinfo"));
        Assert.Equal(Cli.UsageError, code);
        Assert.Contains("either", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("DMA=abc")]
    [InlineData("Highmem=5")]
    [InlineData("DMA")]
    [InlineData("DMA=-1")]
    public void Zones_with_a_bad_managed_item_exits_2_naming_it(string item)
    {
        (int code, string stdout, string stderr) = Run("zones", "--managed", "DMA32=1000," + item);
        Assert.Equal(Cli.UsageError, code);
        Assert.Equal("", stdout);
        Assert.StartsWith("buddy: --managed", stderr, StringComparison.Ordinal);
        Assert.Contains($"'{item}'", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Zones_with_too_few_lowmem_reserve_ratios_exits_2()
    {
        (int code, string stdout, string stderr) = Run("zones", "--managed", "DMA=3840", "--lowmem-reserve-ratio", "1 2");
        Assert.Equal(Cli.UsageError, code);
        Assert.Equal("", stdout);
        Assert.Contains("--lowmem-reserve-ratio", stderr, StringComparison.Ordinal);
        Assert.Contains("expected 5 numbers", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Zones_with_a_missing_zoneinfo_exits_2()
    {
        (int code, _, string stderr) = Run("zones", "--zoneinfo", Path.Combine(_tempDir, "no-such-zoneinfo"));
        Assert.Equal(Cli.UsageError, code);
        Assert.StartsWith("buddy: --zoneinfo", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Demo_exits_0_and_prints_a_buddyinfo_block()
    {
        (int code, string stdout, string stderr) = Run("demo");
        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        string[] lines = stdout.Split('\n');
        string[] buddyinfo = [.. lines.Where(l => l.StartsWith("Node 0, zone ", StringComparison.Ordinal))];
        Assert.Contains(buddyinfo, l => l.StartsWith("Node 0, zone      DMA ", StringComparison.Ordinal));

        // The buddyinfo block after its heading parses and prints back unchanged.
        int start = Array.IndexOf(lines, "/proc/buddyinfo of this machine now:");
        Assert.True(start >= 0, "the demo should print its /proc/buddyinfo heading");
        string block = string.Concat(lines.Skip(start + 1).TakeWhile(l => l.StartsWith("Node ", StringComparison.Ordinal)).Select(l => l + "\n"));
        Assert.NotEqual("", block);
        Assert.Equal(block, Kernel.BuddyInfo.Parse(block).ToString());
    }

    [Theory]
    [InlineData("", "buddy: no command given; the commands are ")]
    [InlineData("frob", "buddy: unknown command 'frob'; the commands are ")]
    [InlineData("--frob", "buddy: unknown option '--frob' and no command given; the commands are ")]
    public void Without_a_command_one_line_names_the_commands(string commandLine, string start)
    {
        (int code, string stdout, string stderr) = Run(commandLine.Length == 0 ? [] : commandLine.Split(' '));

        Assert.Equal(2, code);
        Assert.Equal("", stdout); // not the help text: one line, then the user picks a command
        Assert.StartsWith(start, stderr, StringComparison.Ordinal);
        Assert.EndsWith(" (see 'buddy --help').\n", stderr, StringComparison.Ordinal);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
        foreach (string command in (string[])["demo", "frag", "zones", "metadata", "replay", "scenario", "capture", "bench", "map", "report"])
        {
            Assert.Contains($" {command},", stderr.Replace(" (see", ", (see", StringComparison.Ordinal), StringComparison.Ordinal);
        }

        Assert.DoesNotContain("internal-fault", stderr, StringComparison.Ordinal); // hidden
    }

    private static (int Code, string Stdout, string Stderr) Run(params string[] args)
    {
        using var stdout = new StringWriter(CultureInfo.InvariantCulture) { NewLine = "\n" };
        using var stderr = new StringWriter(CultureInfo.InvariantCulture) { NewLine = "\n" };
        int code = Cli.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    // The fields printed under "Node 0, zone <name>": key (min, low, ..., "protection:") to value.
    private static Dictionary<string, string> ZoneFields(string output, string zone)
    {
        string header = "Node 0, zone " + zone.PadLeft(8);
        string[] lines = output.Split('\n');
        int at = Array.IndexOf(lines, header);
        Assert.True(at >= 0, $"no '{header}' line in:\n{output}");
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in lines.Skip(at + 1).TakeWhile(l => l.StartsWith("        ", StringComparison.Ordinal)))
        {
            string trimmed = line.Trim();
            int space = trimmed.IndexOf(' ', StringComparison.Ordinal);
            fields[trimmed[..space]] = trimmed[(space + 1)..].Trim();
        }

        return fields;
    }

    private static ulong[] ParseProtection(string text)
    {
        Assert.StartsWith("(", text, StringComparison.Ordinal);
        Assert.EndsWith(")", text, StringComparison.Ordinal);
        return [.. text[1..^1].Split(", ").Select(s => ulong.Parse(s, CultureInfo.InvariantCulture))];
    }
}
