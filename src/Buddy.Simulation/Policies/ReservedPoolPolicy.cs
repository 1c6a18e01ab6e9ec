// ReservedPoolPolicy: a DMA pool carved out at boot — DMA requests are served from it alone and
// nothing else ever uses it, so DMA never fails for lack of low memory and the pool is lost to
// everyone else.

namespace Buddy.Simulation.Policies;

/// <summary>A boot-time DMA pool at the top of the DMA zone, and one general pool for the rest.</summary>
public sealed class ReservedPoolPolicy : Policy
{
    /// <summary>The default pool size: 1 MiB.</summary>
    public const ulong DefaultPoolSize = 1 * Units.MiB;

    private readonly PageAllocator[] _allocators;

    /// <summary>Creates the policy with a pool of <paramref name="poolSize"/> bytes ending at 16 MiB (or at the end of memory below it).</summary>
    /// <exception cref="ArgumentException">The pool does not fit below 16 MiB or overlaps a reserved range.</exception>
    public ReservedPoolPolicy(MachineLayout machine, ulong poolSize = DefaultPoolSize)
        : base("reserved-pool", machine)
    {
        ulong poolEnd = Math.Min(16 * Units.MiB, machine.EndAddress);
        if (poolSize == 0 || poolSize % machine.PageSize != 0 || poolSize > poolEnd - machine.BaseAddress)
        {
            throw new ArgumentException($"The DMA pool of {poolSize} bytes must be a positive number of pages that fits below {Units.FormatSize(poolEnd)}.", nameof(poolSize));
        }

        ulong poolStart = poolEnd - poolSize;
        if (machine.Reserved.Any(r => r.Start < poolEnd && r.End > poolStart))
        {
            throw new ArgumentException($"The DMA pool [0x{poolStart:x}, 0x{poolEnd:x}) overlaps a reserved range; choose a smaller pool.", nameof(poolSize));
        }

        PoolRange = new AddressRange(poolStart, poolEnd);
        MachineLayout pool = MachineLayout.Flat(poolSize, poolStart) with { PageSize = machine.PageSize, MaxOrder = machine.MaxOrder };
        _allocators = [new PageAllocator(OnePool(machine).Reserve(poolStart, poolEnd)), new PageAllocator(pool)];
    }

    /// <summary>Where the pool lies.</summary>
    public AddressRange PoolRange { get; }

    /// <inheritdoc/>
    public override IReadOnlyList<PageAllocator> Allocators => _allocators;

    /// <inheritdoc/>
    public override ulong PagesSetAsideForDma => PoolRange.Length / Machine.PageSize;

    /// <inheritdoc/>
    public override bool TryAllocate(in PolicyRequest request, out PolicyBlock block, out FailureReason reason)
    {
        int pool = request.IsDma ? 1 : 0;
        Request r = BaseRequest(request);
        if (!request.IsDma && LimitOf(request) is { } limit)
        {
            r = r.Below(limit);
        }

        return TryAllocateFrom(_allocators[pool], pool, r, out block, out reason);
    }

    /// <inheritdoc/>
    protected override string PoolName(int index) => "DMApool";
}
