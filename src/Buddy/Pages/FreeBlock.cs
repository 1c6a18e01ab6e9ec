// FreeBlock: one free block as PageAllocator.GetFreeBlocks lists it.
using System.Globalization;

namespace Buddy;

/// <summary>A free block of 2^<see cref="Order"/> pages starting at <see cref="Address"/>, as <see cref="PageAllocator.GetFreeBlocks"/> lists it.</summary>
/// <param name="Address">The address of the block's first byte (naturally aligned to the block's size).</param>
/// <param name="Order">The block's order: it holds 2^order pages.</param>
public readonly record struct FreeBlock(ulong Address, int Order)
{
    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"0x{Address:x} order {Order}");
}
