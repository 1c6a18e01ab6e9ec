// Policy: one historical or current answer to "where does this block come from", composed from
// the core PageAllocator (never a second allocator implementation).
using Buddy.Kernel;

namespace Buddy.Simulation.Policies;

/// <summary>An allocation policy over one machine: serves requests with one or more <see cref="PageAllocator"/>s.</summary>
/// <remarks>Not thread-safe: a simulation drives a policy from one thread.</remarks>
public abstract class Policy
{
    /// <summary>Creates the policy.</summary>
    protected Policy(string name, MachineLayout machine)
    {
        ArgumentNullException.ThrowIfNull(machine);
        Name = name;
        Machine = machine;
    }

    /// <summary>The policy's name on the command line (linux-1.2, reserved-pool, linux-1.3.4, zoned).</summary>
    public string Name { get; }

    /// <summary>The machine the policy manages.</summary>
    public MachineLayout Machine { get; }

    /// <summary>The allocators the policy composes, general first.</summary>
    public abstract IReadOnlyList<PageAllocator> Allocators { get; }

    /// <summary>Pages the policy keeps for DMA alone (a boot-time pool); 0 for the others.</summary>
    public virtual ulong PagesSetAsideForDma => 0;

    /// <summary>The most pages a retry loop held at once while hunting for a low block.</summary>
    public ulong PeakPagesHeldByRetries { get; protected set; }

    /// <summary>Blocks allocated and given back by retry loops, in all.</summary>
    public long RetryAllocations { get; protected set; }

    /// <summary>Pages handed out and not yet freed, over all allocators.</summary>
    public ulong PagesInUse
    {
        get
        {
            IReadOnlyList<PageAllocator> allocators = Allocators;
            ulong used = 0;
            for (int i = 0; i < allocators.Count; i++)
            {
                used += allocators[i].AllocatedPages;
            }

            return used;
        }
    }

    /// <summary>Free pages a general request could use.</summary>
    public ulong FreePages => Allocators[0].FreePages;

    /// <summary>Tries to serve <paramref name="request"/>.</summary>
    public abstract bool TryAllocate(in PolicyRequest request, out PolicyBlock block, out FailureReason reason);

    /// <summary>Frees a block this policy handed out.</summary>
    public void Free(in PolicyBlock block)
    {
        if (block.Handle is { IsFreed: false } handle)
        {
            Allocators[block.Pool].Free(handle);
        }
        else
        {
            Allocators[block.Pool].Free(block.Current);
        }
    }

    /// <summary>Frees <paramref name="pages"/> pages of a block from <paramref name="offsetPages"/> on; the rest stays allocated (and stops moving).</summary>
    public void FreePart(in PolicyBlock block, ulong offsetPages, ulong pages)
    {
        PageAllocator allocator = Allocators[block.Pool];
        allocator.FreeRange(block.Current.Address + (offsetPages * allocator.PageSize), pages);
    }

    /// <summary>
    /// Allocates the order-<paramref name="order"/> block at <paramref name="address"/> in whichever of
    /// the policy's allocators manages it (a machine's start state, rebuilt from snapshots, is the same
    /// pages for every policy); false when no allocator manages it or a page is not free there.
    /// </summary>
    public bool TryPlaceAt(ulong address, int order, MigrateType type, out PolicyBlock block)
    {
        IReadOnlyList<PageAllocator> allocators = Allocators;
        for (int i = 0; i < allocators.Count; i++)
        {
            if (Manages(allocators[i].Layout, address) && allocators[i].TryAllocateAt(address, order, type, out Block b, out _))
            {
                block = new PolicyBlock(b, i);
                return true;
            }
        }

        block = default;
        return false;
    }

    /// <summary>Sets the migrate type of the pageblock at <paramref name="address"/> in each allocator that groups by mobility and manages it.</summary>
    public void SetPageblockType(ulong address, MigrateType type)
    {
        foreach (PageAllocator allocator in Allocators)
        {
            if (allocator.Layout.Mobility.GroupByMobility && Manages(allocator.Layout, address))
            {
                allocator.SetPageblockType(address, type);
            }
        }
    }

    // Whether the layout hands out the page at address (inside it and not reserved).
    private static bool Manages(MachineLayout layout, ulong address) =>
        address >= layout.BaseAddress && address < layout.EndAddress && !layout.Reserved.Any(r => address >= r.Start && address < r.End);

    /// <summary>Every allocator's buddyinfo lines, pools named by their role.</summary>
    public BuddyInfo GetBuddyInfo()
    {
        var zones = new List<BuddyInfoZone>();
        for (int i = 0; i < Allocators.Count; i++)
        {
            foreach (BuddyInfoZone z in Allocators[i].GetBuddyInfo().Zones)
            {
                zones.Add(i == 0 ? z : z with { Name = PoolName(i) });
            }
        }

        return new BuddyInfo(zones);
    }

    /// <summary>The name shown for allocator <paramref name="index"/> (1 and up) in buddyinfo.</summary>
    protected virtual string PoolName(int index) => $"pool{index}";

    /// <summary>Allocates <paramref name="request"/> from <paramref name="pages"/>, the policy's allocator number <paramref name="pool"/>; on failure <paramref name="reason"/> is the allocator's.</summary>
    protected static bool TryAllocateFrom(PageAllocator pages, int pool, Request request, out PolicyBlock block, out FailureReason reason)
    {
        ArgumentNullException.ThrowIfNull(pages);
        bool ok = pages.TryAllocate(request, out Block b, out AllocationFailure? failure);
        block = new PolicyBlock(b, pool);
        reason = ok ? default : failure!.Reason;
        return ok;
    }

    /// <summary>The request as the core allocator takes it, without zone or limit.</summary>
    protected static Request BaseRequest(in PolicyRequest request)
    {
        Request core = Request.ForOrder(request.Order).WithPriority(request.Priority).WithMobility(request.Mobility is MigrateType.Movable or MigrateType.Reclaimable ? request.Mobility : MigrateType.Unmovable);
        return request.Boundary != 0 ? core.NotCrossing(request.Boundary) : core;
    }

    /// <summary>The highest address a request of <paramref name="request"/>'s zone may touch in a one-pool policy.</summary>
    protected static ulong? LimitOf(in PolicyRequest request) => request.Zone switch
    {
        ZoneKind.Dma => (16 * Units.MiB) - 1,
        ZoneKind.Dma32 => (4 * Units.GiB) - 1,
        _ => null,
    };

    /// <summary>The machine as one free pool: no zones, no watermarks (Linux before 2.4).</summary>
    protected static MachineLayout OnePool(MachineLayout machine) => machine with
    {
        Zones = [new(ZoneKind.Normal, ulong.MaxValue)],
        Watermarks = WatermarkSettings.None,
    };
}
