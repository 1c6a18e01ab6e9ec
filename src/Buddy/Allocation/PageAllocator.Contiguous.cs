// PageAllocator (contiguous ranges): like the kernel's alloc_contig_range / CMA — find the lowest
// aligned range whose pages are all free or movable, move the movable blocks out of it, and hand
// the whole range out. A range with an unmovable, reserved or pinned page is never a candidate.
using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Buddy;

public sealed partial class PageAllocator
{
    /// <summary>Allocates <paramref name="pages"/> contiguous pages, migrating movable blocks out of the way.</summary>
    /// <exception cref="AllocationFailedException">No range can be made free.</exception>
    /// <exception cref="ArgumentException">Zero pages, or an alignment that is not a power of two.</exception>
    public Block AllocateContiguous(ulong pages, ulong alignment = 0, ulong maxAddress = ulong.MaxValue)
    {
        if (!TryAllocateContiguous(pages, alignment, maxAddress, out Block block, out AllocationFailure? failure))
        {
            throw new AllocationFailedException(failure);
        }

        return block;
    }

    /// <summary>Tries to allocate <paramref name="pages"/> contiguous pages aligned to <paramref name="alignment"/> bytes, wholly at or below <paramref name="maxAddress"/>.</summary>
    /// <exception cref="ArgumentException">Zero pages, or an alignment that is not a power of two.</exception>
    /// <exception cref="Exception">A migrate callback threw; that block stays where it was, blocks moved before it stay moved.</exception>
    public bool TryAllocateContiguous(ulong pages, ulong alignment, ulong maxAddress, out Block block, [NotNullWhen(false)] out AllocationFailure? failure)
    {
        if (pages == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(pages), pages, "pages must be at least one.");
        }

        if (alignment != 0 && !PageMath.IsPowerOfTwo(alignment))
        {
            throw new ArgumentException($"alignment must be a power of two, not {alignment}.", nameof(alignment));
        }

