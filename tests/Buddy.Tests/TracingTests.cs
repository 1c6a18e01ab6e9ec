// TracingTests: FtraceReader against the exact Linux 6.18 kmem tracepoint formats (and the decimal
// pfn of kernels before 5.14), the bundled real trace, every bad-input path, gzip truncation and
// corruption, and seeded random inputs that may only ever fail with TraceFormatException.
using System.IO.Compression;
using System.Text;
using Buddy.Tracing;

namespace Buddy.Tests;

public sealed class TracingTests : IDisposable
{
    private const long BundledLines = 364_164;
    private const long BundledAllocs = 212_325;
    private const long BundledFrees = 151_839;

    // The header /sys/kernel/tracing/trace prints before the events (trace_pipe prints none).
    private const string Header =
        "# tracer: nop\n"
        + "#\n"
        + "# entries-in-buffer/entries-written: 3/3   #P:2\n"
        + "#\n"
        + "#                                _-----=> irqs-off/BH-disabled\n"
        + "#                               / _----=> need-resched\n"
        + "#                              | / _---=> hardirq/softirq\n"
        + "#                              || / _--=> preempt-depth\n"
        + "#                              ||| / _-=> migrate-disable\n"
        + "#                              |||| /     delay\n"
        + "#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n"
        + "#              | |         |   |||||     |         |\n";

    private const int HeaderLineCount = 12;

    // Real lines (the live 6.18 trace in the research notes and the bundled trace).
    private const string AllocLine =
        "              dd-3929    [000] .....   443.469122: mm_page_alloc: page=00000000083e66ce pfn=0x11cee6 order=0 migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_COMP";

    private const string KernelAllocLine =
        "              dd-3929    [000] .....   443.469178: mm_page_alloc: page=00000000deab91fa pfn=0x10acff order=2 migratetype=0 gfp_flags=GFP_KERNEL_ACCOUNT|__GFP_ZERO|__GFP_COMP";

    private const string FreeLine =
        "             csc-4088    [001] d..1.   224.598769: mm_page_free: page=00000000175c6634 pfn=0x120000 order=10";

    private readonly string _tempDir = Directory.CreateTempSubdirectory("buddy-tracing-tests-").FullName;

    public void Dispose() => Directory.Delete(_tempDir, recursive: true);

    // ---- event shapes -------------------------------------------------------------------------

    [Fact]
    public void Alloc_with_a_hashed_page_is_read_with_pfn_order_migratetype_zone_and_priority()
    {
        (List<PageEvent> events, TraceStats stats) = Read(AllocLine + "\n");

        PageEvent e = Assert.Single(events);
        Assert.Equal(new PageEvent(PageEventKind.Alloc, 0x11cee6, 0, MigrateType.Movable, ZoneKind.Normal, AllocationPriority.Normal, 1), e);
        Assert.Equal(1, stats.Lines);
        Assert.Equal(1, stats.Events);
        Assert.Equal(1, stats.Allocs);
        Assert.Equal(0, stats.Frees);
        Assert.Equal(0, stats.FailedAllocs);
        Assert.Equal(0, stats.SkippedEvents);
    }

    [Fact]
    public void Free_is_read_with_pfn_and_order()
    {
        (List<PageEvent> events, TraceStats stats) = Read(FreeLine + "\n");

        PageEvent e = Assert.Single(events);
        Assert.Equal(PageEventKind.Free, e.Kind);
        Assert.Equal(0x120000UL, e.Pfn);
        Assert.Equal(10, e.Order);
        Assert.Equal(1, e.Line);
        Assert.Equal(1, stats.Frees);
        Assert.Equal(0, stats.Allocs);
    }

    [Theory]
    [InlineData("page=0000000000000000 pfn=0x0")] // 6.18: NULL prints raw, pfn printed as 0
    [InlineData("page=(null) pfn=0")] // older kernels (decimal pfn, "(null)")
    [InlineData("page=(null) pfn=0x0")]
    public void Failed_alloc_is_counted_and_not_returned(string pageAndPfn)
    {
        string failed = $"              dd-3929    [000] .....   443.469130: mm_page_alloc: {pageAndPfn} order=9 migratetype=1 gfp_flags=GFP_TRANSHUGE_LIGHT";

        (List<PageEvent> events, TraceStats stats) = Read(AllocLine + "\n" + failed + "\n" + FreeLine + "\n");

        Assert.Equal([PageEventKind.Alloc, PageEventKind.Free], events.Select(e => e.Kind));
        Assert.Equal([1L, 3L], events.Select(e => e.Line));
        Assert.Equal(1, stats.FailedAllocs);
        Assert.Equal(1, stats.Allocs);
        Assert.Equal(1, stats.Frees);
        Assert.Equal(3, stats.Events);
        Assert.Equal(0, stats.SkippedEvents);
    }

