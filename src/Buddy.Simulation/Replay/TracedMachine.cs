// TracedMachine: what a capture knows about the machine it traced — its /proc/zoneinfo (required),
// and where present the System RAM ranges of /proc/iomem, the NUMA distances, the pagetypeinfo read
// just before tracing began and the buddyinfo read just after it stopped — and the layout built
// from them (Layout): the real zones with their start pfn and span, holes reserved, the pages the
// kernel kept at boot reserved, and the watermarks and protection the kernel set.
//
// What is exact and what is inferred (docs/design.md, "The traced machine"):
//  - exact: nodes, zones, their start pfn and span (zoneinfo); holes (iomem's System RAM, as root);
//    managed pages per zone; watermarks min/low/high and the protection arrays (zoneinfo);
//  - inferred: where holes lie without iomem (at the top of each zone's span, where x86's PCI hole
//    lies in DMA32); where the pages a zone has present but does not manage (memblock's reservations:
//    the kernel image, struct pages, firmware tables) lie — x86-64 reserves all RAM below 1 MiB
//    (since Linux 5.13), the rest is taken from the top of the zone down (memblock allocates top
//    down), never a page the trace names (those are managed: the kernel allocated or freed them).
using Buddy.Kernel;

namespace Buddy.Simulation.Replay;

/// <summary>The traced machine as its /proc snapshots describe it.</summary>
/// <param name="ZoneInfo">Its /proc/zoneinfo zones (start_pfn, spanned, present, managed, watermarks, protection).</param>
public sealed record TracedMachine(IReadOnlyList<ZoneInfoZone> ZoneInfo)
{
    /// <summary>The "System RAM" ranges of /proc/iomem (read as root): holes lie outside them; null: inferred.</summary>
    public IReadOnlyList<AddressRange>? SystemRam { get; init; }

    /// <summary>The NUMA distance table (node × node); null: one node, or the kernel's 10/20.</summary>
    public IReadOnlyList<IReadOnlyList<int>>? NodeDistances { get; init; }

    /// <summary>/proc/pagetypeinfo read just before tracing began: with it, replays start from the machine's state (<see cref="MachineStart"/>).</summary>
    public IReadOnlyList<PageTypeInfoZone>? StartPageTypes { get; init; }

    /// <summary>/proc/buddyinfo read just after tracing stopped: the kernel placement's end state is checked against it.</summary>
    public BuddyInfo? EndBuddyInfo { get; init; }

    /// <summary>What the layout had to infer, in sentences (shown with the replay).</summary>
    public IReadOnlyList<string> Inferred => TracedLayout.Notes(this);

    /// <summary>One past the last page frame of any zone.</summary>
    public ulong EndPfn => ZoneInfo.Where(z => z.SpannedPages > 0).Select(z => z.StartPfn + z.SpannedPages).DefaultIfEmpty(0UL).Max();

    /// <summary>
    /// The machine's layout with pages of <paramref name="pageSize"/> bytes; the pages
    /// <paramref name="isTouched"/> names (a trace's) are never taken as boot reservations.
    /// </summary>
    /// <exception cref="ArgumentException">The zoneinfo has no populated zone, a zone the allocator does not model (Device) is populated, or the zones overlap.</exception>
    public MachineLayout Layout(ulong pageSize, Func<ulong, bool>? isTouched = null) => TracedLayout.Build(this, pageSize, isTouched ?? (_ => false));
}
