// FreeBitmap: a set of indices in [0, Length), Length up to 2^62, as a 64-ary radix tree whose
// metadata follows the set bits, not the address space. Its nodes (BitmapNodes.cs) come from and
// go back to a ChunkReserve.
//
// Shape: Levels is fixed by Length. A leaf holds 64 words (4,096 bits) and a mask of its non-zero
// words; each inner level spans 64 times more, with a mask of non-empty children (Any), a mask of
// entirely-ones children (Full) and 64 child references. A bitmap of at most 4,096 bits is one leaf.
//
// Invariants (checked by Validate):
// - A leaf's Any bit w is set exactly when word w is non-zero; no bit at or beyond Length is set.
// - An inner node's Any bit c is set exactly when child c holds a set bit. Full bit c is set
//   exactly when child c is entirely ones, and then there is no child node (Full is a subset of
//   Any). So no materialised node is entirely ones: a Set that fills a leaf folds it (and any
//   parent it fills) into its parent's Full bit; the root folds into _rootFull. Clear inside a full
//   child materialises the path (copy-on-write). Only spans inside [0, Length) are ever full.
// - A materialised node with no set bit lies on the path to leaf _kept: the last leaf Clear
//   emptied stays attached with its ancestors, so that a bit set and cleared at one place over and
//   over takes and gives no node. That path is released when another leaf empties, by SetRange
//   covering it, or by ReleaseKept. Released nodes go back to the reserve all zeros.
// - Masks are exact (above) while Count > 0. When Count is 0 the tree is nothing or the kept path
//   alone, and every inner node on it still has exactly the Any bit leading to the kept leaf (the
//   marks of its last bit): so a bit set and cleared at one place in an otherwise empty bitmap
//   changes only its leaf and the count, at any depth. Searches answer an empty bitmap from the
//   count; the first Set elsewhere clears the marks (UnmarkKept), SetRange releases the path first.
// - Cache: _cached is null (and _cachedIndex -1) or the attached leaf number _cachedIndex, and when
//   Levels > 2 _cachedPath holds its ancestors, root first. Only Reach fills it (the walk that may
//   create or materialise nodes); Release drops it with the leaf, so every detach (a fold, a kept
//   path released, a range covering it, the root folded or released) forgets it. Trees of one or
//   two levels reach an uncached leaf in two loads (Shallow) and need no path: the parent is _root.
// - Every change first makes sure the reserve holds the nodes it will create, before it changes
//   anything: an OutOfMemoryException leaves the bitmap as it was.
using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Buddy;

/// <summary>A 64-ary radix-tree bitmap: lazily materialised nodes, full subtrees folded into one bit, find and next queries in O(height).</summary>
/// <remarks>
/// Not thread-safe: the zone that owns it serialises access.
/// </remarks>
internal sealed partial class FreeBitmap
{
    private const int LeafShift = 12; // log2 of a leaf's bits
    private const int MaxLevels = 10; // 2^62 bits: a leaf and nine inner levels

    private readonly ChunkReserve _reserve;
    private readonly int _topShift; // log2 of the span of one root child; 6 (a word) when the root is a leaf
    private BitmapNode? _root;
    private bool _rootFull;
    private long _count;
    private long _kept = -1; // the leaf (index >> 12) whose path may hold empty nodes, or -1
    private long _cachedIndex = -1; // the leaf (index >> 12) of _cached, or -1
    private BitmapLeaf? _cached; // the last leaf Set, Clear or TryClear reached, while attached
    private Path _cachedPath; // when Levels > 2: _cached's ancestors, root first (with two levels the parent is _root)
    private int _leaves;
    private int _inners;

    /// <summary>Creates an empty bitmap of <paramref name="length"/> bits, drawing nodes from <paramref name="reserve"/> (or a reserve of its own).</summary>
    public FreeBitmap(long length, ChunkReserve? reserve = null)
    {
        Debug.Assert(length > 0 && length <= 1L << 62);
        Length = length;
        Levels = NodesPerChange(length);
        _topShift = LeafShift + (6 * (Levels - 2));
        _reserve = reserve ?? new ChunkReserve(perOperation: Levels);
    }

    /// <summary>The number of indices the bitmap can hold.</summary>
    public long Length { get; }

    /// <summary>Levels of the tree, leaves included.</summary>
    public int Levels { get; }

    /// <summary>The number of set bits, full subtrees included.</summary>
    public long Count => _count;

    /// <summary>Bytes held by this bitmap's nodes (object headers included).</summary>
    public long MetadataBytes => ((long)_leaves * BitmapLeaf.Bytes) + ((long)_inners * BitmapInner.Bytes);

