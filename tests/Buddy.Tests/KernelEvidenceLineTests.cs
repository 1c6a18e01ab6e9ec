// KernelEvidenceLineTests: FtraceReader's reading of the kernel's own fragmentation events
// (mm_page_alloc_extfrag, mm_page_alloc_zone_locked, mm_compaction_begin/end) in the exact Linux 6.18
// formats — every field read into TraceStats.Evidence, every malformed field a bad line named with
// source, line and field, skipped and counted with SkipBadLines — and that these events never reach
// TryRead and are still counted as skipped by name.
using Buddy.Tracing;
using static Buddy.Tests.TraceTestData;

namespace Buddy.Tests;

public sealed class KernelEvidenceLineTests
{
    // Real lines of the capture in Data/linux-6.18-fragmenting-fallbacks.trace.gz and the fuzz corpus.
    internal const string ExtfragLine =
        "         python3-1868    [001] d..3. 56422.260154: mm_page_alloc_extfrag: page=000000004bd1a0b8 pfn=0x2b4a4d alloc_order=0 fallback_order=0 pageblock_order=9 alloc_migratetype=0 fallback_migratetype=1 fragmenting=1 change_ownership=0";

    internal const string ClaimLine =
        "              ls-3932    [001] d..3.   444.381682: mm_page_alloc_extfrag: page=0000000088fbbe51 pfn=0x134000 alloc_order=2 fallback_order=10 pageblock_order=9 alloc_migratetype=2 fallback_migratetype=1 fragmenting=0 change_ownership=1";

    internal const string ZoneLockedLine =
        "              ls-3932    [001] d..3.   444.378282: mm_page_alloc_zone_locked: page=00000000d2a8632f pfn=0x137978 order=2 migratetype=2 percpu_refill=1";

    internal const string BeginLine =
        "         python3-1868    [001] ..... 56422.286469: mm_compaction_begin: zone_start=0x100000 migrate_pfn=0x250400 free_pfn=0x620000 zone_end=0x640000, mode=async";

    internal const string EndLine =
        "         python3-1868    [001] ..... 56422.302140: mm_compaction_end: zone_start=0x100000 migrate_pfn=0x250840 free_pfn=0x620000 zone_end=0x640000, mode=async status=success";

    private const string Task = "         python3-1868    [001] d..3. 56422.260154: ";

    // ---- every field read -----------------------------------------------------------------------

    [Fact]
    public void A_fragmenting_fallback_is_counted_with_its_order_and_migrate_types()
    {
        (List<PageEvent> events, TraceStats stats) = Read(ExtfragLine + "\n");

        Assert.Empty(events);
        KernelEvidence e = stats.Evidence;
        Assert.Equal(1, e.Fallbacks);
        Assert.Equal(1, e.FragmentingFallbacks);
        Assert.Equal(0, e.OwnershipChanges);
        Assert.Equal([new FallbackRoute(MigrateType.Unmovable, MigrateType.Movable, 1)], e.FallbacksByMigrateType);
        Assert.Equal([1L], e.FallbacksByOrder);
        Assert.Equal(1, e.Events);
        Assert.Equal(1, stats.SkippedEvents); // not replayed: still counted as skipped, by name
        Assert.Equal(1, stats.SkippedByName["mm_page_alloc_extfrag"]);
    }

    [Fact]
    public void A_pageblock_claim_is_an_ownership_change_and_not_fragmenting()
    {
        KernelEvidence e = Read(ClaimLine + "\n").Stats.Evidence;

        Assert.Equal((1L, 0L, 1L), (e.Fallbacks, e.FragmentingFallbacks, e.OwnershipChanges));
        Assert.Equal([new FallbackRoute(MigrateType.Reclaimable, MigrateType.Movable, 1)], e.FallbacksByMigrateType);
        Assert.Equal([0L, 0L, 1L], e.FallbacksByOrder); // alloc_order=2, not fallback_order=10
    }

