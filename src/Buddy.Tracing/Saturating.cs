// Saturating: counter arithmetic that stops at long.MaxValue instead of wrapping to negative, so a
// count of an endless trace_pipe stream stays a true lower bound.
namespace Buddy.Tracing;

/// <summary>Counts that saturate at <see cref="long.MaxValue"/>.</summary>
internal static class Saturating
{
    /// <summary>Adds one unless the count is already <see cref="long.MaxValue"/>.</summary>
    public static void Increment(ref long count)
    {
        if (count != long.MaxValue)
        {
            count++;
        }
    }

    /// <summary>a + b for non-negative counts, or <see cref="long.MaxValue"/> when that overflows.</summary>
    public static long Sum(long a, long b) => a > long.MaxValue - b ? long.MaxValue : a + b;
}
