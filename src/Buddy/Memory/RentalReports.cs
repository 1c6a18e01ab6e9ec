// LiveRental and AbandonedRental: the rows of NativeArena's leak reports (GetLiveRentals,
// GetAbandonedRentals), each with the stack trace of the rent in the checked mode.
namespace Buddy.Memory;

/// <summary>A rental not given back yet, as <see cref="NativeArena.GetLiveRentals"/> lists it.</summary>
/// <param name="Block">The rental's block; empty for a rental below a page.</param>
/// <param name="RentedAt">The stack trace of its rent in the checked mode; otherwise empty.</param>
public readonly record struct LiveRental(Block Block, string RentedAt);

/// <summary>A rental whose owner was garbage-collected without Dispose, as <see cref="NativeArena.GetAbandonedRentals"/> lists it (checked mode).</summary>
/// <param name="Description">What was rented: its block, or its size and address below a page (the memory has gone back).</param>
/// <param name="RentedAt">The stack trace of its rent.</param>
public readonly record struct AbandonedRental(string Description, string RentedAt);
