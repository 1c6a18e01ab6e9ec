using System.Globalization;
using Buddy.Kernel;
using CsCheck;
using Buddy.Diagnostics;

namespace Buddy.Tests;

/// <summary>
/// Random sequences over small machines with small pageblocks that mix unmovable, reclaimable and
/// movable allocations (some as handles whose migrate callback moves them in the model), frees,
/// pins, migrations, compaction, contiguous ranges and partial frees, with
/// <see cref="PageAllocator.Validate"/> and a page-level reference model checked after every step.
/// </summary>
public partial class MobilityPropertyTests
{
    private const ulong Page = 4096;

    // Kind: 0 unmovable, 1 reclaimable, 2 movable without a callback (never moves), 3..5 movable
    // handle, 6..7 free, 8 pin, 9 unpin, 10 migrate, 11 compact, 12 contiguous range, 13 partial
    // free (FreeRange), 14 toggle a handle's callback between copying and throwing, 15 misuse,
    // 16..19 movable handle again (so that compaction has enough to move).
    private sealed record Op(int Kind, int Order, int Pick, int A, int B);

    private sealed record Config(int Pages, int BasePages, int MaxOrder, int PageblockOrder, bool Compaction, bool Watermarks, int DmaPages, int ReservedStart, int ReservedLength, int Extfrag, bool Caches = false, int Rules = 0);

    private static readonly Gen<Config> s_config =
        from pages in Gen.Int[32, 384]
        from basePages in Gen.Int[-40, 40]
        from maxOrder in Gen.Int[1, 6]
        from pbo in Gen.Int[0, 99]
        from compaction in Gen.Bool
        from watermarks in Gen.Int[0, 3]
        from dma in Gen.Int[0, 400]
        from rs in Gen.Int[0, 383]
        from rl in Gen.Int[-24, 12]
        from extfrag in Gen.Int[0, 3]
        from caches in Gen.Bool
        select new Config(pages, Math.Max(0, basePages), maxOrder, 1 + (pbo % maxOrder), compaction, watermarks == 0, dma, rs, Math.Max(0, rl), extfrag switch { 0 => 0, 1 => 1000, _ => 500 }, caches);

    private static readonly Gen<Op> s_op =
        from kind in Gen.Int[0, 19]
        from order in Gen.Int[0, 6]
        from pick in Gen.Int[0, 1000]
        from a in Gen.Int[0, 1000]
        from b in Gen.Int[0, 1000]
        select new Op(kind, order, pick, a, b);

    [Fact]
    public void Random_mobility_operations_keep_every_invariant_and_agree_with_a_reference_model() =>
        Gen.Select(s_config, s_op.Array[1, 150]).Sample((config, ops) => new Model(config).Run(ops), iter: 200);

    // The same over Linux 6.18's rules (Rules 1: MobilitySettings.Linux618's, 2: with vm.defrag_mode),
    // kcompactd's period 10 operations; allocations are normal, high or atomic (Model.PriorityOf).
    [Fact]
    public void Random_operations_under_the_Linux_618_rules_keep_every_invariant_and_agree_with_a_reference_model() =>
        Gen.Select(s_config, Gen.Int[1, 2], s_op.Array[1, 150]).Sample((config, rules, ops) => new Model(config with { Rules = rules, Compaction = true }).Run(ops), iter: 100);

    private enum Kind
    {
        Fixed,  // a power-of-two or exact block that never moves (unmovable, reclaimable, or movable without callback)
        Handle, // a movable handle with a callback
        Range,  // a contiguous range
        Loose,  // what a partial free left allocated
    }

    private sealed class Alloc(int id, Kind kind, ulong pfn, ulong pages)
    {
        public int Id { get; } = id;

        public Kind Kind { get; } = kind;

        public ulong Pfn { get; set; } = pfn;

        public ulong Pages { get; } = pages;

        public Block Block { get; set; }

        public MovableBlock? Handle { get; init; }

        public bool Fragile { get; set; }

        public int Pins { get; set; }

        public Block PinnedAt { get; set; }
    }

    private sealed partial class Model
    {
        private readonly MachineLayout _layout;
        private readonly PageAllocator _pages;
        private readonly ulong _total;
        private readonly ulong _base; // the first pfn
        private readonly ulong _end;  // one past the last
        private readonly (ulong Start, ulong End, ZoneKind Kind)[] _zones;
        private readonly int[] _owner; // by pfn: 0 free, -1 reserved, -2 below the base address, otherwise the allocation's id
        private readonly List<Alloc> _live = [];
        private readonly Dictionary<MovableBlock, Alloc> _byHandle = new(ReferenceEqualityComparer.Instance);
        private readonly List<MovableBlock> _stale = [];
        private int _nextId = 1;
        private ulong _movedPages;
        private long _movedBlocks;

