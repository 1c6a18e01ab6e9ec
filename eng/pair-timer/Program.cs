// Prints the third-fastest of seven rounds of N thread-cached order-0 allocate+free pairs, in ns
// per pair. Builds before issue 14 keep their types in Buddy.Allocation and Buddy.Pages
// (-p:DefineConstants=OLD_NAMESPACES).
using System.Diagnostics;
using Buddy;
#if OLD_NAMESPACES
using Buddy.Allocation;
using Buddy.Pages;
#endif

var pages = new PageAllocator(MachineLayout.Flat(1UL << 30) with { PerCpuCaches = true });
Request request = Request.ForOrder(0);
long n = args.Length > 0 ? long.Parse(args[0]) : 5_000_000;
var rounds = new List<double>();
for (int round = 0; round < 7; round++)
{
    long start = Stopwatch.GetTimestamp();
    for (long i = 0; i < n; i++)
    {
        pages.Free(pages.Allocate(request));
    }

    rounds.Add(Stopwatch.GetElapsedTime(start).TotalNanoseconds / n);
}

rounds.Sort();
Console.WriteLine($"{rounds[2]:F2}");
