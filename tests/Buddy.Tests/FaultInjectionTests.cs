// FaultInjectionTests: an out-of-memory thrown by any metadata allocation in the middle of any
// operation leaves the allocator consistent and loses no page (issue 11). Faults are injected on
// the test's own thread (Faults is thread-static) at random points of random operations.
using CsCheck;
using static Buddy.Units;
using Buddy.Diagnostics;

namespace Buddy.Tests;

public sealed class FaultInjectionTests
{
    // One step: what to do (0..3 allocate, 4..5 free by handle, 6 free by address, 7 FreeRange,
    // 8 allocate movable, 9 migrate, 10 compact, 11 contiguous, 12 drain), a pick among the live
    // blocks, a size, and which metadata allocation of the step fails (0: none).
    private sealed record Step(int Kind, int Pick, int Order, int FailAt);

    private static readonly Gen<Step> s_step =
        from kind in Gen.Int[0, 12]
        from pick in Gen.Int[0, 1000]
        from order in Gen.Int[0, 6]
        from failAt in Gen.Int[0, 3]
        select new Step(kind, pick, order, failAt);

    [Fact]
    public void A_fault_in_any_operation_leaves_the_allocator_consistent_and_loses_no_page()
    {
        int faults = 0;
        Gen.Select(Gen.Bool, Gen.Bool, s_step.Array[20, 120]).Sample((caches, mobility, steps) => faults += Run(caches, mobility, steps), iter: 150, threads: 1);
        Assert.True(faults > 20, $"only {faults} injected faults fired: the test would not see a fault half-way"); // the test must really inject
    }

    // Runs the steps with faults; returns how many faults fired.
    private static int Run(bool caches, bool mobility, Step[] steps)
    {
        var pages = new PageAllocator(MachineLayout.Flat(16 * MiB) with
        {
            MaxOrder = 8,
            PerCpuCaches = caches,
            Mobility = mobility ? new MobilitySettings { GroupByMobility = true, PageblockOrder = 5, Compaction = true } : MobilitySettings.None,
        });
        var live = new List<Block>();
        var movable = new List<MovableBlock>();
        int fired = 0;
        try
        {
            foreach (Step step in steps)
            {
                string before = pages.Dump().ToJson();
                Faults.FailAllocation(step.FailAt);
                try
                {
                    Apply(pages, step, live, movable);
                }
                catch (OutOfMemoryException)
                {
                    fired++;
                    if (step.Kind <= 6)
                    {
                        // One elementary operation: all or nothing.
                        Assert.Equal(before, pages.Dump().ToJson());
                    }
                }
                finally
                {
                    Faults.FailAllocation(0);
                }

                pages.Validate();
            }
        }
        finally
        {
            Faults.FailAllocation(0);
        }

        // No page lost: every allocated page is in an allocation that can still be freed.
        foreach (MovableBlock m in movable.Where(m => !m.IsFreed))
        {
            pages.Free(m);
        }

        pages.DrainCaches();
        foreach (Diagnostics.DumpRun run in pages.Dump().Allocated)
        {
            pages.Free(run.Pfn * pages.PageSize);
        }

        pages.Validate();
        Assert.Equal(0UL, pages.AllocatedPages);
        Assert.Equal(pages.TotalPages - pages.ReservedPages, pages.FreePages);
        return fired;
    }

    private static void Apply(PageAllocator pages, Step step, List<Block> live, List<MovableBlock> movable)
    {
        switch (step.Kind)
        {
            case <= 3:
                Request request = step.Kind switch
                {
                    0 => Request.ForOrder(step.Order),
                    1 => Request.ForPages(1 + (ulong)(step.Pick % (1 << step.Order))).Exact(),
                    2 => Request.ForOrder(step.Order % 3).Below((8 * MiB) - 1).WithMobility((MigrateType)(step.Pick % 3)),
                    _ => Request.ForOrder(step.Order % 2).AlignedTo(64 * KiB),
                };
                if (pages.TryAllocate(request, out Block b))
                {
                    live.Add(b);
                }

                break;
            case <= 6 when live.Count > 0:
                int i = step.Pick % live.Count;
                Block victim = live[i];
                if (step.Kind == 6)
                {
                    pages.Free(victim.Address);
                }
                else
                {
                    pages.Free(victim);
                }

                live.RemoveAt(i);
                break;
            case 7 when live.Count > 0:
                // A partial free: the handle is stale afterwards (or, on a fault, may be): forget it.
                int j = step.Pick % live.Count;
                Block cut = live[j];
                live.RemoveAt(j);
                pages.FreeRange(cut.Address, Math.Max(1, cut.PageCount / 2));
                break;
            case 8:
                if (pages.TryAllocateMovable(Request.ForOrder(step.Order % 3), static (_, _, _) => { }, out MovableBlock? m, out _))
                {
                    movable.Add(m);
                }

                break;
            case 9 when movable.Count > 0:
                MovableBlock mover = movable[step.Pick % movable.Count];
                if (!mover.IsFreed)
                {
                    pages.Migrate(mover);
                }

                break;
            case 10 when pages.Layout.Mobility.GroupByMobility:
                pages.Compact(ZoneKind.Normal);
                break;
            case 11:
                if (pages.TryAllocateContiguous(1 + (ulong)(step.Pick % 40), 0, ulong.MaxValue, out Block range, out _))
                {
                    live.Add(range);
                }

                break;
            case 12:
                pages.DrainCaches();
                break;
        }
    }
}
