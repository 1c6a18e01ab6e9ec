// TraceGzipCorruptionTests: truncated, corrupt and concatenated gzip traces: each either reads as
// gzip -dc reads it or throws TraceFormatException saying why, never a clean short read.
using System.Text;
using Buddy.Tracing;
using static Buddy.Tests.TraceTestData;

namespace Buddy.Tests;

public sealed class TraceGzipCorruptionTests : IDisposable
{
    private readonly string _tempDir = Directory.CreateTempSubdirectory("buddy-tracing-tests-").FullName;

    public void Dispose() => Directory.Delete(_tempDir, recursive: true);

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
}
