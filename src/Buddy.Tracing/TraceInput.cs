// TraceInput: turns a raw stream into trace text — gzip detected by its magic bytes, not by name,
// and then decoded member by member with every trailer checked (GzipMemberStream), so that a cut
// or corrupt file is an error, never a silently short trace.
namespace Buddy.Tracing;

/// <summary>Opens trace input, plain or gzip.</summary>
internal static class TraceInput
{
    /// <summary>Returns a stream of trace text over <paramref name="raw"/>, decompressing gzip when its magic bytes are there.</summary>
    public static Stream Open(Stream raw, string source)
    {
        var input = new PushbackStream(raw);
        Span<byte> magic = stackalloc byte[2];
        int got = input.ReadUpTo(magic);
        input.PushBack(magic[..got]);
        return got == 2 && magic[0] == 0x1f && magic[1] == 0x8b ? new GzipMemberStream(input, source) : input;
    }
}
