// Crc32: the CRC-32 of gzip (RFC 1952 section 8: reflected polynomial 0xEDB88320, initial value
// and final XOR all ones), computed a byte at a time from a 256-entry table built at start-up.
// The BCL keeps its own CRC inside zlib and System.IO.Hashing is a package, which the library
// does not take, so the gzip reader checks member trailers with this.
namespace Buddy.Tracing;

/// <summary>An incremental CRC-32 (gzip's); <see cref="Value"/> is the checksum of everything appended.</summary>
internal struct Crc32
{
    private static readonly uint[] Table = BuildTable();
    private uint _register;
    private bool _started;

    /// <summary>The CRC-32 of the bytes appended so far (0 for none).</summary>
    public readonly uint Value => _started ? ~_register : 0;

    /// <summary>Appends <paramref name="data"/>.</summary>
    public void Append(ReadOnlySpan<byte> data)
    {
        if (!_started)
        {
            _register = uint.MaxValue;
            _started = true;
        }

        uint crc = _register;
        foreach (byte b in data)
        {
            crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        _register = crc;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            table[n] = c;
        }

        return table;
    }
}
