// ContiguousRanges: runs of pages taken or given back whatever buddy blocks they span.
//
// Claiming a range (the kernel's alloc_contig_range, as CMA uses it): one pass over the units of
// each zone finds the lowest aligned range below the address limit whose pages are all free or in
// movable, unpinned blocks; those blocks move out (above the range first, then below, into movable
// pageblocks first, then into any), and the range is taken as one allocation made of the maximal
// aligned pieces that tile it — an exact run (ExactRuns) when there is more than one.
//
// Freeing a range (split_page, then freeing page by page): every page must be allocated, outside
// every thread cache (ThrowIfNotAllocatedLocked); then each unit wholly inside is given back, a
// unit the range cuts is split and its halves stamped anew (pages outside the range stay allocated
// as blocks of their own), an exact run it touches becomes plain blocks, and a movable block it
// cuts or frees is forgotten (its handle is stale).
//
// Invariants:
// - A range with an unmovable, pinned or reserved page is never a candidate.
// - A refused operation changes nothing: a claim takes every target before anything moves and
//   gives them all back when one is missing; a free is checked whole before it starts.
// - Each step gets what it needs before it changes anything (StepReserve): a
//   fault between steps leaves the steps done so far done, each whole.
// - Every member runs under the allocator's lock (allocatorLock).
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using static System.FormattableString;

namespace Buddy;

/// <summary>Claims contiguous ranges of pages (migrating movable blocks out of the way) and frees ranges that cut allocations.</summary>
/// <remarks>
/// The range operations of the allocator numbered <c>owner</c> over its zones, exact runs, reserved pages and movable blocks.
/// Not thread-safe: the allocator's lock serialises access.
/// </remarks>
internal sealed class ContiguousRanges(Lock allocatorLock, StepReserve reserve, AllocationHeads heads, MovableRegistry movable, Zonelist zonelist, ExactRuns exact, PfnRanges reserved, int maxOrder, int pageShift, int owner)
{
    /// <summary>
    /// Claims the lowest range of <paramref name="pages"/> pages aligned to <paramref name="alignmentBytes"/>
    /// (0: to a page), wholly at or below <paramref name="maxAddress"/>, whose pages are all free or
    /// movable. On failure says why, with nothing changed. The caller has drained the thread caches (a cached block would stand in the way).
    /// </summary>
    /// <exception cref="Exception">A migrate callback threw; that block stays where it was, blocks moved before it stay moved.</exception>
    public bool TryClaimLocked(ulong pages, ulong alignmentBytes, ulong maxAddress, out Block block, [NotNullWhen(false)] out AllocationFailure? failure)
    {
        Debug.Assert(allocatorLock.IsHeldByCurrentThread);
        block = default;
        Request described = Request.ForPages(pages).Below(maxAddress);
        described = alignmentBytes != 0 ? described.AlignedTo(alignmentBytes) : described;
        ulong align = Math.Max(1, alignmentBytes >> pageShift);
        ulong limitPfn = zonelist.LimitPfn(hasLimit: true, maxAddress);
        failure = NeverFits(described, pages, align, limitPfn);
        if (failure is not null)
        {
            return false;
        }

        foreach (Zone zone in zonelist.Zones)
        {
            ulong start = FindLowest(zone, pages, align, limitPfn);
            if (start == ulong.MaxValue)
            {
                continue;
            }

            if (!TryTakeLocked(zone, start, pages))
            {
                failure = new AllocationFailure(FailureReason.OutOfMemory, described, "no free room outside the range for its movable blocks");
                return false;
            }

            reserve.TrimLocked();
            ulong stamp = heads.Set(start, MigrateType.Unmovable);
            block = new Block(start, pages, pageShift, owner, stamp, tracked: true); // never through a thread cache
            return true;
        }

        failure = new AllocationFailure(FailureReason.Fragmented, described, "every candidate range holds an unmovable, pinned or reserved page");
        return false;
    }

    /// <summary>
    /// Throws, naming the first page that is not, unless every page of [<paramref name="start"/>,
    /// <paramref name="end"/>) is in an allocated unit that no thread cache holds
    /// (<paramref name="cached"/>: the cached blocks' pfns, null without caches).
    /// </summary>
    /// <exception cref="ArgumentException">A page is free, cached or reserved (for <paramref name="paramName"/>).</exception>
    public void ThrowIfNotAllocatedLocked(ulong start, ulong end, IReadOnlySet<ulong>? cached, string paramName)
    {
        Debug.Assert(allocatorLock.IsHeldByCurrentThread);
        for (ulong p = start; p < end;)
        {
            Zone zone = zonelist.ZoneOf(p)!;
            (ulong unitStart, int unitOrder, bool free) = zone.FindUnit(p);
            bool inCache = cached?.Contains(unitStart) == true;
            if (free || inCache || reserved.Contains(unitStart))
            {
                string what = free || inCache ? "free" : "reserved";
                throw new ArgumentException(Invariant($"The page at 0x{p << pageShift:x} is {what}; only allocated pages can be freed. Nothing was freed."), paramName);
            }

            p = unitStart + (1UL << unitOrder);
        }
    }

