// MachineStart: the traced machine's memory as it was when the capture began, rebuilt from what
// is known exactly and what must be inferred, so every policy and the kernel's own placement
// replay from the same state.
//
// Exact: the layout (zones, holes, pages the kernel kept at boot come from the snapshot's
// zoneinfo and iomem); a page the trace first allocates was free; a page it first frees was
// allocated (PreCaptureBlocks, the trace frees them). Inferred, for the pages the trace never names:
//  - pageblock types: the start snapshot's "Number of blocks type" per zone, given first to the
//    pageblocks whose first allocations were mostly of that type, then to untouched pageblocks from
//    the zone's start (HighAtomic kept; Isolate counted as Movable);
//  - free blocks: the snapshot's free blocks per type and order, less those the trace's free pages
//    already make, placed from the highest order down in untouched pages of pageblocks of their
//    type (any type when those are full), lowest address first, never beside a free buddy (which
//    would merge them into a larger block than the snapshot shows);
//  - the rest of the untouched pages are allocated and stay so (HeldBlocks), typed as their pageblock.
// Per-CPU lists are not modelled: a page the kernel held on a pcp list counts as free.
// Zones lists, per zone, the free pages per order the snapshot shows beside those rebuilt.
//
// Invariants: HeldBlocks, PreCaptureBlocks and the free pages are disjoint and cover each zone's
// managed pages; every block is aligned to its size and inside one zone.
using Buddy.Kernel;
using Buddy.Simulation.Policies;

namespace Buddy.Simulation.Replay;

/// <summary>A block allocated when the capture began.</summary>
/// <param name="Pfn">Its first page frame.</param>
/// <param name="Order">Its order.</param>
/// <param name="Type">Its migrate type (its pageblock's).</param>
public readonly record struct StartBlock(ulong Pfn, int Order, MigrateType Type);

/// <summary>One zone's free blocks per order: a snapshot's beside a rebuilt state's (the start state, or the kernel placement at the end).</summary>
/// <param name="Node">The zone's node.</param>
/// <param name="Zone">The zone's kernel name.</param>
/// <param name="SnapshotFreeBlocks">Free blocks per order in the snapshot (all types).</param>
/// <param name="RebuiltFreeBlocks">Free blocks per order in the rebuilt state.</param>
/// <param name="UnplacedPages">Free pages of the snapshot that found no untouched room (start state; 0 at the end).</param>
public sealed record ZoneFreeCheck(int Node, string Zone, IReadOnlyList<long> SnapshotFreeBlocks, IReadOnlyList<long> RebuiltFreeBlocks, long UnplacedPages);

/// <summary>The memory of a traced machine when its capture began: what is allocated, where, and the pageblocks' types.</summary>
/// <remarks>Immutable once built.</remarks>
public sealed class MachineStart
{
    internal MachineStart(List<StartBlock> held, List<StartBlock> preCapture, List<(ulong Pfn, MigrateType Type)> pageblocks, List<ZoneFreeCheck> zones)
    {
        HeldBlocks = held;
        PreCaptureBlocks = preCapture;
        PageblockTypes = pageblocks;
        Zones = zones;
    }

    /// <summary>Blocks allocated before the capture that the trace never names (inferred).</summary>
    public IReadOnlyList<StartBlock> HeldBlocks { get; }

    /// <summary>Blocks allocated before the capture that the trace frees (exact: each page's first event is a free).</summary>
    public IReadOnlyList<StartBlock> PreCaptureBlocks { get; }

    /// <summary>The first pfn and type of each pageblock whose type is not Movable (the kernel boots every pageblock Movable).</summary>
    public IReadOnlyList<(ulong Pfn, MigrateType Type)> PageblockTypes { get; }

    /// <summary>Per zone, the snapshot's free blocks beside the rebuilt ones.</summary>
    public IReadOnlyList<ZoneFreeCheck> Zones { get; }