    [Fact]
    public void Other_events_are_counted_by_name_and_skipped()
    {
        string trace = string.Join('\n',
            "              ls-3932    [001] d..3.   444.378282: mm_page_alloc_zone_locked: page=00000000d2a8632f pfn=0x137978 order=2 migratetype=2 percpu_refill=1",
            AllocLine,
            "            bash-3928    [000] ...4.   443.586675: mm_page_free_batched: page=00000000083e66ce pfn=0x11cee6 order=0",
            "            bash-3928    [000] ...4.   443.586676: mm_page_free_batched: page=00000000072c5937 pfn=0x11cee1 order=0",
            "     kworker/0:1-11      [000] d..2.   443.600001: mm_page_pcpu_drain: page=00000000a8f46e74 pfn=0x1083bf order=0 migratetype=0",
            "              ls-3932    [001] d..3.   444.381682: mm_page_alloc_extfrag: page=0000000088fbbe51 pfn=0x134000 alloc_order=0 fallback_order=10 pageblock_order=9 alloc_migratetype=0 fallback_migratetype=1 fragmenting=0 change_ownership=1",
            "          <idle>-0       [001] d..2.   443.600100: sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=kworker/1:1 next_pid=57 next_prio=120",
            FreeLine) + "\n";

        (List<PageEvent> events, TraceStats stats) = Read(trace);

        Assert.Equal([PageEventKind.Alloc, PageEventKind.Free], events.Select(e => e.Kind));
        Assert.Equal([2L, 8L], events.Select(e => e.Line));
        Assert.Equal(8, stats.Lines);
        Assert.Equal(8, stats.Events);
        Assert.Equal(6, stats.SkippedEvents);
        var expected = new Dictionary<string, long>
        {
            ["mm_page_alloc_zone_locked"] = 1,
            ["mm_page_free_batched"] = 2,
            ["mm_page_pcpu_drain"] = 1,
            ["mm_page_alloc_extfrag"] = 1,
            ["sched_switch"] = 1,
        };
        Assert.Equal(expected.OrderBy(kv => kv.Key, StringComparer.Ordinal), stats.SkippedByName.OrderBy(kv => kv.Key, StringComparer.Ordinal));
    }

    // ---- fields and line shapes ---------------------------------------------------------------

    [Theory]
    [InlineData("pfn=0x11cee6", 0x11cee6UL)]
    [InlineData("pfn=0x12fc00", 0x12fc00UL)]
    [InlineData("pfn=0xffffffffff", 0xffffffffffUL)] // the largest: 2^40 - 1, the last 4 KiB frame below 2^52 bytes
    [InlineData("pfn=1216204", 1216204UL)] // before 5.14: pfn=%lu
    [InlineData("pfn=0", 0UL)]
    [InlineData("pfn=0X00000000000000011CEE6", 0x11cee6UL)] // leading zeros past 16 digits, as the gfp_flags hex reads them
    public void Pfn_is_read_as_hex_or_decimal(string pfnField, ulong expected)
    {
        string alloc = $"            bash-1234  [000] ....   123.456789: mm_page_alloc: page=ffffea0004a1b2c0 {pfnField} order=0 migratetype=0 gfp_flags=GFP_KERNEL";
        string free = $"            bash-1234  [000] ....   123.456900: mm_page_free: page=ffffea0004a1b2c0 {pfnField} order=0";

        (List<PageEvent> events, _) = Read(alloc + "\n" + free + "\n");

        Assert.Equal([expected, expected], events.Select(e => e.Pfn));
    }

    [Fact]
    public void A_pre_5_14_trace_with_decimal_pfns_reads_like_a_hex_one()
    {
        string older = "            bash-1234  [000] ....   123.456789: mm_page_alloc: page=ffffea0004a1b2c0 pfn=1166054 order=3 migratetype=2 gfp_flags=GFP_KERNEL\n"
            + "            bash-1234  [000] ....   123.456900: mm_page_free: page=ffffea0004a1b2c0 pfn=1166054 order=3\n";
        string newer = "            bash-1234  [000] .....   123.456789: mm_page_alloc: page=0000000012345678 pfn=0x11cae6 order=3 migratetype=2 gfp_flags=GFP_KERNEL\n"
            + "            bash-1234  [000] .....   123.456900: mm_page_free: page=0000000012345678 pfn=0x11cae6 order=3\n";

        Assert.Equal(Read(newer).Events, Read(older).Events);
        Assert.Equal(1166054UL, Read(older).Events[0].Pfn);
    }

    [Theory]
    [InlineData("kworker/u4:2-123")]
    [InlineData("Web Content-4567")]
    [InlineData("gdbus 2-99")]
    [InlineData(".NET Debugger-3952")]
    [InlineData("RequestBuilder -3992")] // a trailing space in the comm: real, from the bundled trace
    [InlineData("memfd:sealed-91-2137")]
    [InlineData("<idle>-0")]
    [InlineData("ksoftirqd/0-14")]
    [InlineData("weird [7] name: x-42")]
    public void Task_names_with_spaces_dashes_digits_and_colons_are_read(string task)
    {
        string alloc = $"{task,24}    [001] d..1.   219.070635: mm_page_alloc: page=000000001c34fba6 pfn=0x11fddd order=3 migratetype=0 gfp_flags=GFP_KERNEL";
        string free = $"{task,24}    [001] d..1.   219.070640: mm_page_free: page=000000001c34fba6 pfn=0x11fddd order=3";

        (List<PageEvent> events, TraceStats stats) = Read(alloc + "\n" + free + "\n");

        Assert.Equal([PageEventKind.Alloc, PageEventKind.Free], events.Select(e => e.Kind));
        Assert.All(events, e => Assert.Equal((0x11fdddUL, 3), (e.Pfn, e.Order)));
        Assert.Equal(0, stats.BadLines);
    }

