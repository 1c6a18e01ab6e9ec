// GzipMemberStream: gzip decoding as `gzip -dc` does it — one member after another (a file made by
// `gzip -c a >> t.gz` or bgzip holds several), each member's trailer (CRC-32 and size of what it
// decoded) checked, and a file that ends before a member's trailer refused as truncated (.NET's
// DeflateStream reports a plain end of data for a cut deflate stream).
//
// Invariants:
// - The header of each member is parsed here (RFC 1952 section 2.3) and its deflate data decoded by
//   a raw DeflateStream over a PushbackStream; _crc and _size cover exactly this member's output.
// - The decoder asks for input only when it has used all it had, so a member's deflate data ends
//   inside the last read it made. .NET does not say where; the trailer (8 bytes that must equal
//   this member's CRC-32 and size) is looked for from the start of that read, and the bytes after
//   it are pushed back for the next member.
// - A read that found the end of the input while the decoder still wanted data means a cut file.
// - After the last member only the end of the input may follow; other bytes are refused.
using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;

namespace Buddy.Tracing;

/// <summary>Decodes every member of a gzip stream, checking each member's trailer.</summary>
internal sealed class GzipMemberStream(Stream compressed, string source) : ReadOnlyStream
{
    private const byte FlagHeaderCrc = 0x02, FlagExtra = 0x04, FlagName = 0x08, FlagComment = 0x10, FlagsReserved = 0xE0;
    private readonly PushbackStream _input = new(compressed);
    private DeflateStream? _member;
    private Crc32 _crc;
    private long _size;
    private int _members;
    private bool _done;

    public override int Read(Span<byte> buffer)
    {
        while (!_done && !buffer.IsEmpty)
        {
            if (_member is null && !StartMember())
            {
                _done = true;
                break;
            }

            int n = Decode(buffer);
            if (n > 0)
            {
                _crc.Append(buffer[..n]);
                _size += n;
                return n;
            }

            FinishMember();
        }

        return 0;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _member?.Dispose();
            _input.Dispose();
        }

