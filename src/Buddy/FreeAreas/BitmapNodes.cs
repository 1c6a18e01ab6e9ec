// BitmapNodes: the nodes of a FreeBitmap's radix tree and what each does to its own bits. A leaf
// holds 64 words (4,096 bits) and the mask of its non-zero words; it tests, sets and clears its
// bits keeping that mask exact. An inner node holds 64 children, the mask of non-empty ones (Any)
// and of entirely-ones ones (Full, which have no node). The tree above decides what a full or an
// empty node means; a node goes back to the reserve zeroed (Reset). Sizes are stated for the
// metadata counts.
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Buddy;

/// <summary>A node of a <see cref="FreeBitmap"/> tree: a leaf or an inner node.</summary>
internal abstract class BitmapNode
{
    /// <summary>Leaf: bit w set iff word w is non-zero. Inner: bit c set iff child c holds a set bit.</summary>
    public ulong Any;
}

/// <summary>A leaf: 4,096 bits.</summary>
internal sealed class BitmapLeaf : BitmapNode
{
    /// <summary>Bytes per leaf: object header and method table (24 counted, as for every object), the mask and 64 words.</summary>
    public const int Bytes = 24 + 8 + (64 * 8);

    /// <summary>The words.</summary>
    public LeafWords Words;

    /// <summary>The 64 words as a span.</summary>
    public Span<ulong> WordSpan => MemoryMarshal.CreateSpan(ref Word(0), 64);

    /// <summary>Word <paramref name="w"/> (0..63), without a bounds check.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref ulong Word(int w) => ref Unsafe.Add(ref Unsafe.As<LeafWords, ulong>(ref Words), w);

    /// <summary>Whether every bit is set.</summary>
    public bool IsFull => WordSpan.IndexOfAnyExcept(ulong.MaxValue) < 0;

    /// <summary>Whether bit <paramref name="index"/> (its low 12 bits: the leaf's bit) is set.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsSet(long index) => ((Word((int)(index >> 6) & 63) >> (int)index) & 1) != 0;

    /// <summary>Sets bit <paramref name="index"/> (its low 12 bits); returns whether the leaf is now entirely ones.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Set(long index)
    {
        int w = (int)(index >> 6) & 63;
        ref ulong word = ref Word(w);
        word |= 1UL << (int)index;
        Any |= 1UL << w;
        return word == ulong.MaxValue && Any == ulong.MaxValue && IsFull; // a full leaf has no zero word: skip the scan while one is
    }

    /// <summary>Clears bit <paramref name="index"/> (its low 12 bits); returns whether the leaf is now empty.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Clear(long index)
    {
        int w = (int)(index >> 6) & 63;
        ref ulong word = ref Word(w);
        word &= ~(1UL << (int)index);
        return word == 0 && (Any &= ~(1UL << w)) == 0;
    }

    /// <summary>Sets bits [<paramref name="from"/>, <paramref name="to"/>) of the leaf, all clear, word by word.</summary>
    public void SetRange(long from, long to)
    {
        while (from < to)
        {
            int w = (int)(from >> 6);
            int bit = (int)(from & 63);
            int n = (int)Math.Min(64 - bit, to - from);
            ulong mask = (n == 64 ? ulong.MaxValue : (1UL << n) - 1) << bit;
            Debug.Assert((Word(w) & mask) == 0, "a bit in the range is already set");
            Word(w) |= mask;
            Any |= 1UL << w;
            from += n;
        }
    }

    /// <summary>Sets every bit (a full child copied on write).</summary>
    public void Fill()
    {
        WordSpan.Fill(ulong.MaxValue);
        Any = ulong.MaxValue;
    }

    /// <summary>Clears every bit (the leaf goes back to the reserve).</summary>
    public void Reset()
    {
        WordSpan.Clear();
        Any = 0;
    }
}

/// <summary>An inner node: 64 children, each empty (no node), full (a Full bit, no node) or a node.</summary>
internal sealed class BitmapInner : BitmapNode
{
    /// <summary>Bytes per inner node: object header (24 counted), two masks and 64 references.</summary>
    public const int Bytes = 24 + 16 + (64 * 8);

    /// <summary>Bit c set iff child c is entirely ones (then it has no node).</summary>
    public ulong Full;

    /// <summary>The child nodes.</summary>
    public NodeChildren Children;

    /// <summary>The 64 children as a span.</summary>
    public Span<BitmapNode?> ChildSpan => MemoryMarshal.CreateSpan(ref Child(0), 64);

    /// <summary>Child <paramref name="c"/> (0..63), without a bounds check.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref BitmapNode? Child(int c) => ref Unsafe.Add(ref Unsafe.As<NodeChildren, BitmapNode?>(ref Children), c);

    /// <summary>Whether every child is entirely ones.</summary>
    public bool IsFull => Full == ulong.MaxValue;

    /// <summary>Marks every child entirely ones (a full child copied on write); it has no child nodes.</summary>
    public void Fill()
    {
        Any = ulong.MaxValue;
        Full = ulong.MaxValue;
    }

    /// <summary>Clears both masks (the node, its children detached, goes back to the reserve).</summary>
    public void Reset()
    {
        Any = 0;
        Full = 0;
    }
}

/// <summary>A leaf's 64 words.</summary>
[InlineArray(64)]
internal struct LeafWords
{
    private ulong _word;
}

/// <summary>An inner node's 64 child references.</summary>
[InlineArray(64)]
internal struct NodeChildren
{
    private BitmapNode? _child;
}