    /// <summary>The most new nodes one Set or one Clear on a bitmap of <paramref name="length"/> bits can need: one per level.</summary>
    public static int NodesPerChange(long length)
    {
        int levels = 1;
        for (int span = LeafShift; span < 62 && (1L << span) < length; span += 6)
        {
            levels++;
        }

        return levels;
    }

    /// <summary>Whether bit <paramref name="index"/> is set.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Test(long index)
    {
        Debug.Assert((ulong)index < (ulong)Length);
        BitmapLeaf? leaf = (index >> LeafShift) == _cachedIndex ? _cached : Shallow(index);
        return leaf is not null ? leaf.IsSet(index) : TestUncached(index);
    }

    /// <summary>Sets bit <paramref name="index"/>, which must be clear.</summary>
    public void Set(long index)
    {
        Debug.Assert((ulong)index < (ulong)Length && !Test(index), "bit already set");
        BitmapLeaf leaf = (index >> LeafShift) == _cachedIndex ? _cached! : Shallow(index) ?? Reach(index, create: true)!;
        if (leaf.Any == 0 && (_count != 0 || _kept != index >> LeafShift))
        {
            Filled(index);
        }

        _count++;
        if (leaf.Set(index))
        {
            Fold(index);
        }
    }

    /// <summary>Sets <paramref name="count"/> bits from <paramref name="start"/>, all clear, creating O(height) nodes whatever the count.</summary>
    public void SetRange(long start, long count)
    {
        Debug.Assert(start >= 0 && count >= 0 && start <= Length - count);
        Debug.Assert(count == 0 || (ulong)NextSet(start) >= (ulong)(start + count), "a bit in the range is already set");
        if (count == 0)
        {
            return;
        }

        if (_count == 0)
        {
            ReleaseKept(); // its marks would mislead the range's
        }

        _reserve.Ensure(2 * Levels, 2); // the two edges of the range; nothing else changed before this
        _count += count;
        if (Levels == 1)
        {
            BitmapLeaf leaf = Unsafe.As<BitmapLeaf>(_root ??= NewNode(6));
            leaf.SetRange(start, start + count);
        }
        else
        {
            SetRangeIn(Unsafe.As<BitmapInner>(_root ??= NewNode(_topShift)), _topShift, 0, start, start + count);
        }

        if (IsFull(_root!, _topShift))
        {
            Release(_root!, _topShift);
            _root = null;
            _rootFull = true;
        }
    }

    /// <summary>Clears bit <paramref name="index"/>, which must be set.</summary>
    public void Clear(long index)
    {
        Debug.Assert((ulong)index < (ulong)Length && Test(index), "bit not set");
        ClearIn((index >> LeafShift) == _cachedIndex ? _cached! : Shallow(index) ?? Reach(index, create: false)!, index);
    }

    /// <summary>Clears bit <paramref name="index"/> if it is set; returns whether it was.</summary>
    public bool TryClear(long index)
    {
        Debug.Assert((ulong)index < (ulong)Length);
        BitmapLeaf? leaf = (index >> LeafShift) == _cachedIndex ? _cached : Shallow(index) ?? Reach(index, create: false);
        if (leaf is null || !leaf.IsSet(index))
        {
            return false;
        }

        ClearIn(leaf, index);
        return true;
    }

    /// <summary>Releases the path kept attached after the last leaf emptied (see the file comment); allocates nothing.</summary>
    public void ReleaseKept()
    {
        if (_count == 0 && _root is not null)
        {
            Release(_root, _topShift); // the tree is the kept path
            _root = null;
            _kept = -1;
            return;
        }

        ReleaseKeptPath();
    }

    private static BitmapLeaf Leaf(BitmapNode node) => Unsafe.As<BitmapLeaf>(node);

    private static BitmapInner Inner(BitmapNode node) => Unsafe.As<BitmapInner>(node);

    // Whether a node whose children span 2^shift bits each (a leaf when shift < 12) is entirely ones.
    private static bool IsFull(BitmapNode node, int shift) => shift < LeafShift ? Leaf(node).IsFull : Inner(node).IsFull;

    // Releases the empty part of the kept path in a non-empty bitmap: the subtree below the last ancestor still non-empty.
    private void ReleaseKeptPath()
    {
        long kept = _kept;
        _kept = -1;
        BitmapNode? node = kept < 0 ? null : _root;
        if (node is null)
        {
            return;
        }

        for (int shift = _topShift; shift >= LeafShift; shift -= 6)
        {
            BitmapInner inner = Inner(node);
            int c = (int)((kept << LeafShift) >> shift) & 63;
            BitmapNode? child = inner.Child(c);
            if (child is null || child.Any == 0)
            {
                DetachAndRelease(inner, c, shift);
                return;
            }

            node = child;
        }
    }

