// AddressRange: a half-open byte range [Start, End).
using System.Globalization;

namespace Buddy;

/// <summary>A half-open range of addresses, <c>[Start, End)</c>.</summary>
/// <param name="Start">The first address in the range.</param>
/// <param name="End">The address one past the last.</param>
public readonly record struct AddressRange(ulong Start, ulong End)
{
    /// <summary>The number of bytes in the range.</summary>
    public ulong Length => End - Start;

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"[0x{Start:x}, 0x{End:x})");
}
