// ChunkReserve: the empty bitmap nodes (leaves and inner nodes of FreeBitmap's radix trees) an
// allocator keeps in hand for all its zones, so that no operation has to allocate memory half-way
// through. An operation first makes sure the reserve holds as many nodes as the operation can
// possibly need (Ensure: this may throw OutOfMemoryException, while nothing has changed yet); the
// bitmaps then take nodes from the reserve instead of the heap.
//
// Why the bound holds: one Set or Clear on a bitmap needs at most one new leaf and
// FreeBitmap.NodesPerChange(length) - 1 new inner nodes (a path created, or a full subtree
// materialised). FreeArea.PerOperation sums that over the changes one elementary take and one
// give-back can make; EnsureOperation holds that many of each kind. Empty nodes come back here
// (up to a cap of two operations' worth), which also spares the GC the split/merge churn.
//
// Invariants: every node held is all zeros (masks clear, words clear, no children); each stack
// holds at most its cap after Trim.

namespace Buddy;

/// <summary>Stacks of zeroed radix-tree nodes (leaves and inner nodes) shared by the bitmaps of an allocator's zones.</summary>
internal sealed class ChunkReserve
{
    private readonly Stack<BitmapLeaf> _leaves;
    private readonly Stack<BitmapInner> _inners;

    /// <summary>Creates an empty reserve for operations that need at most <paramref name="perOperation"/> nodes of each kind.</summary>
    public ChunkReserve(int perOperation)
        : this(perOperation, perOperation)
    {
    }

    /// <summary>Creates an empty reserve for operations (one take and one give-back) that need at most <paramref name="leaves"/> leaves and <paramref name="inners"/> inner nodes.</summary>
    public ChunkReserve(int leaves, int inners)
    {
        LeavesPerOperation = leaves;
        InnersPerOperation = inners;
        _leaves = new Stack<BitmapLeaf>(2 * leaves); // Give never grows them, so never allocates
        _inners = new Stack<BitmapInner>(2 * inners);
    }

    /// <summary>The most leaves one elementary take and one give-back can need.</summary>
    public int LeavesPerOperation { get; }

    /// <summary>The most inner nodes one elementary take and one give-back can need.</summary>
    public int InnersPerOperation { get; }

    /// <summary>Whether one operation's worth of each kind is in hand (so that a step allocates nothing).</summary>
    public bool HasOperation => _leaves.Count >= LeavesPerOperation && _inners.Count >= InnersPerOperation;

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
    public void EnsureOperation()
    {
        if (!HasOperation)
        {
            Ensure(InnersPerOperation, LeavesPerOperation);
        }
    }

    /// <summary>Makes sure <paramref name="operations"/> takes and as many give-backs can run without allocating.</summary>
    public void EnsureOperations(int operations) => Ensure(checked(operations * InnersPerOperation), checked(operations * LeavesPerOperation));

    /// <summary>A zeroed leaf: from the reserve, or (when an operation was not reserved for) from the heap.</summary>
    public BitmapLeaf TakeLeaf() => _leaves.TryPop(out BitmapLeaf? leaf) ? leaf : Create(static () => new BitmapLeaf());

    /// <summary>A zeroed inner node: from the reserve, or from the heap.</summary>
    public BitmapInner TakeInner() => _inners.TryPop(out BitmapInner? inner) ? inner : Create(static () => new BitmapInner());

    /// <summary>Takes back an all-zero leaf, keeping at most two operations' worth.</summary>
    public void Give(BitmapLeaf leaf)
    {
        if (_leaves.Count < 2 * LeavesPerOperation)
        {
            _leaves.Push(leaf);
        }
    }

    /// <summary>Takes back an all-zero inner node with no children, keeping at most two operations' worth.</summary>
    public void Give(BitmapInner inner)
    {
        if (_inners.Count < 2 * InnersPerOperation)
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

    /// <summary>Drops nodes above two operations' worth (after an operation that reserved many).</summary>
    public void Trim()
    {
        while (_leaves.Count > 2 * LeavesPerOperation)
        {
            _leaves.Pop();
        }

        while (_inners.Count > 2 * InnersPerOperation)
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
