// KernelTextTests: the kernel texts (buddyinfo, unusable_index, extfrag_index, zoneinfo watermarks)
// reproduced byte for byte from reference files, and the kernel formulas checked by hand.
using System.Globalization;
using Buddy.Kernel;

namespace Buddy.Tests;

/// <summary>Reads the reference data shared by the kernel-text and CLI tests.</summary>
internal static class KernelReference
{
    public static TheoryData<string> Sets => new("vm-6.18", "two-node-2020", "live-6.18");

    /// <summary>The key=value lines of live-6.18.sysctl.</summary>
    public static Dictionary<string, string> LiveSysctl()
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in TestData.Read("live-6.18.sysctl").Split('\n'))
        {
            int eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                values[line[..eq].Trim()] = line[(eq + 1)..].Trim();
            }
        }

        return values;
    }

    public static ulong LiveMinFreeKbytes() => ulong.Parse(LiveSysctl()["min_free_kbytes"], CultureInfo.InvariantCulture);

    /// <summary>
    /// The lines of live-6.18.zoneinfo that <see cref="ZoneInfo.Format"/> reproduces: the "Node ..."
    /// headers and the zone's min, low, high, promo, managed and protection lines.
    /// </summary>
    public static List<string> LiveWatermarkLines()
    {
        string[] fields = ["min ", "low ", "high ", "promo ", "managed ", "protection:"];
        var lines = new List<string>();
        foreach (string line in TestData.Read("live-6.18.zoneinfo").Split('\n'))
        {
            if (line.StartsWith("Node ", StringComparison.Ordinal)
                || (line.StartsWith("        ", StringComparison.Ordinal) && fields.Any(f => line.AsSpan(8).StartsWith(f, StringComparison.Ordinal))))
            {
                lines.Add(line);
            }
        }

        return lines;
    }
}

public class KernelTextTests
{
    private const ulong PageSize = 4096;

    [Theory]
    [MemberData(nameof(KernelReference.Sets), MemberType = typeof(KernelReference))]
    public void Unusable_index_text_equals_the_kernels(string set)
    {
        BuddyInfo info = BuddyInfo.Load(TestData.Path(set + ".buddyinfo"));
        Assert.Equal(TestData.Read(set + ".unusable_index"), FragmentationIndex.UnusableText(info));
    }

    [Theory]
    [MemberData(nameof(KernelReference.Sets), MemberType = typeof(KernelReference))]
    public void Extfrag_index_text_equals_the_kernels(string set)
    {
        BuddyInfo info = BuddyInfo.Load(TestData.Path(set + ".buddyinfo"));
        Assert.Equal(TestData.Read(set + ".extfrag_index"), FragmentationIndex.ExtfragText(info));
    }

    [Theory]
    [MemberData(nameof(KernelReference.Sets), MemberType = typeof(KernelReference))]
    public void Buddyinfo_round_trips_byte_for_byte(string set)
    {
        string text = TestData.Read(set + ".buddyinfo");
        Assert.Equal(text, BuddyInfo.Parse(text).ToString());
    }

    [Fact]
    public void Buddyinfo_parse_reads_nodes_zones_and_counts()
    {
        BuddyInfo info = BuddyInfo.Parse(TestData.Read("two-node-2020.buddyinfo"));
        Assert.Equal(4, info.Zones.Count);
        BuddyInfoZone z = info.Zones[3];
        Assert.Equal(1, z.Node);
        Assert.Equal("Normal", z.Name);
        Assert.Equal([864976L, 1041246, 994760, 895916, 726438, 565284, 415625, 266573, 118000, 0, 0], z.FreeBlockCounts);
    }

    [Theory]
    [InlineData(-1000, 2, "-1.000")]
    [InlineData(-500, 2, " 0.-500")]
    [InlineData(-7, 2, " 0.-07")]
    [InlineData(955, 2, " 0.955")]
    [InlineData(1000, 2, " 1.000")]
    [InlineData(0, 1, "0.000")]
    [InlineData(66, 1, "0.066")]
    [InlineData(1000, 1, "1.000")]
    public void Thousandths_prints_as_c_printf_does(int index, int width, string expected) =>
        Assert.Equal(expected, CFormat.Thousandths(index, width));

