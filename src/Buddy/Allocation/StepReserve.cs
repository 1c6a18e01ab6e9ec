// StepReserve: every operation gets the memory it needs before it changes anything, so that an
// out-of-memory (or any exception) thrown by an allocation leaves the allocator consistent and
// loses no page.
//
// What one elementary step may need: bitmap nodes (the allocator's ChunkReserve: a take and a
// give-back need at most FreeArea.PerOperation), an allocation-head chunk (the one AllocationHeads
// keeps in hand: one head per step), and, when grouping by mobility, spare pageblock-type pages
// in every zone. The For* methods get these first; they may throw, with nothing changed. The
// other bookkeeping (exact runs' and movable blocks' dictionaries, a MovableBlock handle) is made
// room for by its owner before the take. Operations made of many steps (draining caches,
// FreeRange, compaction) reserve before each step: a fault between steps leaves the steps done so
// far done, each whole.
//
// Invariant: every member but Bytes runs under the allocator's lock.
using System.Diagnostics;

namespace Buddy;

/// <summary>What one allocator's operations put in hand before they change anything: bitmap nodes, allocation-head chunks, pageblock-type pages.</summary>
/// <remarks>Not thread-safe: the allocator's lock serialises access.</remarks>
internal sealed class StepReserve(Lock allocatorLock, ChunkReserve chunks, AllocationHeads heads, Zone[] zones, bool groupByMobility, ulong firstPfn, ulong endPfn)
{
    /// <summary>Bytes of bitmap nodes in hand.</summary>
    public long Bytes => chunks.Bytes;

    /// <summary>Room for one elementary step on any zone: a take and a give-back, and one new head.</summary>
    public void ForStepLocked()
    {
        Debug.Assert(allocatorLock.IsHeldByCurrentThread);
        chunks.EnsureOperation();
        ForHeadAndPageblocks();
    }

    /// <summary>Room for <paramref name="takes"/> takes and as many give-backs, and one new head.</summary>
    public void ForStepsLocked(int takes)
    {
        Debug.Assert(allocatorLock.IsHeldByCurrentThread);
        chunks.EnsureOperations(takes);
        ForHeadAndPageblocks();
    }

    /// <summary>Makes the head chunk of <paramref name="pfn"/> exist, so that stamping it allocates nothing.</summary>
    public void ForHeadLocked(ulong pfn)
    {
        Debug.Assert(allocatorLock.IsHeldByCurrentThread);
        if (pfn >= firstPfn && pfn < endPfn)
        {
            heads.EnsureChunk(pfn);
        }
    }

    /// <summary>After an operation that reserved for many steps: back to the usual reserve.</summary>
    public void TrimLocked()
    {
        Debug.Assert(allocatorLock.IsHeldByCurrentThread);
        chunks.Trim();
    }

    /// <summary>For fault-injection tests: drops every bitmap chunk in hand, so that the next step that needs one must allocate.</summary>
    public void DropChunksLocked()
    {
        Debug.Assert(allocatorLock.IsHeldByCurrentThread);
        chunks.Clear();
    }

    // One new head, and room for one step's pageblock retyping in every zone (a claim or a merge
    // retypes at most the pageblocks of one max-order block).
    private void ForHeadAndPageblocks()
    {
        heads.EnsureSpare();
        if (groupByMobility)
        {
            foreach (Zone z in zones)
            {
                z.Area.EnsurePageblockSpares();
            }
        }
    }
}
