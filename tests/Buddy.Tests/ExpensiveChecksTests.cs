using System.Reflection;
using static Buddy.Units;

namespace Buddy.Tests;

/// <summary>
/// The expensive-checks mode (Debug builds): with it on, every slow-path operation ends with a full
/// Validate, so a broken invariant is reported by the operation that follows it.
/// </summary>
public class ExpensiveChecksTests
{
    private static PageAllocator Machine() => new(MachineLayout.X86(32 * MiB) with
    {
        PerCpuCaches = true,
        Watermarks = WatermarkSettings.None,
        Mobility = new MobilitySettings { GroupByMobility = true, PageblockOrder = 4, Compaction = true },
    });

    [Fact]
    public void Every_slow_path_operation_validates_the_allocator_and_a_mixed_workload_passes()
    {
        SkipUnlessDebug();
        PageAllocator pages = Machine();
        var random = new Random(14);
        var live = new List<Block>();
        var movable = new List<MovableBlock>();
        int slowOperations = 0;
        using (ExpensiveChecks.Enable())
        {
            long before = ExpensiveChecks.Runs;
            for (int step = 0; step < 400; step++)
            {
                switch (random.Next(7))
                {
                    case 0 or 1:
                        live.Add(pages.Allocate(Request.ForOrder(random.Next(4))));
                        break;
                    case 2:
                        live.Add(pages.Allocate(Request.ForPages((ulong)random.Next(3, 40)).Exact().Below(16 * MiB)));
                        slowOperations++;
                        break;
                    case 3:
                        movable.Add(pages.AllocateMovable(Request.ForOrder(random.Next(3)), (_, _, _) => { }));
                        slowOperations++;
                        break;
                    case 4 when live.Count > 0:
                        int i = random.Next(live.Count);
                        pages.Free(live[i].Address); // by address: always under the lock
                        live.RemoveAt(i);
                        slowOperations++;
                        break;
                    case 5 when movable.Count > 0:
                        pages.Free(movable[^1]);
                        movable.RemoveAt(movable.Count - 1);
                        slowOperations++;
                        break;
                    case 6:
                        live.Add(pages.AllocateContiguous((ulong)random.Next(1, 64), 64 * KiB, 16 * MiB));
                        slowOperations++;
                        break;
                }
            }

            pages.Compact(ZoneKind.Dma32);
            pages.DrainCaches();
            slowOperations += 2;
            Assert.True(ExpensiveChecks.Runs - before >= slowOperations, $"{ExpensiveChecks.Runs - before} validations for {slowOperations} slow-path operations");
        }

        long after = ExpensiveChecks.Runs;
        pages.Free(pages.Allocate(Request.ForPages(3).Exact()).Address);
        Assert.Equal(after, ExpensiveChecks.Runs); // off again outside the scope
        pages.Validate();
    }

    [Fact]
    public void A_broken_invariant_is_reported_by_the_next_slow_path_operation_only_when_the_checks_are_on()
    {
        SkipUnlessDebug();
        PageAllocator pages = Machine();
        Block kept = pages.Allocate(Request.ForPages(5).Exact());
        ulong stray = kept.Pfn + 64; // a free page no allocation starts at
        Corrupt(pages, stray);

        // Off: the corruption goes unnoticed by the operation.
        Block unnoticed = pages.Allocate(Request.ForPages(3).Exact());
        using (ExpensiveChecks.Enable())
        {
            var ex = Assert.Throws<InvalidOperationException>(() => pages.Free(unnoticed.Address));
            Assert.Contains("Invariant broken", ex.Message, StringComparison.Ordinal);
            Assert.Contains("allocation heads are set", ex.Message, StringComparison.Ordinal);
        }
    }

    // Stamps an allocation head where no allocation starts, as a bug in a free path would leave it.
    private static void Corrupt(PageAllocator pages, ulong pfn)
    {
        FieldInfo field = typeof(PageAllocator).GetField("_heads", BindingFlags.NonPublic | BindingFlags.Instance)!;
        var heads = (AllocationHeads)field.GetValue(pages)!;
        heads.Set(pfn, MigrateType.Unmovable); // a copy of the handle: the same stamps
    }

    private static void SkipUnlessDebug()
    {
#if !DEBUG
        Assert.Skip("The expensive checks are compiled into Debug builds only.");
#endif
    }
}