        Request described = Request.ForPages(pages).Below(maxAddress);
        described = alignment != 0 ? described.AlignedTo(alignment) : described;
        block = default;
        ulong align = Math.Max(1, alignment >> _pageShift);
        ulong limitPfn = _zonelist.LimitPfn(hasLimit: true, maxAddress);
        lock (_lock)
        {
            RefuseInsideCallback(nameof(AllocateContiguous));
            DrainCachesLocked(); // cached blocks would block a range (alloc_contig_range drains pcp too)
            if (!_zones.Any(z => z.ManagedPages >= pages))
            {
                failure = Unsatisfiable(described, string.Create(CultureInfo.InvariantCulture, $"{pages} pages are more than any zone manages"));
                return false;
            }

            if (!_zones.Any(z => AlignUp(z.StartPfn, align) + pages <= Math.Min(z.EndPfn, limitPfn)))
            {
                failure = Unsatisfiable(described, "no zone has an aligned range of that length below the address limit, even empty");
                return false;
            }

            foreach (Zone zone in _zones)
            {
                ulong start = FindCandidate(zone, pages, align, limitPfn);
                if (start == ulong.MaxValue)
                {
                    continue;
                }

                // What the allocation needs after the range is cleared, before anything moves.
                int pieces = PageMath.AlignedPieces(start, pages, _maxOrder).Count();
                ReserveHead(start);
                _exact.ReserveOne();
                if (!Evacuate(zone, start, start + pages, pieces))
                {
                    failure = new AllocationFailure(FailureReason.OutOfMemory, described, "no free room outside the range for its movable blocks");
                    return false;
                }

                foreach ((ulong pfn, int order) in PageMath.AlignedPieces(start, pages, _maxOrder))
                {
                    zone.TakeSpecific(pfn, order);
                }

                if (PageMath.AlignedPieces(start, pages, _maxOrder).Skip(1).Any())
                {
                    _exact.Add(start, pages, range: true);
                }

                _allocatedPages += pages;
                TrimReserves();
                ulong stamp = SetHead(start, MigrateType.Unmovable);
                block = new Block(start, pages, _pageShift, _id, stamp, tracked: true); // never through a thread cache
                failure = null;
                return true;
            }

            failure = new AllocationFailure(FailureReason.Fragmented, described, "every candidate range holds an unmovable, pinned or reserved page");
            return false;
        }
    }

    // The lowest aligned start of a range in `zone` below the limit whose pages are all free or in
    // movable blocks that can move; ulong.MaxValue when there is none. One pass over the units.
    private ulong FindCandidate(Zone zone, ulong pages, ulong align, ulong limitPfn)
    {
        ulong end = Math.Min(zone.EndPfn, limitPfn);
        ulong start = AlignUp(zone.StartPfn, align);
        while (start + pages <= end && start >= zone.StartPfn)
        {
            ulong p = start;
            bool clean = true;
            while (p < start + pages)
            {
                (ulong unit, int order, bool free) = zone.FindUnit(p);
                ulong unitEnd = unit + (1UL << order);
                if (!free && !(_movable.TryGetValue(unit, out MovableBlock? handle) && handle.CanMigrate))
                {
                    start = AlignUp(unitEnd, align);
                    clean = false;
                    break;
                }

                p = unitEnd;
            }

            if (clean)
            {
                return start;
            }
        }

        return ulong.MaxValue;
    }

    // Moves every movable block in [start, end) to free room outside it. All targets are taken
    // before anything moves, so a range without room fails with nothing changed. Targets come
    // from movable pageblocks first, then from any pageblock (as the kernel's migration targets
    // come from the ordinary allocator). Reserves, before taking anything, what the moves and
    // `laterTakes` more takes need.
    private bool Evacuate(Zone zone, ulong start, ulong end, int laterTakes)
    {
        var blocks = new List<MovableBlock>();
        for (ulong p = start; p < end;)
        {
            (ulong unit, int order, bool free) = zone.FindUnit(p);
            if (!free)
            {
                blocks.Add(_movable[unit]);
            }

            p = unit + (1UL << order);
        }

        // Largest first, so that small blocks do not break up the room large ones need.
        blocks.Sort((a, b) => b.Current.Order.CompareTo(a.Current.Order));
        var targets = new List<ulong>(blocks.Count);
        ReserveForSteps((2 * blocks.Count) + laterTakes + 1); // per block a pageblock retyped and a take; give-backs
        foreach (MovableBlock handle in blocks)
        {
            int order = handle.Current.Order;
            ulong target = FindTargetOutside(zone, order, start, end, anyPageblock: false);
            if (target == ulong.MaxValue)
            {
                target = FindTargetOutside(zone, order, start, end, anyPageblock: true);
            }

            if (target == ulong.MaxValue)
            {
                for (int i = 0; i < targets.Count; i++)
                {
                    zone.Release(targets[i], blocks[i].Current.Order);
                }

                return false;
            }

            zone.TakeSpecific(target, order);
            targets.Add(target);
        }

        try
        {
            foreach (ulong target in targets)
            {
                ReserveHead(target);
            }
        }
        catch
        {
            for (int i = 0; i < targets.Count; i++)
            {
                zone.Release(targets[i], blocks[i].Current.Order);
            }

            throw;
        }

        for (int i = 0; i < blocks.Count; i++)
        {
            try
            {
                MoveUnit(zone, blocks[i], targets[i], targetTaken: true);
            }
            catch
            {
                for (int j = i + 1; j < blocks.Count; j++)
                {
                    zone.Release(targets[j], blocks[j].Current.Order);
                }

                throw;
            }
        }

        return true;
    }

    private ulong FindTargetOutside(Zone zone, int order, ulong start, ulong end, bool anyPageblock)
    {
        ulong target = FindTarget(zone, order, end, ulong.MaxValue, anyPageblock);
        return target != ulong.MaxValue ? target : FindTarget(zone, order, 0, start, anyPageblock);
    }

    private static ulong AlignUp(ulong value, ulong align) => (value + align - 1) / align * align;
}
