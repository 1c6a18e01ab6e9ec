// LadderBenchmarks: the uncached order-0 pair measured layer by layer in one run — the bit
// operations alone, the zone (search, split, merge), the allocator (lock, checks, stamp, handle) —
// beside the reference buddy, so docs/benchmarks.md can say where each nanosecond of the gap goes.
using BenchmarkDotNet.Attributes;
using Buddy.Bench;

namespace Buddy.Benchmarks;


/// <summary>Operations per invocation are <see cref="Ops"/>; each benchmark reports time per pair.</summary>
public class LadderBenchmarks
{
    /// <summary>Pairs per benchmark invocation.</summary>
    public const int Ops = 100_000;

    private const ulong GiB = 1UL << 30;
    private Zone _zone = null!;
    private PageAllocator _pages = null!;
    private ReferenceBuddy _reference = null!;
    private readonly BitmapBenchmarks _bitmaps = new();

    /// <summary>An idle 1 GiB zone, allocator and reference buddy (4 KiB pages, max order 10).</summary>
    [GlobalSetup]
    public void Setup()
    {
        _zone = new Zone(ZoneKind.Normal, 0, 0, 262_144, 10, new PfnRanges([]));
        _pages = new PageAllocator(MachineLayout.Flat(1 * GiB));
        _reference = new ReferenceBuddy(262_144, 10);
        _bitmaps.Setup();
    }

    /// <summary>The reference buddy's pair.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Ops)]
    public void Reference()
    {
        for (int i = 0; i < Ops; i++)
        {
            _reference.Free(_reference.Allocate(0), 0);
        }
    }

    /// <summary>The bit operations of the pair alone: 21 FreeBitmaps, no zone (see <see cref="BitmapBenchmarks"/>).</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public long Bitmaps() => _bitmaps.SplitMergeBitmaps();

    /// <summary>Zone.Take and Zone.Release alone: the search, the split and the merge on the free area.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void ZonePair()
    {
        for (int i = 0; i < Ops; i++)
        {
            _zone.Release(_zone.Take(0, 0, ulong.MaxValue), 0);
        }
    }

    /// <summary>The whole uncached pair through PageAllocator.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void AllocatorPair() => Workloads.Order0Pairs(_pages, Ops);
}