    [Fact]
    public void Fallbacks_are_grouped_by_route_commonest_first_and_by_alloc_order()
    {
        string Fallback(int order, int alloc, int fallback) =>
            $"{Task}mm_page_alloc_extfrag: page=000000004bd1a0b8 pfn=0x2b4a4d alloc_order={order} fallback_order=3 pageblock_order=9 alloc_migratetype={alloc} fallback_migratetype={fallback} fragmenting=1 change_ownership=0";
        string trace = string.Join('\n', Fallback(0, 0, 1), Fallback(3, 2, 0), Fallback(0, 2, 0), Fallback(1, 1, 0), Fallback(0, 2, 0)) + "\n";

        KernelEvidence e = Read(trace).Stats.Evidence;

        Assert.Equal(
            [new FallbackRoute(MigrateType.Reclaimable, MigrateType.Unmovable, 3), new FallbackRoute(MigrateType.Unmovable, MigrateType.Movable, 1), new FallbackRoute(MigrateType.Movable, MigrateType.Unmovable, 1)],
            e.FallbacksByMigrateType);
        Assert.Equal([3L, 1L, 0L, 1L], e.FallbacksByOrder);
        Assert.Equal(5, e.FragmentingFallbacks);
    }

    [Theory]
    [InlineData("percpu_refill=1", 1L)]
    [InlineData("percpu_refill=0", 0L)]
    public void A_zone_locked_allocation_is_counted_and_its_refill_flag_read(string refill, long refills)
    {
        string line = ZoneLockedLine.Replace("percpu_refill=1", refill, StringComparison.Ordinal);

        (List<PageEvent> events, TraceStats stats) = Read(line + "\n");

        Assert.Empty(events);
        Assert.Equal((1L, refills), (stats.Evidence.ZoneLockedAllocations, stats.Evidence.PercpuRefills));
        Assert.Equal(1, stats.SkippedByName["mm_page_alloc_zone_locked"]);
    }

    [Fact]
    public void Compaction_runs_are_counted_by_mode_and_ended_runs_by_the_kernels_status_name()
    {
        string sync = BeginLine.Replace("mode=async", "mode=sync", StringComparison.Ordinal);
        string[] statuses = ["success", "complete", "partial_skipped", "continue", "contended", "no_suitable_page", "deferred", "skipped", "not_suitable_zone", "success"];
        var lines = new List<string> { BeginLine, sync, BeginLine };
        lines.AddRange(statuses.Select(s => EndLine.Replace("status=success", "status=" + s, StringComparison.Ordinal)));

        KernelEvidence e = Read(string.Join('\n', lines) + "\n").Stats.Evidence;

        Assert.Equal((3L, 1L, 2L), (e.CompactionRuns, e.SyncCompactionRuns, e.AsyncCompactionRuns));
        Assert.Equal(statuses.Length, e.CompactionEnds);
        // The kernel's enum order (enum compact_result), only the outcomes seen.
        Assert.Equal(
            ["not_suitable_zone", "skipped", "deferred", "no_suitable_page", "continue", "complete", "partial_skipped", "contended", "success"],
            e.CompactionOutcomes.Keys);
        Assert.Equal(2, e.CompactionOutcomes["success"]);
        Assert.All(e.CompactionOutcomes.Where(o => o.Key != "success"), o => Assert.Equal(1, o.Value));
    }

    [Fact]
    public void An_older_kernels_decimal_pfn_and_crlf_line_ends_read_the_same()
    {
        string older = ExtfragLine.Replace("pfn=0x2b4a4d", "pfn=2837069", StringComparison.Ordinal);

        KernelEvidence hex = Read(ExtfragLine + "\n").Stats.Evidence;
        KernelEvidence dec = Read(older + "\r\n" + EndLine + "\r\n").Stats.Evidence;

        Assert.Equal((hex.Fallbacks, hex.FragmentingFallbacks), (dec.Fallbacks, dec.FragmentingFallbacks));
        Assert.Equal(1, dec.CompactionOutcomes["success"]);
    }

