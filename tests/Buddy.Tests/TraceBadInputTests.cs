// TraceBadInputTests: every bad-input path of FtraceReader — the error names the source, line and
// field — skipping bad lines, and seeded random inputs that may only ever fail with
// TraceFormatException.
using System.Text;
using Buddy.Tracing;
using static Buddy.Tests.TraceTestData;

namespace Buddy.Tests;

public sealed class TraceBadInputTests
{
    // ---- bad input ----------------------------------------------------------------------------

    public static TheoryData<string, string?, string> BadLines => new()
    {
        { "this is not a trace line at all", null, "not a trace event line" },
        { "random [12] text: with brackets", null, "not a trace event line" },
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
        Assert.Contains("not a trace event line", stats.FirstBadLine, StringComparison.Ordinal);
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
}
