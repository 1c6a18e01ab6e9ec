// PageAllocatorBenchmarks: the performance issues' workloads under BenchmarkDotNet — order-0
// pairs, the random mixed workload, DMA-limited pairs with memory above 16 MiB full, limits that
// cut through a zone (Below 12 MiB, a 30-bit mask through DMA32) beside their unconstrained twins
// on the same allocator, two threads — against ArrayPool, NativeMemory.AlignedAlloc, mimalloc and
// the reference buddy, in one run. CoreBenchmarks has the allocator without thread caches.
using BenchmarkDotNet.Attributes;
using Buddy.Bench;
using static Buddy.Units;

namespace Buddy.Benchmarks;


/// <summary>Operations per invocation are <see cref="Ops"/>; BenchmarkDotNet reports time per invocation.</summary>
[MemoryDiagnoser]
public class PageAllocatorBenchmarks
{
    /// <summary>Pairs or steps per benchmark invocation.</summary>
    public const int Ops = 100_000;

    private PageAllocator _cached = null!;
    private PageAllocator _uncached = null!;
    private PageAllocator _full = null!;
    private PageAllocator _x86Large = null!;
    private ReferenceBuddy _reference = null!;
    private Block[] _slots = null!;
    private ulong _x;
    private PageAllocator _mixed = null!;
    private nint[] _native = null!;
    private ulong _y;
    private nint[] _mimalloc = null!;
    private ulong _z;
    private Buddy.Memory.NativeArena _arena = null!;
    private readonly TwoThreads _two = new();

    /// <summary>Builds the allocators; fills the mixed workloads to their steady state.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _cached = new PageAllocator(MachineLayout.Flat(1 * GiB) with { PerCpuCaches = true });
        _uncached = new PageAllocator(MachineLayout.Flat(1 * GiB));
        _full = new PageAllocator(MachineLayout.X86(1 * GiB) with { Watermarks = WatermarkSettings.None, PerCpuCaches = true });
        Workloads.FillDownTo(_full, ZoneKind.Dma32, 16 * MiB);

        // 4 GiB of x86: DMA below 16 MiB, DMA32 up to 4 GiB, all free, so a 30-bit mask (1 GiB)
        // cuts DMA32's free blocks in two, a quarter below it and three quarters above.
        _x86Large = new PageAllocator(MachineLayout.X86(4 * GiB) with { Watermarks = WatermarkSettings.None, PerCpuCaches = true });

