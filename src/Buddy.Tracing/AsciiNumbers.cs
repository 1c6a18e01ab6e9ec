// AsciiNumbers: unsigned numbers as trace text prints them, parsed from bytes without a string:
// decimal (order=3, migratetype=1) and "0x"-prefixed hex (pfn=0x1a2b, leftover gfp_flags bits).
namespace Buddy.Tracing;

/// <summary>Parses unsigned decimal and hex numbers from ASCII bytes.</summary>
internal static class AsciiNumbers
{
    /// <summary>Parses 1 to 19 decimal digits (so no value can overflow), nothing else.</summary>
    public static bool TryParseDecimal(ReadOnlySpan<byte> text, out ulong value)
    {
        value = 0;
        if (text.IsEmpty || text.Length > 19)
        {
            return false;
        }

        foreach (byte b in text)
        {
            uint d = (uint)(b - '0');
            if (d > 9)
            {
                return false;
            }

            value = (value * 10) + d;
        }

        return true;
    }

    /// <summary>Parses "0x" or "0X" and one or more hex digits of either case whose value fits 64 bits (leading zeros allowed), nothing else.</summary>
    public static bool TryParseHex(ReadOnlySpan<byte> text, out ulong value)
    {
        value = 0;
        if (text.Length < 3 || text[0] != (byte)'0' || (text[1] | 0x20) != (byte)'x')
        {
            return false;
        }

        foreach (byte b in text[2..])
        {
            int digit = b switch
            {
                >= (byte)'0' and <= (byte)'9' => b - '0',
                >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
                >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
                _ => -1,
            };
            if (digit < 0 || value >> 60 != 0)
            {
                return false;
            }

            value = (value << 4) | (uint)digit;
        }

        return true;
    }
}
