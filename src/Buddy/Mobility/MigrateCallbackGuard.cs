// MigrateCallbackGuard: the rule that a migrate callback never re-enters its allocator.
//
// A migrate callback runs under the allocator's lock in the middle of a move: the target is taken,
// the block is still registered where it was. Anything that changed the allocator then — freeing
// or migrating the moving block, allocating, freeing others, compacting, validating a half-done
// state — would corrupt it, and the lock (which is re-entrant) would not stop the callback's own
// thread. So while a callback runs:
// - every member that changes or checks the allocator's state throws InvalidOperationException
//   (RefuseLocked, called first) before it changes anything;
// - the callback thread's own thread cache is frozen, so its fast path cannot serve a request or
//   take a free without the lock: it falls through to the slow path, which refuses;
// - other threads wait for the lock (a callback must not wait for them in turn).
// Reads that take a snapshot (FreePages, GetZoneStats, BuddyInfo, the handle's Block) stay allowed.
//
// Invariant: _inCallback is true exactly while RunLocked runs a callback; it is read and changed
// only under the allocator's lock.
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace Buddy;

/// <summary>Runs migrate callbacks with their allocator closed to them, and refuses what they may not call.</summary>
/// <remarks><paramref name="ownCache"/> gives the calling thread's cache of the allocator, if it has one (lock held).</remarks>
internal sealed class MigrateCallbackGuard(Lock allocatorLock, Func<ThreadCache?> ownCache)
{
    private bool _inCallback;

    /// <summary>The allocator's lock, which every member needs held.</summary>
    public Lock Lock => allocatorLock;

    /// <summary>Whether a migrate callback is running.</summary>
    public bool InCallbackLocked
    {
        get
        {
            Debug.Assert(allocatorLock.IsHeldByCurrentThread);
            return _inCallback;
        }
    }

    /// <summary>Runs <paramref name="handle"/>'s callback for a move from <paramref name="from"/> to <paramref name="to"/>, with the allocator closed to it.</summary>
    public void RunLocked(MovableBlock handle, Block from, Block to)
    {
        Debug.Assert(allocatorLock.IsHeldByCurrentThread);
        ThreadCache? own = ownCache();
        own?.Freeze();
        _inCallback = true;
        try
        {
            handle.OnMigrate!(handle, from, to);
        }
        finally
        {
            _inCallback = false;
            own?.Thaw();
        }
    }

    /// <summary>Throws when called from inside a migrate callback; called first by every member that changes or checks the allocator's state.</summary>
    /// <exception cref="InvalidOperationException">A migrate callback is running; <paramref name="member"/> names what it called.</exception>
    public void RefuseLocked(string member)
    {
        Debug.Assert(allocatorLock.IsHeldByCurrentThread);
        if (_inCallback)
        {
            ThrowReentered(member);
        }
    }

    [DoesNotReturn]
    private static void ThrowReentered(string member) => throw new InvalidOperationException(
        $"{member} was called from inside a migrate callback. A callback runs in the middle of a move and may only copy the block's contents (and read snapshots such as FreePages); it may not allocate, free, migrate, pin, compact, drain or validate on its allocator. Nothing was changed.");
}