    [Theory]
    [InlineData("443.469122")]
    [InlineData("0.000001")]
    [InlineData("443")] // counter / x86-tsc clocks print an integer
    [InlineData("98765432109876")]
    [InlineData("1234.123456789")]
    public void Timestamps_with_and_without_a_fraction_are_read(string timestamp)
    {
        string line = $"              dd-3929    [000] .....   {timestamp}: mm_page_free: page=00000000083e66ce pfn=0x11cee6 order=1";

        (List<PageEvent> events, _) = Read(line + "\n");

        Assert.Equal((PageEventKind.Free, 0x11cee6UL, 1), (Assert.Single(events).Kind, events[0].Pfn, events[0].Order));
    }

    [Fact]
    public void The_tracing_trace_header_block_is_counted_and_skipped()
    {
        string body = AllocLine + "\n" + KernelAllocLine + "\n" + FreeLine + "\n";

        (List<PageEvent> withHeader, TraceStats headed) = Read(Header + body);
        (List<PageEvent> without, TraceStats bare) = Read(body);

        Assert.Equal(HeaderLineCount, headed.HeaderLines);
        Assert.Equal(HeaderLineCount + 3, headed.Lines);
        Assert.Equal(3, headed.Events);
        Assert.Equal(0, bare.HeaderLines);
        Assert.Equal(3, bare.Lines);
        Assert.Equal([1L, 2L, 3L], without.Select(e => e.Line));
        Assert.Equal(without.Select(e => e with { Line = e.Line + HeaderLineCount }), withHeader);
    }

    [Fact]
    public void Crlf_line_endings_read_the_same_events_as_lf()
    {
        // The last field of each line sits right before the '\r': order for a free, gfp_flags for an alloc.
        string[] lines =
        [
            Header.TrimEnd('\n'),
            AllocLine,
            "          insmod-500     [000] .....    10.000001: mm_page_alloc: page=0000000012345678 pfn=0x10 order=0 migratetype=0 gfp_flags=GFP_KERNEL|GFP_DMA",
            "          insmod-500     [000] .....    10.000002: mm_page_alloc: page=0000000012345679 pfn=0x80000 order=0 migratetype=0 gfp_flags=GFP_ATOMIC",
            FreeLine,
        ];
        string lf = string.Join('\n', lines) + "\n";
        string crlf = lf.Replace("\n", "\r\n", StringComparison.Ordinal);

        (List<PageEvent> expected, TraceStats lfStats) = Read(lf);
        (List<PageEvent> actual, TraceStats crlfStats) = Read(crlf);

        Assert.Equal(4, expected.Count);
        Assert.Equal(ZoneKind.Dma, expected[1].Zone);
        Assert.Equal(AllocationPriority.Atomic, expected[2].Priority);
        Assert.Equal(expected, actual);
        Assert.Equal(lfStats.HeaderLines, crlfStats.HeaderLines);
        Assert.Equal(lfStats.Lines, crlfStats.Lines);
    }

    [Fact]
    public void A_last_line_without_a_newline_is_read()
    {
        (List<PageEvent> events, TraceStats stats) = Read(AllocLine + "\n" + FreeLine);

        Assert.Equal([PageEventKind.Alloc, PageEventKind.Free], events.Select(e => e.Kind));
        Assert.Equal(10, events[1].Order);
        Assert.Equal(2, stats.Lines);
    }

    [Fact]
    public void Blank_and_whitespace_lines_are_counted_and_skipped()
    {
        string trace = "\n\n   \n" + AllocLine + "\n\t \n" + FreeLine + "\n\n";

        (List<PageEvent> events, TraceStats stats) = Read(trace);

        Assert.Equal([4L, 6L], events.Select(e => e.Line));
        Assert.Equal(7, stats.Lines);
        Assert.Equal(2, stats.Events);
        Assert.Equal(0, stats.HeaderLines);
        Assert.Equal(0, stats.BadLines);
    }

    [Fact]
    public void An_empty_input_has_no_events()
    {
        (List<PageEvent> events, TraceStats stats) = Read("");

        Assert.Empty(events);
        Assert.Equal(0, stats.Lines);
    }

    // ---- gfp_flags and migratetype ------------------------------------------------------------

