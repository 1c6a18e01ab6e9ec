// KernelPlacementPolicy: not a policy but the traced kernel's own placement — each allocation at
// the page frame its mm_page_alloc event names, each free where the trace frees — on the same
// allocator as the policies, so the real machine's buddyinfo, indices, pagetypeinfo and memory map
// can be read over time exactly as a policy's are. It chooses nothing: a request without a trace
// pfn, or whose pages the reconstruction holds as allocated (an event the trace lost, or a start
// state inferred wrongly), fails with FailureReason.Occupied or Unsatisfiable, and the count of
// such failures says how far the reconstruction can be trusted.
//
// Pageblocks are grouped by mobility so their types can be set from the start snapshot and
// printed; the kernel's later retyping (a fallback that claims a pageblock) is not followed —
// the trace's mm_page_alloc_extfrag events are counted beside the replay instead.
namespace Buddy.Simulation.Policies;

/// <summary>The traced kernel's placement, replayed: every block where the trace says the kernel put it.</summary>
public sealed class KernelPlacementPolicy : Policy
{
    /// <summary>The name a replay shows for it.</summary>
    public const string PolicyName = "kernel";

    private readonly PageAllocator[] _allocators;

    /// <summary>Creates the placement over <paramref name="machine"/> (pageblocks grouped, nothing else of the machine's mobility rules).</summary>
    public KernelPlacementPolicy(MachineLayout machine)
        : base(PolicyName, (machine ?? throw new ArgumentNullException(nameof(machine))) with { Mobility = MobilitySettings.Grouping, PerCpuCaches = false })
    {
        _allocators = [new PageAllocator(Machine)];
    }

    /// <inheritdoc/>
    public override IReadOnlyList<PageAllocator> Allocators => _allocators;

    /// <inheritdoc/>
    public override bool TryAllocate(in PolicyRequest request, out PolicyBlock block, out FailureReason reason)
    {
        block = default;
        PageAllocator pages = _allocators[0];
        ulong pfn = request.TracePfn;
        ulong address = pfn << Machine.PageShift;
        if (pfn == ulong.MaxValue || pfn < Machine.BaseAddress >> Machine.PageShift || address + (pages.PageSize << request.Order) > Machine.EndAddress
            || (pfn & ((1UL << request.Order) - 1)) != 0 || request.Order > pages.MaxOrder)
        {
            reason = FailureReason.Unsatisfiable; // no pfn, or one outside the machine: nothing to follow
            return false;
        }

        if (!pages.TryAllocateAt(address, request.Order, request.Mobility, out Block b, out AllocationFailure? why))
        {
            reason = why.Reason;
            return false;
        }

        block = new PolicyBlock(b, 0);
        reason = default;
        return true;
    }
}
