using CsCheck;
using Buddy.Diagnostics;

namespace Buddy.Tests;

/// <summary>
/// Random sequences of constrained allocations and frees against a reference model (one flag per
/// page), with <see cref="PageAllocator.Validate"/> after every step.
/// </summary>
public class PropertyTests
{
    private const ulong Page = 4096;

    // One step: Kind 0..5 allocates, 6..8 frees (by handle, address, address+order), 9 and 12 free
    // a stale handle (double free, or its pages went to another owner since), 10..11 frees part of an
    // allocation (FreeRange), leaving the rest allocated as loose pages and the handle stale.
    private sealed record Op(int Kind, int Order, int Zone, int Limit, int Align, int Boundary, int ExactPages, int Pick);

    private sealed record Config(int Pages, int DmaLimit, int Dma32Limit, int ReservedStart, int ReservedLength, int MaxOrder, bool Watermarks, bool Caches = false, bool Grouping = false);

    private static readonly Gen<Config> s_config =
        from pages in Gen.Int[64, 3000]
        from dma in Gen.Int[1, 1024]
        from dma32 in Gen.Int[1, 2048]
        from rs in Gen.Int[0, 2999]
        from rl in Gen.Int[0, 200]
        from maxOrder in Gen.Int[0, 8]
        from wm in Gen.Bool
        from caches in Gen.Bool
        from grouping in Gen.Bool
        select new Config(pages, dma, dma + dma32, rs, rl, maxOrder, wm, caches, grouping && maxOrder > 0);

    private static readonly Gen<Op> s_op =
        from kind in Gen.Int[0, 12]
        from order in Gen.Int[0, 9]
        from zone in Gen.Int[0, 3]
        from limit in Gen.Int[0, 4000]
        from align in Gen.Int[0, 12]
        from boundary in Gen.Int[0, 14]
        from exact in Gen.Int[0, 600]
        from pick in Gen.Int[0, 1000]
        select new Op(kind, order, zone, limit, align, boundary, exact, pick);

    [Fact]
    public void Random_operations_keep_every_invariant_and_agree_with_a_reference_model() =>
        Gen.Select(s_config, s_op.Array[1, 150]).Sample((config, ops) => Run(config, ops), iter: 400);

    private static MachineLayout LayoutOf(Config c)
    {
        var layout = new MachineLayout
        {
            Size = (ulong)c.Pages * Page,
            MaxOrder = c.MaxOrder,
            Zones = [new(ZoneKind.Dma, (ulong)c.DmaLimit * Page), new(ZoneKind.Dma32, (ulong)c.Dma32Limit * Page), new(ZoneKind.Normal, ulong.MaxValue)],
            Watermarks = c.Watermarks ? new WatermarkSettings { MinFreeKbytes = 64 } : WatermarkSettings.None,
            PerCpuCaches = c.Caches,
            Mobility = c.Grouping ? new MobilitySettings { GroupByMobility = true, PageblockOrder = Math.Min(c.MaxOrder, 3) } : MobilitySettings.None,
        };
        int rs = Math.Min(c.ReservedStart, c.Pages - 1);
        int re = Math.Min(rs + c.ReservedLength, c.Pages);
        return re > rs ? layout.Reserve((ulong)rs * Page, (ulong)re * Page) : layout;
    }

