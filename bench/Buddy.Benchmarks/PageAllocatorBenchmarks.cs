// PageAllocatorBenchmarks: the core's hot paths against .NET's own ways to get memory, in one run.
using System.Buffers;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Buddy.Allocation;
using Buddy.Pages;
using Buddy.Zones;
using static Buddy.Units;

namespace Buddy.Benchmarks;

/// <summary>Order-0 pairs, a DMA-limited pair with memory above the limit full, and the baselines.</summary>
[MemoryDiagnoser]
public class PageAllocatorBenchmarks
{
    private PageAllocator _flat = null!;
    private PageAllocator _full = null!;

    /// <summary>Builds a 1 GiB flat allocator and a 1 GiB PC whose memory above 16 MiB is full.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _flat = new PageAllocator(MachineLayout.Flat(1 * GiB));
        _full = new PageAllocator(MachineLayout.X86(1 * GiB) with { Watermarks = WatermarkSettings.None });
        while (_full.TryAllocate(Request.ForOrder(0).InZone(ZoneKind.Dma32), out Block b) && b.Address >= 16 * MiB)
        {
        }
    }

    /// <summary>Allocate and free one 4 KiB page.</summary>
    [Benchmark(Baseline = true)]
    public void Order0Pair() => _flat.Free(_flat.Allocate(Request.ForOrder(0)));

    /// <summary>Allocate and free a 64 KiB ISA DMA buffer while memory above 16 MiB is full.</summary>
    [Benchmark]
    public void DmaLimitedPair() => _full.Free(_full.Allocate(Request.ForBytes(64 * KiB).InZone(ZoneKind.Dma).NotCrossing(64 * KiB)));

    /// <summary>Allocate and free an unconstrained 64 KiB block on the same machine.</summary>
    [Benchmark]
    public void UnconstrainedOrder4Pair() => _flat.Free(_flat.Allocate(Request.ForOrder(4)));

    /// <summary>Rent and return a 4 KiB array from ArrayPool.Shared (no alignment, no limit).</summary>
    [Benchmark]
    public void ArrayPoolPair() => ArrayPool<byte>.Shared.Return(ArrayPool<byte>.Shared.Rent(4096));

    /// <summary>NativeMemory.AlignedAlloc(4096, 4096) and AlignedFree.</summary>
    [Benchmark]
    public unsafe void NativeAlignedPair() => NativeMemory.AlignedFree(NativeMemory.AlignedAlloc(4096, 4096));
}
