// PushbackStream: the compressed bytes under the gzip decoder. It remembers the bytes of its last
// read (the decoder's deflate data ends inside them: the decoder asks for input only once it has
// used all it had) and takes bytes back, so that the bytes after a member's end can be read
// again as its trailer and the next member. It also records whether a read found the end of the
// input, which for a deflate decoder that has not finished means a cut file.
namespace Buddy.Tracing;

/// <summary>A read-only stream with push-back and a record of its last read.</summary>
internal sealed class PushbackStream(Stream inner) : ReadOnlyStream
{
    private byte[] _pushed = new byte[64];
    private int _pushedStart, _pushedEnd;
    private byte[] _last = new byte[8192];
    private int _lastLength;

    /// <summary>Compressed bytes consumed so far (pushed-back bytes not counted).</summary>
    public long Position64 { get; private set; }

    /// <summary>Whether a read returned 0 since <see cref="ForgetLastRead"/>.</summary>
    public bool HitEnd { get; private set; }

    /// <summary>The bytes the last non-empty read returned.</summary>
    public ReadOnlySpan<byte> LastRead => _last.AsSpan(0, _lastLength);

    public override int Read(Span<byte> buffer)
    {
        int n;
        if (_pushedStart < _pushedEnd)
        {
            n = Math.Min(buffer.Length, _pushedEnd - _pushedStart);
            _pushed.AsSpan(_pushedStart, n).CopyTo(buffer);
            _pushedStart += n;
        }
        else
        {
            n = inner.Read(buffer);
        }

        if (n == 0 && buffer.Length > 0)
        {
            HitEnd = true;
        }
        else if (n > 0)
        {
            Remember(buffer[..n]);
        }

        Position64 += n;
        return n;
    }

    /// <summary>Reads until <paramref name="into"/> is full or the input ends; returns the count read.</summary>
    public int ReadUpTo(Span<byte> into)
    {
        int got = 0;
        while (got < into.Length)
        {
            int n = Read(into[got..]);
            if (n == 0)
            {
                break;
            }

            got += n;
        }

        return got;
    }

    /// <summary>Makes <paramref name="data"/> the next bytes read, ahead of anything pushed back before.</summary>
    public void PushBack(ReadOnlySpan<byte> data)
    {
        int pending = _pushedEnd - _pushedStart;
        var merged = new byte[Math.Max(64, data.Length + pending)];
        data.CopyTo(merged);
        _pushed.AsSpan(_pushedStart, pending).CopyTo(merged.AsSpan(data.Length));
        _pushed = merged;
        _pushedStart = 0;
        _pushedEnd = data.Length + pending;
        Position64 -= data.Length;
    }

    /// <summary>Clears <see cref="LastRead"/> and <see cref="HitEnd"/> (at the start of a member).</summary>
    public void ForgetLastRead()
    {
        _lastLength = 0;
        HitEnd = false;
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
        if (data.Length > _last.Length)
        {
            _last = new byte[data.Length];
        }

        data.CopyTo(_last);
        _lastLength = data.Length;
    }
}