    /// <summary>
    /// Rebuilds the start state of <paramref name="layout"/> (which must group by mobility or not —
    /// only its zones, reserved ranges and pageblock order are read) from the trace's first touches
    /// and the start snapshot's /proc/pagetypeinfo zones.
    /// </summary>
    /// <exception cref="ArgumentException">The snapshot lacks a populated zone of the layout, or its orders do not match.</exception>
    public static MachineStart Build(MachineLayout layout, TraceTouches touches, IReadOnlyList<PageTypeInfoZone> snapshot)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(touches);
        ArgumentNullException.ThrowIfNull(snapshot);
        var held = new List<StartBlock>();
        var preCapture = new List<StartBlock>();
        var pageblocks = new List<(ulong, MigrateType)>();
        var zones = new List<ZoneFreeCheck>();
        foreach ((int node, ZoneKind kind, ulong start, ulong end) in ZoneRanges(layout))
        {
            PageTypeInfoZone counts = snapshot.FirstOrDefault(z => z.Node == node && z.Name == kind.KernelName())
                ?? throw new ArgumentException($"The start snapshot's pagetypeinfo has no zone {kind.KernelName()} of node {node}, which the layout populates.", nameof(snapshot));
            var zone = new StartZone(layout, touches, start, end);
            zone.AssignPageblockTypes(counts.Pageblocks);
            long unplaced = zone.PlaceFreeBlocks(counts.FreeBlockCounts);
            zone.CollectAllocated(held, preCapture);
            pageblocks.AddRange(zone.NonMovablePageblocks());
            long[] snapshotFree = [.. Enumerable.Range(0, layout.MaxOrder + 1).Select(o => counts.FreeBlockCounts.Sum(t => o < t.Count ? t[o] : 0))];
            zones.Add(new ZoneFreeCheck(node, kind.KernelName(), snapshotFree, zone.FreeBlockCounts(), unplaced));
        }

        return new MachineStart(held, preCapture, pageblocks, zones);
    }

    /// <summary>
    /// Puts <paramref name="policy"/> in this state: the held and pre-capture blocks allocated where
    /// they were, then the pageblocks typed. <paramref name="onPreCapture"/> gets each pre-capture
    /// block with the policy's handle for it (the replay frees it when the trace does).
    /// </summary>
    /// <exception cref="InvalidOperationException">A block's pages are not free in the policy (it was not fresh, or its layout differs).</exception>
    public void ApplyTo(Policy policy, Action<int, PolicyBlock>? onPreCapture = null)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ulong pageSize = policy.Machine.PageSize;
        foreach (StartBlock b in HeldBlocks)
        {
            Place(policy, b, pageSize);
        }

        for (int i = 0; i < PreCaptureBlocks.Count; i++)
        {
            PolicyBlock block = Place(policy, PreCaptureBlocks[i], pageSize);
            onPreCapture?.Invoke(i, block);
        }

        foreach ((ulong pfn, MigrateType type) in PageblockTypes)
        {
            policy.SetPageblockType(pfn * pageSize, type);
        }
    }

    private static PolicyBlock Place(Policy policy, StartBlock b, ulong pageSize) =>
        policy.TryPlaceAt(b.Pfn * pageSize, b.Order, b.Type, out PolicyBlock block)
            ? block
            : throw new InvalidOperationException($"Policy {policy.Name}: the start state's order-{b.Order} block at pfn 0x{b.Pfn:x} is not free; a start state is applied once, to a fresh policy over the same layout.");

    // Each populated zone's node, kind and pfn range [start, end), in layout order.
    internal static IEnumerable<(int Node, ZoneKind Kind, ulong Start, ulong End)> ZoneRanges(MachineLayout layout)
    {
        int shift = layout.PageShift;
        ulong first = layout.BaseAddress >> shift, last = layout.EndAddress >> shift, previous = 0;
        foreach (ZoneLimit z in layout.Zones)
        {
            ulong limit = z.Limit == ulong.MaxValue ? ulong.MaxValue : z.Limit >> shift;
            ulong start = Math.Max(previous, first), end = Math.Min(limit, last);
            if (end > start)
            {
                yield return (z.Node, z.Kind, start, end);
            }

            previous = limit;
        }
    }
}
