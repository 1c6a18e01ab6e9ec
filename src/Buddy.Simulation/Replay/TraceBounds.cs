// TraceBounds: the page frames and orders a replay accepts, checked line by line while the trace is
// read — in the sizing pass too, before any machine is built — so that one impossible line is a
// TraceFormatException naming the file, line and field instead of a huge machine.
//
// Bounds, for pages of PageSize bytes:
// - order <= KernelLimits.MaxOrderFor(PageSize): no kernel's buddy block exceeds 2^34 bytes
//   (order 22 with 4 KiB pages, 18 with 64 KiB pages);
// - pfn + 2^order <= min(2^52 / PageSize, TraceReplay.MaxPfn): below the largest physical address
//   space (2^52 bytes) and within the largest machine a replay models.
using System.Globalization;
using Buddy.Kernel;
using Buddy.Tracing;

namespace Buddy.Simulation.Replay;

/// <summary>The largest order and page frame a replay of <paramref name="pageSize"/>-byte pages accepts.</summary>
/// <param name="pageSize">The page size the trace's pfns count (a power of two).</param>
public sealed class TraceBounds(ulong pageSize)
{
    /// <summary>The largest order accepted.</summary>
    public int MaxOrder { get; } = KernelLimits.MaxOrderFor(pageSize);

    /// <summary>One past the largest page frame accepted.</summary>
    public ulong EndPfn { get; } = Math.Min(KernelLimits.EndPfnFor(pageSize), TraceReplay.MaxPfn);

    /// <summary>Refuses <paramref name="e"/> when its order or pages lie beyond the bounds.</summary>
    /// <exception cref="TraceFormatException">The event's order or pfn is out of bounds; names <paramref name="source"/>, the line and the field.</exception>
    public void Check(in PageEvent e, string source)
    {
        if (e.Order > MaxOrder)
        {
            throw new TraceFormatException(source, e.Line, "order", string.Create(CultureInfo.InvariantCulture,
                $"order {e.Order} is larger than any kernel's buddy allocator holds with {pageSize:N0}-byte pages (at most {MaxOrder}: blocks of up to 2^{KernelLimits.MaxBlockShift} bytes)"));
        }

        if (e.Pfn >= EndPfn || EndPfn - e.Pfn < 1UL << e.Order)
        {
            throw new TraceFormatException(source, e.Line, "pfn", string.Create(CultureInfo.InvariantCulture,
                $"pfn 0x{e.Pfn:x} (order {e.Order}) is beyond the largest machine a replay models: page frames end below 0x{EndPfn:x} ({pageSize:N0}-byte pages below 2^{KernelLimits.MaxPhysicalAddressBits} bytes, and at most {TraceReplay.MaxPfn:N0} pages)"));
        }
    }
}
