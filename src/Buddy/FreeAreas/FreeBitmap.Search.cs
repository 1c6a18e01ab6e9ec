// FreeBitmap.Search: the queries — lowest and highest set bit, the highest before an index, the
// next set and next clear bit from an index — each a descent of O(height) that uses the Any and
// Full masks to skip empty and full subtrees, with one sibling kept to fall back on (Candidate).
using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Buddy;

/// <summary>The queries of the bitmap.</summary>
internal sealed partial class FreeBitmap
{
    /// <summary>The lowest set index, or -1 when the bitmap is empty.</summary>
    public long FindFirst() => _count == 0 ? -1 : _rootFull ? 0 : DescendFirst(_root!, _topShift, 0);

    /// <summary>The highest set index, or -1 when the bitmap is empty.</summary>
    public long FindLast() => _count == 0 ? -1 : _rootFull ? Length - 1 : DescendLast(_root!, _topShift, 0);

    /// <summary>The highest set index below <paramref name="end"/>, or -1.</summary>
    public long FindLastBefore(long end)
    {
        if (end <= 0 || _count == 0)
        {
            return -1;
        }

        if (end >= Length)
        {
            return FindLast();
        }

        long i = end - 1;
        if (_rootFull)
        {
            return i;
        }

        Candidate lower = default;
        BitmapNode? node = _root;
        long nodeBase = 0;
        for (int shift = _topShift; shift >= LeafShift && node is not null; shift -= 6)
        {
            BitmapInner inner = Unsafe.As<BitmapInner>(node);
            int c = (int)(i >> shift) & 63;
            ulong below = inner.Any & ((1UL << c) - 1);
            if (below != 0)
            {
                lower = new Candidate(inner, shift, nodeBase, below);
            }

            if (((inner.Full >> c) & 1) != 0)
            {
                return i;
            }

            nodeBase += (long)c << shift;
            node = ((inner.Any >> c) & 1) != 0 ? inner.Child(c) : null;
        }

        return node is null ? LastIn(lower) : LastInLeafBefore(Unsafe.As<BitmapLeaf>(node), nodeBase, i, lower);
    }

    /// <summary>The lowest set index at or above <paramref name="from"/>, or -1.</summary>
    public long NextSet(long from)
    {
        Debug.Assert(from >= 0);
        if (from >= Length || _count == 0)
        {
            return -1;
        }

        if (_rootFull)
        {
            return from;
        }

        Candidate higher = default;
        BitmapNode? node = _root;
        long nodeBase = 0;
        for (int shift = _topShift; shift >= LeafShift && node is not null; shift -= 6)
        {
            BitmapInner inner = Unsafe.As<BitmapInner>(node);
            int c = (int)(from >> shift) & 63;
            ulong above = inner.Any & (ulong.MaxValue << c << 1);
            if (above != 0)
            {
                higher = new Candidate(inner, shift, nodeBase, above);
            }

            if (((inner.Full >> c) & 1) != 0)
            {
                return from;
            }

            nodeBase += (long)c << shift;
            node = ((inner.Any >> c) & 1) != 0 ? inner.Child(c) : null;
        }

        return node is null ? FirstIn(higher) : FirstInLeafFrom(Unsafe.As<BitmapLeaf>(node), nodeBase, from, higher);
    }

    /// <summary>The lowest clear index at or above <paramref name="from"/>, or <see cref="Length"/>.</summary>
    public long NextClear(long from)
    {
        Debug.Assert(from >= 0);
        if (from >= Length || _rootFull)
        {
            return Length;
        }

        Candidate higher = default;
        BitmapNode? node = _root;
        long nodeBase = 0;
        for (int shift = _topShift; shift >= LeafShift && node is not null; shift -= 6)
        {
            BitmapInner inner = Unsafe.As<BitmapInner>(node);
            int c = (int)(from >> shift) & 63;
            ulong above = ~inner.Full & (ulong.MaxValue << c << 1);
            if (above != 0)
            {
                higher = new Candidate(inner, shift, nodeBase, above);
            }

            if (((inner.Full >> c) & 1) != 0)
            {
                return FirstClearIn(higher);
            }

            nodeBase += (long)c << shift;
            node = ((inner.Any >> c) & 1) != 0 ? inner.Child(c) : null;
        }

        return node is null ? from : Math.Min(Length, FirstClearInLeafFrom(Unsafe.As<BitmapLeaf>(node), nodeBase, from, higher));
    }

    /// <summary>Enumerates the set indices in ascending order (for validation and reports); full subtrees bit by bit.</summary>
    public IEnumerable<long> EnumerateSet()
    {
        for (long i = NextSet(0); i >= 0; i = NextSet(i + 1))
        {
            yield return i;
        }
    }

    // The lowest set bit of a non-empty node whose children span 2^shift bits and whose first bit is nodeBase.
    private static long DescendFirst(BitmapNode node, int shift, long nodeBase)
    {
        for (; shift >= LeafShift; shift -= 6)
        {
            BitmapInner inner = Inner(node);
            int c = BitOperations.TrailingZeroCount(inner.Any);
            nodeBase += (long)c << shift;
            if (((inner.Full >> c) & 1) != 0)
            {
                return nodeBase;
            }

            node = inner.Child(c)!;
        }

        BitmapLeaf leaf = Leaf(node);
        int w = BitOperations.TrailingZeroCount(leaf.Any);
        return nodeBase + (w << 6) + BitOperations.TrailingZeroCount(leaf.Word(w));
    }

