// ZonedPolicy: today's allocator — zones, zonelist fallback, watermarks and the lowmem reserve.
using Buddy.Allocation;
using Buddy.Pages;

namespace Buddy.Simulation.Policies;

/// <summary>The core allocator as the machine describes it: a request names its highest zone and the zonelist does the rest.</summary>
public sealed class ZonedPolicy : Policy
{
    private readonly PageAllocator[] _allocators;

    /// <summary>Creates the policy over <paramref name="machine"/> (its zones and watermarks as given).</summary>
    public ZonedPolicy(MachineLayout machine)
        : base("zoned", machine)
    {
        _allocators = [new PageAllocator(machine)];
    }

    /// <inheritdoc/>
    public override IReadOnlyList<PageAllocator> Allocators => _allocators;

    /// <inheritdoc/>
    public override bool TryAllocate(in PolicyRequest request, out PolicyBlock block, out FailureReason reason)
    {
        bool ok = _allocators[0].TryAllocate(BaseRequest(request).InZone(request.Zone), out Block b, out AllocationFailure? failure);
        block = new PolicyBlock(b, 0);
        reason = ok ? default : failure!.Reason;
        return ok;
    }
}
