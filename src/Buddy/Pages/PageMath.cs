// PageMath: buddy arithmetic on page frame numbers and orders. Pure functions, no state.
using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Buddy;

/// <summary>Buddy arithmetic: orders, sizes and buddies of naturally aligned blocks.</summary>
public static class PageMath
{
    /// <summary>The largest order any allocator accepts (blocks of 2^48 pages).</summary>
    public const int MaxSupportedOrder = 48;

    /// <summary>The smallest order whose block holds <paramref name="pages"/> pages (ceil(log2 pages)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int OrderForPages(ulong pages)
    {
        Debug.Assert(pages > 0);
        return pages <= 1 ? 0 : 64 - BitOperations.LeadingZeroCount(pages - 1);
    }

    /// <summary>The page frame number of the buddy of the order-<paramref name="order"/> block at <paramref name="pfn"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong BuddyOf(ulong pfn, int order) => pfn ^ (1UL << order);

    /// <summary>Whether <paramref name="value"/> is a power of two (zero is not).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsPowerOfTwo(ulong value) => BitOperations.IsPow2(value);

    /// <summary>log2 of a power of two.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Log2(ulong powerOfTwo)
    {
        Debug.Assert(IsPowerOfTwo(powerOfTwo));
        return BitOperations.TrailingZeroCount(powerOfTwo);
    }

    /// <summary>
    /// The maximal naturally aligned blocks that tile <c>[start, start + pages)</c>, lowest first, none
    /// above <paramref name="maxOrder"/> (for an exact allocation: its binary decomposition).
    /// Internal: the allocator's own bookkeeping, not a user's arithmetic (and a tuple is no public type).
    /// </summary>
    internal static IEnumerable<(ulong Pfn, int Order)> AlignedPieces(ulong start, ulong pages, int maxOrder)
    {
        ulong end = start + pages;
        for (ulong p = start; p < end;)
        {
            int order = Math.Min(maxOrder, Math.Min(p == 0 ? 63 : BitOperations.TrailingZeroCount(p), 63 - BitOperations.LeadingZeroCount(end - p)));
            yield return (p, order);
            p += 1UL << order;
        }
    }
}