    [Theory]
    [InlineData(-5L, 3, true, "-05")]
    [InlineData(-5L, 3, false, " -5")]
    [InlineData(5L, 3, true, "005")]
    [InlineData(1134904L, 6, false, "1134904")]
    [InlineData(42L, 6, false, "    42")]
    [InlineData(long.MinValue, 3, false, "-9223372036854775808")]
    public void Int_prints_as_c_printf_does(long value, int width, bool zeroPad, string expected) =>
        Assert.Equal(expected, CFormat.Int(value, width, zeroPad));

    [Fact]
    public void One_free_page_asking_order_1_gives_extfrag_minus_500()
    {
        // free_pages 1, blocks 1, requested 2: 1000 - (1000 + 1*1000/2) / 1 = -500.
        long[] free = [1, 0, 0];
        Assert.Equal(-500, FragmentationIndex.Extfrag(free, 1));
        Assert.Equal(-1000, FragmentationIndex.Extfrag(free, 0));
    }

    [Fact]
    public void Nothing_free_gives_extfrag_0_and_unusable_1000()
    {
        long[] free = new long[11];
        for (int order = 0; order < free.Length; order++)
        {
            Assert.Equal(0, FragmentationIndex.Extfrag(free, order));
            Assert.Equal(1000, FragmentationIndex.Unusable(free, order));
        }
    }

    [Fact]
    public void Only_order_0_blocks_give_the_kernels_extfrag_at_order_3()
    {
        // free_pages 10, free_blocks_total 10, requested 8:
        // 1000 - (1000 + 10*1000/8) / 10 = 1000 - (1000 + 1250) / 10 = 1000 - 225 = 775.
        long[] free = [10, 0, 0, 0, 0];
        Assert.Equal(775, FragmentationIndex.Extfrag(free, 3));

        // free_pages 5 + 3*2 = 11, blocks 8, requested 8: 1000 - (1000 + 1375) / 8 = 1000 - 296 = 704.
        Assert.Equal(704, FragmentationIndex.Extfrag([5, 3, 0, 0], 3));

        // Unusable: all 10 pages are in blocks below order 3.
        Assert.Equal(1000, FragmentationIndex.Unusable(free, 3));
        Assert.Equal(0, FragmentationIndex.Unusable(free, 0));
    }

    [Fact]
    public void Unusable_index_of_vm_dma_zone_at_order_9_is_66()
    {
        // DMA: one order-8, one order-9, three order-10 blocks: 256 + 512 + 3072 = 3840 free pages;
        // blocks of order >= 9 in order-9 units: 1 + 3*2 = 7, i.e. 3584 pages; (3840 - 3584) * 1000 / 3840 = 66.
        BuddyInfo info = BuddyInfo.Load(TestData.Path("vm-6.18.buddyinfo"));
        BuddyInfoZone dma = info.Zones.Single(z => z.Name == "DMA");
        Assert.Equal(66, FragmentationIndex.Unusable(dma.FreeBlockCounts, 9));
        Assert.Equal(200, FragmentationIndex.Unusable(dma.FreeBlockCounts, 10)); // (3840 - 3072) * 1000 / 3840
        Assert.Equal(0, FragmentationIndex.Unusable(dma.FreeBlockCounts, 8));
    }

