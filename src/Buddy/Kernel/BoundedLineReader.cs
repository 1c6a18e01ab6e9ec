// BoundedLineReader: reads a kernel text (buddyinfo, zoneinfo) line by line with limits, so that
// `/dev/zero`, a 1 GB line or a binary file is a FormatException naming the file and line, never an
// OutOfMemoryException or a wrong parse. Invariants: no line longer than MaxLineChars is ever
// buffered; no more than MaxChars are read in all; a NUL or a byte that is not UTF-8 ends the read
// with "binary file" (the reader decodes invalid UTF-8 as U+FFFD, which no kernel text holds). Lines end at '\n'; a '\r' before it is dropped.
using System.Globalization;
using System.Text;

namespace Buddy.Kernel;

/// <summary>Reads lines of a text with a bounded line length and total size.</summary>
internal sealed class BoundedLineReader
{
    private readonly TextReader _reader;
    private readonly string _source;
    private readonly string _expected;
    private readonly int _maxLineChars;
    private readonly long _maxChars;
    private readonly char[] _chunk = new char[4096];
    private readonly StringBuilder _line = new();
    private int _chunkPos, _chunkEnd;
    private long _read;
    private bool _eof;

    /// <summary>Reads <paramref name="reader"/>; errors name <paramref name="source"/> and say it is not <paramref name="expected"/>.</summary>
    public BoundedLineReader(TextReader reader, string source, string expected, int maxLineChars, long maxChars)
    {
        _reader = reader;
        _source = source;
        _expected = expected;
        _maxLineChars = maxLineChars;
        _maxChars = maxChars;
    }

    /// <summary>The 1-based number of the line last returned.</summary>
    public int LineNumber { get; private set; }

    /// <summary>Reads the next line (without its end); false at the end of the text.</summary>
    /// <exception cref="FormatException">A line is too long, the text too large, or it holds a NUL or bytes that are not UTF-8.</exception>
    public bool TryReadLine(out string line)
    {
        _line.Clear();
        while (true)
        {
            if (_chunkPos == _chunkEnd && !Fill())
            {
                line = _line.ToString().TrimEnd('\r');
                bool any = _line.Length > 0;
                LineNumber += any ? 1 : 0;
                return any;
            }

            ReadOnlySpan<char> rest = _chunk.AsSpan(_chunkPos, _chunkEnd - _chunkPos);
            int nl = rest.IndexOf('\n');
            ReadOnlySpan<char> part = nl < 0 ? rest : rest[..nl];
            CheckPart(part);
            _line.Append(part);
            _chunkPos += part.Length + (nl < 0 ? 0 : 1);
            if (nl >= 0)
            {
                LineNumber++;
                line = _line.ToString().TrimEnd('\r');
                return true;
            }
        }
    }

    private void CheckPart(ReadOnlySpan<char> part)
    {
        int line = LineNumber + 1;
        if (part.Contains('\0'))
        {
            throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"{_source}:{line}: holds a NUL byte: a binary file, not {_expected}."));
        }

        if (part.Contains(InputFile.NotUtf8))
        {
            throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"{_source}:{line}: holds bytes that are not UTF-8 text: a binary file, not {_expected}."));
        }

        if (_line.Length + part.Length > _maxLineChars)
        {
            throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"{_source}:{line}: line {line} is longer than {_maxLineChars:N0} characters: not {_expected}."));
        }
    }

    private bool Fill()
    {
        if (_eof)
        {
            return false;
        }

        _chunkEnd = _reader.Read(_chunk, 0, _chunk.Length);
        _chunkPos = 0;
        _read += _chunkEnd;
        if (_read > _maxChars)
        {
            throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"{_source}: longer than {_maxChars:N0} characters: not {_expected}."));
        }

        _eof = _chunkEnd == 0;
        return !_eof;
    }
}
