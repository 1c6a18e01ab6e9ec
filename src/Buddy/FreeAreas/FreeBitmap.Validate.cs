// FreeBitmap.Validate: the self-check of the tree's invariants (see FreeBitmap.cs): masks and full
// bits against the nodes, the kept path of an empty bitmap, the cached leaf and its path, and the
// counts of bits, leaves and inner nodes.
using System.Numerics;

namespace Buddy;

/// <summary>The invariant check of the bitmap.</summary>
internal sealed partial class FreeBitmap
{
    /// <summary>Checks masks, full bits, the kept path, node and bit counts against the tree; returns the first problem or null.</summary>
    public string? Validate()
    {
        if (_rootFull)
        {
            return _root is not null ? "the root is full but materialised"
                : _topShift + 6 > 62 || Length != 1L << (_topShift + 6) ? "the root is full but the tree spans more than Length"
                : _count != Length ? $"count {_count} but the full root holds {Length}" : null;
        }

        if (_count == 0 && _root is not null)
        {
            return CheckCache() ?? CheckMarkedPath();
        }

        var tally = new Tally();
        string? problem = CheckCache() ?? (_root is null ? null : Check(_root, _topShift, 0, ref tally));
        return problem
            ?? (tally.Bits != _count ? $"count {_count} but {tally.Bits} bits are set"
            : tally.Leaves != _leaves || tally.Inners != _inners ? $"{_leaves} leaves and {_inners} inner nodes counted, {tally.Leaves} and {tally.Inners} attached"
            : null);
    }

    // Checks that the cached leaf, if any, is the attached leaf of its index, reached through the cached path.
    private string? CheckCache()
    {
        if (_cached is null)
        {
            return _cachedIndex != -1 ? $"leaf {_cachedIndex} is cached without a node" : null;
        }

        BitmapNode? node = _root;
        long index = _cachedIndex << LeafShift;
        for (int shift = _topShift, d = 0; shift >= LeafShift && node is not null; shift -= 6, d++)
        {
            if (Levels > 2 && _cachedPath[d] != node)
            {
                return $"the cached path to leaf {_cachedIndex} disagrees with the tree at depth {d}";
            }

            int c = (int)(index >> shift) & 63;
            node = ((Inner(node).Full >> c) & 1) != 0 ? null : Inner(node).Child(c);
        }

        return node != _cached || _cachedIndex < 0 || index >= Length ? $"the cached leaf {_cachedIndex} is not attached there" : null;
    }

    // An empty bitmap's tree: the kept path alone, each inner node marking the way to the kept leaf, which is all zeros.
    private string? CheckMarkedPath()
    {
        if (_kept < 0 || _kept << LeafShift >= Length)
        {
            return "an empty bitmap holds nodes but no kept leaf";
        }

        BitmapNode node = _root!;
        long index = _kept << LeafShift;
        for (int shift = _topShift; shift >= LeafShift; shift -= 6)
        {
            BitmapInner inner = Inner(node);
            int c = (int)(index >> shift) & 63;
            if (inner.Any != 1UL << c || inner.Full != 0 || inner.Child(c) is null || inner.ChildSpan.Count((BitmapNode?)null) != 63)
            {
                return $"the empty bitmap's node at level {shift} does not mark the way to kept leaf {_kept} alone";
            }

            node = inner.Child(c)!;
        }

        return node.Any != 0 || Leaf(node).WordSpan.IndexOfAnyExcept(0UL) >= 0 ? $"the empty bitmap's kept leaf {_kept} holds bits"
            : _leaves != 1 || _inners != Levels - 1 ? $"the empty bitmap counts {_leaves} leaves and {_inners} inner nodes besides the kept path" : null;
    }

    // Validates a node whose children span 2^shift bits, starting at bit nodeBase, and what hangs below it.
    private string? Check(BitmapNode node, int shift, long nodeBase, ref Tally tally)
    {
        if (node.Any == 0 && (_kept < 0 || (shift + 6 < 63 && (_kept << LeafShift) >> (shift + 6) != nodeBase >> (shift + 6))))
        {
            return $"an empty node at bit {nodeBase} is off the kept path";
        }

        if (IsFull(node, shift))
        {
            return $"the node at bit {nodeBase} is entirely ones but materialised";
        }

        return shift < LeafShift ? CheckLeaf(Leaf(node), nodeBase, ref tally) : CheckInner(Inner(node), shift, nodeBase, ref tally);
    }

    private string? CheckLeaf(BitmapLeaf leaf, long nodeBase, ref Tally tally)
    {
        tally.Leaves++;
        for (int w = 0; w < 64; w++)
        {
            ulong word = leaf.Word(w);
            if ((word != 0) != (((leaf.Any >> w) & 1) != 0))
            {
                return $"leaf at bit {nodeBase}: word {w} disagrees with the summary";
            }

            long wordBase = nodeBase + (w << 6);
            if (word != 0 && wordBase + 63 - BitOperations.LeadingZeroCount(word) >= Length)
            {
                return $"leaf at bit {nodeBase}: a bit at or beyond Length is set";
            }

            tally.Bits += BitOperations.PopCount(word);
        }

        return null;
    }

    private string? CheckInner(BitmapInner inner, int shift, long nodeBase, ref Tally tally)
    {
        tally.Inners++;
        for (int c = 0; c < 64; c++)
        {
            string? problem = CheckChild(inner, c, shift, nodeBase + ((long)c << shift), ref tally);
            if (problem is not null)
            {
                return problem;
            }
        }

        return null;
    }

    private string? CheckChild(BitmapInner inner, int c, int shift, long childBase, ref Tally tally)
    {
        bool any = ((inner.Any >> c) & 1) != 0;
        bool full = ((inner.Full >> c) & 1) != 0;
        BitmapNode? child = inner.Child(c);
        if (full)
        {
            tally.Bits += 1L << shift;
            return !any ? $"child at bit {childBase} is full but not marked non-empty"
                : child is not null ? $"child at bit {childBase} is full but materialised"
                : childBase > Length - (1L << shift) ? $"child at bit {childBase} is full but reaches beyond Length"
                : null;
        }

        if (child is null)
        {
            return any ? $"child at bit {childBase} is marked non-empty but missing" : null;
        }

        return any != (child.Any != 0) ? $"child at bit {childBase}: the parent's mask disagrees with it"
            : Check(child, shift - 6, childBase, ref tally);
    }

    private struct Tally
    {
        public long Bits;
        public int Leaves;
        public int Inners;
    }
}
