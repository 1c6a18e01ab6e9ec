// MovableBlock: the handle of a movable allocation, whose frames the allocator may change.
namespace Buddy;

/// <summary>Called under the allocator's lock when a movable block moves: copy the contents from <paramref name="from"/> to <paramref name="to"/>.</summary>
/// <param name="block">The handle (its <see cref="MovableBlock.Block"/> still says <paramref name="from"/>).</param>
/// <param name="from">Where the block is.</param>
/// <param name="to">Where it goes; already allocated.</param>
/// <remarks>
/// If the callback throws, the block stays where it was, the target is given back, and the exception reaches the caller that caused the move.
/// The callback runs in the middle of the move, under the allocator's lock: it may copy memory and read snapshots (<see cref="MovableBlock.Block"/>,
/// <see cref="PageAllocator.FreePages"/>, <see cref="PageAllocator.GetZoneStats"/>), but any call that changes or checks its allocator — allocate, free,
/// migrate, pin, unpin, compact, drain, validate, dump — throws <see cref="InvalidOperationException"/> and changes nothing. It must not wait for
/// another thread that uses the allocator (that thread waits for the lock the callback's caller holds).
/// </remarks>
public delegate void MigrateCallback(MovableBlock block, Block from, Block to);

/// <summary>A movable allocation: the allocator may migrate it (compaction, contiguous ranges) unless it is pinned.</summary>
/// <remarks>
/// Thread-safe: every member takes the owning allocator's lock. A block allocated as movable
/// through <see cref="PageAllocator.TryAllocate(Request, out Block)"/> has a handle without a
/// callback: it groups with movable pages but never moves, since nobody would follow it.
/// </remarks>
public sealed class MovableBlock
{
    private readonly MigrateCallbackGuard _guard; // its allocator's: the lock, and the callback rule
    private Block _block;
    private int _pins;
    private bool _freed;

    // Made before its block is taken (so that taking it allocates nothing after), then attached.
    internal MovableBlock(MigrateCallbackGuard guard, MigrateCallback? onMigrate)
    {
        _guard = guard;
        OnMigrate = onMigrate;
    }

    /// <summary>Where the block is now.</summary>
    public Block Block
    {
        get
        {
            lock (_guard.Lock)
            {
                return _block;
            }
        }
    }

    /// <summary>Whether the block is pinned (never moved while pinned).</summary>
    public bool IsPinned
    {
        get
        {
            lock (_guard.Lock)
            {
                return _pins > 0;
            }
        }
    }

    /// <summary>Whether the block was freed (or cut by a partial free, after which it no longer moves).</summary>
    public bool IsFreed
    {
        get
        {
            lock (_guard.Lock)
            {
                return _freed;
            }
        }
    }

    /// <summary>How many times the block has moved.</summary>
    public int Moves { get; private set; }

    internal MigrateCallback? OnMigrate { get; }

    /// <summary>Whether the compactor may move it now (call under the owner's lock).</summary>
    internal bool CanMigrate => !_freed && _pins == 0 && OnMigrate is not null;

    internal Block Current => _block;

    /// <summary>Pins the block where it is until a matching <see cref="Unpin"/>.</summary>
    /// <exception cref="ObjectDisposedException">The block was freed.</exception>
    public void Pin()
    {
        lock (_guard.Lock)
        {
            _guard.RefuseLocked(nameof(Pin));
            ObjectDisposedException.ThrowIf(_freed, this);
            _pins++;
        }
    }

    /// <summary>Undoes one <see cref="Pin"/>.</summary>
    /// <exception cref="InvalidOperationException">The block is not pinned.</exception>
    public void Unpin()
    {
        lock (_guard.Lock)
        {
            _guard.RefuseLocked(nameof(Unpin));
            if (_pins == 0)
            {
                throw new InvalidOperationException($"The movable block {_block} is not pinned.");
            }

            _pins--;
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"movable {_block}{(_pins > 0 ? " (pinned)" : "")}{(_freed ? " (freed)" : "")}";

    internal void MovedTo(Block to)
    {
        _block = to;
        Moves++;
    }

    internal void MarkFreed() => _freed = true;

    internal void Attach(Block block) => _block = block;
}
