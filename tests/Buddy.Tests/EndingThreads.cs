// EndingThreads: the harness of the tests for caches of threads that end while other threads
// arrive. Batches of 64 threads each make a first use (which leaves a refill batch in their cache)
// and end together, while two other threads keep starting threads that make a first use of their
// own; an arriving thread empties the caches of ended ones, and none may be lost on the way.
namespace Buddy.Tests;

internal static class EndingThreads
{
    /// <summary>Runs <paramref name="batches"/> batches of 64 threads doing <paramref name="work"/>, ending together, while other threads keep arriving to do <paramref name="arrive"/>.</summary>
    public static void Run(Action work, Action arrive, int batches = 40)
    {
        bool stop = false;
        Thread[] arrivals = [.. Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            while (!Volatile.Read(ref stop))
            {
                var t = new Thread(() => arrive());
                t.Start();
                t.Join();
            }
        }))];
        Array.ForEach(arrivals, t => t.Start());
        for (int batch = 0; batch < batches; batch++)
        {
            using var go = new ManualResetEventSlim();
            Thread[] workers = [.. Enumerable.Range(0, 64).Select(_ => new Thread(() =>
            {
                work();
                go.Wait();
            }))];
            Array.ForEach(workers, w => w.Start());
            Thread.Sleep(5);
            go.Set();
            Array.ForEach(workers, w => w.Join());
        }

        Volatile.Write(ref stop, true);
        Array.ForEach(arrivals, t => t.Join());
    }
}