    private static void Run(Config config, Op[] ops)
    {
        MachineLayout layout = LayoutOf(config);
        var pages = new PageAllocator(layout);
        ulong total = layout.Size / Page;
        var owner = new int[total]; // 0 free, -1 reserved, k > 0 allocation id
        foreach (AddressRange r in layout.Reserved)
        {
            for (ulong p = r.Start / Page; p < r.End / Page; p++)
            {
                owner[p] = -1;
            }
        }

        var live = new List<(int Id, Block Block)>();
        var loose = new List<(ulong Start, ulong Pages)>(); // what partial frees left allocated
        var freed = new List<Block>();
        int nextId = 1;
        foreach (Op op in ops)
        {
            if (op.Kind <= 5)
            {
                Allocate(pages, layout, op, owner, live, ref nextId);
            }
            else if (op.Kind <= 8 && live.Count > 0)
            {
                int i = op.Pick % live.Count;
                (int id, Block b) = live[i];
                switch (op.Kind)
                {
                    case 6: pages.Free(b); break;
                    case 7: pages.Free(b.Address); break;
                    default:
                        if (b.IsExact)
                        {
                            pages.Free(b);
                        }
                        else
                        {
                            pages.Free(b.Address, b.Order);
                        }

                        break;
                }

                for (ulong p = b.Pfn; p < b.Pfn + b.PageCount; p++)
                {
                    Assert.Equal(id, owner[p]);
                    owner[p] = 0;
                }

                live.RemoveAt(i);
                freed.Add(b);
            }
            else if (op.Kind >= 10 && live.Count + loose.Count > 0)
            {
                // Free a sub-range of an allocation or of what a partial free left.
                int i = op.Pick % (live.Count + loose.Count);
                (ulong start, ulong count) = i < live.Count ? (live[i].Block.Pfn, live[i].Block.PageCount) : loose[i - live.Count];
                if (i < live.Count)
                {
                    freed.Add(live[i].Block); // cut: the handle no longer names a live allocation
                    live.RemoveAt(i);
                }
                else
                {
                    loose.RemoveAt(i - live.Count);
                }

                ulong offset = (ulong)op.ExactPages % count;
                ulong length = 1 + ((ulong)op.Limit % (count - offset));
                pages.FreeRange((start + offset) * Page, length);
                for (ulong p = start + offset; p < start + offset + length; p++)
                {
                    Assert.True(owner[p] > 0);
                    owner[p] = 0;
                }

                if (offset > 0)
                {
                    loose.Add((start, offset));
                }

                if (offset + length < count)
                {
                    loose.Add((start + offset + length, count - offset - length));
                }
            }
            else if (op.Kind is 9 or 12 && freed.Count > 0)
            {
                // Whether its pages are free, cached or another owner's now, a stale handle is
                // refused and changes nothing: the model (every page's one owner) stays as it is.
                Block stale = freed[op.Pick % freed.Count];
                string before = pages.Dump().ToJson();
                var ex = Assert.ThrowsAny<ArgumentException>(() => pages.Free(stale));
                Assert.Contains("stale handle", ex.Message, StringComparison.Ordinal);
                Assert.Equal(before, pages.Dump().ToJson());
            }

            pages.Validate();
            ulong allocated = (ulong)owner.Count(o => o > 0);
            Assert.Equal(allocated, pages.AllocatedPages);
            Assert.Equal((ulong)owner.Count(o => o == 0), pages.FreePages + pages.CachedPages); // cached pages are free to the model
        }
    }

