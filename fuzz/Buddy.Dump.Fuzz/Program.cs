// Buddy.Dump.Fuzz: an AFL++ target (SharpFuzz) for AllocatorDump.Parse. Each input is a whole dump
// file (JSON, decoded as UTF-8). The loader may fail only with FormatException; a dump it accepts
// must print and load back to an equal dump. Anything else escaping is a crash that AFL++ saves
// (docs/fuzzing.md; crashers go to fuzz/crashers-dump/ and tests/Buddy.Tests/FuzzCorpusTests.cs
// replays them).
using System.Text;
using Buddy;
using Buddy.Diagnostics;
using SharpFuzz;

Fuzzer.OutOfProcess.Run(stream =>
{
    using var input = new MemoryStream();
    stream.CopyTo(input);
    Check(input.ToArray());
});

static void Check(byte[] bytes)
{
    AllocatorDump dump;
    try
    {
        dump = AllocatorDump.Parse(new UTF8Encoding(false).GetString(bytes), "fuzz-input");
    }
    catch (FormatException)
    {
        return; // the documented failure for a malformed dump: not a crash
    }

    AllocatorDump again = AllocatorDump.Parse(dump.ToJson(), "printed");
    if (again.ToJson() != dump.ToJson())
    {
        throw new InvalidOperationException("a dump that loads does not survive print and load");
    }
}
