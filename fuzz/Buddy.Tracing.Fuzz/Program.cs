// Buddy.Tracing.Fuzz: an AFL++ target (SharpFuzz) for FtraceReader. Each input is a whole trace,
// plain or gzip. It is read twice, stopping at the first bad line and skipping bad lines; either
// way the reader may fail only with TraceFormatException. Anything else escaping is a crash that
// AFL++ saves (docs/fuzzing.md; reproduced crashers go to fuzz/crashers/ and the tests replay them).
using Buddy;
using Buddy.Tracing;
using SharpFuzz;

Fuzzer.OutOfProcess.Run(stream =>
{
    using var input = new MemoryStream();
    stream.CopyTo(input);
    byte[] bytes = input.ToArray();
    ReadAll(bytes, new FtraceOptions());
    ReadAll(bytes, new FtraceOptions { SkipBadLines = true });
});

static void ReadAll(byte[] bytes, FtraceOptions options)
{
    try
    {
        using var reader = new FtraceReader(new MemoryStream(bytes, writable: false), "fuzz-input", options);
        while (reader.TryRead(out _))
        {
        }
    }
    catch (TraceFormatException)
    {
        // The documented failure for a malformed trace or gzip stream: not a crash.
    }
}
