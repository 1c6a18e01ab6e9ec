// Crc32Tests: the gzip reader's CRC-32 — folded with carry-less multiplication where the CPU has
// it, sliced by 8 elsewhere and for the tail — against the check value of the CRC catalogue and
// a bit-at-a-time reference over every length and split that reaches each path.
using Buddy.Tracing;

namespace Buddy.Tests;

public sealed class Crc32Tests
{
    [Fact]
    public void The_check_value_of_123456789_is_cbf43926()
    {
        var crc = default(Crc32);
        crc.Append("123456789"u8);
        Assert.Equal(0xCBF43926u, crc.Value);
    }

    [Fact]
    public void Every_length_and_split_matches_the_bitwise_definition()
    {
        var random = new Random(15);
        byte[] data = new byte[1200];
        random.NextBytes(data);
        for (int length = 0; length <= data.Length; length += length < 300 ? 1 : 37)
        {
            ReadOnlySpan<byte> part = data.AsSpan(0, length);
            uint expected = Bitwise(part);

            var whole = default(Crc32);
            whole.Append(part);
            Assert.True(expected == whole.Value, $"length {length}: 0x{whole.Value:x8}, expected 0x{expected:x8}");

            int split = random.Next(length + 1);
            var pieces = default(Crc32);
            pieces.Append(part[..split]);
            pieces.Append(part[split..]);
            Assert.True(expected == pieces.Value, $"length {length} split at {split}: 0x{pieces.Value:x8}, expected 0x{expected:x8}");
        }
    }

    // RFC 1952 section 8, one bit at a time.
    private static uint Bitwise(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
        {
            return 0; // Crc32.Value of nothing appended
        }

        uint c = uint.MaxValue;
        foreach (byte b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }
        }

        return ~c;
    }
}