        public Model(Config c)
        {
            _total = (ulong)c.Pages;
            _base = (ulong)c.BasePages;
            _end = _base + _total;
            ulong dmaLimit = _base + (ulong)c.DmaPages;
            bool twoZones = c.DmaPages > 0 && c.DmaPages < c.Pages;
            _layout = new MachineLayout
            {
                Size = _total * Page,
                BaseAddress = _base * Page,
                MaxOrder = c.MaxOrder,
                Zones = twoZones ? [new(ZoneKind.Dma, dmaLimit * Page), new(ZoneKind.Normal, ulong.MaxValue)] : [new(ZoneKind.Normal, ulong.MaxValue)],
                Watermarks = c.Watermarks ? new WatermarkSettings { MinFreeKbytes = 16 } : WatermarkSettings.None,
                PerCpuCaches = c.Caches,
                Mobility = c.Rules == 0
                    ? new MobilitySettings { GroupByMobility = true, PageblockOrder = c.PageblockOrder, Compaction = c.Compaction, ExtfragThreshold = c.Extfrag }
                    : MobilitySettings.Linux618 with { PageblockOrder = c.PageblockOrder, ExtfragThreshold = c.Extfrag, KcompactdIntervalOperations = 10, DefragMode = c.Rules == 2 },
            };
            ulong rs = _base + (ulong)Math.Min(c.ReservedStart, c.Pages - 1);
            ulong re = Math.Min(rs + (ulong)c.ReservedLength, _end);
            if (re > rs)
            {
                _layout = _layout.Reserve(rs * Page, re * Page);
            }

            _zones = twoZones
                ? [(_base, dmaLimit, ZoneKind.Dma), (dmaLimit, _end, ZoneKind.Normal)]
                : [(_base, _end, ZoneKind.Normal)];
            _pages = new PageAllocator(_layout);
            _owner = new int[_end];
            _owner.AsSpan(0, (int)_base).Fill(-2);
            _owner.AsSpan((int)rs, (int)(re - rs)).Fill(-1);
        }

        public void Run(Op[] ops)
        {
            Check();
            foreach (Op op in ops)
            {
                Step(op);
                Check();
            }

            // Everything can be given back.
            foreach (Alloc a in _live.ToList())
            {
                FreeWhole(a, byAddress: false);
            }

            Check();
            Assert.Equal(0UL, _pages.AllocatedPages);
        }

        private void Step(Op op)
        {
            switch (op.Kind)
            {
                case 0: Allocate(op, MigrateType.Unmovable); break;
                case 1: Allocate(op, MigrateType.Reclaimable); break;
                case 2: Allocate(op, MigrateType.Movable); break;
                case <= 5: AllocateHandle(op); break;
                case <= 7: Free(op); break;
                case 8: Pin(op); break;
                case 9: Unpin(op); break;
                case 10: Migrate(op); break;
                case 11: Compact(op); break;
                case 12: Contiguous(op); break;
                case 13: FreePart(op); break;
                case 14: ToggleFragile(op); break;
                case 15: Misuse(op); break;
                default: AllocateHandle(op); break;
            }
        }

        // ------------------------------------------------------------ the migrate callback

        private void OnMigrate(MovableBlock handle, Block from, Block to)
        {
            Assert.True(_byHandle.TryGetValue(handle, out Alloc? a), $"unknown handle {handle} moved");
            Assert.False(handle.IsFreed, $"freed handle {handle} moved");
            Assert.Equal(0, a.Pins);
            Assert.False(handle.IsPinned, $"pinned handle {handle} moved");
            Assert.Equal(a.Block, from);
            Assert.Equal(from, handle.Block);
            Assert.Equal(from.PageCount, to.PageCount);
            Assert.Equal(0UL, to.Pfn % to.PageCount);
            Assert.Equal(ZoneOf(from.Pfn), ZoneOf(to.Pfn));
            if (a.Fragile)
            {
                throw new InvalidDataException("the owner could not copy");
            }

            for (ulong p = to.Pfn; p < to.Pfn + to.PageCount; p++)
            {
                Assert.True(_owner[p] == 0, $"{handle} moved onto page {p}, which is {(_owner[p] < 0 ? "reserved" : "allocation " + _owner[p])}");
            }

            Own(from.Pfn, from.PageCount, 0);
            Own(to.Pfn, to.PageCount, a.Id);
            a.Block = to;
            a.Pfn = to.Pfn;
            _movedPages += to.PageCount;
            _movedBlocks++;
        }