    // The highest set bit of a non-empty node.
    private static long DescendLast(BitmapNode node, int shift, long nodeBase)
    {
        for (; shift >= LeafShift; shift -= 6)
        {
            BitmapInner inner = Inner(node);
            int c = 63 - BitOperations.LeadingZeroCount(inner.Any);
            nodeBase += (long)c << shift;
            if (((inner.Full >> c) & 1) != 0)
            {
                return nodeBase + (1L << shift) - 1;
            }

            node = inner.Child(c)!;
        }

        BitmapLeaf leaf = Leaf(node);
        int w = 63 - BitOperations.LeadingZeroCount(leaf.Any);
        return nodeBase + (w << 6) + 63 - BitOperations.LeadingZeroCount(leaf.Word(w));
    }

    // The lowest clear bit of a node that is not entirely ones (may lie at or beyond Length).
    private static long DescendFirstClear(BitmapNode node, int shift, long nodeBase)
    {
        for (; shift >= LeafShift; shift -= 6)
        {
            BitmapInner inner = Inner(node);
            int c = BitOperations.TrailingZeroCount(~inner.Full);
            nodeBase += (long)c << shift;
            if (((inner.Any >> c) & 1) == 0)
            {
                return nodeBase;
            }

            node = inner.Child(c)!;
        }

        BitmapLeaf leaf = Leaf(node);
        int w = leaf.WordSpan.IndexOfAnyExcept(ulong.MaxValue);
        return nodeBase + (w << 6) + BitOperations.TrailingZeroCount(~leaf.Word(w));
    }

    private static long FirstIn(Candidate higher)
    {
        if (higher.Node is null)
        {
            return -1;
        }

        int c = BitOperations.TrailingZeroCount(higher.Mask);
        long childBase = higher.Base + ((long)c << higher.Shift);
        return ((higher.Node.Full >> c) & 1) != 0 ? childBase : DescendFirst(higher.Node.Child(c)!, higher.Shift - 6, childBase);
    }

    private static long LastIn(Candidate lower)
    {
        if (lower.Node is null)
        {
            return -1;
        }

        int c = 63 - BitOperations.LeadingZeroCount(lower.Mask);
        long childBase = lower.Base + ((long)c << lower.Shift);
        return ((lower.Node.Full >> c) & 1) != 0 ? childBase + (1L << lower.Shift) - 1 : DescendLast(lower.Node.Child(c)!, lower.Shift - 6, childBase);
    }

    private long FirstClearIn(Candidate higher)
    {
        if (higher.Node is null)
        {
            return Length;
        }

        int c = BitOperations.TrailingZeroCount(higher.Mask);
        long childBase = higher.Base + ((long)c << higher.Shift);
        return childBase >= Length || ((higher.Node.Any >> c) & 1) == 0 ? Math.Min(childBase, Length)
            : Math.Min(Length, DescendFirstClear(higher.Node.Child(c)!, higher.Shift - 6, childBase));
    }

    private static long FirstInLeafFrom(BitmapLeaf leaf, long nodeBase, long from, Candidate higher)
    {
        int w = (int)(from >> 6) & 63;
        ulong word = leaf.Word(w) & (ulong.MaxValue << (int)from);
        if (word != 0)
        {
            return nodeBase + (w << 6) + BitOperations.TrailingZeroCount(word);
        }

        ulong words = leaf.Any & (ulong.MaxValue << w << 1);
        if (words == 0)
        {
            return FirstIn(higher);
        }

        w = BitOperations.TrailingZeroCount(words);
        return nodeBase + (w << 6) + BitOperations.TrailingZeroCount(leaf.Word(w));
    }

    private static long LastInLeafBefore(BitmapLeaf leaf, long nodeBase, long i, Candidate lower)
    {
        int w = (int)(i >> 6) & 63;
        ulong word = leaf.Word(w) & (ulong.MaxValue >> (63 - (int)(i & 63)));
        if (word != 0)
        {
            return nodeBase + (w << 6) + 63 - BitOperations.LeadingZeroCount(word);
        }

        ulong words = leaf.Any & ((1UL << w) - 1);
        if (words == 0)
        {
            return LastIn(lower);
        }

        w = 63 - BitOperations.LeadingZeroCount(words);
        return nodeBase + (w << 6) + 63 - BitOperations.LeadingZeroCount(leaf.Word(w));
    }

    private long FirstClearInLeafFrom(BitmapLeaf leaf, long nodeBase, long from, Candidate higher)
    {
        int w = (int)(from >> 6) & 63;
        ulong word = ~leaf.Word(w) & (ulong.MaxValue << (int)from);
        if (word != 0)
        {
            return nodeBase + (w << 6) + BitOperations.TrailingZeroCount(word);
        }

        int next = leaf.WordSpan[(w + 1)..].IndexOfAnyExcept(ulong.MaxValue);
        if (next < 0)
        {
            return FirstClearIn(higher);
        }

        w += 1 + next;
        return nodeBase + (w << 6) + BitOperations.TrailingZeroCount(~leaf.Word(w));
    }

    /// <summary>A sibling subtree to fall back on when the search below the path finds nothing.</summary>
    private readonly record struct Candidate(BitmapInner? Node, int Shift, long Base, ulong Mask);
}
