// MixedLadderBenchmarks: the uncached mixed step (issue 5's workload: 65,536 slots, each step
// frees a full slot or fills an empty one with a block of order 0..6) measured layer by layer in
// one run, beside the reference buddy: the reference with its 5-byte slots, the reference with
// slots as wide as Buddy's handle (what the workload's own memory traffic costs), the zone alone
// (Zone.Take and Zone.Release, lowest-address placement through the bitmaps), the zone behind a
// lock with Buddy-wide slots (what the allocator's lock and handle width add to the zone) and
// the whole allocator without thread caches; then the allocator with thread caches, and the same
// with every order above the caches' 3 asked as order 3 (what the one request in sixteen that
// the caches do not keep costs the cached step). Every rung starts from the same seed and runs to the same
// steady state first, so docs/benchmarks.md can say where each part of the gap goes.
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Buddy.Bench;
using static Buddy.Units;

namespace Buddy.Benchmarks;


/// <summary>Operations per invocation are <see cref="Ops"/>; each benchmark reports time per step.</summary>
public class MixedLadderBenchmarks
{
    /// <summary>Steps per benchmark invocation.</summary>
    public const int Ops = 100_000;

    private const int Pages = 262_144;
    private const int MaxOrder = 10;
    private ReferenceBuddy _reference = null!;
    private int[] _referencePages = null!;
    private byte[] _referenceOrders = null!;
    private ReferenceBuddy _wide = null!;
    private WideSlot[] _wideSlots = null!;
    private Zone _zone = null!;
    private int[] _zonePages = null!;
    private byte[] _zoneOrders = null!;
    private Zone _lockedZone = null!;
    private WideSlot[] _lockedSlots = null!;
    private readonly Lock _lock = new();
    private PageAllocator _pages = null!;
    private Block[] _blocks = null!;
    private ulong _x1;
    private ulong _x2;
    private ulong _x3;
    private ulong _x4;
    private ulong _x5;
    private PageAllocator _cached = null!;
    private Block[] _cachedBlocks = null!;
    private ulong _x6;
    private PageAllocator _capped = null!;
    private Block[] _cappedBlocks = null!;
    private ulong _x7;

    /// <summary>Each rung's structure over 1 GiB of 4 KiB pages (max order 10), brought to the workload's steady state.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _reference = new ReferenceBuddy(Pages, MaxOrder);
        _referencePages = new int[Workloads.Slots];
        _referenceOrders = new byte[Workloads.Slots];
        _x1 = Workloads.Seed;
        Workloads.Mixed(_reference, _referencePages, _referenceOrders, ref _x1, Workloads.Slots * 4);

        _wide = new ReferenceBuddy(Pages, MaxOrder);
        _wideSlots = new WideSlot[Workloads.Slots];
        _x2 = Workloads.Seed;
        MixedWide(_wide, _wideSlots, ref _x2, Workloads.Slots * 4);

        _zone = new Zone(ZoneKind.Normal, 0, 0, Pages, MaxOrder, new PfnRanges([]));
        _zonePages = new int[Workloads.Slots];
        _zoneOrders = new byte[Workloads.Slots];
        _x3 = Workloads.Seed;
        MixedZone(_zone, _zonePages, _zoneOrders, ref _x3, Workloads.Slots * 4);

        _lockedZone = new Zone(ZoneKind.Normal, 0, 0, Pages, MaxOrder, new PfnRanges([]));
        _lockedSlots = new WideSlot[Workloads.Slots];
        _x5 = Workloads.Seed;
        MixedZoneLocked(_lockedZone, _lockedSlots, _lock, ref _x5, Workloads.Slots * 4);

        _pages = new PageAllocator(MachineLayout.Flat(1 * GiB));
        _blocks = new Block[Workloads.Slots];
        _x4 = Workloads.Seed;
        Workloads.Mixed(_pages, _blocks, ref _x4, Workloads.Slots * 4);

        _cached = new PageAllocator(MachineLayout.Flat(1 * GiB) with { PerCpuCaches = true });
        _cachedBlocks = new Block[Workloads.Slots];
        _x6 = Workloads.Seed;
        Workloads.Mixed(_cached, _cachedBlocks, ref _x6, Workloads.Slots * 4);