    // The leaf of `index` in a tree of one or two levels, when materialised and not under a full bit; null otherwise. Two
    // loads at most, no bookkeeping: the cache serves deeper trees and the walks that create or materialise nodes.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private BitmapLeaf? Shallow(long index)
    {
        BitmapNode? root = _root;
        if (Levels == 1 || root is null)
        {
            return Unsafe.As<BitmapLeaf?>(root);
        }

        int c = (int)(index >> LeafShift) & 63;
        return Levels == 2 && ((Inner(root).Full >> c) & 1) == 0 ? Unsafe.As<BitmapLeaf?>(Inner(root).Child(c)) : null;
    }

    // Test outside the cached leaf: a walk from the root that changes nothing.
    private bool TestUncached(long index)
    {
        BitmapNode? node = _root;
        for (int shift = _topShift; shift >= LeafShift && node is not null; shift -= 6)
        {
            BitmapInner inner = Inner(node);
            int c = (int)(index >> shift) & 63;
            if (((inner.Full >> c) & 1) != 0)
            {
                return true;
            }

            node = inner.Child(c);
        }

        return node is null ? _rootFull : Leaf(node).IsSet(index);
    }

    // Clears the bit in the cached leaf; when the leaf empties, its ancestors learn it (unless it was the last bit and the
    // leaf is already the kept one: then nothing else changes).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ClearIn(BitmapLeaf leaf, long index)
    {
        bool emptied = leaf.Clear(index);
        _count--;
        if (emptied && (_count != 0 || _kept != index >> LeafShift))
        {
            Emptied(index);
        }
    }

    // Walks to the leaf of `index` and caches it: full nodes on the way are materialised (the bit is set), missing ones
    // created when `create` (the bit is to be set); null when the way is missing and not `create` (the bit is clear).
    private BitmapLeaf? Reach(long index, bool create)
    {
        DropCache(); // the walk overwrites the cached path
        if (_rootFull)
        {
            _reserve.Ensure(Levels - 1, 1);
            _root = NewFull(_topShift);
            _rootFull = false;
        }
        else if (_root is null && create)
        {
            _reserve.Ensure(Levels - 1, 1);
            _root = NewNode(_topShift);
        }

        BitmapNode? node = _root;
        for (int shift = _topShift, d = 0; shift >= LeafShift && node is not null; shift -= 6, d++)
        {
            BitmapInner inner = Inner(node);
            if (Levels > 2)
            {
                _cachedPath[d] = inner;
            }

            int c = (int)(index >> shift) & 63;
            node = ((inner.Full >> c) & 1) != 0 ? Materialise(inner, c, shift) : inner.Child(c) ?? (create ? Attach(inner, c, shift) : null);
        }

        if (node is null)
        {
            return null;
        }

        _cachedIndex = index >> LeafShift;
        return _cached = Leaf(node);
    }

    // Forgets the cached leaf (it is being detached, or its path is being overwritten).
    private void DropCache()
    {
        _cachedIndex = -1;
        _cached = null;
    }

    // Clears the masks of the inner nodes on the kept path of an empty bitmap, which still mark the way to the kept leaf.
    private void UnmarkKept()
    {
        BitmapNode? node = _kept < 0 ? null : _root;
        for (int shift = _topShift; shift >= LeafShift && node is not null; shift -= 6)
        {
            node.Any = 0;
            node = Inner(node).Child((int)((_kept << LeafShift) >> shift) & 63);
        }
    }

    // Ancestor d (0: the root) of the cached leaf.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private BitmapInner Ancestor(int d) => Levels == 2 ? Inner(_root!) : _cachedPath[d]!;

    // The cached leaf, empty so far, is about to get the bit `index`: its ancestors learn it, bottom-up, up to one that knew.
    // In an empty bitmap the kept path (another leaf's) first forgets the way it still marks.
    private void Filled(long index)
    {
        if (_count == 0)
        {
            UnmarkKept();
        }

        for (int d = Levels - 2; d >= 0; d--)
        {
            BitmapInner inner = Ancestor(d);
            ulong bit = 1UL << (int)(index >> (_topShift - (6 * d)));
            if ((inner.Any & bit) != 0)
            {
                return;
            }

            inner.Any |= bit;
        }
    }

    // A new empty child c of an inner node whose children span 2^shift bits; first reserves the rest of the path.
    private BitmapNode Attach(BitmapInner inner, int c, int shift)
    {
        _reserve.Ensure((shift - LeafShift) / 6, 1);
        BitmapNode child = NewNode(shift - 6);
        inner.Child(c) = child;
        return child;
    }

    // Clear met a full child: replaces it by a node of all ones (reserving the rest of the path first).
    private BitmapNode Materialise(BitmapInner inner, int c, int shift)
    {
        _reserve.Ensure((shift - LeafShift) / 6, 1);
        BitmapNode child = NewFull(shift - 6);
        inner.Child(c) = child;
        inner.Full &= ~(1UL << c);
        return child;
    }

