// Faults: the one place where tests make Buddy's metadata allocations fail, to prove that an
// out-of-memory in the middle of an operation leaves the allocator as it was.
//
// Every allocation of metadata that an operation may need (bitmap chunks, allocation-head chunks,
// bookkeeping that grows) calls BeforeMetadataAllocation first. Normally that is one read of a
// thread-static counter. A test arms the counter on its own thread: the Nth such allocation from
// then on throws OutOfMemoryException, as the runtime would. The same goes for a native arena's
// commits (ArenaReservation): an armed countdown makes the Nth commit on the thread fail as an
// mprotect or VirtualAlloc refused with ENOMEM would.
namespace Buddy;

/// <summary>Fault injection for tests: makes the Nth metadata allocation on the calling thread throw <see cref="OutOfMemoryException"/>.</summary>
internal static class Faults
{
    [ThreadStatic]
    private static int t_countdown;

    [ThreadStatic]
    private static int t_commitCountdown;

    /// <summary>Makes the <paramref name="n"/>th metadata allocation on this thread from now fail (0 disarms).</summary>
    public static void FailAllocation(int n) => t_countdown = n;

    /// <summary>Called before every metadata allocation; throws when the armed count runs out.</summary>
    public static void BeforeMetadataAllocation()
    {
        if (t_countdown > 0 && --t_countdown == 0)
        {
#pragma warning disable CA2201 // the point is to throw exactly what the runtime would
            throw new OutOfMemoryException("Injected fault: a metadata allocation failed.");
#pragma warning restore CA2201
        }
    }

    /// <summary>Makes the <paramref name="n"/>th arena commit on this thread from now fail (0 disarms).</summary>
    public static void FailCommit(int n) => t_commitCountdown = n;

    /// <summary>Called before every arena commit; true when the armed count runs out (the commit then fails as ENOMEM would).</summary>
    public static bool CommitFails() => t_commitCountdown > 0 && --t_commitCountdown == 0;
}
