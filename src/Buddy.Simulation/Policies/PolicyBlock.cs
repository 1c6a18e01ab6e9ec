// PolicyBlock: a block a policy handed out, with the allocator it came from and, for movable
// blocks that may migrate, the handle that follows them.

namespace Buddy.Simulation.Policies;

/// <summary>A block, the index of the policy's allocator that owns it, and its handle when it may move.</summary>
/// <param name="Block">The block as allocated.</param>
/// <param name="Pool">Which of the policy's allocators made it (0 for the general one).</param>
/// <param name="Handle">The movable handle, when the allocator may migrate the block.</param>
public readonly record struct PolicyBlock(Block Block, int Pool, MovableBlock? Handle = null)
{
    /// <summary>Where the block is now (it may have moved since it was allocated).</summary>
    public Block Current => Handle?.Block ?? Block;
}
