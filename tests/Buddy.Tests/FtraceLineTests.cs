// FtraceLineTests: FtraceReader against the exact Linux 6.18 kmem tracepoint formats — each event
// shape, the fields and line shapes real kernels print (and the decimal pfn of kernels before 5.14).
using Buddy.Tracing;
using static Buddy.Tests.TraceTestData;

namespace Buddy.Tests;

public sealed class FtraceLineTests
{
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
}
