// PolicyRequest: an allocation as a workload states it, before a policy decides how to serve it.
namespace Buddy.Simulation.Policies;

/// <summary>What a workload asks a policy for.</summary>
/// <param name="Order">The block's order.</param>
/// <param name="Zone">The highest zone the caller may use (GFP_DMA → DMA, GFP_DMA32 → DMA32, otherwise Normal).</param>
/// <param name="Mobility">The allocation's mobility (migrate type).</param>
/// <param name="Priority">The watermark priority (GFP_ATOMIC, __GFP_HIGH).</param>
/// <param name="Boundary">A boundary in bytes the block must not cross (0: none).</param>
/// <param name="TracePfn">The page frame the traced kernel chose (a trace's mm_page_alloc pfn), which only the kernel placement follows; <see cref="ulong.MaxValue"/> when the workload has none.</param>
public readonly record struct PolicyRequest(
    int Order,
    ZoneKind Zone = ZoneKind.Normal,
    MigrateType Mobility = MigrateType.Unmovable,
    AllocationPriority Priority = AllocationPriority.Normal,
    ulong Boundary = 0,
    ulong TracePfn = ulong.MaxValue)
{
    /// <summary>The NUMA node the request prefers (numa_node_id() of the CPU that asks); null: the machine's lowest node.</summary>
    public int? Node { get; init; }

    /// <summary>Whether the request needs ISA DMA memory (below 16 MiB).</summary>
    public bool IsDma => Zone == ZoneKind.Dma;
}
