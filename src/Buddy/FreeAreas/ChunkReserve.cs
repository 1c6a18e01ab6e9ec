// ChunkReserve: the empty bitmap nodes (leaves and inner nodes of FreeBitmap's radix trees) an
// allocator keeps in hand for all its zones, so that no operation has to allocate memory half-way
// through. An operation first makes sure the reserve holds as many nodes as the operation can
// possibly need (Ensure: this may throw OutOfMemoryException, while nothing has changed yet); the
// bitmaps then take nodes from the reserve instead of the heap.
//
// Why the bound holds: one Set or Clear on a bitmap needs at most FreeBitmap.NodesPerChange of its
// length new nodes (one per level: a path created or a full subtree materialised). PerOperation is
// that bound summed over the changes one elementary step can make (FreeArea.PerOperation). A count
// of nodes is held of each kind: a change needs at most one leaf and fewer inner nodes than that
// count, so holding `count` of each covers any mix. Empty nodes come back here (up to a cap).
//
// Invariants: every node held is all zeros (masks clear, words clear, no children); each stack
// holds at most the cap after Trim.
using Buddy.Allocation;

namespace Buddy.FreeAreas;

/// <summary>Stacks of zeroed radix-tree nodes (leaves and inner nodes) shared by the bitmaps of an allocator's zones.</summary>
internal sealed class ChunkReserve
{
    private readonly Stack<BitmapLeaf> _leaves;
    private readonly Stack<BitmapInner> _inners;

    /// <summary>Creates an empty reserve for operations that need at most <paramref name="perOperation"/> nodes each.</summary>
    public ChunkReserve(int perOperation)
    {
        PerOperation = perOperation;
        _leaves = new Stack<BitmapLeaf>(Cap); // Give never grows them, so never allocates
        _inners = new Stack<BitmapInner>(Cap);
    }

    /// <summary>The most nodes one elementary operation can need.</summary>
    public int PerOperation { get; }

    /// <summary>How many returned nodes of each kind the reserve keeps: two operations' worth.</summary>
    public int Cap => 2 * (PerOperation + 1);

    /// <summary>Nodes in hand of either kind (the smaller of the two stacks).</summary>
    public int Count => Math.Min(_leaves.Count, _inners.Count);

    /// <summary>Bytes held.</summary>
    public long Bytes => ((long)_leaves.Count * BitmapLeaf.Bytes) + ((long)_inners.Count * BitmapInner.Bytes);

    /// <summary>Makes sure at least <paramref name="count"/> nodes of each kind are in hand; may throw <see cref="OutOfMemoryException"/>, with nothing else changed.</summary>
    public void Ensure(int count) => Ensure(count, count);

    /// <summary>Makes sure at least <paramref name="inners"/> inner nodes and <paramref name="leaves"/> leaves are in hand; may throw, with nothing else changed.</summary>
    public void Ensure(int inners, int leaves)
    {
        Fill(_inners, inners, static () => new BitmapInner());
        Fill(_leaves, leaves, static () => new BitmapLeaf());
    }

    /// <summary>Makes sure one elementary take and one give-back can run without allocating.</summary>
    public void EnsureOperation() => Ensure(PerOperation + 1);

    /// <summary>A zeroed leaf: from the reserve, or (when an operation was not reserved for) from the heap.</summary>
    public BitmapLeaf TakeLeaf() => _leaves.TryPop(out BitmapLeaf? leaf) ? leaf : Create(static () => new BitmapLeaf());

    /// <summary>A zeroed inner node: from the reserve, or from the heap.</summary>
    public BitmapInner TakeInner() => _inners.TryPop(out BitmapInner? inner) ? inner : Create(static () => new BitmapInner());

    /// <summary>Takes back an all-zero leaf, keeping at most <see cref="Cap"/>.</summary>
    public void Give(BitmapLeaf leaf)
    {
        if (_leaves.Count < Cap)
        {
            _leaves.Push(leaf);
        }
    }

    /// <summary>Takes back an all-zero inner node with no children, keeping at most <see cref="Cap"/>.</summary>
    public void Give(BitmapInner inner)
    {
        if (_inners.Count < Cap)
        {
            _inners.Push(inner);
        }
    }

    /// <summary>Drops every node (fault-injection tests).</summary>
    public void Clear()
    {
        _leaves.Clear();
        _inners.Clear();
    }

    /// <summary>Drops nodes above <see cref="Cap"/> (after an operation that reserved many).</summary>
    public void Trim()
    {
        while (_leaves.Count > Cap)
        {
            _leaves.Pop();
        }

        while (_inners.Count > Cap)
        {
            _inners.Pop();
        }
    }

    private static void Fill<T>(Stack<T> stack, int count, Func<T> create)
    {
        if (stack.Count >= count)
        {
            return;
        }

        stack.EnsureCapacity(count);
        while (stack.Count < count)
        {
            stack.Push(Create(create));
        }
    }

    private static T Create<T>(Func<T> create)
    {
        Faults.BeforeMetadataAllocation();
        return create();
    }
}
