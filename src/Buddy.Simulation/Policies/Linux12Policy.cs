// Linux12Policy: Linux 1.2's __get_dma_pages — one free pool with no address-aware search; a DMA
// request allocates, sets aside every block that lands above the limit, and repeats until a low
// block comes back or memory runs out, then gives back what it set aside.
namespace Buddy.Simulation.Policies;

/// <summary>One free pool; DMA requests retry until a block lands low, holding the misses meanwhile.</summary>
/// <remarks>
/// The core places blocks lowest address first, so a low block, when one is free, comes back on the
/// first try; the loop only runs when none is free, and then it takes every block of the order
/// before it gives up. That favours 1.2 over its LIFO free lists: its failures here are a lower bound.
/// </remarks>
public sealed class Linux12Policy : Policy
{
    private readonly PageAllocator[] _allocators;
    private readonly List<Block> _setAside = [];

    /// <summary>Creates the policy over <paramref name="machine"/> as one pool without watermarks.</summary>
    public Linux12Policy(MachineLayout machine)
        : base("linux-1.2", machine)
    {
        _allocators = [new PageAllocator(OnePool(machine))];
    }

    /// <inheritdoc/>
    public override IReadOnlyList<PageAllocator> Allocators => _allocators;

    /// <inheritdoc/>
    public override bool TryAllocate(in PolicyRequest request, out PolicyBlock block, out FailureReason reason)
    {
        PageAllocator pages = _allocators[0];
        Request r = BaseRequest(request);
        ulong? limit = LimitOf(request);
        if (limit is null)
        {
            return TryAllocateFrom(pages, 0, r, out block, out reason);
        }

        ulong held = 0;
        try
        {
            while (true)
            {
                if (!pages.TryAllocate(r, out Block b, out AllocationFailure? failure))
                {
                    block = default;
                    reason = failure.Reason == FailureReason.Unsatisfiable ? failure.Reason
                        : _setAside.Count > 0 ? FailureReason.AddressLimit : failure.Reason;
                    return false;
                }

                if (b.EndAddress - 1 <= limit.Value)
                {
                    block = new PolicyBlock(b, 0);
                    reason = default;
                    return true;
                }

                _setAside.Add(b);
                RetryAllocations++;
                held += b.PageCount;
                PeakPagesHeldByRetries = Math.Max(PeakPagesHeldByRetries, held);
            }
        }
        finally
        {
            foreach (Block b in _setAside)
            {
                pages.Free(b);
            }

            _setAside.Clear();
        }
    }
}
