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
public class MobilityPropertyTests
{
    private const ulong Page = 4096;

    // Kind: 0 unmovable, 1 reclaimable, 2 movable without a callback (never moves), 3..5 movable
    // handle, 6..7 free, 8 pin, 9 unpin, 10 migrate, 11 compact, 12 contiguous range, 13 partial
    // free (FreeRange), 14 toggle a handle's callback between copying and throwing, 15 misuse,
    // 16..19 movable handle again (so that compaction has enough to move).
    private sealed record Op(int Kind, int Order, int Pick, int A, int B);

    private sealed record Config(int Pages, int BasePages, int MaxOrder, int PageblockOrder, bool Compaction, bool Watermarks, int DmaPages, int ReservedStart, int ReservedLength, int Extfrag, bool Caches = false);

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

    private sealed class Model
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
                Mobility = new MobilitySettings { GroupByMobility = true, PageblockOrder = c.PageblockOrder, Compaction = c.Compaction, ExtfragThreshold = c.Extfrag },
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

        // ------------------------------------------------------------ operations

        private void Allocate(Op op, MigrateType type)
        {
            int order = op.Order % (_layout.MaxOrder + 1);
            bool exact = type != MigrateType.Movable && order > 0 && op.A % 4 == 0;
            ulong pages = exact ? 1 + ((ulong)op.B % (1UL << order)) : 1UL << order;
            Request request = (exact ? Request.ForPages(pages).Exact() : Request.ForOrder(order)).WithMobility(type);
            bool ok;
            Block b;
            AllocationFailure? failure;
            try
            {
                ok = _pages.TryAllocate(request, out b, out failure);
            }
            catch (InvalidDataException)
            {
                return; // direct compaction met a handle whose owner could not copy: nothing allocated
            }

            if (ok)
            {
                Assert.Equal(pages, b.PageCount);
                Add(new Alloc(_nextId++, Kind.Fixed, b.Pfn, b.PageCount) { Block = b }, b.Order);
                return;
            }

            AssertNoFreeWindow(order, failure!);
        }

        private void AllocateHandle(Op op)
        {
            int order = op.Order % (_layout.MaxOrder + 1);
            bool ok;
            MovableBlock? h;
            AllocationFailure? failure;
            try
            {
                ok = _pages.TryAllocateMovable(Request.ForOrder(order), OnMigrate, out h, out failure);
            }
            catch (InvalidDataException)
            {
                return;
            }

            if (ok)
            {
                Block b = h!.Block;
                Assert.Equal(1UL << order, b.PageCount);
                var a = new Alloc(_nextId++, Kind.Handle, b.Pfn, b.PageCount) { Block = b, Handle = h, Fragile = op.A % 7 == 0 };
                Add(a, order);
                _byHandle.Add(h, a);
                return;
            }

            AssertNoFreeWindow(order, failure!);
        }

        private void Add(Alloc a, int order)
        {
            Assert.Equal(0UL, a.Pfn % (1UL << order));
            Assert.Equal(ZoneOf(a.Pfn), ZoneOf(a.Pfn + a.Pages - 1));
            for (ulong p = a.Pfn; p < a.Pfn + a.Pages; p++)
            {
                Assert.True(_owner[p] == 0, $"allocation at {a.Pfn} ({a.Pages} pages) takes page {p}, which is {(_owner[p] < 0 ? "reserved" : "allocation " + _owner[p])}");
            }

            Own(a.Pfn, a.Pages, a.Id);
            _live.Add(a);
        }

        // Grouping never makes a free block unreachable: a failure other than for the watermarks
        // means no naturally aligned, wholly free window of the order in any zone.
        private void AssertNoFreeWindow(int order, AllocationFailure failure)
        {
            if (failure.Reason == FailureReason.Watermark)
            {
                Assert.True(_layout.Watermarks.Enabled);
                return; // a block is there but the zone is at its watermark
            }

            ulong size = 1UL << order;
            foreach ((ulong start, ulong end, _) in _zones)
            {
                for (ulong w = (start + size - 1) / size * size; w + size <= end; w += size)
                {
                    Assert.False(_owner.AsSpan((int)w, (int)size).IndexOfAnyExcept(0) < 0, $"order-{order} request failed ({failure.Message}) but pages {w}..{w + size - 1} are free");
                }
            }
        }

        private void Free(Op op)
        {
            if (_live.Count > 0)
            {
                FreeWhole(_live[op.Pick % _live.Count], byAddress: op.A % 2 == 0);
            }
        }

