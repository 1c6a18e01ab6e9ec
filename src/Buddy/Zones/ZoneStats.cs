// ZoneStats: a snapshot of one zone for reports and tests.
using Buddy.Kernel;

namespace Buddy;

/// <summary>A snapshot of one zone's state.</summary>
/// <param name="Kind">Which zone.</param>
/// <param name="StartPfn">The zone's first page frame.</param>
/// <param name="EndPfn">One past its last page frame.</param>
/// <param name="PresentPages">Pages present in the zone's span.</param>
/// <param name="ManagedPages">Pages managed by the buddy allocator (present minus reserved).</param>
/// <param name="FreePages">Pages in free blocks.</param>
/// <param name="FreeBlockCounts">How many blocks of each order are free (the kernel's nr_free); index = order. <see cref="PageAllocator.GetFreeBlocks"/> lists the blocks themselves.</param>
/// <param name="Watermarks">The zone's watermarks.</param>
/// <param name="Protection">lowmem_reserve indexed by the <see cref="ZoneKind"/> of the request's highest zone (the zoneinfo protection array), up to the layout's highest kind.</param>
public sealed record ZoneStats(
    ZoneKind Kind,
    ulong StartPfn,
    ulong EndPfn,
    ulong PresentPages,
    ulong ManagedPages,
    ulong FreePages,
    IReadOnlyList<long> FreeBlockCounts,
    Watermarks Watermarks,
    IReadOnlyList<ulong> Protection)
{
    /// <summary>The NUMA node the zone belongs to.</summary>
    public int Node { get; init; }

    /// <summary>The kernel's name of the zone.</summary>
    public string Name => Kind.KernelName();
}
