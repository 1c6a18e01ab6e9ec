// MobilityPropertyTests.Operations: the reference model's operations — each one asks the allocator,
// applies the same change to the page-level model, and leaves the checks to Model.Check (in
// MobilityPropertyTests.cs), which runs after every step.

namespace Buddy.Tests;

public partial class MobilityPropertyTests
{
    private sealed partial class Model
    {
        // ------------------------------------------------------------ operations

        private void Allocate(Op op, MigrateType type)
        {
            int order = op.Order % (_layout.MaxOrder + 1);
            bool exact = type != MigrateType.Movable && order > 0 && op.A % 4 == 0;
            ulong pages = exact ? 1 + ((ulong)op.B % (1UL << order)) : 1UL << order;
            Request request = (exact ? Request.ForPages(pages).Exact() : Request.ForOrder(order)).WithMobility(type).WithPriority(PriorityOf(op));
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
                ok = _pages.TryAllocateMovable(Request.ForOrder(order).WithPriority(PriorityOf(op)), OnMigrate, out h, out failure);
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

        // Under the Linux 6.18 rules a quarter of the allocations are atomic (GFP_ATOMIC: the
        // highatomic reserve) and a quarter high priority; otherwise every request is normal.
        private AllocationPriority PriorityOf(Op op) =>
            _layout.Mobility.HighAtomicReserve ? (op.Pick % 4) switch { 0 => AllocationPriority.Atomic, 1 => AllocationPriority.High, _ => AllocationPriority.Normal } : AllocationPriority.Normal;

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

            Assert.Equal(kind, result.Zone);
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
                string before = _pages.GetBuddyInfo().ToString();
                switch (op.B % 3)
                {
                    case 0: Assert.Throws<ObjectDisposedException>(() => _pages.Free(h)); break;
                    case 1: Assert.Throws<ObjectDisposedException>(() => _pages.Migrate(h)); break;
                    default: Assert.Throws<ObjectDisposedException>(h.Pin); break;
                }

                Assert.Equal(before, _pages.GetBuddyInfo().ToString());
                Assert.True(h.IsFreed);
            }
            else if (PickHandle(op, a => a.Pins == 0) is { } a)
            {
                Assert.Throws<InvalidOperationException>(a.Handle!.Unpin);
                Assert.False(a.Handle!.IsPinned);
            }
        }
    }
}