        private void FreeWhole(Alloc a, bool byAddress)
        {
            switch (a.Kind)
            {
                case Kind.Handle:
                    MovableBlock h = a.Handle!;
                    if (a.Pins > 0 && byAddress)
                    {
                        h.Unpin(); // pins do not stop a free, but exercise Unpin on the way
                        a.Pins--;
                    }

                    if (byAddress)
                    {
                        _pages.Free(h.Block); // freeing by the block frees the handle too
                    }
                    else
                    {
                        _pages.Free(h);
                    }

                    Assert.True(h.IsFreed);
                    _byHandle.Remove(h);
                    _stale.Add(h);
                    break;
                case Kind.Loose:
                    _pages.FreeRange(a.Pfn * Page, a.Pages);
                    break;
                default:
                    if (byAddress)
                    {
                        _pages.Free(a.Block.Address);
                    }
                    else
                    {
                        _pages.Free(a.Block);
                    }

                    break;
            }

            Own(a.Pfn, a.Pages, 0);
            _live.Remove(a);
        }

        private void FreePart(Op op)
        {
            if (_live.Count == 0)
            {
                return;
            }

            Alloc a = _live[op.Pick % _live.Count];
            ulong offset = (ulong)op.A % a.Pages;
            ulong length = 1 + ((ulong)op.B % (a.Pages - offset));
            _pages.FreeRange((a.Pfn + offset) * Page, length);
            _live.Remove(a);
            if (a.Handle is { } h)
            {
                Assert.True(h.IsFreed, "a handle cut by FreeRange is marked freed");
                _byHandle.Remove(h);
                _stale.Add(h);
            }

            Own(a.Pfn + offset, length, 0);
            if (offset > 0)
            {
                var before = new Alloc(_nextId++, Kind.Loose, a.Pfn, offset);
                Own(before.Pfn, before.Pages, before.Id);
                _live.Add(before);
            }

            if (offset + length < a.Pages)
            {
                var after = new Alloc(_nextId++, Kind.Loose, a.Pfn + offset + length, a.Pages - offset - length);
                Own(after.Pfn, after.Pages, after.Id);
                _live.Add(after);
            }
        }

        private Alloc? PickHandle(Op op, Func<Alloc, bool>? filter = null)
        {
            List<Alloc> handles = [.. _live.Where(a => a.Kind == Kind.Handle && (filter is null || filter(a)))];
            return handles.Count == 0 ? null : handles[op.Pick % handles.Count];
        }

        private void Pin(Op op)
        {
            if (PickHandle(op) is { } a)
            {
                a.Handle!.Pin();
                if (a.Pins++ == 0)
                {
                    a.PinnedAt = a.Block;
                }
            }
        }

        private void Unpin(Op op)
        {
            if (PickHandle(op, a => a.Pins > 0) is { } a)
            {
                a.Handle!.Unpin();
                a.Pins--;
            }
        }

        private void ToggleFragile(Op op)
        {
            if (PickHandle(op) is { } a)
            {
                a.Fragile = !a.Fragile;
            }
        }

        private void Migrate(Op op)
        {
            if (PickHandle(op) is not { } a)
            {
                return;
            }

            MovableBlock h = a.Handle!;
            Block before = h.Block;
            long moves = _movedBlocks;
            if (a.Pins > 0)
            {
                Assert.Throws<InvalidOperationException>(() => _pages.Migrate(h));
                Assert.Equal(before, h.Block);
                return;
            }

            bool moved;
            try
            {
                moved = _pages.Migrate(h);
            }
            catch (InvalidDataException)
            {
                Assert.True(a.Fragile);
                Assert.Equal(before, h.Block);
                return;
            }

            Assert.Equal(moved ? moves + 1 : moves, _movedBlocks);
            if (moved)
            {
                Assert.True(h.Block.Pfn > before.Pfn, $"{before} moved down to {h.Block}");
            }
            else
            {
                Assert.Equal(before, h.Block);
            }
        }

        private void Compact(Op op)
        {
            (_, _, ZoneKind kind) = _zones[op.Pick % _zones.Length];
            ulong pages = _movedPages;
            long blocks = _movedBlocks;
            CompactionResult result;
            try
            {
                result = _pages.Compact(kind);
            }
            catch (InvalidDataException)
            {
                return; // the blocks moved before the failing one stay moved; the model followed them
            }

            Assert.Equal(kind.KernelName(), result.Zone);
            Assert.Equal(CompactionOutcome.ScannersMet, result.Outcome);
            Assert.Equal(_movedPages - pages, result.PagesMoved);
            Assert.Equal(_movedBlocks - blocks, result.BlocksMoved);
        }