        _reference = new ReferenceBuddy(262_144, 10);
        _mixed = new PageAllocator(MachineLayout.Flat(1 * GiB) with { PerCpuCaches = true });
        _slots = new Block[Workloads.Slots];
        _x = Workloads.Seed;
        Workloads.Mixed(_mixed, _slots, ref _x, Workloads.Slots * 4);
        _arena = Buddy.Memory.NativeArena.Create(64 * MiB, new Buddy.Memory.ArenaOptions { PerCpuCaches = true });
        _native = new nint[Workloads.Slots];
        _y = Workloads.Seed;
        Workloads.MixedNative(_native, ref _y, Workloads.Slots * 4);
        _mimalloc = new nint[Workloads.Slots];
        _z = Workloads.Seed;
        if (Mimalloc.IsAvailable)
        {
            Mimalloc.Mixed(_mimalloc, ref _z, Workloads.Slots * 4);
        }
    }

    /// <summary>Frees what the native mixed workload holds.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        Workloads.FreeNative(_native);
        if (Mimalloc.IsAvailable)
        {
            Mimalloc.FreeAll(_mimalloc);
        }

        _arena.Dispose();
        _two.Dispose();
    }

    /// <summary>Order-0 allocate+free pairs through Buddy with per-CPU caches.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Ops)]
    public void Order0Pair() => Workloads.Order0Pairs(_cached, Ops);

    /// <summary>The same without per-CPU caches (every pair splits and merges a max-order block).</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void Order0PairUncached() => Workloads.Order0Pairs(_uncached, Ops);

    /// <summary>ArrayPool&lt;byte&gt;.Shared 4 KiB rent+return.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void ArrayPoolPair() => Workloads.ArrayPoolPairs(Ops);

    /// <summary>NativeMemory.AlignedAlloc(4096, 4096) + AlignedFree.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void NativeAlignedPair() => Workloads.NativeAlignedPairs(Ops);

    /// <summary>mimalloc's mi_malloc_aligned(4096, 4096) + mi_free.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void MimallocAlignedPair()
    {
        Mimalloc.EnsureAvailable();
        Mimalloc.Pairs(Ops);
    }

    /// <summary>The reference buddy's order-0 pair.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void ReferencePair() => Workloads.ReferencePairs(_reference, Ops);

    /// <summary>The random mixed workload through Buddy.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void MixedStep() => Workloads.Mixed(_mixed, _slots, ref _x, Ops);

    /// <summary>The random mixed workload through NativeMemory.AlignedAlloc with natural alignment.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void MixedStepNative() => Workloads.MixedNative(_native, ref _y, Ops);

    /// <summary>The random mixed workload through mimalloc's mi_malloc_aligned with natural alignment.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void MixedStepMimalloc()
    {
        Mimalloc.EnsureAvailable();
        Mimalloc.Mixed(_mimalloc, ref _z, Ops);
    }

    /// <summary>4 KiB rent+return through BuddyMemoryPool over a native arena.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void BuddyMemoryPoolPair() => Workloads.PoolPairs(_arena.Pool, Ops);

    /// <summary>4 KiB rent+return through MemoryPool&lt;byte&gt;.Shared.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void SharedMemoryPoolPair() => Workloads.PoolPairs(System.Buffers.MemoryPool<byte>.Shared, Ops);

    /// <summary>A 24-bit-mask order-0 pair while memory above 16 MiB is full.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void DmaLimitedPair() => Workloads.Pairs(_full, Request.ForOrder(0).WithDmaMask(24), Ops);

    /// <summary>Order-0 pairs below 12 MiB (a limit inside the DMA zone) while memory above 16 MiB is full.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void BelowLimitPair() => Workloads.Pairs(_full, Request.ForOrder(0).Below(12 * MiB), Ops);

    /// <summary>BelowLimitPair's twin: unconstrained order-0 pairs on the same full allocator.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void BelowLimitUnconstrainedPair() => Workloads.Order0Pairs(_full, Ops);

    /// <summary>Order-0 pairs with a 30-bit DMA mask on a 4 GiB x86 layout, all free: the mask cuts through DMA32.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void DmaMask30Pair() => Workloads.Pairs(_x86Large, Request.ForOrder(0).WithDmaMask(30), Ops);

    /// <summary>DmaMask30Pair's twin: unconstrained order-0 pairs on the same 4 GiB allocator.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void DmaMask30UnconstrainedPair() => Workloads.Order0Pairs(_x86Large, Ops);

    /// <summary>Order-0 pairs on two threads at once (time per pair of the aggregate).</summary>
    [Benchmark(OperationsPerInvoke = Ops * 2)]
    public void Order0PairTwoThreads() => _two.Run(() => Workloads.Order0Pairs(_cached, Ops));

    /// <summary>ArrayPool pairs on two threads at once: how this machine scales thread-local work.</summary>
    [Benchmark(OperationsPerInvoke = Ops * 2)]
    public void ArrayPoolPairTwoThreads() => _two.Run(() => Workloads.ArrayPoolPairs(Ops));
}

/// <summary>Two worker threads that live for the whole run and each run the same work when asked, started together by a barrier: no thread creation inside the timed region, and each thread keeps its cache.</summary>
internal sealed class TwoThreads : IDisposable
{
    private readonly Barrier _start = new(3);
    private readonly Barrier _done = new(3);
    private readonly Thread[] _threads;
    private Action? _work;

    /// <summary>Starts the two workers, waiting for work.</summary>
    public TwoThreads()
    {
        _threads = [new Thread(Loop) { IsBackground = true }, new Thread(Loop) { IsBackground = true }];
        Array.ForEach(_threads, t => t.Start());
    }

    /// <summary>Runs <paramref name="work"/> on both workers at once and returns when both are done.</summary>
    public void Run(Action work)
    {
        _work = work;
        _start.SignalAndWait();
        _done.SignalAndWait();
    }

    /// <summary>Stops the workers.</summary>
    public void Dispose()
    {
        _work = null;
        _start.SignalAndWait();
        Array.ForEach(_threads, t => t.Join());
        _start.Dispose();
        _done.Dispose();
    }

    private void Loop()
    {
        while (true)
        {
            _start.SignalAndWait();
            if (_work is not { } work)
            {
                return;
            }

            work();
            _done.SignalAndWait();
        }
    }
}
