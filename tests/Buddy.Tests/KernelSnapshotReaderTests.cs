// KernelSnapshotReaderTests: the readers a capture bundle's snapshots go through — zoneinfo's layout
// fields (start_pfn, spanned, present), /proc/iomem, node distance tables, /proc/pagetypeinfo read
// back (parse then format is the kernel's text byte for byte), vmstat and vm sysctl texts.
using System.Globalization;
using System.Text.RegularExpressions;
using Buddy.Kernel;

namespace Buddy.Tests;

public class KernelSnapshotReaderTests
{
    [Fact]
    public void Zoneinfo_layout_is_the_spanned_present_and_start_pfn_lines_of_each_zone()
    {
        string text = TestData.Read("live-6.18.zoneinfo");
        IReadOnlyList<ZoneInfoZone> zones = ZoneInfo.ParseLayout(text);
        ZoneInfoZone dma = zones.Single(z => z.Name == "DMA");
        Assert.Equal((1UL, 4095UL, 3998UL, 3840UL), (dma.StartPfn, dma.SpannedPages, dma.PresentPages, dma.ManagedPages));
        Assert.Equal(4096UL, dma.EndPfn);

        // Each zone's values as the text spells them, found without the reader.
        string[] blocks = Regex.Split(text, "(?m)^(?=Node )").Where(b => b.Length > 0).ToArray();
        Assert.Equal(blocks.Length, zones.Count);
        for (int i = 0; i < zones.Count; i++)
        {
            static ulong Field(string block, string pattern) =>
                Regex.Match(block, pattern, RegexOptions.Multiline) is { Success: true } m ? ulong.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
            Assert.True(zones[i].HasLayout);
            Assert.Equal(Field(blocks[i], @"^        spanned  (\d+)$"), zones[i].SpannedPages);
            Assert.Equal(Field(blocks[i], @"^        present  (\d+)$"), zones[i].PresentPages);
            Assert.Equal(Field(blocks[i], @"^  start_pfn:\s+(\d+)$"), zones[i].StartPfn);
        }

        Assert.Equal(0UL, zones.Single(z => z.Name == "Movable").StartPfn); // empty: no start_pfn line
    }

    [Fact]
    public void A_populated_zone_without_its_layout_lines_is_refused_by_the_layout_reader_only()
    {
        string text = TestData.Read("live-6.18.zoneinfo");
        string noStart = text.Replace("  start_pfn:           4096\n", "", StringComparison.Ordinal);
        var e = Assert.Throws<FormatException>(() => ZoneInfo.ParseLayout(noStart, "zi"));
        Assert.StartsWith("zi:99: zone DMA32 spans 1044480 pages but has no '  start_pfn:' line", e.Message, StringComparison.Ordinal);
        ZoneInfoZone loose = ZoneInfo.Parse(noStart).Single(z => z.Name == "DMA32");
        Assert.False(loose.HasLayout);
        Assert.Equal((0UL, 0UL), (loose.StartPfn, loose.SpannedPages));

        string noSpanned = text.Replace("        spanned  4095\n", "", StringComparison.Ordinal);
        e = Assert.Throws<FormatException>(() => ZoneInfo.ParseLayout(noSpanned, "zi"));
        Assert.StartsWith("zi:1: zone DMA (managed 3840) lacks 'spanned'", e.Message, StringComparison.Ordinal);

        string contradiction = text.Replace("        present  3998\n", "        present  5000\n", StringComparison.Ordinal);
        e = Assert.Throws<FormatException>(() => ZoneInfo.ParseLayout(contradiction, "zi"));
        Assert.Contains("zi:1: zone DMA: spanned 4095, present 5000", e.Message, StringComparison.Ordinal);

        e = Assert.Throws<FormatException>(() => ZoneInfo.ParseLayout(text.Replace("start_pfn:           1\n", "start_pfn:           x\n", StringComparison.Ordinal), "zi"));
        Assert.StartsWith("zi:98: the value of 'start_pfn:', 'x'", e.Message, StringComparison.Ordinal);
    }

    private const string IoMemText =
        "00000000-00000fff : Reserved\n" +
        "00001000-0009fbff : System RAM\n" +
        "0009fc00-000fffff : Reserved\n" +
        "  000f0000-000fffff : System ROM\n" +
        "00100000-bfffffff : System RAM\n" +
        "  01000000-02209987 : Kernel code\n" +
        "  02400000-02e09fff : Kernel rodata\n" +
        "  03000000-0327c0ff : Kernel data\n" +
        "  03b34000-03c57fff : Kernel bss\n" +
        "eec00000-febfffff : Reserved\n" +
        "  eec00000-eecfffff : PCI ECAM 0000 [bus 00-00]\n" +
        "    eec00000-eecfffff : PCI Bus 0000:00\n" +
        "100000000-63fffffff : System RAM\n";

