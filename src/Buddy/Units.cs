// Units: byte-size constants and the one parser and two formatters of sizes ("64KiB", "1.5GiB", "4096";
// exact "64 KiB" or rounded "483.1 MiB").
using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Buddy;

/// <summary>Binary size constants and size text (IEC units: KiB, MiB, GiB, TiB, PiB, EiB).</summary>
public static class Units
{
    /// <summary>1,024 bytes.</summary>
    public const ulong KiB = 1UL << 10;

    /// <summary>1,048,576 bytes.</summary>
    public const ulong MiB = 1UL << 20;

    /// <summary>1,073,741,824 bytes.</summary>
    public const ulong GiB = 1UL << 30;

    /// <summary>2^40 bytes.</summary>
    public const ulong TiB = 1UL << 40;

    /// <summary>2^50 bytes.</summary>
    public const ulong PiB = 1UL << 50;

    /// <summary>2^60 bytes.</summary>
    public const ulong EiB = 1UL << 60;

    private static readonly (string Suffix, ulong Factor)[] s_suffixes =
    [
        ("EiB", EiB), ("PiB", PiB), ("TiB", TiB), ("GiB", GiB), ("MiB", MiB), ("KiB", KiB),
        ("E", EiB), ("P", PiB), ("T", TiB), ("G", GiB), ("M", MiB), ("K", KiB), ("B", 1),
    ];

    /// <summary>Parses a size such as <c>4096</c>, <c>64KiB</c>, <c>16M</c> or <c>1.5GiB</c>.</summary>
    /// <returns><see langword="false"/> with an explanation when the text is not a size.</returns>
    public static bool TryParseSize(string text, out ulong bytes, [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        bytes = 0;
        string t = text.Trim();
        ulong factor = 1;
        foreach ((string suffix, ulong f) in s_suffixes)
        {
            if (t.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
            {
                t = t[..^suffix.Length].TrimEnd();
                factor = f;
                break;
            }
        }

        if (!decimal.TryParse(t, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal value))
        {
            error = $"'{text}' is not a size: expected a number with an optional unit (B, KiB, MiB, GiB, TiB, PiB, EiB), e.g. 64KiB";
            return false;
        }

        decimal total = value > ulong.MaxValue / (decimal)factor ? decimal.MaxValue : value * factor; // no overflow for any number given
        if (total > ulong.MaxValue || total != decimal.Truncate(total))
        {
            error = $"'{text}' is not a whole number of bytes below 2^64";
            return false;
        }

        bytes = (ulong)total;
        error = null;
        return true;
    }

    /// <summary>Formats a byte count in the largest IEC unit that divides it exactly (e.g. 64 KiB).</summary>
    public static string FormatSize(ulong bytes)
    {
        foreach ((string suffix, ulong factor) in s_suffixes.AsSpan(0, 6))
        {
            if (bytes >= factor && bytes % factor == 0)
            {
                return string.Create(CultureInfo.InvariantCulture, $"{bytes / factor} {suffix}");
            }
        }

        return string.Create(CultureInfo.InvariantCulture, $"{bytes} B");
    }

    /// <summary>
    /// Formats a byte count for people, in the largest IEC unit it reaches (B up to EiB): a whole
    /// number of that unit without a decimal ("64 KiB", "0 B"), anything else rounded to one
    /// decimal ("483.1 MiB"). <see cref="FormatSize"/> is the exact form.
    /// </summary>
    public static string FormatApproximateSize(ulong bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        double value = bytes;
        int unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return value == Math.Floor(value)
            ? string.Create(CultureInfo.InvariantCulture, $"{value:0} {units[unit]}")
            : string.Create(CultureInfo.InvariantCulture, $"{value:0.0} {units[unit]}");
    }
}
