// Linux134Policy: Linux 1.3.4's answer — one free pool, but a DMA request takes the first free
// block below the DMA limit instead of hoping one comes back.
namespace Buddy.Simulation.Policies;

/// <summary>One free pool; DMA requests search below 16 MiB (DMA32 ones below 4 GiB).</summary>
public sealed class Linux134Policy : Policy
{
    private readonly PageAllocator[] _allocators;

    /// <summary>Creates the policy over <paramref name="machine"/> as one pool without watermarks.</summary>
    public Linux134Policy(MachineLayout machine)
        : base("linux-1.3.4", machine)
    {
        _allocators = [new PageAllocator(OnePool(machine))];
    }

    /// <inheritdoc/>
    public override IReadOnlyList<PageAllocator> Allocators => _allocators;

    /// <inheritdoc/>
    public override bool TryAllocate(in PolicyRequest request, out PolicyBlock block, out FailureReason reason)
    {
        Request r = BaseRequest(request);
        if (LimitOf(request) is { } limit)
        {
            r = r.Below(limit);
        }

        return TryAllocateFrom(_allocators[0], 0, r, out block, out reason);
    }
}
