// FreeBitmap.Search: the queries — lowest and highest set bit, the highest set bit before an
// index, the next set and next clear bit from an index. Each is a descent of O(height) that uses
// the Any and Full masks to skip subtrees with nothing to find and to answer at once in subtrees
// with nothing else; a search from an index keeps one sibling to fall back on (Candidate).
//
// The descents are written once, over two policies: what they seek (SetBits; or ClearBits, the
// complement, whose children with a sought bit are those not Full and whose entirely-sought
// children are those not Any) and which way they look (Forward, Backward). The policies are
// structs with static members, so the JIT compiles one copy of a descent per pair with the
// policies inlined: no indirect call and no test of the direction on the way down (FindFirst is
// on the allocator's fast path).
using System.Diagnostics;
using System.Numerics;

namespace Buddy;

/// <summary>The queries of the bitmap.</summary>
internal sealed partial class FreeBitmap
{
    /// <summary>The lowest set index, or -1 when the bitmap is empty.</summary>
    public long FindFirst() => _count == 0 ? -1 : _rootFull ? 0 : Descend<SetBits, Forward>(_root!, _topShift, 0);

    /// <summary>The highest set index, or -1 when the bitmap is empty.</summary>
    public long FindLast() => _count == 0 ? -1 : _rootFull ? Length - 1 : Descend<SetBits, Backward>(_root!, _topShift, 0);

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