    [Fact]
    public void Iomem_system_ram_is_the_top_level_ranges_made_half_open()
    {
        IoMem map = IoMem.Parse(IoMemText);
        Assert.Equal([new AddressRange(0x1000, 0x9fc00), new AddressRange(0x100000, 0xc0000000), new AddressRange(0x100000000, 0x640000000)], map.SystemRam);
        Assert.Equal(["Kernel code", "Kernel rodata", "Kernel data", "Kernel bss"], map.KernelImage.Select(k => k.Name));
        Assert.Equal(new AddressRange(0x1000000, 0x2209988), map.KernelImage[0].Range);
        Assert.Equal(13, map.Resources.Count);
        Assert.Equal(2, map.Resources.Single(r => r.Name == "PCI Bus 0000:00").Depth);
        Assert.Equal("PCI ECAM 0000 [bus 00-00]", map.Resources[10].Name);
    }

    [Fact]
    public void Iomem_read_without_root_is_refused_with_what_to_do()
    {
        // What a reader without CAP_SYS_ADMIN sees: the same lines, every address 0.
        string zeroed = Regex.Replace(IoMemText, "[0-9a-f]+-[0-9a-f]+ :", "00000000-00000000 :");
        var e = Assert.Throws<FormatException>(() => IoMem.Parse(zeroed, "iomem"));
        Assert.Contains("every address is 0", e.Message, StringComparison.Ordinal);
        Assert.Contains("read it as root", e.Message, StringComparison.Ordinal);

        e = Assert.Throws<FormatException>(() => IoMem.Parse("00001000-0009fbff : System RAM\n 0100-0200 : odd\n", "iomem"));
        Assert.StartsWith("iomem:2: expected '<hex start>-<hex end> : <name>'", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<FormatException>(() => IoMem.Parse("00002000-00001000 : System RAM\n", "iomem"));
        Assert.StartsWith("iomem:1: the range 2000-1000 ends before it starts", e.Message, StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => IoMem.Parse("", "iomem"));
    }

    [Fact]
    public void Iomem_of_this_machine_reads_when_root()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && Environment.IsPrivilegedProcess && File.Exists("/proc/iomem"), "needs root to see /proc/iomem's addresses");
        IoMem map = IoMem.Load("/proc/iomem");
        ulong ram = (ulong)map.SystemRam.Sum(r => (decimal)r.Length);
        Assert.True(ram > 0);
    }

    [Fact]
    public void Node_distances_read_back_what_format_writes_and_refuse_what_no_table_is()
    {
        int[][] two = [[10, 21], [21, 10]];
        string text = NodeDistances.Format(two);
        Assert.Equal("node0: 10 21\nnode1: 21 10\n", text);
        Assert.Equal(two, NodeDistances.Parse(text));

        Assert.StartsWith("nd:2: expected 'node1: <distance> ...'", Assert.Throws<FormatException>(() => NodeDistances.Parse("node0: 10 21\nnode2: 21 10\n", "nd")).Message, StringComparison.Ordinal);
        Assert.StartsWith("nd:2: node1 has 1 distances; expected 2", Assert.Throws<FormatException>(() => NodeDistances.Parse("node0: 10 21\nnode1: 10\n", "nd")).Message, StringComparison.Ordinal);
        Assert.StartsWith("nd:1: distance '300' to node 1", Assert.Throws<FormatException>(() => NodeDistances.Parse("node0: 10 300\nnode1: 21 10\n", "nd")).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => NodeDistances.Format([[10, 20]]));
    }

    [Fact]
    public void Node_distances_of_this_machine_are_square_with_10_on_the_diagonal()
    {
        Assert.SkipUnless(Directory.Exists(NodeDistances.SysfsNodes + "/node0"), "needs Linux sysfs NUMA nodes");
        int[][] table = NodeDistances.ReadSysfs();
        for (int n = 0; n < table.Length; n++)
        {
            Assert.Equal(table.Length, table[n].Length);
            Assert.Equal(10, table[n][n]);
        }
    }

    [Fact]
    public void Pagetypeinfo_parsed_and_formatted_is_the_kernels_text_byte_for_byte()
    {
        string text = TestData.Read("live-6.18.pagetypeinfo");
        PageTypeInfoTable table = PageTypeInfo.Parse(text);
        Assert.Equal(text, PageTypeInfo.Format(table));
        Assert.Equal((9, 11), (table.PageblockOrder, table.Orders));
        Assert.Equal(PageTypeInfo.TypeNames, table.TypeNames);
        PageTypeInfoZone normal = table.Zones.Single(z => z.Name == "Normal");
        Assert.Equal([80L, 346, 22, 0, 0], normal.Pageblocks);
        Assert.Equal(706, normal.FreeBlockCounts[1][0]);
        Assert.Null(normal.MixedBlocks);
    }

    [Fact]
    public void Pagetypeinfo_with_a_CMA_type_mixed_blocks_and_a_capped_count_round_trips()
    {
        string[] names = ["Unmovable", "Movable", "Reclaimable", "HighAtomic", "CMA", "Isolate"];
        var zone = new PageTypeInfoZone(1, "Normal", [.. names.Select((_, t) => (IReadOnlyList<long>)[t, 100_000, 3])], [5, 6, 7, 0, 2, 0]) { MixedBlocks = [1, 0, 0, 0, 0, 0] };
        var table = new PageTypeInfoTable(2, 3, names, [zone]);
        string text = PageTypeInfo.Format(table);
        Assert.Contains("Node    1, zone   Normal, type          CMA      4 >100000      3 \n", text, StringComparison.Ordinal);
        Assert.Contains("\nNumber of mixed blocks ", text, StringComparison.Ordinal);
        PageTypeInfoTable back = PageTypeInfo.Parse(text);
        Assert.Equal(text, PageTypeInfo.Format(back));
        Assert.Equal(names, back.TypeNames);
        Assert.Equal([1L, 0, 0, 0, 0, 0], back.Zones[0].MixedBlocks);
    }

    [Fact]
    public void Pagetypeinfo_that_is_not_the_kernels_layout_is_refused_at_its_line()
    {
        string text = TestData.Read("live-6.18.pagetypeinfo");
        Assert.StartsWith("p:2: 256 pages per block is not 2^9", Assert.Throws<FormatException>(() => PageTypeInfo.Parse(text.Replace("Pages per block:  512", "Pages per block:  256", StringComparison.Ordinal), "p")).Message, StringComparison.Ordinal);
        string shortRow = text.Replace("Node    0, zone      DMA, type      Movable      0      0      0      0      0      0      0      0      0      1      3 \n", "Node    0, zone      DMA, type      Movable      0 \n", StringComparison.Ordinal);
        Assert.StartsWith("p:6: expected a type name and 11 counts", Assert.Throws<FormatException>(() => PageTypeInfo.Parse(shortRow, "p")).Message, StringComparison.Ordinal);
        string cut = string.Join('\n', text.Split('\n')[..^2]) + "\n";
        Assert.StartsWith("p: ends after line 23; expected the row of node 0, zone Normal", Assert.Throws<FormatException>(() => PageTypeInfo.Parse(cut, "p")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Vmstat_and_vm_sysctl_texts_read_every_line()
    {
        IReadOnlyDictionary<string, long> vm = VmStat.Parse("nr_free_pages 95797\npgalloc_normal 12\n");
        Assert.Equal(95797, vm["nr_free_pages"]);
        Assert.StartsWith("v:2: expected '<counter> <non-negative number>'", Assert.Throws<FormatException>(() => VmStat.Parse("a 1\nb -2\n", "v")).Message, StringComparison.Ordinal);
        Assert.StartsWith("v:2: 'a' appears twice", Assert.Throws<FormatException>(() => VmStat.Parse("a 1\na 2\n", "v")).Message, StringComparison.Ordinal);

        IReadOnlyDictionary<string, string> sysctl = VmStat.ParseSysctlVm("vm.lowmem_reserve_ratio = 256 256 32 0 0\nvm.min_free_kbytes = 67584\n");
        Assert.Equal("256 256 32 0 0", sysctl["lowmem_reserve_ratio"]);
        Assert.StartsWith("s:1: expected 'vm.<name> = <value>'", Assert.Throws<FormatException>(() => VmStat.ParseSysctlVm("min_free_kbytes=1\n", "s")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Vm_sysctls_of_this_machine_leave_out_the_write_only_files()
    {
        Assert.SkipUnless(Directory.Exists("/proc/sys/vm"), "needs Linux /proc/sys/vm");
        IReadOnlyDictionary<string, string> sysctl = VmStat.ParseSysctlVm(VmStat.ReadSysctlVm());
        Assert.Equal(File.ReadAllText("/proc/sys/vm/min_free_kbytes").Trim(), sysctl["min_free_kbytes"]);
        Assert.DoesNotContain("drop_caches", sysctl.Keys);
    }
}
