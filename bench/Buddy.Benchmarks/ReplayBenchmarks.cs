// ReplayBenchmarks: the bundled trace replayed through one and four policies, against `gzip -dc`
// decompressing the same file, all in one run so the ratios are fair.
using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using Buddy.Simulation.Replay;
using Buddy.Tracing;

namespace Buddy.Benchmarks;

/// <summary>Trace decoding and replay against gzip's own decompression.</summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 10)]
public class ReplayBenchmarks
{
    private string _trace = "";

    /// <summary>Finds the bundled trace by walking up to the repository root.</summary>
    [GlobalSetup]
    public void Setup()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Buddy.slnx")))
        {
            dir = Path.GetDirectoryName(dir);
        }

        _trace = Path.Combine(dir ?? throw new InvalidOperationException("run from inside the repository"), "data", "linux-6.18-dotnet-build.trace.gz");
    }

    /// <summary>The yardstick: `gzip -dc trace > /dev/null` as a process.</summary>
    [Benchmark(Baseline = true)]
    public void GzipDc()
    {
        using Process p = Process.Start(new ProcessStartInfo("sh", ["-c", $"gzip -dc '{_trace}' > /dev/null"]) { UseShellExecute = false })!;
        p.WaitForExit();
    }

    /// <summary>Decompress and parse every event, no policy.</summary>
    [Benchmark]
    public long DecodeOnly()
    {
        using FtraceReader reader = FtraceReader.Open(_trace);
        long n = 0;
        while (reader.TryRead(out _))
        {
            n++;
        }

        return n;
    }

    /// <summary>Decode and replay through the zoned policy on a 2 GiB machine.</summary>
    [Benchmark]
    public ReplayResult ReplayOnePolicy() => TraceReplay.Run(_trace, new ReplayOptions { MemoryBytes = 2 * Units.GiB, Policies = ["zoned"] });

    /// <summary>Decode once and replay through all four policies on a 2 GiB machine.</summary>
    [Benchmark]
    public ReplayResult ReplayFourPolicies() => TraceReplay.Run(_trace, new ReplayOptions { MemoryBytes = 2 * Units.GiB });
}