    [Theory]
    [InlineData("GFP_DMA", ZoneKind.Dma)]
    [InlineData("__GFP_DMA", ZoneKind.Dma)]
    [InlineData("GFP_KERNEL|GFP_DMA", ZoneKind.Dma)]
    [InlineData("GFP_KERNEL|__GFP_DMA|__GFP_ZERO", ZoneKind.Dma)]
    [InlineData("0x1", ZoneKind.Dma)]
    [InlineData("GFP_DMA32", ZoneKind.Dma32)]
    [InlineData("__GFP_DMA32", ZoneKind.Dma32)]
    [InlineData("GFP_KERNEL|GFP_DMA32", ZoneKind.Dma32)]
    [InlineData("0x4", ZoneKind.Dma32)]
    [InlineData("GFP_KERNEL|0x4", ZoneKind.Dma32)]
    [InlineData("GFP_HIGHUSER_MOVABLE", ZoneKind.Normal)]
    [InlineData("GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP", ZoneKind.Normal)]
    [InlineData("GFP_NOFS|__GFP_HIGHMEM|__GFP_MOVABLE|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP|__GFP_HARDWALL", ZoneKind.Normal)]
    [InlineData("GFP_KERNEL", ZoneKind.Normal)]
    [InlineData("GFP_NOWAIT|0x200", ZoneKind.Normal)]
    [InlineData("none", ZoneKind.Normal)]
    public void Gfp_flags_give_the_highest_zone(string flags, ZoneKind zone)
    {
        Assert.Equal(zone, GfpFlags.Zone(Encoding.ASCII.GetBytes(flags)));
        Assert.Equal(zone, ReadAllocWith("gfp_flags=" + flags).Zone);
    }

    [Theory]
    [InlineData("GFP_ATOMIC", AllocationPriority.Atomic)]
    [InlineData("GFP_ATOMIC|__GFP_RECLAIMABLE|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP", AllocationPriority.Atomic)]
    [InlineData("__GFP_HIGH", AllocationPriority.Atomic)] // no direct reclaim: ALLOC_NON_BLOCK too
    [InlineData("GFP_KERNEL|__GFP_HIGH", AllocationPriority.High)]
    [InlineData("0x20", AllocationPriority.Atomic)]
    [InlineData("GFP_ATOMIC|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP|__GFP_NOMEMALLOC", AllocationPriority.High)] // __GFP_NOMEMALLOC: no NON_BLOCK
    [InlineData("GFP_ATOMIC|__GFP_DIRECT_RECLAIM", AllocationPriority.High)]
    [InlineData("GFP_KERNEL", AllocationPriority.Normal)]
    [InlineData("GFP_HIGHUSER_MOVABLE|__GFP_COMP", AllocationPriority.Normal)]
    [InlineData("GFP_NOWAIT", AllocationPriority.Normal)]
    [InlineData("none", AllocationPriority.Normal)]
    public void Gfp_flags_give_the_watermark_priority(string flags, AllocationPriority priority)
    {
        Assert.Equal(priority, GfpFlags.Priority(Encoding.ASCII.GetBytes(flags)));
        Assert.Equal(priority, ReadAllocWith("gfp_flags=" + flags).Priority);
    }

    [Theory]
    [InlineData(0, MigrateType.Unmovable)]
    [InlineData(1, MigrateType.Movable)]
    [InlineData(2, MigrateType.Reclaimable)]
    [InlineData(3, MigrateType.HighAtomic)]
    [InlineData(4, MigrateType.Cma)]
    [InlineData(5, MigrateType.Isolate)]
    public void Migratetype_is_read(int value, MigrateType expected) =>
        Assert.Equal(expected, ReadAllocWith($"migratetype={value}").Mobility);

    // ---- plain and gzip input -----------------------------------------------------------------

    [Fact]
    public void Gzip_is_detected_by_content_not_by_name()
    {
        string text = Header + AllocLine + "\n" + KernelAllocLine + "\n" + FreeLine + "\n";
        string gzipAsTxt = Path.Combine(_tempDir, "trace.txt");
        string textAsGz = Path.Combine(_tempDir, "trace.gz");
        File.WriteAllBytes(gzipAsTxt, Gzip(Encoding.ASCII.GetBytes(text)));
        File.WriteAllText(textAsGz, text);

        (List<PageEvent> fromGzip, TraceStats gzipStats) = ReadFile(gzipAsTxt);
        (List<PageEvent> fromText, TraceStats textStats) = ReadFile(textAsGz);

        Assert.Equal(3, fromText.Count);
        Assert.Equal(fromText, fromGzip);
        Assert.Equal(textStats.Lines, gzipStats.Lines);
        Assert.Equal(HeaderLineCount, gzipStats.HeaderLines);
    }

