// PoolPage: one page of a DmaPool cut into slots at the pool's layout offsets. It owns each slot's
// state — free or live — and the generation of the slot's latest allocation. Invariants: a slot is
// on the free stack exactly when it is not live; a handle frees its slot only when the slot is
// live and has the handle's generation, so an old handle cannot free the slot's next allocation.
using System.Globalization;

namespace Buddy.Memory;

/// <summary>A pool page: its block, its free slots (lowest first) and the generation of each slot.</summary>
internal sealed class PoolPage
{
    private readonly ulong[] _offsets;    // the pool's layout: slot start offsets, ascending
    private readonly ulong[] _generation; // per slot: the generation of its latest allocation (0: never)
    private readonly bool[] _live;
    private readonly Stack<int> _free;

    public PoolPage(Block block, ulong[] offsets)
    {
        Block = block;
        _offsets = offsets;
        _generation = new ulong[offsets.Length];
        _live = new bool[offsets.Length];
        _free = new Stack<int>(Enumerable.Range(0, offsets.Length).Reverse());
    }

    /// <summary>The page allocator's block behind the page.</summary>
    public Block Block { get; }

    /// <summary>Slots handed out and not freed.</summary>
    public int LiveCount { get; private set; }

    /// <summary>Whether no slot is free.</summary>
    public bool IsFull => _free.Count == 0;

    /// <summary>Hands out the lowest free slot as allocation <paramref name="generation"/>; returns its address.</summary>
    public ulong Take(ulong generation)
    {
        int slot = _free.Pop();
        _generation[slot] = generation;
        _live[slot] = true;
        LiveCount++;
        return Block.Address + _offsets[slot];
    }

    /// <summary>Why <paramref name="block"/> is not a live allocation of this page, or null when it is.</summary>
    public string? WhyNotLive(PoolBlock block)
    {
        int slot = SlotOf(block.Address);
        if (slot < 0)
        {
            return "it is not a block start of the pool page";
        }

        if (_generation[slot] != block.Generation)
        {
            return string.Create(CultureInfo.InvariantCulture,
                $"double free or stale handle: the block was freed and its slot {(_live[slot] ? "now holds" : "last held")} allocation generation {_generation[slot]}, which stays as it is");
        }

        return _live[slot] ? null : "double free: the block was already freed";
    }

    /// <summary>Frees the slot of <paramref name="block"/>, which <see cref="WhyNotLive"/> found live.</summary>
    public void Release(PoolBlock block)
    {
        int slot = SlotOf(block.Address);
        _live[slot] = false;
        _free.Push(slot);
        LiveCount--;
    }

    private int SlotOf(ulong address)
    {
        int slot = Array.BinarySearch(_offsets, address - Block.Address);
        return slot >= 0 ? slot : -1;
    }
}