    /// <summary>
    /// Frees exactly the pages [<paramref name="start"/>, <paramref name="end"/>), every one allocated
    /// (<see cref="ThrowIfNotAllocatedLocked"/>): units the range cuts are split, exact runs it touches become plain blocks.
    /// </summary>
    public void FreeLocked(ulong start, ulong end)
    {
        Debug.Assert(allocatorLock.IsHeldByCurrentThread);
        ReserveCutHeadsLocked(start, end); // the heads this may set, before anything changes
        DissolveExactRunsLocked(start, end);
        for (ulong p = start; p < end;)
        {
            reserve.ForStepsLocked(1); // a fault between steps leaves the pages freed so far freed
            Zone zone = zonelist.ZoneOf(p)!;
            (ulong unitStart, int unitOrder, _) = zone.FindUnit(p);
            ulong unitEnd = unitStart + (1UL << unitOrder);
            movable.Unregister(unitStart); // cut or freed: what is left stays allocated and no longer moves
            if (unitStart >= start && unitEnd <= end)
            {
                heads.TryClear(unitStart);
                zone.Release(unitStart, unitOrder);
                p = unitEnd;
            }
            else
            {
                CutLocked(zone, unitStart, unitOrder);
            }
        }
    }

    // Why no range can ever serve the claim, whatever is allocated; null when one could.
    private AllocationFailure? NeverFits(Request described, ulong pages, ulong align, ulong limitPfn)
    {
        if (!zonelist.Zones.Any(z => z.ManagedPages >= pages))
        {
            return new AllocationFailure(FailureReason.Unsatisfiable, described, Invariant($"{pages} pages are more than any zone manages"));
        }

        if (!zonelist.Zones.Any(z => AlignUp(z.StartPfn, align) + pages <= Math.Min(z.EndPfn, limitPfn)))
        {
            return new AllocationFailure(FailureReason.Unsatisfiable, described, "no zone has an aligned range of that length below the address limit, even empty");
        }

        return null;
    }

    // The lowest aligned start of a range in `zone` below the limit whose pages are all free or in
    // movable blocks that can move; ulong.MaxValue when there is none. One pass over the units.
    private ulong FindLowest(Zone zone, ulong pages, ulong align, ulong limitPfn)
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
                if (!free && !(movable.TryGetValue(unit, out MovableBlock? handle) && handle.CanMigrate))
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

    // Takes [start, start + pages) of `zone` after moving its movable blocks out; false, with
    // nothing changed, when they find no room. Reserves first what the take needs once the range
    // is clear: its head, its exact run, a take per piece.
    private bool TryTakeLocked(Zone zone, ulong start, ulong pages)
    {
        Debug.Assert(allocatorLock.IsHeldByCurrentThread);
        int pieces = PageMath.AlignedPieces(start, pages, maxOrder).Count();
        reserve.ForHeadLocked(start);
        exact.ReserveOne();
        if (!EvacuateLocked(zone, start, start + pages, pieces))
        {
            return false;
        }

        foreach ((ulong pfn, int order) in PageMath.AlignedPieces(start, pages, maxOrder))
        {
            zone.TakeSpecific(pfn, order);
        }

        if (pieces > 1)
        {
            exact.Add(start, pages, range: true);
        }

        return true;
    }

    // Moves every movable block in [start, end) to free room outside it. All targets are taken
    // before anything moves, so a range without room fails with nothing changed. Reserves, before
    // taking anything, what the moves and `laterTakes` more takes need.
    private bool EvacuateLocked(Zone zone, ulong start, ulong end, int laterTakes)
    {
        Debug.Assert(allocatorLock.IsHeldByCurrentThread);
        List<MovableBlock> blocks = MovableBlocksIn(zone, start, end);
        reserve.ForStepsLocked((2 * blocks.Count) + laterTakes + 1); // per block a pageblock retyped and a take; give-backs
        List<ulong>? targets = TakeTargetsOutside(zone, blocks, start, end);
        if (targets is null)
        {
            return false;
        }

        try
        {
            foreach (ulong target in targets)
            {
                reserve.ForHeadLocked(target);
            }
        }
        catch
        {
            GiveBackTargets(zone, blocks, targets, from: 0);
            throw;
        }

        for (int i = 0; i < blocks.Count; i++)
        {
            try
            {
                movable.MoveLocked(zone, blocks[i], targets[i], targetTaken: true);
            }
            catch
            {
                GiveBackTargets(zone, blocks, targets, from: i + 1); // the failed move gave its own back
                throw;
            }
        }

        return true;
    }