        return _rootFull ? end - 1 : Seek<SetBits, Backward>(end - 1);
    }

    /// <summary>The lowest set index at or above <paramref name="from"/>, or -1.</summary>
    public long NextSet(long from)
    {
        Debug.Assert(from >= 0);
        if (from >= Length || _count == 0)
        {
            return -1;
        }

        return _rootFull ? from : Seek<SetBits, Forward>(from);
    }

    /// <summary>The lowest clear index at or above <paramref name="from"/>, or <see cref="Length"/>.</summary>
    public long NextClear(long from)
    {
        Debug.Assert(from >= 0);
        if (from >= Length || _rootFull)
        {
            return Length;
        }

        if (_count == 0)
        {
            return from;
        }

        // The tree may span more than Length: the bits beyond it are clear, and stand for Length.
        long clear = Seek<ClearBits, Forward>(from);
        return clear < 0 ? Length : Math.Min(clear, Length);
    }

    /// <summary>Enumerates the set indices in ascending order (for validation and reports); full subtrees bit by bit.</summary>
    public IEnumerable<long> EnumerateSet()
    {
        for (long i = NextSet(0); i >= 0; i = NextSet(i + 1))
        {
            yield return i;
        }
    }

    // The nearest sought bit from index i (i included) the way TWay looks, or -1. The root is a
    // node, and neither without a sought bit nor made of sought bits only (the callers answer those).
    private long Seek<TBits, TWay>(long i)
        where TBits : struct, ISought
        where TWay : struct, IWay
    {
        Candidate fallback = default;
        BitmapNode? node = _root;
        long nodeBase = 0;
        for (int shift = _topShift; shift >= LeafShift && node is not null; shift -= 6)
        {
            BitmapInner inner = Inner(node);
            int c = (int)(i >> shift) & 63;
            ulong beyond = TBits.Any(inner) & TWay.Beyond(c);
            if (beyond != 0)
            {
                fallback = new Candidate(inner, shift, nodeBase, beyond);
            }

            if (((TBits.Full(inner) >> c) & 1) != 0)
            {
                return i;
            }

            nodeBase += (long)c << shift;
            node = ((TBits.Any(inner) >> c) & 1) != 0 ? inner.Child(c) : null;
        }

        return node is null ? NearestIn<TBits, TWay>(fallback) : NearestInLeaf<TBits, TWay>(Leaf(node), nodeBase, i, fallback);
    }

    // The nearest sought bit from index i in its leaf (whose first bit is nodeBase), else under the fallback.
    private static long NearestInLeaf<TBits, TWay>(BitmapLeaf leaf, long nodeBase, long i, Candidate fallback)
        where TBits : struct, ISought
        where TWay : struct, IWay
    {
        int w = (int)(i >> 6) & 63;
        ulong word = TBits.Word(leaf, w) & TWay.From((int)i & 63);
        if (word != 0)
        {
            return nodeBase + (w << 6) + TWay.Nearest(word);
        }

        int next = TBits.NearestWord<TWay>(leaf, TWay.Beyond(w));
        return next < 0 ? NearestIn<TBits, TWay>(fallback) : nodeBase + (next << 6) + TWay.Nearest(TBits.Word(leaf, next));
    }

    // The nearest sought bit under the fallback sibling, or -1 when there is none.
    private static long NearestIn<TBits, TWay>(Candidate fallback)
        where TBits : struct, ISought
        where TWay : struct, IWay
    {
        if (fallback.Node is null)
        {
            return -1;
        }

        int c = TWay.Nearest(fallback.Mask);
        long childBase = fallback.Base + ((long)c << fallback.Shift);
        return ((TBits.Full(fallback.Node) >> c) & 1) != 0 ? TWay.NearestOf(childBase, fallback.Shift)
            : Descend<TBits, TWay>(fallback.Node.Child(c)!, fallback.Shift - 6, childBase);
    }

    // The nearest sought bit of a node that holds one and is not made of sought bits only, whose
    // children span 2^shift bits and whose first bit is nodeBase.
    private static long Descend<TBits, TWay>(BitmapNode node, int shift, long nodeBase)
        where TBits : struct, ISought
        where TWay : struct, IWay
    {
        for (; shift >= LeafShift; shift -= 6)
        {
            BitmapInner inner = Inner(node);
            int c = TWay.Nearest(TBits.Any(inner));
            nodeBase += (long)c << shift;
            if (((TBits.Full(inner) >> c) & 1) != 0)
            {
                return TWay.NearestOf(nodeBase, shift);
            }

            node = inner.Child(c)!;
        }

        BitmapLeaf leaf = Leaf(node);
        int w = TBits.NearestWord<TWay>(leaf, ulong.MaxValue);
        return nodeBase + (w << 6) + TWay.Nearest(TBits.Word(leaf, w));
    }

    /// <summary>A sibling subtree to fall back on when the search below the path finds nothing.</summary>
    private readonly record struct Candidate(BitmapInner? Node, int Shift, long Base, ulong Mask);

    /// <summary>What a search seeks, as masks over a node's children and a leaf's words.</summary>
    private interface ISought
    {
        /// <summary>The children of <paramref name="inner"/> that hold a sought bit.</summary>
        static abstract ulong Any(BitmapInner inner);

        /// <summary>The children of <paramref name="inner"/> made of sought bits only (they have no node).</summary>
        static abstract ulong Full(BitmapInner inner);

        /// <summary>The sought bits of word <paramref name="w"/> of <paramref name="leaf"/>.</summary>
        static abstract ulong Word(BitmapLeaf leaf, int w);

        /// <summary>
        /// The nearest word of <paramref name="leaf"/> among <paramref name="within"/> (a run of word
        /// positions that reaches the leaf's far end the way <typeparamref name="TWay"/> looks) that
        /// holds a sought bit, or -1.
        /// </summary>
        static abstract int NearestWord<TWay>(BitmapLeaf leaf, ulong within)
            where TWay : struct, IWay;
    }

    /// <summary>Which way a search looks, as masks over 64 positions (children or bits).</summary>
    private interface IWay
    {
        /// <summary>The positions past <paramref name="c"/>.</summary>
        static abstract ulong Beyond(int c);

        /// <summary>Position <paramref name="b"/> and the positions past it.</summary>
        static abstract ulong From(int b);

        /// <summary>The first position of a non-zero mask.</summary>
        static abstract int Nearest(ulong mask);

        /// <summary>The first index of the 2^<paramref name="shift"/> indices from <paramref name="spanBase"/>.</summary>
        static abstract long NearestOf(long spanBase, int shift);

        /// <summary>The first position among <paramref name="within"/> (non-zero, a run that reaches the far end) whose word is not <paramref name="value"/>, or -1.</summary>
        static abstract int NearestExcept(ReadOnlySpan<ulong> words, ulong within, ulong value);
    }

    /// <summary>Seeks set bits.</summary>
    private readonly struct SetBits : ISought
    {
        public static ulong Any(BitmapInner inner) => inner.Any;

        public static ulong Full(BitmapInner inner) => inner.Full;

        public static ulong Word(BitmapLeaf leaf, int w) => leaf.Word(w);

        public static int NearestWord<TWay>(BitmapLeaf leaf, ulong within)
            where TWay : struct, IWay => (leaf.Any & within) is var words and not 0 ? TWay.Nearest(words) : -1;
    }

    /// <summary>Seeks clear bits: a child not full holds one, a child not marked Any holds nothing else.</summary>
    private readonly struct ClearBits : ISought
    {
        public static ulong Any(BitmapInner inner) => ~inner.Full;

        public static ulong Full(BitmapInner inner) => ~inner.Any;

        public static ulong Word(BitmapLeaf leaf, int w) => ~leaf.Word(w);

        // A leaf keeps no mask of its words that are not all ones: a vectorised scan finds the nearest.
        public static int NearestWord<TWay>(BitmapLeaf leaf, ulong within)
            where TWay : struct, IWay => within == 0 ? -1 : TWay.NearestExcept(leaf.WordSpan, within, ulong.MaxValue);
    }

    /// <summary>Looks up: towards higher indices.</summary>
    private readonly struct Forward : IWay
    {
        public static ulong Beyond(int c) => ulong.MaxValue << c << 1;

        public static ulong From(int b) => ulong.MaxValue << b;

        public static int Nearest(ulong mask) => BitOperations.TrailingZeroCount(mask);

        public static long NearestOf(long spanBase, int shift) => spanBase;

        public static int NearestExcept(ReadOnlySpan<ulong> words, ulong within, ulong value)
        {
            int first = BitOperations.TrailingZeroCount(within);
            int i = words[first..].IndexOfAnyExcept(value);
            return i < 0 ? -1 : first + i;
        }
    }

    /// <summary>Looks down: towards lower indices.</summary>
    private readonly struct Backward : IWay
    {
        public static ulong Beyond(int c) => (1UL << c) - 1;

        public static ulong From(int b) => ulong.MaxValue >> (63 - b);

        public static int Nearest(ulong mask) => 63 - BitOperations.LeadingZeroCount(mask);

        public static long NearestOf(long spanBase, int shift) => spanBase + (1L << shift) - 1;

        public static int NearestExcept(ReadOnlySpan<ulong> words, ulong within, ulong value) =>
            words[..(64 - BitOperations.LeadingZeroCount(within))].LastIndexOfAnyExcept(value);
    }
}