        private void Contiguous(Op op)
        {
            ulong count = 1 + ((ulong)op.A % Math.Min(_total, 3UL << _layout.MaxOrder));
            ulong alignment = op.B % 4 == 0 ? 0 : Page << (op.B % (_layout.MaxOrder + 2));
            ulong maxAddress = op.Pick % 3 == 0 ? ((_base + ((ulong)op.Pick * _total / 1000) + 1) * Page) - 1 : ulong.MaxValue;
            bool ok;
            Block b;
            AllocationFailure? failure;
            try
            {
                ok = _pages.TryAllocateContiguous(count, alignment, maxAddress, out b, out failure);
            }
            catch (InvalidDataException)
            {
                return; // nothing allocated; blocks moved before the failing one stay moved
            }

            ulong align = Math.Max(1, alignment / Page);
            ulong limit = maxAddress == ulong.MaxValue ? ulong.MaxValue : (maxAddress + 1) / Page;
            if (ok)
            {
                Assert.Equal(count, b.PageCount);
                Assert.True(b.Pfn % align == 0, $"{b} is not aligned to {alignment}");
                Assert.True(b.EndAddress - 1 <= maxAddress, $"{b} ends above 0x{maxAddress:x}");
                Assert.Equal(ZoneOf(b.Pfn), ZoneOf(b.Pfn + count - 1));
                var a = new Alloc(_nextId++, Kind.Range, b.Pfn, count) { Block = b };
                for (ulong p = b.Pfn; p < b.Pfn + count; p++)
                {
                    Assert.True(_owner[p] == 0, $"range {b} takes page {p}, which is {(_owner[p] < 0 ? "reserved" : "allocation " + _owner[p])}");
                }

                Own(a.Pfn, a.Pages, a.Id);
                _live.Add(a);
                return;
            }

            // Unsatisfiable: no zone manages that many pages, or none has an aligned window of that
            // length below the limit even when empty.
            bool anyZoneBigEnough = false, anyWindowFits = false;
            foreach ((ulong start, ulong end, _) in _zones)
            {
                ulong managed = (ulong)_owner.AsSpan((int)start, (int)(end - start)).ToArray().Count(o => o >= 0);
                anyZoneBigEnough |= managed >= count;
                anyWindowFits |= ((start + align - 1) / align * align) + count <= Math.Min(end, limit);
            }

            Assert.Equal(!anyZoneBigEnough || !anyWindowFits, failure!.Reason == FailureReason.Unsatisfiable);
            if (failure.Reason != FailureReason.Fragmented)
            {
                return; // OutOfMemory: no room found outside the range (see the report on Evacuate)
            }

            // Fragmented: every candidate window holds a page that cannot move.
            foreach ((ulong start, ulong end, _) in _zones)
            {
                ulong top = Math.Min(end, limit);
                for (ulong s = (start + align - 1) / align * align; s + count <= top; s += align)
                {
                    bool blocked = false;
                    for (ulong p = s; p < s + count && !blocked; p++)
                    {
                        blocked = Blocks(p);
                    }

                    Assert.True(blocked, $"contiguous {count} pages (align {align}, limit {limit}) failed as fragmented but pages {s}..{s + count - 1} are free or movable");
                }
            }
        }

        // Whether page p stops a contiguous range: reserved, or owned by anything but an unpinned handle.
        private bool Blocks(ulong p)
        {
            int id = _owner[p];
            if (id == 0)
            {
                return false;
            }

            Alloc? a = id < 0 ? null : _live.Single(x => x.Id == id);
            return a is null || a.Kind != Kind.Handle || a.Pins > 0;
        }

        private void Misuse(Op op)
        {
            if (_stale.Count > 0 && op.A % 2 == 0)
            {
                MovableBlock h = _stale[op.Pick % _stale.Count];
                string before = _pages.BuddyInfo().ToString();
                switch (op.B % 3)
                {
                    case 0: Assert.Throws<ObjectDisposedException>(() => _pages.Free(h)); break;
                    case 1: Assert.Throws<ObjectDisposedException>(() => _pages.Migrate(h)); break;
                    default: Assert.Throws<ObjectDisposedException>(h.Pin); break;
                }

                Assert.Equal(before, _pages.BuddyInfo().ToString());
                Assert.True(h.IsFreed);
            }
            else if (PickHandle(op, a => a.Pins == 0) is { } a)
            {
                Assert.Throws<InvalidOperationException>(a.Handle!.Unpin);
                Assert.False(a.Handle!.IsPinned);
            }
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

            foreach (Diagnostics.DumpRun run in _pages.Dump().Cached) // cached blocks are free to the model
            {
                for (ulong p = run.Pfn; p < run.Pfn + run.Pages; p++)
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
            string[] lines = _pages.PageTypeInfo().Split('\n');
            int pageblockOrder = _layout.Mobility.PageblockOrder;
            Assert.Equal("Page block order: " + pageblockOrder.ToString(CultureInfo.InvariantCulture), lines[0]);
            IReadOnlyList<ZoneStats> stats = _pages.GetZoneStats();
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
                Assert.Equal(0, blocks[3] + blocks[4]); // HighAtomic and Isolate (the text has no CMA column)
            }
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
