// CoreBenchmarks: issue 12's core workloads under BenchmarkDotNet — the allocator without thread
// caches against the reference buddy on 1 GiB, and the same workloads over a huge sparse space
// (2^62 bytes, MaxOrder 40) against the 1 GiB space, with each space's construction time. Each
// category has its own baseline, so the Ratio column reads as the targets.
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Buddy.Bench;
using static Buddy.Units;

namespace Buddy.Benchmarks;


/// <summary>
/// Operations per invocation are <see cref="Ops"/> (one allocator per construction invocation).
/// When this build refuses the huge space, its benchmarks fail in their set-up with a
/// <see cref="NotSupportedException"/> that says so (BenchmarkDotNet reports NA) and the rest run.
/// </summary>
[MemoryDiagnoser]
[CategoriesColumn]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
public class CoreBenchmarks
{
    /// <summary>Pairs or steps per benchmark invocation.</summary>
    public const int Ops = 100_000;

    private PageAllocator _pairs = null!;
    private PageAllocator _mixed = null!;
    private Block[] _slots = null!;
    private ulong _x;
    private ReferenceBuddy _reference = null!;
    private ReferenceBuddy _referenceMixed = null!;
    private int[] _referenceSlots = null!;
    private byte[] _referenceOrders = null!;
    private ulong _y;

    /// <summary>The 1 GiB allocators without thread caches and the reference buddies; the mixed ones at their steady state.</summary>
    [GlobalSetup(Targets = [nameof(Order0PairUncached), nameof(ReferencePair), nameof(MixedStepUncached), nameof(ReferenceMixedStep), nameof(Construction1GiB)])]
    public void Setup()
    {
        _pairs = new PageAllocator(MachineLayout.Flat(1 * GiB));
        _mixed = new PageAllocator(MachineLayout.Flat(1 * GiB));
        _slots = new Block[Workloads.Slots];
        _x = Workloads.Seed;
        Workloads.Mixed(_mixed, _slots, ref _x, Workloads.Slots * 4);
        _reference = new ReferenceBuddy(262_144, 10);
        _referenceMixed = new ReferenceBuddy(262_144, 10);
        _referenceSlots = new int[Workloads.Slots];
        _referenceOrders = new byte[Workloads.Slots];
        _y = Workloads.Seed;
        Workloads.Mixed(_referenceMixed, _referenceSlots, _referenceOrders, ref _y, Workloads.Slots * 4);
    }

    /// <summary>The same over the huge sparse space; throws <see cref="NotSupportedException"/> when this build refuses it.</summary>
    [GlobalSetup(Targets = [nameof(HugeSpaceOrder0PairUncached), nameof(HugeSpaceMixedStepUncached), nameof(HugeSpaceConstruction)])]
    public void SetupHugeSpace()
    {
        _pairs = Workloads.TryCreate(Workloads.HugeSpace, out string? refusal) ?? throw new NotSupportedException($"{Workloads.HugeSpaceName}: not supported by this build ({refusal})");
        _mixed = new PageAllocator(Workloads.HugeSpace);
        _slots = new Block[Workloads.Slots];
        _x = Workloads.Seed;
        Workloads.Mixed(_mixed, _slots, ref _x, Workloads.Slots * 4);
    }

    /// <summary>Order-0 allocate+free pairs from an idle 1 GiB allocator without thread caches.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Ops)]
    [BenchmarkCategory("order-0 pair")]
    public void Order0PairUncached() => Workloads.Order0Pairs(_pairs, Ops);

    /// <summary>The reference buddy's order-0 pair (target: Order0PairUncached at most this).</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    [BenchmarkCategory("order-0 pair")]
    public void ReferencePair() => Workloads.ReferencePairs(_reference, Ops);

    /// <summary>Order-0 pairs from an idle huge sparse space without thread caches (target: at most 2× Order0PairUncached).</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    [BenchmarkCategory("order-0 pair")]
    public void HugeSpaceOrder0PairUncached() => Workloads.Order0Pairs(_pairs, Ops);

    /// <summary>The random mixed workload on 1 GiB without thread caches.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Ops)]
    [BenchmarkCategory("mixed step")]
    public void MixedStepUncached() => Workloads.Mixed(_mixed, _slots, ref _x, Ops);

    /// <summary>The random mixed workload on the reference buddy (target: MixedStepUncached at most this).</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    [BenchmarkCategory("mixed step")]
    public void ReferenceMixedStep() => Workloads.Mixed(_referenceMixed, _referenceSlots, _referenceOrders, ref _y, Ops);

    /// <summary>The random mixed workload on the huge sparse space without thread caches (target: at most 2× MixedStepUncached).</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    [BenchmarkCategory("mixed step")]
    public void HugeSpaceMixedStepUncached() => Workloads.Mixed(_mixed, _slots, ref _x, Ops);

    /// <summary>Building a 1 GiB allocator without thread caches.</summary>
    [Benchmark(Baseline = true)]
    [BenchmarkCategory("construction")]
    public PageAllocator Construction1GiB() => new(MachineLayout.Flat(1 * GiB));

    /// <summary>Building the huge sparse space's allocator.</summary>
    [Benchmark]
    [BenchmarkCategory("construction")]
    public PageAllocator HugeSpaceConstruction() => new(Workloads.HugeSpace);
}