    [Fact]
    public void The_bundled_trace_has_exactly_its_known_counts()
    {
        long allocPages = 0, freePages = 0, reserves = 0, events = 0;
        ulong maxPfn = 0;
        var migrate = new long[6];
        var zones = new long[3];
        long lastLine = 0;
        using (FtraceReader reader = FtraceReader.Open(BundledTracePath))
        {
            while (reader.TryRead(out PageEvent e))
            {
                events++;
                Assert.True(e.Line > lastLine);
                lastLine = e.Line;
                maxPfn = Math.Max(maxPfn, e.Pfn);
                if (e.Kind == PageEventKind.Alloc)
                {
                    allocPages += 1L << e.Order;
                    migrate[(int)e.Mobility]++;
                    zones[(int)e.Zone]++;
                    reserves += e.Priority == AllocationPriority.Normal ? 0 : 1;
                }
                else
                {
                    freePages += 1L << e.Order;
                }
            }

            TraceStats s = reader.Stats;
            Assert.Equal(BundledLines, s.Lines);
            Assert.Equal(BundledAllocs, s.Allocs);
            Assert.Equal(BundledFrees, s.Frees);
            Assert.Equal(0, s.FailedAllocs);
            Assert.Equal(BundledLines, s.Events);
            Assert.Equal(0, s.HeaderLines);
            Assert.Equal(0, s.SkippedEvents);
            Assert.Equal(0, s.BadLines);
        }

        // Independently computed from the decompressed text.
        Assert.Equal(BundledLines, events);
        Assert.Equal(BundledLines, lastLine);
        Assert.Equal(252_690, allocPages);
        Assert.Equal(251_743, freePages);
        Assert.Equal(0x12fc00UL, maxPfn);
        Assert.Equal([10_105L, 200_954L, 1_266L, 0L, 0L, 0L], migrate);
        Assert.Equal([0L, 0L, BundledAllocs], zones); // no GFP_DMA/GFP_DMA32 request in this build
        Assert.Equal(10, reserves); // the ten GFP_ATOMIC lines, the only ones with __GFP_HIGH
    }

