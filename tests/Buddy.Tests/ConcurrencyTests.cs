using static Buddy.Units;
using Buddy.Diagnostics;

namespace Buddy.Tests;

/// <summary>
/// A seeded stress harness: threads allocate and free with random constraints on one allocator,
/// then every page is accounted for. (Coyote's systematic testing would explore interleavings, but
/// it rewrites assemblies and its .NET 10 support is limited; the allocator has one lock, so a
/// seeded stress with exact accounting and Validate() checks what can go wrong: lost or doubly
/// owned pages and broken invariants.)
/// </summary>
public class ConcurrencyTests
{
    private static Request RandomRequest(Random rng)
    {
        Request r = rng.Next(4) switch
        {
            0 => Request.ForBytes((ulong)rng.Next(1, 40_000)).Exact(),
            _ => Request.ForOrder(rng.Next(0, 5)),
        };
        switch (rng.Next(6))
        {
            case 0: r = r.InZone(ZoneKind.Dma); break;
            case 1: r = r.WithDmaMask(30); break;
            case 2: r = r.NotCrossing(128 * KiB); break;
            case 3: r = r.AlignedTo(64 * KiB); break;
        }

        return r.IsExact || rng.Next(3) != 0 ? r : r.WithMobility(rng.Next(2) == 0 ? MigrateType.Movable : MigrateType.Reclaimable);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void Threads_with_random_constraints_leave_every_page_accounted_for_twenty_runs_in_a_row(bool mobility, bool caches)
    {
        for (int run = 0; run < 20; run++)
        {
            var layout = MachineLayout.X86(64 * MiB) with { Mobility = mobility ? MobilitySettings.GroupingAndCompaction with { PageblockOrder = 5 } : MobilitySettings.None, MaxOrder = 6, PerCpuCaches = caches };
            var pages = new PageAllocator(layout);
            var held = new List<Block>[3];
            var threads = new Thread[3];
            for (int t = 0; t < threads.Length; t++)
            {
                int id = t;
                held[id] = [];
                threads[id] = new Thread(() =>
                {
                    var rng = new Random((run * 31) + id);
                    List<Block> mine = held[id];
                    for (int i = 0; i < 4000; i++)
                    {
                        if (mine.Count > 0 && rng.Next(5) < 2)
                        {
                            int k = rng.Next(mine.Count);
                            pages.Free(mine[k]);
                            mine[k] = mine[^1];
                            mine.RemoveAt(mine.Count - 1);
                        }
                        else if (pages.TryAllocate(RandomRequest(rng), out Block b))
                        {
                            mine.Add(b);
                        }
                    }
                });
            }

            Array.ForEach(threads, t => t.Start());
            Array.ForEach(threads, t => t.Join());
            pages.Validate();

            // Exact accounting: the live blocks of all threads are disjoint and sum to AllocatedPages.
            var all = held.SelectMany(h => h).OrderBy(b => b.Pfn).ToList();
            for (int i = 1; i < all.Count; i++)
            {
                Assert.True(all[i - 1].Pfn + all[i - 1].PageCount <= all[i].Pfn, $"run {run}: {all[i - 1]} overlaps {all[i]}");
            }

            Assert.Equal(all.Aggregate(0UL, (s, b) => s + b.PageCount), pages.AllocatedPages);
            Assert.Equal(pages.TotalPages - pages.ReservedPages - pages.AllocatedPages, pages.FreePages + pages.CachedPages);
            foreach (Block b in all)
            {
                pages.Free(b);
            }

            pages.Validate();
            Assert.Equal(0UL, pages.AllocatedPages);
            Assert.Equal(pages.TotalPages - pages.ReservedPages, pages.FreePages + pages.CachedPages);
            pages.DrainCaches(); // including the caches of the threads that have ended
            Assert.Equal(0UL, pages.CachedPages);
            Assert.Equal(pages.TotalPages - pages.ReservedPages, pages.FreePages);
            pages.Validate();
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Blocks_freed_on_other_threads_while_a_watcher_drains_validates_and_dumps_stay_accounted_for_twenty_runs_in_a_row(bool mobility)
    {
        // Two producers allocate (mostly small, cacheable blocks, some constrained) and hand half of
        // their blocks to a consumer that frees them on its own thread; a watcher meanwhile drains,
        // validates and dumps, which freezes every thread cache under the others' feet.
        for (int run = 0; run < 20; run++)
        {
            var layout = MachineLayout.X86(64 * MiB) with { Mobility = mobility ? MobilitySettings.GroupingAndCompaction with { PageblockOrder = 5 } : MobilitySettings.None, MaxOrder = 6, PerCpuCaches = true };
            var pages = new PageAllocator(layout);
            var handOff = new System.Collections.Concurrent.BlockingCollection<Block>(boundedCapacity: 256);
            var kept = new List<Block>[2];
            var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
            void Guard(Action body)
            {
                try
                {
                    body();
                }
                catch (Exception e)
                {
                    failures.Enqueue(e);
                    handOff.CompleteAdding();
                }
            }

            var producers = new Thread[2];
            for (int t = 0; t < producers.Length; t++)
            {
                int id = t;
                kept[id] = [];
                producers[id] = new Thread(() => Guard(() =>
                {
                    var rng = new Random((run * 17) + id);
                    List<Block> mine = kept[id];
                    for (int i = 0; i < 3000; i++)
                    {
                        Request r = rng.Next(5) == 0 ? RandomRequest(rng) : Request.ForOrder(rng.Next(0, 4));
                        if (mine.Count > 0 && rng.Next(3) == 0)
                        {
                            int k = rng.Next(mine.Count);
                            pages.Free(mine[k]);
                            mine[k] = mine[^1];
                            mine.RemoveAt(mine.Count - 1);
                        }
                        else if (pages.TryAllocate(r, out Block b))
                        {
                            if (rng.Next(2) == 0)
                            {
                                handOff.Add(b);
                            }
                            else
                            {
                                mine.Add(b);
                            }
                        }
                    }
                }));
            }

            var consumer = new Thread(() => Guard(() =>
            {
                foreach (Block b in handOff.GetConsumingEnumerable())
                {
                    pages.Free(b);
                }
            }));
            using var stop = new ManualResetEventSlim();
            var watcher = new Thread(() => Guard(() =>
            {
                for (int i = 0; !stop.IsSet; i++)
                {
                    switch (i % 3)
                    {
                        case 0: pages.Validate(); break;
                        case 1: pages.DrainCaches(); break;
                        default: Assert.True(pages.Dump().Cached.Sum(c => (long)c.Pages) >= 0); break;
                    }

                    Assert.True(pages.AllocatedPages + pages.CachedPages <= pages.TotalPages);
                }
            }));

            consumer.Start();
            watcher.Start();
            Array.ForEach(producers, t => t.Start());
            Array.ForEach(producers, t => t.Join());
            handOff.CompleteAdding();
            consumer.Join();
            stop.Set();
            watcher.Join();
            Assert.Empty(failures);

            pages.Validate();
            var all = kept.SelectMany(h => h).OrderBy(b => b.Pfn).ToList();
            for (int i = 1; i < all.Count; i++)
            {
                Assert.True(all[i - 1].Pfn + all[i - 1].PageCount <= all[i].Pfn, $"run {run}: {all[i - 1]} overlaps {all[i]}");
            }

            Assert.Equal(all.Aggregate(0UL, (s, b) => s + b.PageCount), pages.AllocatedPages);
            all.ForEach(b => pages.Free(b));
            pages.DrainCaches();
            Assert.Equal(0UL, pages.AllocatedPages);
            Assert.Equal(0UL, pages.CachedPages);
            Assert.Equal(pages.TotalPages - pages.ReservedPages, pages.FreePages);
            pages.Validate();
        }
    }

    [Fact]
    public void A_block_freed_on_one_thread_and_again_on_another_is_refused_the_second_time()
    {
        var pages = new PageAllocator(MachineLayout.Flat(16 * MiB) with { PerCpuCaches = true });
        Block b = pages.Allocate(Request.ForOrder(0));
        using var freed = new ManualResetEventSlim();
        using var done = new ManualResetEventSlim();
        var first = new Thread(() =>
        {
            pages.Free(b); // into this thread's cache, which stays while the thread lives
            freed.Set();
            done.Wait(TestContext.Current.CancellationToken);
        });
        first.Start();
        freed.Wait(TestContext.Current.CancellationToken);
        ulong cached = pages.CachedPages, free = pages.FreePages;
        Exception? second = null;
        var again = new Thread(() => second = Record.Exception(() => pages.Free(b)));
        again.Start();
        again.Join();
        Assert.IsType<ArgumentException>(second);
        Assert.Contains("Double free", second!.Message, StringComparison.Ordinal);
        Assert.Equal(free, pages.FreePages);
        Assert.Equal(cached, pages.CachedPages);
        pages.Validate();
        done.Set();
        first.Join();
    }

    [Fact]
    public void Threads_that_end_while_others_attach_their_caches_lose_no_cached_page()
    {
        // As the arena's test of the same name: a cache whose thread ended between two looks at
        // the list was dropped without being spilled, its pages neither free nor cached.
        var pages = new PageAllocator(MachineLayout.Flat(256 * MiB) with { PerCpuCaches = true });
        EndingThreads.Run(
            work: () => pages.Free(pages.Allocate(Request.ForOrder(0))), // the cache keeps the rest of its refill batch
            arrive: () => pages.Free(pages.Allocate(Request.ForOrder(0))));
        pages.Validate();
        Assert.Equal(pages.TotalPages, pages.FreePages + pages.CachedPages);
    }

    [Fact]
    public void The_caches_of_threads_that_have_ended_are_emptied_when_another_thread_arrives()
    {
        var pages = new PageAllocator(MachineLayout.Flat(16 * MiB) with { PerCpuCaches = true });
        for (int i = 0; i < 8; i++)
        {
            // Each short-lived thread leaves its refill batch of 32 pages cached; the next one to
            // arrive empties the ended thread's cache, so the cached pages never pile up.
            var t = new Thread(() => pages.Free(pages.Allocate(Request.ForOrder(0))));
            t.Start();
            t.Join();
            Assert.Equal(32UL, pages.CachedPages);
        }

        pages.Free(pages.Allocate(Request.ForOrder(0))); // this thread's first use forgets the last one
        Assert.Equal(32UL, pages.CachedPages);
        Assert.Equal(pages.TotalPages - 32, pages.FreePages);
        pages.Validate();
    }
}
