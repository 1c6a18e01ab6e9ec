// PolicyBlock: a block a policy handed out, with the allocator it came from.
using Buddy.Pages;

namespace Buddy.Simulation.Policies;

/// <summary>A block and the index of the policy's allocator that owns it.</summary>
/// <param name="Block">The block.</param>
/// <param name="Pool">Which of the policy's allocators made it (0 for the general one).</param>
public readonly record struct PolicyBlock(Block Block, int Pool);
