// InputFile: how the library's readers open a file a user named. One rule for every reader: a
// directory is refused as "is a directory" (on Linux .NET would say "access denied"), and text is
// read as UTF-8 with bytes that are not UTF-8 marked (U+FFFD), so that the reader can refuse a
// binary file at the line where it starts instead of parsing it half decoded.
using System.Text;

namespace Buddy.Kernel;

/// <summary>Opens input files for Buddy's readers (trace, buddyinfo, zoneinfo, dumps).</summary>
public static class InputFile
{
    /// <summary>What <see cref="OpenText"/> reads in place of bytes that are not UTF-8 (U+FFFD), which readers refuse.</summary>
    internal const char NotUtf8 = '\uFFFD';

    /// <summary>Opens <paramref name="path"/> for sequential reading.</summary>
    /// <exception cref="IOException"><paramref name="path"/> is a directory ("is a directory"), or cannot be opened.</exception>
    /// <exception cref="UnauthorizedAccessException">The file may not be read.</exception>
    public static FileStream OpenRead(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path))
        {
            throw new IOException($"{path}: is a directory, not a file.");
        }

        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16, FileOptions.SequentialScan);
    }

    /// <summary>Opens <paramref name="path"/> as UTF-8 text; bytes that are not UTF-8 read as <c>U+FFFD</c>, which the readers refuse with the line.</summary>
    /// <exception cref="IOException"><paramref name="path"/> is a directory, or cannot be opened.</exception>
    public static StreamReader OpenText(string path) =>
        new(OpenRead(path), new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), detectEncodingFromByteOrderMarks: false, bufferSize: 1 << 16);
}