    // The movable blocks in [start, end), whose every page is free or movable: largest first, so
    // that small blocks do not break up the room large ones need.
    private List<MovableBlock> MovableBlocksIn(Zone zone, ulong start, ulong end)
    {
        var blocks = new List<MovableBlock>();
        for (ulong p = start; p < end;)
        {
            (ulong unit, int order, bool free) = zone.FindUnit(p);
            if (!free)
            {
                bool found = movable.TryGetValue(unit, out MovableBlock? handle);
                Debug.Assert(found, "a candidate range holds free pages and movable blocks only");
                blocks.Add(handle!);
            }

            p = unit + (1UL << order);
        }

        blocks.Sort((a, b) => b.Current.Order.CompareTo(a.Current.Order));
        return blocks;
    }

    // Takes a target outside [start, end) for each block in turn: from movable pageblocks first,
    // then from any (as the kernel's migration targets come from the ordinary allocator). When one
    // finds none, gives back those taken and returns null.
    private static List<ulong>? TakeTargetsOutside(Zone zone, List<MovableBlock> blocks, ulong start, ulong end)
    {
        var targets = new List<ulong>(blocks.Count);
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
                GiveBackTargets(zone, blocks, targets, from: 0);
                return null;
            }

            zone.TakeSpecific(target, order);
            targets.Add(target);
        }

        return targets;
    }

    // Room for an order-sized block above the range, else below it.
    private static ulong FindTargetOutside(Zone zone, int order, ulong start, ulong end, bool anyPageblock)
    {
        ulong target = MigrationTargets.FindHighest(zone, order, end, ulong.MaxValue, anyPageblock);
        return target != ulong.MaxValue ? target : MigrationTargets.FindHighest(zone, order, 0, start, anyPageblock);
    }

    // Gives back the targets taken for blocks[from..], which did not move.
    private static void GiveBackTargets(Zone zone, List<MovableBlock> blocks, List<ulong> targets, int from)
    {
        for (int i = from; i < targets.Count; i++)
        {
            zone.Release(targets[i], blocks[i].Current.Order);
        }
    }

    // Makes the head chunks exist for every page FreeLocked may stamp: the pieces of the exact runs
    // it touches, and the halves of the units it cuts, which hold one of its two edges (at each
    // order, the block holding the edge and its upper half). O(max order) pages per run and edge,
    // whatever the range's length.
    private void ReserveCutHeadsLocked(ulong start, ulong end)
    {
        Debug.Assert(allocatorLock.IsHeldByCurrentThread);
        foreach (ulong edge in (ReadOnlySpan<ulong>)[start, end - 1])
        {
            for (int order = 0; order < maxOrder; order++)
            {
                ulong unit = edge & ~((2UL << order) - 1);
                reserve.ForHeadLocked(unit);
                reserve.ForHeadLocked(unit + (1UL << order));
            }
        }

        foreach (ulong piece in exact.PiecesTouching(start, end, maxOrder))
        {
            reserve.ForHeadLocked(piece);
        }
    }

    // The exact runs [start, end) touches become plain blocks: their pieces stay allocated, each
    // with a head of the run's mobility.
    private void DissolveExactRunsLocked(ulong start, ulong end)
    {
        Debug.Assert(allocatorLock.IsHeldByCurrentThread);
        foreach ((ulong runStart, ulong runPages) in exact.RemoveTouching(start, end))
        {
            MigrateType mobility = heads.MobilityOf(runStart) ?? MigrateType.Unmovable;
            foreach ((ulong piece, _) in PageMath.AlignedPieces(runStart, runPages, maxOrder))
            {
                heads.Set(piece, mobility);
            }
        }
    }

    // The range cuts the allocated unit: its halves become allocations of their own, each with a
    // new stamp (the cut block's handle names neither), to be looked at again.
    private void CutLocked(Zone zone, ulong unitStart, int unitOrder)
    {
        Debug.Assert(allocatorLock.IsHeldByCurrentThread);
        MigrateType mobility = heads.MobilityOf(unitStart) ?? MigrateType.Unmovable;
        zone.SplitAllocated(unitStart, unitOrder);
        heads.Set(unitStart, mobility);
        heads.Set(unitStart + (1UL << (unitOrder - 1)), mobility);
    }

    private static ulong AlignUp(ulong value, ulong align) => (value + align - 1) / align * align;
}