    // The cached leaf, that of `index`, just emptied: it becomes the kept leaf (releasing the previous kept path cannot
    // detach it, as its ancestors still count it non-empty), then its ancestors learn it is empty, unless the bitmap is.
    private void Emptied(long index)
    {
        long leaf = index >> LeafShift;
        if (_kept != leaf)
        {
            ReleaseKeptPath();
            _kept = leaf;
        }

        if (_count == 0)
        {
            return; // the last bit went: the path keeps its marks
        }

        for (int d = Levels - 2; d >= 0; d--)
        {
            if ((Ancestor(d).Any &= ~(1UL << (int)(index >> (_topShift - (6 * d))))) != 0)
            {
                return;
            }
        }
    }

    // The leaf of `index` is entirely ones: folds it, and every ancestor it fills, into the full bit above.
    private void Fold(long index)
    {
        Path path = default;
        BitmapNode node = _root!;
        for (int shift = _topShift, d = 0; shift >= LeafShift; shift -= 6, d++)
        {
            path[d] = Inner(node);
            node = Inner(node).Child((int)(index >> shift) & 63)!;
        }

        for (int d = Levels - 2; d >= 0; d--)
        {
            int shift = _topShift - (6 * d);
            int c = (int)(index >> shift) & 63;
            DetachAndRelease(path[d]!, c, shift);
            path[d]!.Full |= 1UL << c;
            if (path[d]!.Full != ulong.MaxValue)
            {
                return;
            }
        }

        Release(_root!, _topShift);
        _root = null;
        _rootFull = true;
    }

    // Sets [start, end) below an inner node whose children span 2^shift bits and whose first bit is nodeBase.
    private void SetRangeIn(BitmapInner node, int shift, long nodeBase, long start, long end)
    {
        long span = 1L << shift;
        int first = (int)((start - nodeBase) >> shift);
        int last = (int)((end - 1 - nodeBase) >> shift);
        for (int c = first; c <= last; c++)
        {
            long childBase = nodeBase + ((long)c << shift);
            long from = Math.Max(start, childBase);
            long to = Math.Min(end, childBase + span);
            node.Any |= 1UL << c;
            if (from == childBase && to == childBase + span)
            {
                DetachAndRelease(node, c, shift);
                node.Full |= 1UL << c;
                continue;
            }

            BitmapNode child = node.Child(c) ?? Attach(node, c, shift);
            if (shift == LeafShift)
            {
                Leaf(child).SetRange(from - childBase, to - childBase);
            }
            else
            {
                SetRangeIn(Inner(child), shift - 6, childBase, from, to);
            }

            if (IsFull(child, shift - 6))
            {
                DetachAndRelease(node, c, shift);
                node.Full |= 1UL << c;
            }
        }
    }

    // Detaches child c (if any) of an inner node whose children span 2^shift bits and gives its subtree back; the subtree holds no set bit.
    private void DetachAndRelease(BitmapInner inner, int c, int shift)
    {
        BitmapNode? child = inner.Child(c);
        if (child is not null)
        {
            inner.Child(c) = null;
            Release(child, shift - 6);
        }
    }

    // Gives a detached subtree back to the reserve, zeroed; a node whose children span 2^shift bits (a leaf when shift < 12).
    private void Release(BitmapNode node, int shift)
    {
        if (shift < LeafShift)
        {
            BitmapLeaf leaf = Leaf(node);
            if (leaf == _cached)
            {
                DropCache();
            }

            leaf.Reset();
            _leaves--;
            _reserve.Give(leaf);
            return;
        }

        BitmapInner inner = Inner(node);
        for (int c = 0; c < 64; c++)
        {
            DetachAndRelease(inner, c, shift);
        }

        inner.Reset();
        _inners--;
        _reserve.Give(inner);
    }

    // A zeroed node whose children span 2^shift bits: a leaf when shift < 12.
    private BitmapNode NewNode(int shift)
    {
        if (shift < LeafShift)
        {
            _leaves++;
            return _reserve.TakeLeaf();
        }

        _inners++;
        return _reserve.TakeInner();
    }

    // A node of all ones (for copy-on-write of a full child).
    private BitmapNode NewFull(int shift)
    {
        BitmapNode node = NewNode(shift);
        if (shift < LeafShift)
        {
            Leaf(node).Fill();
        }
        else
        {
            Inner(node).Fill();
        }

        return node;
    }

    /// <summary>The inner nodes on the way from the root to a leaf, root first.</summary>
    [InlineArray(MaxLevels - 1)]
    private struct Path
    {
        private BitmapInner? _node;
    }
}