        // ------------------------------------------------------------ checks

        private void Check()
        {
            _pages.Validate();
            Assert.Equal((ulong)_owner.Count(o => o > 0), _pages.AllocatedPages);
            Assert.Equal((ulong)_owner.Count(o => o == 0), _pages.FreePages + _pages.CachedPages); // cached pages are free to the model

            // The allocator's free pages are exactly the model's.
            bool[] free = new bool[_end];
            foreach ((ulong address, int order) in _pages.GetFreeBlocks())
            {
                for (ulong p = address / Page; p < (address / Page) + (1UL << order); p++)
                {
                    Assert.False(free[p], $"page {p} is in two free blocks");
                    free[p] = true;
                }
            }

            IEnumerable<(ulong Pfn, ulong Pages)> cached = _pages.Dump().Cached.Select(r => (r.Pfn, r.Pages));
            foreach ((ulong runPfn, ulong runPages) in cached) // cached blocks are free to the model
            {
                for (ulong p = runPfn; p < runPfn + runPages; p++)
                {
                    Assert.False(free[p], $"page {p} is both free and cached");
                    free[p] = true;
                }
            }

            for (ulong p = _base; p < _end; p++)
            {
                Assert.True(free[p] == (_owner[p] == 0), $"page {p} is {(free[p] ? "free" : "allocated")} but the model says {_owner[p]}");
            }

            // Handles are where the model has them; pinned ones never moved.
            foreach (Alloc a in _live.Where(a => a.Kind == Kind.Handle))
            {
                MovableBlock h = a.Handle!;
                Assert.Equal(a.Block, h.Block);
                Assert.False(h.IsFreed);
                Assert.Equal(a.Pins > 0, h.IsPinned);
                if (a.Pins > 0)
                {
                    Assert.Equal(a.PinnedAt, h.Block);
                }
            }

            Assert.All(_stale, h => Assert.True(h.IsFreed));
            CheckPageTypeInfo();
        }

        // /proc/pagetypeinfo agrees with the zones: free blocks per type add up to the zone's free
        // pages, and every pageblock is counted once.
        private void CheckPageTypeInfo()
        {
            string[] lines = _pages.GetPageTypeInfo().Split('\n');
            int pageblockOrder = _layout.Mobility.PageblockOrder;
            Assert.Equal("Page block order: " + pageblockOrder.ToString(CultureInfo.InvariantCulture), lines[0]);
            IReadOnlyList<ZoneStats> stats = _pages.GetZoneStats();
            long highAtomicPageblocks = 0;
            foreach (ZoneStats z in stats)
            {
                ulong freePages = 0;
                foreach (string line in lines.Where(l => l.StartsWith("Node    0, zone " + z.Name.PadLeft(8) + ", type ", StringComparison.Ordinal)))
                {
                    long[] counts = [.. line[44..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => long.Parse(s, CultureInfo.InvariantCulture))];
                    Assert.Equal(_layout.MaxOrder + 1, counts.Length);
                    for (int order = 0; order < counts.Length; order++)
                    {
                        freePages += (ulong)counts[order] << order;
                    }
                }

                Assert.Equal(z.FreePages, freePages);
                string blocksLine = Assert.Single(lines, l => l.StartsWith("Node 0, zone " + z.Name.PadLeft(8) + " ", StringComparison.Ordinal));
                long[] blocks = [.. blocksLine[22..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => long.Parse(s, CultureInfo.InvariantCulture))];
                Assert.Equal(PageTypeInfo.TypeNames.Count, blocks.Length);
                ulong size = 1UL << pageblockOrder;
                Assert.Equal((long)((z.EndPfn - z.StartPfn + size - 1) / size), blocks.Sum());
                Assert.Equal(0, blocks[4]); // Isolate (the text has no CMA column)
                highAtomicPageblocks += blocks[3];
            }

            // MIGRATE_HIGHATOMIC pageblocks are exactly the reserve (nr_reserved_highatomic).
            Assert.Equal(_pages.GetMobilityStatistics().ReservedHighAtomicPages, (ulong)highAtomicPageblocks << pageblockOrder);
            Assert.True(_layout.Mobility.HighAtomicReserve || highAtomicPageblocks == 0);
        }

        private int ZoneOf(ulong pfn)
        {
            for (int i = 0; i < _zones.Length; i++)
            {
                if (pfn >= _zones[i].Start && pfn < _zones[i].End)
                {
                    return i;
                }
            }

            return -1;
        }

        private void Own(ulong pfn, ulong pages, int id)
        {
            for (ulong p = pfn; p < pfn + pages; p++)
            {
                _owner[p] = id;
            }
        }
    }
}
