// PageAllocator (callbacks): the rule that a migrate callback never re-enters its allocator.
//
// A migrate callback runs under the allocator's lock in the middle of a move: the target is taken,
// the block is still registered where it was. Anything that changed the allocator then — freeing
// or migrating the moving block, allocating, freeing others, compacting, validating a half-done
// state — would corrupt it, and the lock (which is re-entrant) would not stop the callback's own
// thread. So while a callback runs:
// - every member that changes or checks the allocator's state throws InvalidOperationException
//   (RefuseInsideCallback) before it changes anything;
// - the callback thread's own thread cache is frozen, so its fast path cannot serve a request or
//   take a free without the lock: it falls through to the slow path, which refuses;
// - other threads wait for the lock (a callback must not wait for them in turn).
// Reads that take a snapshot (FreePages, GetZoneStats, BuddyInfo, the handle's Block) stay allowed.
using System.Diagnostics.CodeAnalysis;

namespace Buddy;

public sealed partial class PageAllocator
{
    private bool _inMigrateCallback; // changed and read only under the lock

    // Runs the owner's callback for a move, with the allocator closed to it. Lock held.
    private void RunMigrateCallback(MovableBlock handle, Block from, Block to)
    {
        ThreadCache? own = OwnCache();
        own?.Freeze();
        _inMigrateCallback = true;
        try
        {
            handle.OnMigrate!(handle, from, to);
        }
        finally
        {
            _inMigrateCallback = false;
            own?.Thaw();
        }
    }

    // Called first, under the lock, by every member that changes or checks the allocator's state.
    private void RefuseInsideCallback(string member)
    {
        if (_inMigrateCallback)
        {
            ThrowReentered(member);
        }
    }

    /// <summary>For <see cref="MovableBlock"/>'s members: refuses when called from inside a migrate callback. Lock held.</summary>
    internal void RefuseInsideCallbackLocked(string member) => RefuseInsideCallback(member);

    [DoesNotReturn]
    private static void ThrowReentered(string member) => throw new InvalidOperationException(
        $"{member} was called from inside a migrate callback. A callback runs in the middle of a move and may only copy the block's contents (and read snapshots such as FreePages); it may not allocate, free, migrate, pin, compact, drain or validate on its allocator. Nothing was changed.");

    // The calling thread's cache of this allocator, if it has one. Lock held.
    private ThreadCache? OwnCache()
    {
        Thread me = Thread.CurrentThread;
        foreach (ThreadCache c in _threadCaches)
        {
            if (c.Owner == me)
            {
                return c;
            }
        }

        return null;
    }
}
