// Benchmarks: run with `dotnet run -c Release --project bench/Buddy.Benchmarks -- --filter '*'`.
// `-- pair-ratio` instead runs the interleaved order-0 pair harness of docs/benchmarks.md.
using BenchmarkDotNet.Running;

if (args is ["pair-ratio"])
{
    Buddy.Benchmarks.PairRatio.Run(Console.Out);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Buddy.Benchmarks.PageAllocatorBenchmarks).Assembly).Run(args);
