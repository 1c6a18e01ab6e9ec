// BitmapNodes: the nodes of a FreeBitmap's radix tree. A leaf holds 64 words (4,096 bits) and the
// mask of its non-zero words; an inner node holds 64 children, the mask of non-empty ones (Any) and
// of entirely-ones ones (Full, which have no node). Sizes are stated for the metadata counts.
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
