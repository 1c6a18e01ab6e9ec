// PageAllocator (reservations): every operation gets the memory it needs before it changes
// anything, so that an out-of-memory (or any exception) thrown by an allocation leaves the
// allocator consistent and loses no page.
//
// What an operation may need: bitmap nodes (the allocator's ChunkReserve: one elementary take and
// one give-back need at most FreeArea.PerOperation), an allocation-head chunk (the one AllocationHeads keeps
// in hand: one head per elementary step), spare pageblock-type pages (grouping by mobility), room
// in the bookkeeping dictionaries, and a
// MovableBlock handle. Reserve* methods get these first; they may throw, with nothing changed.
// Operations made of many steps (draining caches, FreeRange, compaction) reserve before each
// step: a fault between steps leaves the steps done so far done, each whole.

namespace Buddy;

public sealed partial class PageAllocator
{
    private readonly ChunkReserve _chunks; // shared by every zone's bitmaps

    // Room for one elementary step on any zone: a take and a give-back, and one new head. Lock held.
    private void ReserveForStep()
    {
        _chunks.EnsureOperation();
        _heads.EnsureSpare();
        if (_layout.Mobility.GroupByMobility)
        {
            ReservePageblockSpares();
        }
    }

    // Room for one step's pageblock retyping in every zone (a claim or a merge retypes at most the
    // pageblocks of one max-order block). Lock held.
    private void ReservePageblockSpares()
    {
        foreach (Zone z in _zones)
        {
            z.Area.EnsurePageblockSpares();
        }
    }

    // Room for `takes` takes and as many give-backs, and one new head. Lock held.
    private void ReserveForSteps(int takes)
    {
        _chunks.EnsureOperations(takes);
        _heads.EnsureSpare();
        if (_layout.Mobility.GroupByMobility)
        {
            ReservePageblockSpares();
        }
    }

    // Makes the head chunk of pfn exist, so that stamping it allocates nothing. Lock held.
    private void ReserveHead(ulong pfn)
    {
        if (pfn >= _firstPfn && pfn < _endPfn)
        {
            _heads.EnsureChunk(pfn - _firstPfn);
        }
    }

    // After an operation that reserved for many steps: back to the usual reserve.
    private void TrimReserves() => _chunks.Trim();

    /// <summary>For fault-injection tests: drops every bitmap chunk in hand, so that the next step that needs one must allocate.</summary>
    internal void DropReservedChunks()
    {
        lock (_lock)
        {
            _chunks.Clear();
        }
    }
}