    private static void Allocate(PageAllocator pages, MachineLayout layout, Op op, int[] owner, List<(int Id, Block Block)> live, ref int nextId)
    {
        int order = op.Order % (layout.MaxOrder + 1);
        Request request = op.ExactPages % 3 == 0 && order > 0
            ? Request.ForPages(1 + ((ulong)op.ExactPages % (1UL << order))).Exact()
            : Request.ForOrder(order);
        order = PageMath.OrderForPages(request.Pages == 0 ? 1UL << order : request.Pages);
        ZoneKind? zone = op.Zone == 3 ? null : (ZoneKind)op.Zone;
        if (zone is { } z)
        {
            request = request.InZone(z);
        }

        ulong limitPfn = ulong.MaxValue;
        if (op.Limit % 4 == 0)
        {
            limitPfn = (ulong)op.Limit;
            request = request.Below((limitPfn * Page) - 1 + (limitPfn == 0 ? 1UL : 0UL));
            limitPfn = limitPfn == 0 ? 0 : limitPfn;
        }

        ulong alignment = op.Align >= 8 ? Page << (op.Align - 8) : 0;
        if (alignment != 0)
        {
            request = request.AlignedTo(alignment);
        }

        ulong boundary = op.Boundary >= 10 ? Page << (op.Boundary - 10) : 0;
        if (boundary != 0)
        {
            request = request.NotCrossing(boundary);
        }

        if (pages.TryAllocate(request, out Block b, out AllocationFailure? failure))
        {
            // Soundness: the block meets every constraint and only takes free pages.
            Assert.Equal(0UL, b.Address % (Page << b.Order));
            Assert.Equal(request.Pages != 0 ? request.Pages : 1UL << order, b.PageCount);
            Assert.True(b.Pfn + (1UL << order) <= limitPfn || limitPfn == ulong.MaxValue, $"{b} above the limit");
            Assert.True(request.MaxAddress is null || b.EndAddress - 1 <= request.MaxAddress);
            Assert.True(alignment == 0 || b.Address % alignment == 0, $"{b} not aligned to {alignment}");
            Assert.True(boundary == 0 || b.Address / boundary == (b.EndAddress - 1) / boundary, $"{b} crosses {boundary}");
            int zoneIndex = ZoneIndexOf(layout, b.Pfn);
            Assert.True(zone is null || zoneIndex <= (int)zone, $"{b} in zone {zoneIndex}, request allows {zone}");
            Assert.Equal(zoneIndex, ZoneIndexOf(layout, b.Pfn + b.PageCount - 1));
            int id = nextId++;
            for (ulong p = b.Pfn; p < b.Pfn + b.PageCount; p++)
            {
                Assert.True(owner[p] == 0, $"{b} takes page {p}, which is {(owner[p] < 0 ? "reserved" : "allocated")}");
                owner[p] = id;
            }

            live.Add((id, b));
            return;
        }

        // Completeness: without watermarks, a failure means no fully free, aligned window of the
        // search order lies in an allowed zone with its first 2^order pages under the limit.
        if (!layout.Watermarks.Enabled || failure.Reason != FailureReason.Watermark)
        {
            int searchOrder = Math.Max(order, alignment == 0 ? 0 : Math.Max(order, PageMath.Log2(alignment / Page)));
            bool unsatisfiable = (boundary != 0 && (Page << order) > boundary) || searchOrder > layout.MaxOrder;
            if (failure.Reason == FailureReason.Unsatisfiable && unsatisfiable)
            {
                return;
            }

            Assert.False(unsatisfiable, $"{request} should have been refused as unsatisfiable, not {failure.Reason}");
            if (layout.Watermarks.Enabled)
            {
                return; // watermarks may refuse what memory allows; soundness was checked above
            }

            (ulong start, ulong end)[] zones = ZoneRanges(layout);
            for (int zi = 0; zi < zones.Length; zi++)
            {
                if (zone is { } allowed && zi > (int)allowed)
                {
                    continue;
                }

                ulong size = 1UL << searchOrder;
                for (ulong w = (zones[zi].start + size - 1) / size * size; w + size <= zones[zi].end; w += size)
                {
                    if (w + (1UL << order) <= limitPfn && owner.AsSpan((int)w, (int)size).IndexOfAnyExcept(0) < 0)
                    {
                        Assert.Fail($"{request} failed ({failure.Reason}: {failure.Message}) but pages {w}..{w + size - 1} are free and fit");
                    }
                }
            }
        }
    }

    private static (ulong Start, ulong End)[] ZoneRanges(MachineLayout layout)
    {
        ulong total = layout.Size / Page;
        var result = new (ulong, ulong)[layout.Zones.Count];
        ulong start = 0;
        for (int i = 0; i < layout.Zones.Count; i++)
        {
            ulong end = layout.Zones[i].Limit == ulong.MaxValue ? total : Math.Min(total, layout.Zones[i].Limit / Page);
            result[i] = (Math.Min(start, total), Math.Max(Math.Min(start, total), end));
            start = end;
        }

        return result;
    }

    private static int ZoneIndexOf(MachineLayout layout, ulong pfn)
    {
        for (int i = 0; i < layout.Zones.Count; i++)
        {
            if (pfn * Page < layout.Zones[i].Limit)
            {
                return i;
            }
        }

        return -1;
    }
}