    [Fact]
    public void Order_outside_the_counts_is_rejected()
    {
        long[] free = [1, 2, 3];
        Assert.Throws<ArgumentOutOfRangeException>(() => FragmentationIndex.Extfrag(free, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => FragmentationIndex.Unusable(free, -1));
    }

    [Fact]
    public void Malformed_count_names_source_line_and_order()
    {
        string text = "Node 0, zone      DMA      0      1 \nNode 0, zone DMA 1 x 3\n";
        FormatException e = Assert.Throws<FormatException>(() => BuddyInfo.Parse(text, "sample.txt"));
        Assert.Contains("sample.txt", e.Message, StringComparison.Ordinal);
        Assert.Contains(":2", e.Message, StringComparison.Ordinal);
        Assert.Contains("order 1", e.Message, StringComparison.Ordinal);
        Assert.Contains("'x'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Line_not_starting_with_node_names_source_line_and_expectation()
    {
        string text = "Node 0, zone      DMA      0      1 \n\nZone 0, zone DMA 1 2 3\n";
        FormatException e = Assert.Throws<FormatException>(() => BuddyInfo.Parse(text, "sample.txt"));
        Assert.Contains("sample.txt:3", e.Message, StringComparison.Ordinal);
        Assert.Contains("expected 'Node <number>, zone <name>'", e.Message, StringComparison.Ordinal);
        Assert.Contains("Zone 0, zone DMA 1 2 3", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Zone_without_counts_is_rejected()
    {
        FormatException e = Assert.Throws<FormatException>(() => BuddyInfo.Parse("Node 0, zone DMA\n", "sample.txt"));
        Assert.Contains("sample.txt:1", e.Message, StringComparison.Ordinal);
        Assert.Contains("no counts", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n  \n")]
    public void Empty_text_is_rejected_naming_the_source(string text)
    {
        FormatException e = Assert.Throws<FormatException>(() => BuddyInfo.Parse(text, "sample.txt"));
        Assert.Contains("sample.txt", e.Message, StringComparison.Ordinal);
        Assert.Contains("no zone lines", e.Message, StringComparison.Ordinal);
        Assert.Contains("expected", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Zoneinfo_parse_reads_the_live_zones()
    {
        IReadOnlyList<ZoneInfoZone> zones = ZoneInfo.Parse(TestData.Read("live-6.18.zoneinfo"));
        Assert.Equal(["DMA", "DMA32", "Normal", "Movable", "Device"], zones.Select(z => z.Name));
        Assert.All(zones, z => Assert.Equal(0, z.Node));
        Assert.Equal([3840UL, 772917, 196608, 0, 0], zones.Select(z => z.ManagedPages));

        // Cross-check against the file's own "managed" lines, in order.
        List<ulong> managedLines = [.. KernelReference.LiveWatermarkLines()
            .Where(l => l.StartsWith("        managed ", StringComparison.Ordinal))
            .Select(l => ulong.Parse(l.AsSpan(16), NumberStyles.AllowLeadingWhite, CultureInfo.InvariantCulture))];
        Assert.Equal(managedLines, zones.Select(z => z.ManagedPages));

        // The per-CPU "high:" lines must not overwrite the zone's high watermark.
        Assert.Equal(new Kernel.Watermarks(66, 82, 98, 114), zones[0].Watermarks);
        Assert.Equal([0UL, 3019, 3787, 3787, 3787], zones[0].Protection);
    }

    [Fact]
    public void Kernel_watermarks_reproduce_every_live_zone()
    {
        IReadOnlyList<ZoneInfoZone> parsed = ZoneInfo.Parse(TestData.Read("live-6.18.zoneinfo"));
        Dictionary<string, string> sysctl = KernelReference.LiveSysctl();
        ulong minFree = ulong.Parse(sysctl["min_free_kbytes"], CultureInfo.InvariantCulture);
        ulong scale = ulong.Parse(sysctl["watermark_scale_factor"], CultureInfo.InvariantCulture);
        ulong[] ratios = [.. sysctl["lowmem_reserve_ratio"].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => ulong.Parse(s, CultureInfo.InvariantCulture))];

        IReadOnlyList<ZoneWatermarks> computed = KernelWatermarks.Compute(LiveZones(parsed), PageSize, minFree, scale, ratios);

        Assert.Equal(parsed.Count, computed.Count);
        for (int i = 0; i < parsed.Count; i++)
        {
            Assert.Equal(parsed[i].Name, computed[i].Zone.Name);
            Assert.Equal(parsed[i].ManagedPages, computed[i].Zone.ManagedPages);
            Assert.Equal(parsed[i].Watermarks.Min, computed[i].Watermarks.Min);
            Assert.Equal(parsed[i].Watermarks.Low, computed[i].Watermarks.Low);
            Assert.Equal(parsed[i].Watermarks.High, computed[i].Watermarks.High);
            Assert.Equal(parsed[i].Watermarks.Promo, computed[i].Watermarks.Promo);
            Assert.Equal(parsed[i].Protection, computed[i].Protection);
        }
    }

    [Fact]
    public void Zoneinfo_format_equals_the_live_files_lines()
    {
        IReadOnlyList<ZoneInfoZone> parsed = ZoneInfo.Parse(TestData.Read("live-6.18.zoneinfo"));
        IReadOnlyList<ZoneWatermarks> computed = KernelWatermarks.Compute(
            LiveZones(parsed), PageSize, KernelReference.LiveMinFreeKbytes(), KernelWatermarks.DefaultScaleFactor, KernelWatermarks.DefaultLowmemReserveRatio);

        string formatted = ZoneInfo.Format(computed);
        Assert.EndsWith("\n", formatted, StringComparison.Ordinal);
        Assert.Equal(KernelReference.LiveWatermarkLines(), formatted.TrimEnd('\n').Split('\n'));
    }

    [Theory]
    [InlineData(262_144UL, 4096UL, 4096UL)] // 1048576 kB * 16 = 16777216 = 4096^2
    [InlineData(1000UL, 4096UL, 252UL)] // 4000 kB * 16 = 64000; 252^2 = 63504 <= 64000 < 253^2 = 64009
    [InlineData(973_365UL, 4096UL, 7892UL)] // 3893460 kB * 16 = 62295360; 7892^2 = 62283664 <= it < 7893^2 = 62299449
    [InlineData(10UL, 4096UL, 128UL)] // 40 kB * 16 = 640 -> 25, clamped up to 128
    [InlineData(0UL, 4096UL, 128UL)] // nothing -> 0, clamped up to 128
    [InlineData(1UL << 31, 4096UL, 262_144UL)] // 2^33 kB * 16 = 2^37 -> 370727, clamped down to 262144
    [InlineData(1UL << 30, 4096UL, 262_144UL)] // 2^32 kB * 16 = 2^36 -> exactly 2^18 = 262144
    [InlineData(262_144UL, 65536UL, 16384UL)] // 64 KiB pages: 16 GiB = 16777216 kB * 16 = 2^28 -> 2^14
    [InlineData(2_097_152UL, 512UL, 4096UL)] // 512-byte pages: 1 GiB as well -> 4096 (kB, not pages, count)
    public void Default_min_free_kbytes_is_int_sqrt_of_16_lowmem_kbytes_clamped(ulong managedPages, ulong pageSize, ulong expected)
    {
        WatermarkZone[] zones = [new("DMA", 0), new("DMA32", managedPages), new("Normal", 0), new("Movable", 0, IsHighOrMovable: true), new("Device", 0)];
        Assert.Equal(expected, KernelWatermarks.DefaultMinFreeKbytes(zones, pageSize));
    }

    [Fact]
    public void Default_min_free_kbytes_counts_low_zones_only()
    {
        // 131072 + 131072 low pages = 1 GiB -> 4096; the movable zone's pages do not count.
        WatermarkZone[] zones = [new("DMA32", 131_072), new("Normal", 131_072), new("Movable", 10_000_000, IsHighOrMovable: true)];
        Assert.Equal(4096UL, KernelWatermarks.DefaultMinFreeKbytes(zones, 4096));
    }

    [Fact]
    public void Thp_min_free_kbytes_of_the_live_zones_is_the_live_sysctl()
    {
        IReadOnlyList<ZoneInfoZone> parsed = ZoneInfo.Parse(TestData.Read("live-6.18.zoneinfo"));

        // Three populated low zones: 512 * 3 * 2 + 512 * 3 * 9 = 16896 pages = 67584 kB.
        Assert.Equal(67_584UL, KernelReference.LiveMinFreeKbytes());
        Assert.Equal(KernelReference.LiveMinFreeKbytes(), KernelWatermarks.ThpMinFreeKbytes(LiveZones(parsed), PageSize));
    }

    [Fact]
    public void Live_proc_buddyinfo_gives_one_unusable_line_per_zone_with_values_in_0_to_1()
    {
        const string Proc = "/proc/buddyinfo";
        Assert.SkipUnless(File.Exists(Proc), $"{Proc} does not exist on this machine (not Linux, or /proc not mounted).");

        BuddyInfo info = BuddyInfo.Load(Proc);
        string[] zoneLines = File.ReadAllText(Proc).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string[] unusable = FragmentationIndex.UnusableText(info).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal(zoneLines.Length, unusable.Length);
        Assert.Equal(zoneLines.Length, info.Zones.Count);
        for (int i = 0; i < unusable.Length; i++)
        {
            BuddyInfoZone zone = info.Zones[i];
            string prefix = $"Node {zone.Node.ToString(CultureInfo.InvariantCulture)}, zone {zone.Name.PadLeft(8)} ";
            Assert.StartsWith(prefix, unusable[i], StringComparison.Ordinal);
            string[] values = unusable[i][prefix.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(zone.FreeBlockCounts.Count, values.Length);
            foreach (string v in values)
            {
                double d = double.Parse(v, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture);
                Assert.InRange(d, 0.0, 1.0);
            }
        }
    }

    private static WatermarkZone[] LiveZones(IReadOnlyList<ZoneInfoZone> parsed) =>
        [.. parsed.Select(z => new WatermarkZone(z.Name, z.ManagedPages, IsHighOrMovable: z.Name == "Movable"))];
}
