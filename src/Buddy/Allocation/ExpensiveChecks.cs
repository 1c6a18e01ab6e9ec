// ExpensiveChecks: in Debug builds, an allocator can validate itself completely after every
// slow-path operation (anything that takes its lock: allocations and frees past the thread
// caches, refills, spills, drains, ranges, compaction, migration), so that a broken invariant is
// caught at the operation that broke it rather than many steps later. Release builds compile the
// calls away (PageAllocator.CheckExpensivelyLocked is [Conditional("DEBUG")]).
//
// On for the whole process when the environment variable BUDDY_EXPENSIVE_CHECKS is 1 or true; on
// for the calling thread inside an ExpensiveChecks.Enable() scope (tests use it, so that tests
// running in parallel are not slowed). Each check costs a full Validate: O(pages) per operation.
namespace Buddy;

/// <summary>Whether allocators validate themselves after every slow-path operation (Debug builds only).</summary>
internal static class ExpensiveChecks
{
    private static readonly bool s_process = Environment.GetEnvironmentVariable("BUDDY_EXPENSIVE_CHECKS") is "1" or "true";

    [ThreadStatic]
    private static int t_depth;

    [ThreadStatic]
    private static long t_runs;

    /// <summary>Whether the checks are on for the calling thread.</summary>
    public static bool Enabled => s_process || t_depth > 0;

    /// <summary>Validations run on the calling thread so far.</summary>
    public static long Runs => t_runs;

    /// <summary>Turns the checks on for the calling thread until the scope is disposed.</summary>
    public static Scope Enable()
    {
        t_depth++;
        return default;
    }

    /// <summary>Counts one validation on the calling thread.</summary>
    public static void Counted() => t_runs++;

    /// <summary>Ends an <see cref="Enable"/> scope.</summary>
    public readonly struct Scope : IDisposable
    {
        /// <summary>Turns the checks back off for the calling thread (unless an outer scope holds them on).</summary>
        public void Dispose() => t_depth--;
    }
}
