// TraceInput: turns a raw stream into trace text — gzip detected by its magic bytes, not by name,
// and a gzip stream checked against its trailer so that a truncated file is an error, not a
// silently short trace (.NET's GZipStream reports EOF for a cut-off deflate stream).
using System.Buffers.Binary;
using System.IO.Compression;

namespace Buddy.Tracing;

/// <summary>Opens trace input, plain or gzip.</summary>
internal static class TraceInput
{
    /// <summary>Returns a stream of trace text over <paramref name="raw"/>, decompressing gzip when its magic bytes are there.</summary>
    public static Stream Open(Stream raw, string source)
    {
        var tail = new TailStream(raw);
        Span<byte> magic = stackalloc byte[2];
        int got = tail.Peek(magic);
        if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b)
        {
            return new CheckedGzipStream(tail, source);
        }

        return tail;
    }

    /// <summary>A read-only stream that can peek at its first bytes and remembers the last 8 bytes read.</summary>
    private sealed class TailStream(Stream inner) : ReadOnlyStream
    {
        private readonly byte[] _tail = new byte[8];
        private byte[] _prefix = [];
        private int _prefixPos;

        public long BytesRead { get; private set; }

        /// <summary>The last up-to-8 bytes read, oldest first.</summary>
        public ReadOnlySpan<byte> Tail => _tail.AsSpan(0, (int)Math.Min(8, BytesRead));

        public int Peek(Span<byte> into)
        {
            int n = 0;
            while (n < into.Length)
            {
                int r = inner.Read(into[n..]);
                if (r == 0)
                {
                    break;
                }

                n += r;
            }

            _prefix = into[..n].ToArray();
            return n;
        }

        public override int Read(Span<byte> buffer)
        {
            int n;
            if (_prefixPos < _prefix.Length)
            {
                n = Math.Min(buffer.Length, _prefix.Length - _prefixPos);
                _prefix.AsSpan(_prefixPos, n).CopyTo(buffer);
                _prefixPos += n;
            }
            else
            {
                n = inner.Read(buffer);
            }

            Remember(buffer[..n]);
            return n;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }

        private void Remember(ReadOnlySpan<byte> data)
        {
            if (data.Length >= 8)
            {
                data[^8..].CopyTo(_tail);
            }
            else if (data.Length > 0)
            {
                int keep = 8 - data.Length;
                _tail.AsSpan(data.Length, keep).CopyTo(_tail); // shift left
                data.CopyTo(_tail.AsSpan(keep));
            }

            BytesRead += data.Length;
        }
    }

    /// <summary>A gzip decoder that, at the end, checks the trailer's size field against what it decoded.</summary>
    private sealed class CheckedGzipStream(TailStream compressed, string source) : ReadOnlyStream
    {
        private readonly GZipStream _gzip = new(compressed, CompressionMode.Decompress);
        private long _decoded;
        private bool _checked;

        public override int Read(Span<byte> buffer)
        {
            int n;
            try
            {
                n = _gzip.Read(buffer);
            }
            catch (InvalidDataException e)
            {
                throw new TraceFormatException(source, 0, null, $"the gzip stream is corrupt ({e.Message})", e);
            }

            _decoded += n;
            if (n == 0 && buffer.Length > 0 && !_checked)
            {
                _checked = true;
                CheckTrailer();
            }

            return n;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _gzip.Dispose();
            }

            base.Dispose(disposing);
        }

        // The last 8 bytes of a gzip file are CRC32 and ISIZE (the decoded length mod 2^32). A cut
        // file ends inside the deflate data, so its last 4 bytes are not the decoded length.
        private void CheckTrailer()
        {
            Span<byte> scratch = stackalloc byte[4096];
            while (compressed.Read(scratch) > 0)
            {
            }

            ReadOnlySpan<byte> tail = compressed.Tail;
            if (tail.Length < 8 || BinaryPrimitives.ReadUInt32LittleEndian(tail[4..]) != (uint)_decoded)
            {
                throw new TraceFormatException(source, 0, null,
                    $"the gzip stream is truncated: it ends after {compressed.BytesRead:N0} compressed bytes and {_decoded:N0} decoded bytes without a matching trailer "
                    + "(a file of several gzip members, as `gzip -c >> file` makes, is not supported either: recompress it with `zcat FILE | gzip > NEW.gz`)");
            }
        }
    }

    /// <summary>The plumbing of a forward-only, read-only stream; subclasses supply Read(Span).</summary>
    private abstract class ReadOnlyStream : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public abstract override int Read(Span<byte> buffer);

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
