// Crc32: the CRC-32 of gzip (RFC 1952 section 8: reflected polynomial 0xEDB88320, initial value
// and final XOR all ones), computed eight bytes at a time ("slicing by 8": eight 256-entry tables,
// table k giving the CRC of a byte followed by k zero bytes, so the eight lookups of one 64-bit
// word are independent and combine by XOR). The BCL keeps its own CRC inside zlib and
// System.IO.Hashing is a package, which the library does not take, so the gzip reader checks
// member trailers with this; bytewise it cost the replay of the bundled trace about 5%.
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Buddy.Tracing;

/// <summary>An incremental CRC-32 (gzip's); <see cref="Value"/> is the checksum of everything appended.</summary>
internal struct Crc32
{
    private static readonly uint[] Tables = BuildTables(); // 8 × 256: [k * 256 + b]
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

        ref uint t = ref MemoryMarshal.GetArrayDataReference(Tables);
        uint crc = _register;
        while (data.Length >= 8)
        {
            ulong word = BinaryPrimitives.ReadUInt64LittleEndian(data) ^ crc;
            crc = At(ref t, 7, (byte)word) ^ At(ref t, 6, (byte)(word >> 8)) ^ At(ref t, 5, (byte)(word >> 16)) ^ At(ref t, 4, (byte)(word >> 24))
                ^ At(ref t, 3, (byte)(word >> 32)) ^ At(ref t, 2, (byte)(word >> 40)) ^ At(ref t, 1, (byte)(word >> 48)) ^ At(ref t, 0, (byte)(word >> 56));
            data = data[8..];
        }

        foreach (byte b in data)
        {
            crc = At(ref t, 0, (byte)(crc ^ b)) ^ (crc >> 8);
        }

        _register = crc;
    }

    // Table k, entry b; every index is below 8 × 256, so no bounds check is needed.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint At(ref uint tables, int k, byte b) => Unsafe.Add(ref tables, (k << 8) | b);

    private static uint[] BuildTables()
    {
        var tables = new uint[8 * 256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int bit = 0; bit < 8; bit++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            tables[n] = c;
        }

        for (int k = 1; k < 8; k++)
        {
            for (int n = 0; n < 256; n++)
            {
                uint previous = tables[((k - 1) << 8) | n];
                tables[(k << 8) | n] = tables[previous & 0xFF] ^ (previous >> 8);
            }
        }

        return tables;
    }
}