    [Fact]
    public void The_evidence_events_do_not_change_the_page_events_read_around_them()
    {
        string trace = string.Join('\n', ZoneLockedLine, AllocLine, ExtfragLine, BeginLine, EndLine, FreeLine) + "\n";

        (List<PageEvent> events, TraceStats stats) = Read(trace);

        Assert.Equal([2L, 6L], events.Select(e => e.Line));
        Assert.Equal(6, stats.Events);
        Assert.Equal(4, stats.SkippedEvents);
        Assert.Equal(4, stats.Evidence.Events);
    }

    [Fact]
    public void A_trace_of_page_events_only_has_no_evidence()
    {
        KernelEvidence e = Read(AllocLine + "\n" + FreeLine + "\n").Stats.Evidence;

        Assert.Equal(0, e.Events);
        Assert.Empty(e.FallbacksByMigrateType);
        Assert.Empty(e.FallbacksByOrder);
        Assert.Empty(e.CompactionOutcomes);
    }

    [Fact]
    public void Counts_saturate_instead_of_wrapping()
    {
        long count = long.MaxValue - 1;
        Saturating.Increment(ref count);
        Saturating.Increment(ref count);

        Assert.Equal(long.MaxValue, count);
        Assert.Equal(long.MaxValue, Saturating.Sum(long.MaxValue, 1));
        Assert.Equal(5, Saturating.Sum(2, 3));
    }

    // ---- malformed fields ---------------------------------------------------------------------

    private static string Extfrag(string field, string value) => Replace(ExtfragLine, field, value);

    private static string ZoneLocked(string field, string value) => Replace(ZoneLockedLine, field, value);

    private static string End(string field, string value) => Replace(EndLine, field, value);

    // The line with field's value replaced (value null: the "field=value" token removed).
    private static string Replace(string line, string field, string? value)
    {
        int start = line.IndexOf(" " + field + "=", StringComparison.Ordinal) + 1;
        Assert.True(start > 0, $"no {field} in {line}");
        int end = line.IndexOf(' ', start);
        end = end < 0 ? line.Length : end;
        bool comma = line[end - 1] == ',';
        string replaced = value is null ? "" : field + "=" + value + (comma ? "," : "");
        return value is null ? line[..(start - 1)] + line[end..] : line[..start] + replaced + line[end..];
    }

