// Benchmarks: run with `dotnet run -c Release --project bench/Buddy.Benchmarks -- --filter '*'`.
// `-- pair-ratio` and `-- pool-ratio` instead run the interleaved pair harnesses of docs/benchmarks.md;
// `-- refusals` times refused rents in a full arena.
using BenchmarkDotNet.Running;

if (args is ["pair-ratio"])
{
    Buddy.Benchmarks.PairRatio.Run(Console.Out);
    return;
}

if (args is ["pool-ratio"])
{
    Buddy.Benchmarks.PairRatio.RunPool(Console.Out);
    return;
}

if (args is ["refusals"])
{
    Buddy.Benchmarks.Refusals.Run(Console.Out);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Buddy.Benchmarks.PageAllocatorBenchmarks).Assembly).Run(args);
