using Buddy.Allocation;
using Buddy.Mobility;
using Buddy.Pages;
using Buddy.Zones;
using static Buddy.Units;

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
}
