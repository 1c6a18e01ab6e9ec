// Benchmarks: run with `dotnet run -c Release --project bench/Buddy.Benchmarks -- --filter '*'`.
using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Buddy.Benchmarks.PageAllocatorBenchmarks).Assembly).Run(args);