        _capped = new PageAllocator(MachineLayout.Flat(1 * GiB) with { PerCpuCaches = true });
        _cappedBlocks = new Block[Workloads.Slots];
        _x7 = Workloads.Seed;
        MixedCapped(_capped, _cappedBlocks, ref _x7, Workloads.Slots * 4);
    }

    /// <summary>The reference buddy's step: free lists, a page number and an order byte per slot.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Ops)]
    public void Reference() => Workloads.Mixed(_reference, _referencePages, _referenceOrders, ref _x1, Ops);

    /// <summary>The reference buddy's step with slots of a Block's size (32 bytes): the workload's memory traffic at Buddy's handle width.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void ReferenceWideSlots() => MixedWide(_wide, _wideSlots, ref _x2, Ops);

    /// <summary>Zone.Take and Zone.Release alone, with the reference's narrow slots: the bitmaps' lowest-address search, split and merge.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void Zone() => MixedZone(_zone, _zonePages, _zoneOrders, ref _x3, Ops);

    /// <summary>The zone with a lock taken around each operation and slots of a Block's size: the zone plus what the allocator's lock and handle width cost.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void ZoneLockedWideSlots() => MixedZoneLocked(_lockedZone, _lockedSlots, _lock, ref _x5, Ops);

    /// <summary>The whole uncached step through PageAllocator (what CoreBenchmarks.MixedStepUncached times).</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void Allocator() => Workloads.Mixed(_pages, _blocks, ref _x4, Ops);

    /// <summary>The step with thread caches (what CoreBenchmarks' cached MixedStep times).</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void AllocatorCached() => Workloads.Mixed(_cached, _cachedBlocks, ref _x6, Ops);

    /// <summary>The cached step with orders 4-6 asked as order 3, so that every request is one the thread caches keep.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public void AllocatorCachedOrdersUpTo3() => MixedCapped(_capped, _cappedBlocks, ref _x7, Ops);

    private static void MixedCapped(PageAllocator pages, Block[] slots, ref ulong x, int steps)
    {
        for (int i = 0; i < steps; i++)
        {
            ref Block slot = ref slots[(int)(Workloads.Next(ref x) & (Workloads.Slots - 1))];
            if (!slot.IsEmpty)
            {
                pages.Free(slot);
                slot = default;
            }
            else
            {
                pages.TryAllocate(s_capped[Workloads.OrderOf(Workloads.Next(ref x))], out slot);
            }
        }
    }

    private static readonly Request[] s_capped = [.. Enumerable.Range(0, Workloads.MaxMixedOrder + 1).Select(o => Request.ForOrder(Math.Min(o, 3)))];

    private static void MixedWide(ReferenceBuddy buddy, WideSlot[] slots, ref ulong x, int steps)
    {
        for (int i = 0; i < steps; i++)
        {
            ref WideSlot slot = ref slots[(int)(Workloads.Next(ref x) & (Workloads.Slots - 1))];
            if (slot.Page != 0)
            {
                buddy.Free((int)slot.Page - 1, (int)slot.Order);
                slot = default;
            }
            else
            {
                int order = Workloads.OrderOf(Workloads.Next(ref x));
                slot = new WideSlot { Page = (ulong)buddy.Allocate(order) + 1, Order = (ulong)order };
            }
        }
    }

    private static void MixedZone(Zone zone, int[] pages, byte[] orders, ref ulong x, int steps)
    {
        for (int i = 0; i < steps; i++)
        {
            int s = (int)(Workloads.Next(ref x) & (Workloads.Slots - 1));
            if (pages[s] != 0)
            {
                zone.Release((ulong)pages[s] - 1, orders[s]);
                pages[s] = 0;
            }
            else
            {
                int order = Workloads.OrderOf(Workloads.Next(ref x));
                ulong pfn = zone.Take(order, order, ulong.MaxValue);
                pages[s] = pfn == ulong.MaxValue ? 0 : (int)pfn + 1;
                orders[s] = (byte)order;
            }
        }
    }

    private static void MixedZoneLocked(Zone zone, WideSlot[] slots, Lock gate, ref ulong x, int steps)
    {
        for (int i = 0; i < steps; i++)
        {
            ref WideSlot slot = ref slots[(int)(Workloads.Next(ref x) & (Workloads.Slots - 1))];
            if (slot.Page != 0)
            {
                lock (gate)
                {
                    zone.Release(slot.Page - 1, (int)slot.Order);
                }

                slot = default;
            }
            else
            {
                int order = Workloads.OrderOf(Workloads.Next(ref x));
                ulong pfn;
                lock (gate)
                {
                    pfn = zone.Take(order, order, ulong.MaxValue);
                }

                slot = new WideSlot { Page = pfn + 1, Order = (ulong)order };
            }
        }
    }

    // A slot as wide as Block (32 bytes): a page + 1 (0 when empty), the order and two unused words.
    [StructLayout(LayoutKind.Sequential, Size = 32)]
    private struct WideSlot
    {
        public ulong Page;
        public ulong Order;
    }
}
