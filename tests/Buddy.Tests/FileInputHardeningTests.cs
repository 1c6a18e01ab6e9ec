// FileInputHardeningTests: issue 11, "Files: clear errors, never a wrong answer". Every file reader
// (ftrace traces plain and gzip, buddyinfo, zoneinfo, allocator dumps, trace replay) refuses what
// no kernel or allocator could have written with its documented exception, naming the file, the
// line or JSON path and the field; and reads what `gzip -dc` reads. Each test asserts the exception
// type and the place it names.
using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;
using Buddy.Diagnostics;
using Buddy.Kernel;
using Buddy.Simulation.Replay;
using Buddy.Tracing;

namespace Buddy.Tests;

public sealed class FileInputHardeningTests : IDisposable
{
    private const string Alloc = "            bash-1     [000] .....     1.000001: mm_page_alloc: page=0000000012345678 pfn=0x10 order=0 migratetype=0 gfp_flags=GFP_KERNEL";
    private const string Free = "            bash-1     [000] .....     1.000002: mm_page_free: page=0000000012345678 pfn=0x10 order=0";

    private readonly string _dir = Directory.CreateTempSubdirectory("buddy-file-hardening-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // ---- ftrace reader ---------------------------------------------------------------------------

    [Fact]
    public void An_event_name_holding_invalid_utf8_is_a_bad_line_refused_with_file_line_and_field_or_counted()
    {
        byte[] bad = [.. Encoding.Latin1.GetBytes("            bash-1     [000] .....     1.000001: mm_page_\u00ff\u00fe: page=1 pfn=0x10 order=0\n")];
        byte[] text = [.. Encoding.ASCII.GetBytes(Alloc + "\n"), .. bad, .. Encoding.ASCII.GetBytes(Free + "\n")];

        var e = Assert.Throws<TraceFormatException>(() => ReadTrace(text, new FtraceOptions(), "names.trace"));
        Assert.Equal(("names.trace", 2L, "event"), (e.SourceName, e.Line, e.Field));

        TraceStats stats = ReadTrace(text, new FtraceOptions { SkipBadLines = true }, "names.trace");
        Assert.Equal((1L, 1L, 1L, 0L), (stats.Allocs, stats.Frees, stats.BadLines, stats.SkippedEvents));
        Assert.Empty(stats.SkippedByName);
    }

    [Fact]
    public void Lost_event_counts_saturate_and_never_go_negative()
    {
        string text = "CPU:0 [LOST 9999999999999999999 EVENTS]\nCPU:1 [LOST 9999999999999999999 EVENTS]\nCPU:1 [LOST 5 EVENTS]\n";

        TraceStats stats = ReadTrace(Encoding.ASCII.GetBytes(text));

        Assert.Equal(long.MaxValue, stats.LostEvents);
        Assert.Equal(5L, ReadTrace(Encoding.ASCII.GetBytes("CPU:1 [LOST 2 EVENTS]\nCPU:0 [LOST 3 EVENTS]\n")).LostEvents);
    }

    [Theory]
    [InlineData("\r")]
    [InlineData("\r\n")]
    [InlineData("\n")]
    public void Cr_only_crlf_and_lf_line_ends_all_end_lines(string end)
    {
        byte[] text = Encoding.ASCII.GetBytes("# tracer: nop" + end + Alloc + end + Free + end + Alloc.Replace("0x10", "0x20", StringComparison.Ordinal));

        var events = new List<PageEvent>();
        using var reader = new FtraceReader(new MemoryStream(text), "ends.trace");
        while (reader.TryRead(out PageEvent e))
        {
            events.Add(e);
        }

        Assert.Equal([(2L, 0x10UL), (3L, 0x10UL), (4L, 0x20UL)], events.Select(e => (e.Line, e.Pfn)));
        Assert.Equal(4, reader.Stats.Lines);
    }

    [Fact]
    public void A_directory_is_refused_as_a_directory_by_every_reader_not_as_access_denied()
    {
        Action[] opens =
        [
            () => FtraceReader.Open(_dir).Dispose(),
            () => BuddyInfo.Load(_dir),
            () => ZoneInfo.Load(_dir),
            () => AllocatorDump.Load(_dir),
            () => TraceReplay.Run(_dir, new ReplayOptions()),
        ];

        foreach (Action open in opens)
        {
            var e = Assert.Throws<IOException>(open);
            Assert.Equal($"{_dir}: is a directory, not a file.", e.Message);
        }
    }

    [Fact]
    public void Two_concatenated_gzip_files_are_read_as_gzip_dc_reads_them()
    {
        // As `cat a.gz b.gz > t.gz` makes it; the second member carries a file name, an extra field
        // and a header CRC, as gzip(1) and bgzip write them.
        byte[] first = GzipMember(Encoding.ASCII.GetBytes(Alloc + "\n" + Free + "\n"));
        byte[] second = GzipMember(Encoding.ASCII.GetBytes(Alloc.Replace("0x10", "0x30", StringComparison.Ordinal) + "\n"), name: "b.trace", extra: [1, 2, 3], headerCrc: true);
        string path = Path.Combine(_dir, "two.trace.gz");
        File.WriteAllBytes(path, [.. first, .. second]);

        using FtraceReader reader = FtraceReader.Open(path);
        var pfns = new List<ulong>();
        while (reader.TryRead(out PageEvent e))
        {
            pfns.Add(e.Pfn);
        }

        Assert.Equal([0x10UL, 0x10UL, 0x30UL], pfns);
        Assert.Equal(3, reader.Stats.Lines);
    }

    [Theory]
    [InlineData(1, "truncated")]
    [InlineData(4, "truncated")]
    [InlineData(9, "truncated")]
    public void A_cut_second_gzip_member_is_refused_as_truncated(int cut, string word)
    {
        byte[] both = [.. GzipMember(Encoding.ASCII.GetBytes(Alloc + "\n")), .. GzipMember(Encoding.ASCII.GetBytes(Free + "\n"))];

        var e = Assert.Throws<TraceFormatException>(() => ReadTrace(both[..^cut], new FtraceOptions { SkipBadLines = true }, "cut.gz"));

        Assert.Equal(("cut.gz", 0L), (e.SourceName, e.Line));
        Assert.Contains(word, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bytes_after_the_last_gzip_member_are_refused_as_trailing_garbage()
    {
        byte[] text = [.. GzipMember(Encoding.ASCII.GetBytes(Alloc + "\n")), .. "junk"u8];

        var e = Assert.Throws<TraceFormatException>(() => ReadTrace(text, new FtraceOptions(), "junk.gz"));

        Assert.StartsWith("junk.gz: ", e.Message, StringComparison.Ordinal);
        Assert.Contains("trailing garbage", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("pfn=0x10 order=23", "order")]
    [InlineData("pfn=0x10 order=30", "order")]
    [InlineData("pfn=0x10 order=63", "order")]
    [InlineData("pfn=0x100000000000 order=0", "pfn")] // 2^44
    [InlineData("pfn=0x10000000000 order=0", "pfn")] // 2^40: 2^52 bytes of 4 KiB pages
    [InlineData("pfn=18446744073709551615 order=0", "pfn")]
    public void Orders_and_pfns_no_kernel_prints_are_bad_lines_naming_the_field(string fields, string field)
    {
        string line = $"            bash-1     [000] .....     1.000001: mm_page_free: page=0000000012345678 {fields}\n";

        var e = Assert.Throws<TraceFormatException>(() => ReadTrace(Encoding.ASCII.GetBytes(Alloc + "\n" + line), new FtraceOptions(), "limits.trace"));

        Assert.Equal(("limits.trace", 2L, field), (e.SourceName, e.Line, e.Field));
    }

    // ---- buddyinfo --------------------------------------------------------------------------------

    [Fact]
    public void Buddyinfo_with_more_order_columns_than_any_kernel_prints_is_refused_naming_file_and_line()
    {
        string ok = "Node 0, zone   Normal" + string.Concat(Enumerable.Repeat("      1", KernelLimits.MaxOrderColumns)) + "\n";
        string tooMany = "Node 0, zone  Movable" + string.Concat(Enumerable.Repeat("      0", KernelLimits.MaxOrderColumns + 1)) + "\n";

        Assert.Equal(KernelLimits.MaxOrderColumns, BuddyInfo.Parse(ok, "ok").Zones[0].FreeBlockCounts.Count);
        var e = Assert.Throws<FormatException>(() => BuddyInfo.Parse(ok + tooMany, "wide.buddyinfo"));
        Assert.StartsWith("wide.buddyinfo:2: ", e.Message, StringComparison.Ordinal);
        Assert.Contains($"{KernelLimits.MaxOrderColumns + 1} order columns", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("1099511627776")] // 2^40 order-0 blocks: 2^52 bytes of 4 KiB pages
    [InlineData("0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 262144")] // 2^18 blocks of order 22
    [InlineData("9223372036854775807 9223372036854775807")] // the kernel's sum would overflow 64 bits
    public void Buddyinfo_counts_no_machine_can_have_are_refused_naming_file_and_line(string counts)
    {
        var e = Assert.Throws<FormatException>(() => BuddyInfo.Parse($"Node 0, zone      DMA 1 2 3\nNode 0, zone Normal {counts}\n", "huge.buddyinfo"));

        Assert.StartsWith("huge.buddyinfo:2: ", e.Message, StringComparison.Ordinal);
        Assert.Contains("free pages", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Buddyinfo_from_dev_zero_is_a_binary_file_error_not_out_of_memory()
    {
        var e = Assert.Throws<FormatException>(() => BuddyInfo.Load("/dev/zero"));

        Assert.StartsWith("/dev/zero:1: ", e.Message, StringComparison.Ordinal);
        Assert.Contains("binary file", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_buddyinfo_line_longer_than_the_bound_is_refused_naming_the_line()
    {
        string path = Path.Combine(_dir, "long.buddyinfo");
        File.WriteAllText(path, "Node 0, zone DMA 1\n" + "Node 0, zone Normal " + new string('7', 8 << 20));

        var e = Assert.Throws<FormatException>(() => BuddyInfo.Load(path));

        Assert.StartsWith($"{path}:2: line 2 is longer than", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_buddyinfo_with_bytes_that_are_not_utf8_is_refused_naming_the_line()
    {
        string path = Path.Combine(_dir, "latin1.buddyinfo");
        File.WriteAllBytes(path, [.. "Node 0, zone DMA 1\nNode 0, zone Norm"u8, 0xE9, .. "al 1 2\n"u8]);

        var e = Assert.Throws<FormatException>(() => BuddyInfo.Load(path));

        Assert.StartsWith($"{path}:2: ", e.Message, StringComparison.Ordinal);
        Assert.Contains("not UTF-8", e.Message, StringComparison.Ordinal);
    }

    // ---- zoneinfo ---------------------------------------------------------------------------------

    [Fact]
    public void A_file_that_is_not_a_zoneinfo_is_refused_naming_the_file_not_read_as_no_zones()
    {
        string path = Path.Combine(_dir, "not.zoneinfo");
        File.WriteAllText(path, "MemTotal:       16303264 kB\nMemFree:         1234567 kB\n");

        var e = Assert.Throws<FormatException>(() => ZoneInfo.Load(path));

        Assert.StartsWith($"{path}: not a /proc/zoneinfo text", e.Message, StringComparison.Ordinal);
        Assert.Contains("Node <number>, zone <name>", e.Message, StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => ZoneInfo.Parse(File.ReadAllText(TestData.Path("live-6.18.buddyinfo")), "buddyinfo-as-zoneinfo"));
    }

    [Fact]
    public void A_zoneinfo_zone_without_its_watermarks_is_refused_naming_the_header_line()
    {
        var e = Assert.Throws<FormatException>(() => ZoneInfo.Parse("Node 0, zone      DMA\n  pages free     3\n        min      10\n", "partial.zoneinfo"));

        Assert.StartsWith("partial.zoneinfo:1: zone DMA lacks", e.Message, StringComparison.Ordinal);
    }

    // ---- allocator dumps ----------------------------------------------------------------------------

    public static TheoryData<string, string> BadDumps => new()
    {
        { "format=1", "$.format" },
        { "format=null", "$.format" },
        { "version=\"1\"", "$.version" },
        { "zones=null", "$.zones" },
        { "free=null", "$.free" },
        { "allocated+null", "$.allocated[" },
        { "zones[0].name=null", "$.zones[0].name" },
        { "zones[0].pageblockTypes=null", "$.zones[0].pageblockTypes" },
        { "zones[0].pageblockTypes+U", "$.zones[0].pageblockTypes" },
        { "zones[0].pageblockTypes=X", "$.zones[0].pageblockTypes" },
        { "free[0].mobility=9", "$.free[0].mobility" },
        { "free[0].mobility=\"Sideways\"", "$.free[0].mobility" },
        { "free[0].pages=*2^maxOrder", "$.free[0]" },
        { "free-0", "in no run" },
        { "allocated+free[0]", "in two runs" },
        { "free[0].pfn=endPfn", "$.free[0]" },
        { "zones[0].endPfn=1", "$.zones[0]" },
        { "maxOrder=60", "$.maxOrder" },
        { "pageSize=3", "$.pageSize" },
    };

    [Theory]
    [MemberData(nameof(BadDumps))]
    public void A_dump_that_no_allocator_state_matches_is_a_format_exception_naming_the_file_and_field(string change, string path)
    {
        string file = Path.Combine(_dir, "bad.json");
        File.WriteAllText(file, Mutate(GroupedDump().ToJson(), change));

        var e = Assert.Throws<FormatException>(() => AllocatorDump.Load(file));

        Assert.StartsWith(file + ": ", e.Message, StringComparison.Ordinal);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Dumps_of_real_allocator_states_load_back_equal()
    {
        var random = new Random(11);
        foreach (MachineLayout layout in new[]
        {
            MachineLayout.Flat(1 << 20) with { MaxOrder = 6 },
            MachineLayout.X86(32 << 20) with { Mobility = MobilitySettings.Grouping },
            MachineLayout.X86(16 << 20) with { PerCpuCaches = true },
        })
        {
            var pages = new PageAllocator(layout);
            var held = new List<Block>();
            for (int i = 0; i < 200; i++)
            {
                if (held.Count > 0 && random.Next(3) == 0)
                {
                    int at = random.Next(held.Count);
                    pages.Free(held[at]);
                    held.RemoveAt(at);
                }
                else if (pages.TryAllocate(random.Next(4) == 0 ? Request.ForPages((ulong)random.Next(1, 9)) : Request.ForOrder(random.Next(0, 5)), out Block b))
                {
                    held.Add(b);
                }
            }

            string json = pages.Dump().ToJson();
            Assert.Equal(json, AllocatorDump.Parse(json, "real").ToJson());
        }
    }

    // ---- trace replay -------------------------------------------------------------------------------

    [Theory]
    [InlineData(4096UL, "pfn=0x100000000000 order=0", "pfn")] // 2^44: beyond 2^52 bytes
    [InlineData(4096UL, "pfn=0x800000000 order=0", "pfn")] // 2^35: beyond the largest machine a replay models
    [InlineData(4096UL, "pfn=0x3fffffff order=1", "pfn")] // its block ends past 2^30 pages
    [InlineData(4096UL, "pfn=0x0 order=30", "order")]
    [InlineData(4096UL, "pfn=0x0 order=63", "order")]
    [InlineData(65536UL, "pfn=0x0 order=19", "order")] // 2^35 bytes: larger than any buddy block
    public void Replay_refuses_a_pfn_or_order_no_machine_has_at_its_line_before_building_a_machine(ulong pageSize, string fields, string field)
    {
        string path = Path.Combine(_dir, "far.trace");
        File.WriteAllText(path, Alloc + "\n" + Free + "\n" + $"            bash-1     [000] .....     1.000003: mm_page_alloc: page=0000000012345679 {fields} migratetype=0 gfp_flags=GFP_KERNEL\n");

        long before = GC.GetTotalAllocatedBytes(precise: true);
        var e = Assert.Throws<TraceFormatException>(() => TraceReplay.Run(path, new ReplayOptions { PageSize = pageSize }));
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        Assert.Equal((path, 3L, field), (e.SourceName, e.Line, e.Field));
        Assert.True(allocated < 64L << 20, $"refusing one line allocated {allocated:N0} bytes");
    }

    [Fact]
    public void Trace_bounds_follow_the_page_size()
    {
        Assert.Equal((22, TraceReplay.MaxPfn), (new TraceBounds(4096).MaxOrder, new TraceBounds(4096).EndPfn));
        Assert.Equal((18, TraceReplay.MaxPfn), (new TraceBounds(65536).MaxOrder, new TraceBounds(65536).EndPfn));
        Assert.Equal((13, 1UL << 31), (new TraceBounds(2UL << 20).MaxOrder, KernelLimits.EndPfnFor(2UL << 20)));
        Assert.Equal(TraceReplay.MaxPfn, new TraceBounds(2UL << 20).EndPfn); // 2^52 / 2 MiB = 2^31 frames, capped at MaxPfn (2^30)
    }

    // ---- helpers ------------------------------------------------------------------------------------

    private static TraceStats ReadTrace(byte[] bytes, FtraceOptions? options = null, string source = "test.trace")
    {
        using var reader = new FtraceReader(new MemoryStream(bytes, writable: false), source, options);
        while (reader.TryRead(out _))
        {
        }

        return reader.Stats;
    }

    // One gzip member (RFC 1952) built field by field, with the optional header fields gzip(1) writes.
    private static byte[] GzipMember(byte[] data, string? name = null, byte[]? extra = null, bool headerCrc = false)
    {
        var header = new List<byte> { 0x1f, 0x8b, 8, (byte)((name is null ? 0 : 8) | (extra is null ? 0 : 4) | (headerCrc ? 2 : 0)), 0, 0, 0, 0, 0, 3 };
        if (extra is not null)
        {
            header.AddRange([(byte)extra.Length, 0, .. extra]);
        }

        if (name is not null)
        {
            header.AddRange([.. Encoding.ASCII.GetBytes(name), 0]);
        }

        if (headerCrc)
        {
            var crc = default(Crc32);
            crc.Append([.. header]);
            header.AddRange([(byte)crc.Value, (byte)(crc.Value >> 8)]);
        }

        using var deflated = new MemoryStream();
        using (var deflate = new DeflateStream(deflated, CompressionLevel.Optimal, leaveOpen: true))
        {
            deflate.Write(data);
        }

        var dataCrc = default(Crc32);
        dataCrc.Append(data);
        byte[] trailer = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(trailer, dataCrc.Value);
        BinaryPrimitives.WriteUInt32LittleEndian(trailer.AsSpan(4), (uint)data.Length);
        return [.. header, .. deflated.ToArray(), .. trailer];
    }

    private static AllocatorDump GroupedDump()
    {
        var pages = new PageAllocator(MachineLayout.X86(32 << 20) with { Mobility = MobilitySettings.Grouping });
        for (int i = 0; i < 20; i++)
        {
            pages.Allocate(Request.ForOrder(i % 4));
        }

        return pages.Dump();
    }

    // Applies one named change to the dump's JSON: "field=value", "list+item", "list-index".
    private static string Mutate(string json, string change)
    {
        JsonObject root = JsonNode.Parse(json)!.AsObject();
        JsonArray free = root["free"]!.AsArray();
        JsonObject zone0 = root["zones"]![0]!.AsObject();
        switch (change)
        {
            case "allocated+null": root["allocated"]!.AsArray().Add(null); break;
            case "zones[0].pageblockTypes+U": zone0["pageblockTypes"] = zone0["pageblockTypes"]!.GetValue<string>() + "U"; break;
            case "zones[0].pageblockTypes=X": zone0["pageblockTypes"] = "X" + zone0["pageblockTypes"]!.GetValue<string>()[1..]; break;
            case "free[0].pages=*2^maxOrder": free[0]!["pages"] = 2UL << root["maxOrder"]!.GetValue<int>(); free[0]!["pfn"] = 0; break;
            case "free-0": free.RemoveAt(0); break;
            case "allocated+free[0]": root["allocated"]!.AsArray().Add(free[0]!.DeepClone()); break;
            case "free[0].pfn=endPfn": free[0]!["pfn"] = root["endPfn"]!.DeepClone(); break;
            case "zones[0].endPfn=1": zone0["endPfn"] = 1; break;
            default:
                (string target, string value) = (change[..change.IndexOf('=')], change[(change.IndexOf('=') + 1)..]);
                JsonNode? parsed = JsonNode.Parse(value);
                JsonObject owner = target.StartsWith("zones[0].", StringComparison.Ordinal) ? zone0 : target.StartsWith("free[0].", StringComparison.Ordinal) ? free[0]!.AsObject() : root;
                owner[target[(target.LastIndexOf('.') + 1)..]] = parsed;
                break;
        }

        return root.ToJsonString();
    }
}