        base.Dispose(disposing);
    }

    private int Decode(Span<byte> buffer)
    {
        try
        {
            return _member!.Read(buffer);
        }
        catch (InvalidDataException e)
        {
            throw Fail($"the gzip stream is corrupt in member {_members} ({e.Message})", e);
        }
    }

    // Reads the next member's header; false at the end of the input after at least one member.
    private bool StartMember()
    {
        Span<byte> fixedPart = stackalloc byte[10];
        long start = _input.Position64;
        int got = _input.ReadUpTo(fixedPart);
        if (got == 0 && _members > 0)
        {
            return false;
        }

        if (got < 2 || fixedPart[0] != 0x1f || fixedPart[1] != 0x8b)
        {
            throw _members == 0
                ? Fail("the gzip stream is corrupt (no gzip header)")
                : Fail(string.Create(CultureInfo.InvariantCulture, $"after gzip member {_members} ends at byte {start:N0}, the data that follows is not another gzip member (trailing garbage is refused)"));
        }

        if (got < 10)
        {
            throw Truncated($"inside the header of member {_members + 1}");
        }

        var headerCrc = default(Crc32);
        headerCrc.Append(fixedPart);
        ReadHeaderRest(fixedPart[2], fixedPart[3], ref headerCrc);
        _members++;
        _crc = default;
        _size = 0;
        _input.ForgetLastRead();
        _member = new DeflateStream(_input, CompressionMode.Decompress, leaveOpen: true);
        return true;
    }

    private void ReadHeaderRest(byte method, byte flags, ref Crc32 headerCrc)
    {
        int member = _members + 1;
        if (method != 8 || (flags & FlagsReserved) != 0)
        {
            throw Fail(string.Create(CultureInfo.InvariantCulture, $"the gzip stream is corrupt: member {member} has method {method} and flags 0x{flags:x2} (expected deflate, 8, and no reserved flags)"));
        }

        if ((flags & FlagExtra) != 0)
        {
            Span<byte> length = stackalloc byte[2];
            ReadHeaderBytes(length, member, ref headerCrc);
            SkipHeaderBytes(BinaryPrimitives.ReadUInt16LittleEndian(length), member, ref headerCrc);
        }

        for (int field = FlagName; field <= FlagComment; field <<= 1)
        {
            if ((flags & field) != 0)
            {
                SkipZeroTerminated(member, ref headerCrc);
            }
        }

        if ((flags & FlagHeaderCrc) != 0)
        {
            ushort expected = (ushort)headerCrc.Value;
            Span<byte> stored = stackalloc byte[2];
            ReadHeaderBytes(stored, member, ref headerCrc);
            if (BinaryPrimitives.ReadUInt16LittleEndian(stored) != expected)
            {
                throw Fail($"the gzip stream is corrupt: the header checksum of member {member} does not match its header", new InvalidDataException("gzip header CRC mismatch"));
            }
        }
    }

    private void ReadHeaderBytes(Span<byte> into, int member, ref Crc32 headerCrc)
    {
        if (_input.ReadUpTo(into) < into.Length)
        {
            throw Truncated($"inside the header of member {member}");
        }

        headerCrc.Append(into);
    }

    private void SkipHeaderBytes(int count, int member, ref Crc32 headerCrc)
    {
        Span<byte> scratch = stackalloc byte[256];
        while (count > 0)
        {
            Span<byte> part = scratch[..Math.Min(count, scratch.Length)];
            ReadHeaderBytes(part, member, ref headerCrc);
            count -= part.Length;
        }
    }

    private void SkipZeroTerminated(int member, ref Crc32 headerCrc)
    {
        Span<byte> one = stackalloc byte[1];
        do
        {
            ReadHeaderBytes(one, member, ref headerCrc);
        }
        while (one[0] != 0);
    }

    // The member's deflate data has ended (or the input has): find its trailer, push back what follows.
    private void FinishMember()
    {
        _member!.Dispose();
        _member = null;
        if (_input.HitEnd)
        {
            throw Truncated($"inside the compressed data of member {_members}");
        }

        Span<byte> expected = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(expected, _crc.Value);
        BinaryPrimitives.WriteUInt32LittleEndian(expected[4..], (uint)_size);
        byte[] window = new byte[_input.LastRead.Length + 8];
        _input.LastRead.CopyTo(window);
        int length = _input.LastRead.Length + _input.ReadUpTo(window.AsSpan(_input.LastRead.Length));
        int at = window.AsSpan(0, length).IndexOf(expected);
        if (at < 0)
        {
            throw NoTrailer(window.AsSpan(0, length), expected);
        }

        _input.PushBack(window.AsSpan(at + 8, length - at - 8));
    }

    // No trailer matches: if the input ends with 8 bytes of which the CRC or the size half matches,
    // the trailer is there but wrong (corrupt); otherwise the file was cut.
    private TraceFormatException NoTrailer(ReadOnlySpan<byte> window, ReadOnlySpan<byte> expected)
    {
        Span<byte> probe = stackalloc byte[1];
        bool atEnd = _input.ReadUpTo(probe) == 0;
        if (atEnd && window.Length >= 8 && (window[^8..^4].SequenceEqual(expected[..4]) || window[^4..].SequenceEqual(expected[4..])))
        {
            string message = string.Create(CultureInfo.InvariantCulture, $"the gzip stream is corrupt: the trailer of member {_members} (CRC-32 0x{BinaryPrimitives.ReadUInt32LittleEndian(window[^8..]):x8}, size {BinaryPrimitives.ReadUInt32LittleEndian(window[^4..]):N0}) does not match its data (CRC-32 0x{_crc.Value:x8}, {_size:N0} bytes)");
            return Fail(message, new InvalidDataException("gzip trailer mismatch"));
        }

        return atEnd
            ? Truncated($"after the compressed data of member {_members}, without its trailer")
            : Fail($"the gzip stream is corrupt: member {_members} is not followed by a trailer that matches its data", new InvalidDataException("gzip trailer mismatch"));
    }

    private TraceFormatException Truncated(string where) =>
        Fail(string.Create(CultureInfo.InvariantCulture, $"the gzip stream is truncated: it ends {where}, after {_input.Position64:N0} compressed bytes"));

    private TraceFormatException Fail(string message, Exception? inner = null) => new(source, 0, null, message, inner);
}