    [Fact]
    public void Reading_the_bundled_trace_keeps_memory_flat()
    {
        // Warm up the code paths (JIT, gzip) on a small input first.
        _ = Read(Gzip(Encoding.ASCII.GetBytes(AllocLine + "\n" + FreeLine + "\n")));

        long before = GC.GetAllocatedBytesForCurrentThread();
        long count = 0;
        using (FtraceReader reader = FtraceReader.Open(BundledTracePath))
        {
            while (reader.TryRead(out _))
            {
                count++;
            }
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(BundledLines, count);
        // 364,164 lines of ~150 bytes: a string per line alone would be over 100 MB.
        // Measured: about 1.1 MB, the reader's 1 MiB line buffer.
        Assert.True(allocated < 8L * 1024 * 1024, $"reading the bundled trace allocated {allocated:N0} bytes");
    }

    // ---- bad input ----------------------------------------------------------------------------

    public static TheoryData<string, string?, string> BadLines => new()
    {
        { "this is not a trace line at all", null, "not an ftrace event line" },
        { "random [12] text: with brackets", null, "not an ftrace event line" },
        { "            bash-1     [000] .....     1.000001: mm_page_alloc: page=0000000012345678 order=0 migratetype=0 gfp_flags=GFP_KERNEL", "pfn", "missing" },
        { "            bash-1     [000] .....     1.000001: mm_page_free: page=0000000012345678 order=0", "pfn", "missing" },
        { "            bash-1     [000] .....     1.000001: mm_page_alloc: page=0000000012345678 pfn=0xZZ order=0 migratetype=0 gfp_flags=GFP_KERNEL", "pfn", "0xZZ" },
        { "            bash-1     [000] .....     1.000001: mm_page_free: page=0000000012345678 pfn=0x order=0", "pfn", "'0x'" },
        { "            bash-1     [000] .....     1.000001: mm_page_free: page=0000000012345678 pfn=12ab order=0", "pfn", "12ab" },
        { "            bash-1     [000] .....     1.000001: mm_page_free: page=0000000012345678 pfn=0x12345678901234567 order=0", "pfn", "0x12345678901234567" },
        { "            bash-1     [000] .....     1.000001: mm_page_free: page=0000000012345678 pfn=0x10 order=99", "order", "'99'" },
        { "            bash-1     [000] .....     1.000001: mm_page_free: page=0000000012345678 pfn=0x10 order=-1", "order", "'-1'" },
        { "            bash-1     [000] .....     1.000001: mm_page_free: page=0000000012345678 pfn=0x10 order=x", "order", "'x'" },
        { "            bash-1     [000] .....     1.000001: mm_page_free: page=0000000012345678 pfn=0x10 order=99999999999999999999", "order", "99999999999999999999" },
        { "            bash-1     [000] .....     1.000001: mm_page_alloc: page=0000000012345678 pfn=0x10 order=64 migratetype=0 gfp_flags=GFP_KERNEL", "order", "'64'" },
        { "            bash-1     [000] .....     1.000001: mm_page_free: page=0000000012345678 pfn=0x10", "order", "missing" },
        { "            bash-1     [000] .....     1.000001: mm_page_alloc: page=0000000012345678 pfn=0x10 migratetype=0 gfp_flags=GFP_KERNEL", "order", "missing" },
        { "            bash-1     [000] .....     1.000001: mm_page_alloc: page=0000000012345678 pfn=0x10 order=0 migratetype=9 gfp_flags=GFP_KERNEL", "migratetype", "'9'" },
        { "            bash-1     [000] .....     1.000001: mm_page_alloc: page=0000000012345678 pfn=0x10 order=0 migratetype=x gfp_flags=GFP_KERNEL", "migratetype", "'x'" },
        { "            bash-1     [000] .....     1.000001: mm_page_alloc: page=0000000012345678 pfn=0x10 order=0 migratetype=-1 gfp_flags=GFP_KERNEL", "migratetype", "'-1'" },
        { "            bash-1     [000] .....     1.000001: mm_page_alloc: page=0000000012345678 pfn=0x10 order=0 gfp_flags=GFP_KERNEL", "migratetype", "missing" },
        { "            bash-1     [000] .....     1.000001: mm_page_alloc: page=0000000012345678 pfn=0x10 order=0 migratetype=0", "gfp_flags", "missing" },
        { "            bash-1     [000] .....     1.000001: mm_page_alloc: pfn=0x10 order=0 migratetype=0 gfp_flags=GFP_KERNEL", "page", "missing" },
        { "            bash-1     [000] .....     1.000001: page=0000000012345678 pfn=0x10 order=0", "event", "after the timestamp" },
        { "            bash-1     [000] .....     1.000001: : page=0000000012345678 pfn=0x10 order=0", "event", "after the timestamp" },
    };

    [Theory]
    [MemberData(nameof(BadLines))]
    public void A_bad_line_throws_naming_source_line_and_field(string bad, string? field, string detail)
    {
        string trace = "# tracer: nop\n" + AllocLine + "\n" + bad + "\n" + FreeLine + "\n";

        var e = Assert.Throws<TraceFormatException>(() => Read(trace, source: "bad.trace"));

        Assert.Equal("bad.trace", e.SourceName);
        Assert.Equal(3, e.Line);
        Assert.Equal(field, e.Field);
        Assert.StartsWith("bad.trace:3: ", e.Message, StringComparison.Ordinal);
        if (field is not null)
        {
            Assert.Contains($"field '{field}'", e.Message, StringComparison.Ordinal);
        }

        Assert.Contains(detail, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Skipping_bad_lines_counts_them_and_keeps_the_good_events_around_them()
    {
        var lines = new List<string> { "# tracer: nop" };
        var goodLines = new List<long>();
        foreach (TheoryDataRow<string, string?, string> row in BadLines)
        {
            lines.Add(AllocLine);
            goodLines.Add(lines.Count);
            lines.Add(row.Data.Item1);
        }

        lines.Add(FreeLine);
        goodLines.Add(lines.Count);
        int badCount = lines.Count - 1 - goodLines.Count;

        (List<PageEvent> events, TraceStats stats) = Read(string.Join('\n', lines) + "\n", new FtraceOptions { SkipBadLines = true }, "skip.trace");

        Assert.Equal(goodLines, events.Select(e => e.Line));
        Assert.Equal(badCount, stats.BadLines);
        Assert.Equal(goodLines.Count - 1, stats.Allocs);
        Assert.Equal(1, stats.Frees);
        Assert.NotNull(stats.FirstBadLine);
        Assert.StartsWith("skip.trace:3: ", stats.FirstBadLine, StringComparison.Ordinal);
        Assert.Contains("not an ftrace event line", stats.FirstBadLine, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_skipping_the_first_bad_line_stops_the_read_after_the_events_before_it()
    {
        using var reader = new FtraceReader(new MemoryStream(Encoding.ASCII.GetBytes(AllocLine + "\nnonsense\n" + FreeLine + "\n")), "stop.trace");

        Assert.True(reader.TryRead(out PageEvent first));
        Assert.Equal(1, first.Line);
        var e = Assert.Throws<TraceFormatException>(() => reader.TryRead(out _));
        Assert.Equal(2, e.Line);
        Assert.Equal(0, reader.Stats.BadLines);
    }

    [Fact]
    public void A_line_too_long_to_be_ftrace_throws_even_when_skipping_bad_lines()
    {
        byte[] huge = new byte[5 * 1024 * 1024];
        huge.AsSpan().Fill((byte)'a');

        foreach (FtraceOptions options in new[] { new FtraceOptions(), new FtraceOptions { SkipBadLines = true } })
        {
            var e = Assert.Throws<TraceFormatException>(() => Read(huge, options, "long.trace"));
            Assert.StartsWith("long.trace:1: ", e.Message, StringComparison.Ordinal);
            Assert.Contains("longer than", e.Message, StringComparison.Ordinal);
        }
    }

    // ---- truncated and corrupt gzip -----------------------------------------------------------

    [Theory]
    [InlineData("half")]
    [InlineData("length-4")]
    [InlineData("length-8")]
    [InlineData("length-100")]
    [InlineData("header-only")]
    public void A_truncated_gzip_trace_throws_truncated(string cut)
    {
        byte[] gz = BundledTraceBytes;
        int length = cut switch
        {
            "half" => gz.Length / 2,
            "length-4" => gz.Length - 4,
            "length-8" => gz.Length - 8,
            "length-100" => gz.Length - 100,
            "header-only" => 10,
            _ => throw new ArgumentOutOfRangeException(nameof(cut)),
        };
        string path = Path.Combine(_tempDir, "cut.trace.gz");
        File.WriteAllBytes(path, gz[..length]);

        foreach (FtraceOptions options in new[] { new FtraceOptions(), new FtraceOptions { SkipBadLines = true } })
        {
            var e = Assert.Throws<TraceFormatException>(() => CountLines(path, options));
            Assert.Contains("truncated", e.Message, StringComparison.Ordinal);
            Assert.StartsWith(path + ": ", e.Message, StringComparison.Ordinal);
            Assert.Equal(path, e.SourceName);
            Assert.Equal(0, e.Line);
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(7)]
    public void A_corrupt_gzip_trace_throws_trace_format_exception_and_never_reads_cleanly(int divisor)
    {
        byte[] gz = (byte[])BundledTraceBytes.Clone();
        int at = gz.Length / divisor;
        for (int i = 0; i < 4; i++)
        {
            gz[at + i] ^= 0x5a;
        }

        foreach (FtraceOptions options in new[] { new FtraceOptions(), new FtraceOptions { SkipBadLines = true } })
        {
            Exception? thrown = Record.Exception(() => Read(gz, options, "corrupt.trace.gz"));
            Assert.NotNull(thrown); // a silent success would replay a wrong trace
            var e = Assert.IsType<TraceFormatException>(thrown);
            Assert.StartsWith("corrupt.trace.gz:", e.Message, StringComparison.Ordinal);
            if (e.Line == 0)
            {
                // The stream as a whole: zlib's CRC/ISIZE check or the reader's own trailer check.
                Assert.True(e.Message.Contains("corrupt", StringComparison.Ordinal) || e.Message.Contains("truncated", StringComparison.Ordinal), e.Message);
            }
        }
    }

    [Theory]
    [InlineData(8)] // first byte of the CRC32
    [InlineData(5)] // last byte of the CRC32
    [InlineData(4)] // first byte of ISIZE
    [InlineData(1)] // last byte of ISIZE
    public void A_gzip_trailer_that_does_not_match_the_data_throws_corrupt(int fromEnd)
    {
        byte[] gz = (byte[])BundledTraceBytes.Clone();
        gz[^fromEnd] ^= 0x01;

        var e = Assert.Throws<TraceFormatException>(() => Read(gz, new FtraceOptions { SkipBadLines = true }, "trailer.trace.gz"));

        Assert.Equal(0, e.Line);
        Assert.StartsWith("trailer.trace.gz: ", e.Message, StringComparison.Ordinal);
        Assert.Contains("corrupt", e.Message, StringComparison.Ordinal);
        Assert.IsType<InvalidDataException>(e.InnerException);
    }

    [Fact]
    public void A_gzip_magic_followed_by_garbage_throws_trace_format_exception()
    {
        byte[] bytes = [0x1f, 0x8b, 0x08, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x03, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03];

        var e = Assert.Throws<TraceFormatException>(() => Read(bytes, source: "garbage.gz"));

        Assert.StartsWith("garbage.gz: ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Concatenated_gzip_members_are_read_as_gzip_dc_reads_them()
    {
        // gzip -c a >> t.gz; gzip -c b >> t.gz (or bgzip) makes a multi-member file: `gzip -dc`
        // decodes the members one after another, and so does the reader, each trailer checked.
        byte[] first = Gzip(Encoding.ASCII.GetBytes(AllocLine + "\n"));
        byte[] second = Gzip(Encoding.ASCII.GetBytes(FreeLine + "\n"));

        (List<PageEvent> events, TraceStats stats) = Read([.. first, .. second], source: "two-members.gz");

        Assert.Equal(2, stats.Lines);
        Assert.Equal([PageEventKind.Alloc, PageEventKind.Free], events.Select(e => e.Kind));
    }

    // ---- no crash on random input -------------------------------------------------------------

    [Fact]
    public void Random_bytes_and_mutated_real_lines_only_ever_throw_trace_format_exception()
    {
        var rng = new Random(20251124);
        string[] seeds =
        [
            AllocLine, KernelAllocLine, FreeLine, Header.TrimEnd('\n'),
            "              dd-3929    [000] .....   443.469130: mm_page_alloc: page=0000000000000000 pfn=0x0 order=9 migratetype=1 gfp_flags=GFP_TRANSHUGE_LIGHT",
            "            bash-1234  [000] ....   123.456789: mm_page_alloc: page=ffffea0004a1b2c0 pfn=1216204 order=0 migratetype=0 gfp_flags=GFP_KERNEL|GFP_DMA32|0x4",
            "            bash-3928    [000] ...4.   443.586675: mm_page_free_batched: page=00000000083e66ce pfn=0x11cee6 order=0",
            "     Web Content-4567    [001] d.h1.        443: mm_page_free: page=00000000deadbeef pfn=0x1000 order=1",
        ];
        string[] tokens = ["[", "]", "[0]", ": ", ":", "=", " ", "0x", "\n", "\r", "\r\n", "|", "#", ".", "-", "0", "9", "f", "(null)",
            "mm_page_alloc", "mm_page_free", "pfn=", "order=", "migratetype=", "gfp_flags=", "page=", "GFP_DMA", "__GFP_HIGH", "GFP_ATOMIC", "\0", "\u00ff"];
        var failures = new List<string>();

        void Check(byte[] input)
        {
            foreach (FtraceOptions options in new[] { new FtraceOptions(), new FtraceOptions { SkipBadLines = true } })
            {
                try
                {
                    _ = Read(input, options, "random");
                }
                catch (TraceFormatException)
                {
                }
                catch (Exception e)
                {
                    failures.Add($"{e.GetType().Name}: {e.Message} for input (base64) {Convert.ToBase64String(input)}");
                }
            }
        }

        // Random bytes, biased toward the characters ftrace lines are made of.
        const string alphabet = " \n\r\t[]:.=|#-_0123456789abcdefx()ABCDEFGHIKLMNOPRSTUWXZ";
        for (int i = 0; i < 300; i++)
        {
            byte[] input = new byte[rng.Next(0, 400)];
            for (int j = 0; j < input.Length; j++)
            {
                input[j] = rng.Next(4) == 0 ? (byte)rng.Next(256) : (byte)alphabet[rng.Next(alphabet.Length)];
            }

            Check(input);
        }

        // Real lines, mutated: bytes flipped, inserted, deleted, duplicated, tokens spliced in.
        for (int i = 0; i < 400; i++)
        {
            var text = new List<byte>();
            for (int k = rng.Next(1, 5); k > 0; k--)
            {
                text.AddRange(Encoding.ASCII.GetBytes(seeds[rng.Next(seeds.Length)] + "\n"));
            }

            for (int m = rng.Next(1, 9); m > 0 && text.Count > 0; m--)
            {
                int at = rng.Next(text.Count);
                switch (rng.Next(5))
                {
                    case 0:
                        text[at] ^= (byte)(1 << rng.Next(8));
                        break;
                    case 1:
                        text.Insert(at, (byte)rng.Next(256));
                        break;
                    case 2:
                        text.RemoveRange(at, Math.Min(rng.Next(1, 20), text.Count - at));
                        break;
                    case 3:
                        text.InsertRange(at, text.GetRange(at, Math.Min(rng.Next(1, 30), text.Count - at)));
                        break;
                    default:
                        text.InsertRange(at, Encoding.Latin1.GetBytes(tokens[rng.Next(tokens.Length)]));
                        break;
                }
            }

            byte[] input = [.. text];
            Check(input);
            if (i % 4 == 0)
            {
                Check(Gzip(input));
            }
        }

        // Gzip files with damaged headers, bodies and trailers.
        byte[] gz = Gzip(Encoding.ASCII.GetBytes(string.Join('\n', seeds) + "\n"));
        for (int i = 0; i < 200; i++)
        {
            byte[] input = (byte[])gz.Clone();
            for (int m = rng.Next(1, 4); m > 0; m--)
            {
                input[rng.Next(input.Length)] = (byte)rng.Next(256);
            }

            Check(rng.Next(3) == 0 ? input[..rng.Next(input.Length)] : input);
        }

        Assert.Empty(failures);
    }

    // ---- helpers ------------------------------------------------------------------------------

    private static string BundledTracePath => Path.Combine(RepoPaths.Root, "data", "linux-6.18-dotnet-build.trace.gz");

    private static byte[] BundledTraceBytes => s_bundledBytes.Value;

    private static readonly Lazy<byte[]> s_bundledBytes = new(() => File.ReadAllBytes(BundledTracePath));

    private static PageEvent ReadAllocWith(string field)
    {
        string line = $"          insmod-500     [000] .....    10.000001: mm_page_alloc: page=0000000012345678 pfn=0x10 order=0 migratetype=0 gfp_flags=GFP_KERNEL";
        string key = field[..(field.IndexOf('=', StringComparison.Ordinal) + 1)];
        int start = line.IndexOf(" " + key, StringComparison.Ordinal) + 1;
        int end = line.IndexOf(' ', start);
        line = line[..start] + field + (end < 0 ? "" : line[end..]);
        return Assert.Single(Read(line + "\n").Events);
    }

    private static (List<PageEvent> Events, TraceStats Stats) Read(string text, FtraceOptions? options = null, string source = "test.trace") =>
        Read(Encoding.ASCII.GetBytes(text), options, source);

    private static (List<PageEvent> Events, TraceStats Stats) Read(byte[] bytes, FtraceOptions? options = null, string source = "test.trace")
    {
        using var reader = new FtraceReader(new MemoryStream(bytes, writable: false), source, options);
        return ReadAll(reader);
    }

    private static (List<PageEvent> Events, TraceStats Stats) ReadFile(string path)
    {
        using FtraceReader reader = FtraceReader.Open(path);
        return ReadAll(reader);
    }

    private static (List<PageEvent> Events, TraceStats Stats) ReadAll(FtraceReader reader)
    {
        var events = new List<PageEvent>();
        while (reader.TryRead(out PageEvent e))
        {
            events.Add(e);
        }

        return (events, reader.Stats);
    }

    private static long CountLines(string path, FtraceOptions options)
    {
        using FtraceReader reader = FtraceReader.Open(path, options);
        while (reader.TryRead(out _))
        {
        }

        return reader.Stats.Lines;
    }

    private static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            gzip.Write(data);
        }

        return output.ToArray();
    }
}

/// <summary>Finds files of the repository (data/, fuzz/) by walking up to the folder holding Buddy.slnx.</summary>
internal static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Buddy.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException($"no folder holding Buddy.slnx above {AppContext.BaseDirectory}");
    }
}
