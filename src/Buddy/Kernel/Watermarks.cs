// Watermarks: a zone's min/low/high/promo marks in pages.
namespace Buddy.Kernel;

/// <summary>A zone's watermarks in pages, as /proc/zoneinfo prints them.</summary>
/// <param name="Min">Below this only high-priority and atomic requests proceed (WMARK_MIN).</param>
/// <param name="Low">The fast path's mark; below it kswapd would be woken (WMARK_LOW).</param>
/// <param name="High">kswapd's goal (WMARK_HIGH).</param>
/// <param name="Promo">The NUMA promotion mark (WMARK_PROMO = high + the same step).</param>
public readonly record struct Watermarks(ulong Min, ulong Low, ulong High, ulong Promo);
