// ZonedPolicy: today's allocator — zones, zonelist fallback, watermarks and the lowmem reserve;
// optionally grouping by mobility, and direct compaction that migrates movable blocks.

namespace Buddy.Simulation.Policies;

/// <summary>The core allocator as the machine describes it: a request names its highest zone and the zonelist does the rest.</summary>
/// <remarks>
/// With grouping by mobility, movable requests get handles whose frames the allocator may move
/// (simulated memory has nothing to copy, so the migrate callback does nothing).
/// </remarks>
public sealed class ZonedPolicy : Policy
{
    private static readonly MigrateCallback s_nothingToCopy = static (_, _, _) => { };
    private readonly PageAllocator[] _allocators;
    private readonly bool _movableHandles;

    /// <summary>Creates the policy over <paramref name="machine"/> with <paramref name="mobility"/> (none: the plain "zoned" policy).</summary>
    public ZonedPolicy(MachineLayout machine, MobilitySettings? mobility = null)
        : base(NameOf(mobility ?? MobilitySettings.None), machine with { Mobility = mobility ?? MobilitySettings.None })
    {
        _allocators = [new PageAllocator(Machine)];
        _movableHandles = Machine.Mobility.GroupByMobility;
    }

    /// <inheritdoc/>
    public override IReadOnlyList<PageAllocator> Allocators => _allocators;

    /// <summary>The policy name for these mobility settings.</summary>
    public static string NameOf(MobilitySettings mobility) =>
        !mobility.GroupByMobility ? "zoned"
        : mobility.NoFragment ? "linux-6.18"
        : mobility.Compaction ? "zoned+mobility+compaction"
        : "zoned+mobility";

    /// <inheritdoc/>
    public override bool TryAllocate(in PolicyRequest request, out PolicyBlock block, out FailureReason reason)
    {
        Request r = BaseRequest(request).InZone(request.Zone);
        r = request.Node is { } node ? r.OnNode(node) : r; // the policies before zones have no nodes either
        if (_movableHandles && request.Mobility == MigrateType.Movable)
        {
            bool moved = _allocators[0].TryAllocateMovable(r, s_nothingToCopy, out MovableBlock? handle, out AllocationFailure? why);
            block = moved ? new PolicyBlock(handle!.Block, 0, handle) : default;
            reason = moved ? default : why!.Reason;
            return moved;
        }

        return TryAllocateFrom(_allocators[0], 0, r, out block, out reason);
    }
}
