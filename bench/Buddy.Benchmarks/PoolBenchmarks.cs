// PoolBenchmarks: issue 13's figures for real memory a .NET service can adopt. 4 KiB and 64 KiB
// rent+return pairs on BuddyMemoryPool (a native arena with thread caches, and one with the
// default options) beside MemoryPool<byte>.Shared and ArrayPool<byte>.Shared, with the bytes each
// rent allocates; and 1 GiB through a System.IO.Pipelines Pipe on each pool. Every group's ratio
// is to MemoryPool<byte>.Shared (the pipe's default pool) in the same run; the pipe's rows also
// show their throughput in GiB/s.
using System.Buffers;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Buddy.Bench;
using Buddy.Memory;
using static Buddy.Units;

namespace Buddy.Benchmarks;


/// <summary>
/// Pairs: <see cref="Ops"/> per invocation, so Mean and Allocated are per rent+return pair.
/// Pipe: one invocation moves 1 GiB, so Mean is the time for 1 GiB and Allocated the bytes per GiB.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
[Config(typeof(PipeThroughputColumn.Config))]
public class PoolBenchmarks
{
    /// <summary>Rent+return pairs per benchmark invocation.</summary>
    public const int Ops = 100_000;

    /// <summary>Bytes through the pipe per invocation: 1 GiB.</summary>
    public const long PipeBytes = 1L << 30;

    private const string Pair4K = "4 KiB pair";
    private const string Pair64K = "64 KiB pair";
    /// <summary>The pipe's category: its rows get a throughput.</summary>
    public const string Pipe = "Pipe 1 GiB";

    private NativeArena _cached = null!;
    private NativeArena _plain = null!;

    /// <summary>Two 64 MiB arenas: one with thread caches, one with the default options.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _cached = NativeArena.Create(64 * MiB, new ArenaOptions { PerCpuCaches = true });
        _plain = NativeArena.Create(64 * MiB);
    }

    /// <summary>Releases the arenas.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _cached.Dispose();
        _plain.Dispose();
    }

    /// <summary>4 KiB rent+dispose through MemoryPool&lt;byte&gt;.Shared: the baseline.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Ops), BenchmarkCategory(Pair4K)]
    public void Shared4K() => Workloads.SharedPoolPairs(4096, Ops);

    /// <summary>4 KiB rent+dispose through BuddyMemoryPool, arena with thread caches.</summary>
    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory(Pair4K)]
    public void BuddyCached4K() => Workloads.PoolPairs(_cached.Pool, 4096, Ops);

    /// <summary>4 KiB rent+dispose through BuddyMemoryPool, arena with the default options.</summary>
    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory(Pair4K)]
    public void BuddyDefault4K() => Workloads.PoolPairs(_plain.Pool, 4096, Ops);

    /// <summary>4 KiB rent+return through ArrayPool&lt;byte&gt;.Shared.</summary>
    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory(Pair4K)]
    public void ArrayPool4K() => Workloads.ArrayPoolPairs(4096, Ops);

    /// <summary>64 KiB rent+dispose through MemoryPool&lt;byte&gt;.Shared: the baseline.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Ops), BenchmarkCategory(Pair64K)]
    public void Shared64K() => Workloads.SharedPoolPairs(65536, Ops);

    /// <summary>64 KiB rent+dispose through BuddyMemoryPool, arena with thread caches.</summary>
    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory(Pair64K)]
    public void BuddyCached64K() => Workloads.PoolPairs(_cached.Pool, 65536, Ops);

    /// <summary>64 KiB rent+dispose through BuddyMemoryPool, arena with the default options.</summary>
    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory(Pair64K)]
    public void BuddyDefault64K() => Workloads.PoolPairs(_plain.Pool, 65536, Ops);

    /// <summary>64 KiB rent+return through ArrayPool&lt;byte&gt;.Shared.</summary>
    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory(Pair64K)]
    public void ArrayPool64K() => Workloads.ArrayPoolPairs(65536, Ops);

    /// <summary>1 GiB through a Pipe on the default pool (MemoryPool&lt;byte&gt;.Shared, which the pipe serves from ArrayPool&lt;byte&gt;.Shared): the baseline.</summary>
    [Benchmark(Baseline = true), BenchmarkCategory(Pipe)]
    public long PipeDefaultPool() => Workloads.PipeThroughput(MemoryPool<byte>.Shared, PipeBytes);

    /// <summary>1 GiB through a Pipe on BuddyMemoryPool, arena with thread caches.</summary>
    [Benchmark, BenchmarkCategory(Pipe)]
    public long PipeBuddyCached() => Workloads.PipeThroughput(_cached.Pool, PipeBytes);

    /// <summary>1 GiB through a Pipe on BuddyMemoryPool, arena with the default options.</summary>
    [Benchmark, BenchmarkCategory(Pipe)]
    public long PipeBuddyDefault() => Workloads.PipeThroughput(_plain.Pool, PipeBytes);
}

/// <summary>The pipe rows' throughput, GiB/s: <see cref="PoolBenchmarks.PipeBytes"/> over the mean time of one invocation.</summary>
internal sealed class PipeThroughputColumn : IColumn
{
    /// <summary>Adds the column.</summary>
    public sealed class Config : ManualConfig
    {
        /// <summary>The config with the column.</summary>
        public Config() => AddColumn(new PipeThroughputColumn());
    }

    public string Id => nameof(PipeThroughputColumn);

    public string ColumnName => "GiB/s";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => "Pipe rows: GiB moved per second (1 GiB / Mean)";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, summary.Style);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        if (!benchmarkCase.Descriptor.HasCategory(PoolBenchmarks.Pipe))
        {
            return "-";
        }

        double? meanNs = summary[benchmarkCase]?.ResultStatistics?.Mean;
        return meanNs is { } ns ? (PoolBenchmarks.PipeBytes / (double)(1L << 30) / (ns / 1e9)).ToString("F2", CultureInfo.InvariantCulture) : "NA";
    }

    public bool IsAvailable(Summary summary) => true;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
}
