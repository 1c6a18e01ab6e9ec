// CFormat: the few printf conversions the kernel's texts use, with C's exact semantics.
using System.Globalization;

namespace Buddy.Kernel;

/// <summary>printf-compatible integer and string formatting (the kernel's seq_printf subset).</summary>
internal static class CFormat
{
    /// <summary>printf("%<paramref name="width"/>d") or, with <paramref name="zeroPad"/>, "%0<paramref name="width"/>d".</summary>
    /// <remarks>C puts the sign before the zeros: printf("%03d", -5) prints "-05" (.NET's "D3" prints "-005").</remarks>
    public static string Int(long value, int width, bool zeroPad = false)
    {
        string digits = value < 0
            ? ((ulong)(-(value + 1)) + 1).ToString(CultureInfo.InvariantCulture)
            : value.ToString(CultureInfo.InvariantCulture);
        string sign = value < 0 ? "-" : "";
        int pad = width - sign.Length - digits.Length;
        if (pad <= 0)
        {
            return sign + digits;
        }

        return zeroPad ? sign + new string('0', pad) + digits : new string(' ', pad) + sign + digits;
    }

    /// <summary>printf("%<paramref name="width"/>s"): right-aligned, never truncated.</summary>
    public static string Str(string value, int width) => value.PadLeft(width);

    /// <summary>The kernel's "%d.%03d" of a value in thousandths, with C's truncating division.</summary>
    public static string Thousandths(int index, int integerWidth) =>
        Int(index / 1000, integerWidth) + "." + Int(index % 1000, 3, zeroPad: true);
}