    public static TheoryData<string, string, string> BadLines()
    {
        var data = new TheoryData<string, string, string>();
        foreach (string field in new[] { "page", "pfn", "alloc_order", "fallback_order", "pageblock_order", "alloc_migratetype", "fallback_migratetype", "fragmenting", "change_ownership" })
        {
            data.Add(Replace(ExtfragLine, field, null), field, "missing");
        }

        foreach (string field in new[] { "page", "pfn", "order", "migratetype", "percpu_refill" })
        {
            data.Add(Replace(ZoneLockedLine, field, null), field, "missing");
        }

        foreach (string field in new[] { "zone_start", "migrate_pfn", "free_pfn", "zone_end", "mode", "status" })
        {
            data.Add(Replace(EndLine, field, null), field, "missing");
        }

        data.Add(Replace(BeginLine, "mode", null), "mode", "missing");
        data.Add(Extfrag("pfn", "0xZZ"), "pfn", "0xZZ");
        data.Add(Extfrag("pfn", "0x10000000000"), "pfn", "beyond every machine");
        data.Add(Extfrag("alloc_order", "x"), "alloc_order", "'x'");
        data.Add(Extfrag("alloc_order", "-1"), "alloc_order", "'-1'");
        data.Add(Extfrag("fallback_order", "23"), "fallback_order", "'23'");
        data.Add(Extfrag("pageblock_order", "99"), "pageblock_order", "'99'");
        data.Add(Extfrag("alloc_migratetype", "6"), "alloc_migratetype", "expected a migrate type 0..5, found '6'");
        data.Add(Extfrag("fallback_migratetype", "-1"), "fallback_migratetype", "'-1'");
        data.Add(Extfrag("fallback_migratetype", "movable"), "fallback_migratetype", "'movable'");
        data.Add(Extfrag("fragmenting", "2"), "fragmenting", "expected 0 or 1, found '2'");
        data.Add(Extfrag("fragmenting", "yes"), "fragmenting", "'yes'");
        data.Add(Extfrag("fragmenting", "0"), "fragmenting", "1 exactly when fallback_order < pageblock_order"); // fallback_order=0 < 9
        data.Add(Replace(ClaimLine, "fragmenting", "1"), "fragmenting", "the kernel prints fragmenting=0"); // fallback_order=10 >= 9
        data.Add(Extfrag("change_ownership", "-1"), "change_ownership", "expected 0 or 1");
        data.Add(ZoneLocked("pfn", "12ab"), "pfn", "12ab");
        data.Add(ZoneLocked("order", "64"), "order", "'64'");
        data.Add(ZoneLocked("migratetype", "9"), "migratetype", "'9'");
        data.Add(ZoneLocked("percpu_refill", "true"), "percpu_refill", "expected 0 or 1, found 'true'");
        data.Add(End("zone_start", "1048576"), "zone_start", "expected zone_start=0x<hex>");
        data.Add(End("migrate_pfn", "0xq"), "migrate_pfn", "'0xq'");
        data.Add(End("free_pfn", "0x"), "free_pfn", "'0x'");
        data.Add(End("zone_end", "0x20000000000"), "zone_end", "beyond every machine");
        data.Add(End("zone_end", "0x10"), "zone_end", "below zone_start 0x100000");
        data.Add(End("mode", "sometimes"), "mode", "expected mode=sync or mode=async, found 'sometimes'");
        data.Add(End("status", "partial"), "status", "found 'partial'"); // the name before Linux 4.8, not 6.18's
        data.Add(End("status", "0x9"), "status", "success"); // __print_symbolic's value of an unknown status; the error lists the names
        data.Add(End("status", "SUCCESS"), "status", "not_suitable_zone, skipped, deferred");
        return data;
    }

    [Theory]
    [MemberData(nameof(BadLines))]
    public void A_malformed_field_throws_naming_source_line_and_field(string bad, string field, string detail)
    {
        string trace = "# tracer: nop\n" + AllocLine + "\n" + bad + "\n" + FreeLine + "\n";

        var e = Assert.Throws<TraceFormatException>(() => Read(trace, source: "evidence.trace"));

        Assert.Equal("evidence.trace", e.SourceName);
        Assert.Equal(3, e.Line);
        Assert.Equal(field, e.Field);
        Assert.StartsWith($"evidence.trace:3: field '{field}': ", e.Message, StringComparison.Ordinal);
        Assert.Contains(detail, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Skipping_bad_lines_counts_the_malformed_evidence_and_keeps_the_good_one()
    {
        TheoryData<string, string, string> bad = BadLines();
        var lines = new List<string> { ExtfragLine, ZoneLockedLine, BeginLine, EndLine };
        lines.AddRange(bad.Select(row => row.Data.Item1));
        lines.Add(AllocLine);

        (List<PageEvent> events, TraceStats stats) = Read(string.Join('\n', lines) + "\n", new FtraceOptions { SkipBadLines = true }, "skip.trace");

        Assert.Equal(bad.Count, stats.BadLines);
        Assert.StartsWith("skip.trace:5: field 'page': missing", stats.FirstBadLine, StringComparison.Ordinal);
        Assert.Equal([(long)lines.Count], events.Select(e => e.Line));
        KernelEvidence e = stats.Evidence; // only the four good lines: a bad line adds nothing
        Assert.Equal((1L, 1L, 1L, 1L), (e.Fallbacks, e.ZoneLockedAllocations, e.CompactionRuns, e.CompactionEnds));
        Assert.Equal(4, stats.SkippedEvents); // a bad line is not a skipped event
    }
}
