// ArenaHandle: owns an arena's native memory — a reservation made by ArenaReservation (mmap on
// Linux and macOS, VirtualAlloc on Windows, an aligned allocation elsewhere) — and gives it back
// exactly once. It counts the arena's live rentals with the SafeHandle's own reference count:
// every rental acquires a reference when it is rented and releases it when its block goes back.
// Retire (the arena's Dispose) refuses new references at once — SafeHandle alone would still hand
// them out while any is held — and drops the handle's own reference, so the memory is unmapped
// when the count reaches zero: no rental, pin or pipe segment can outlive the mapping, and a use
// after the arena's disposal never faults. A give-back sweep holds a reference too (TryAcquire),
// so it never advises memory that was unmapped (and perhaps mapped again by someone else).
using System.Runtime.InteropServices;

namespace Buddy.Memory;

/// <summary>The SafeHandle of a native arena's memory.</summary>
internal sealed class ArenaHandle : SafeHandle
{
    private readonly nuint _length;
    private readonly ArenaMapping _mapping;
    private bool _released;
    private int _retired;

    private ArenaHandle(nint address, nuint length, ArenaMapping mapping)
        : base(IntPtr.Zero, ownsHandle: true)
    {
        SetHandle(address);
        _length = length;
        _mapping = mapping;
    }

    /// <summary>How the memory was obtained (so how it is committed and given back).</summary>
    internal ArenaMapping Mapping => _mapping;

    /// <summary>Told of every rental's release (the give-back's threshold check); null when nothing listens.</summary>
    internal ArenaGiveBack? ReleaseListener { get; set; }

    /// <summary>Reservations made on the calling thread (tests prove a refused arena reserved nothing).</summary>
    [ThreadStatic]
    private static int t_reservations;

    /// <summary>Reservations made on the calling thread so far.</summary>
    internal static int ReservationsOnThisThread => t_reservations;

    /// <summary>Whether the memory was given back (the handle was disposed and the last rental returned).</summary>
    internal bool IsReleased => Volatile.Read(ref _released);

    /// <summary>Takes a reference for one rental: the memory stays mapped until the matching <see cref="Release"/>.</summary>
    /// <exception cref="ObjectDisposedException">The arena was disposed: it rents nothing more.</exception>
    internal void Acquire()
    {
        if (IsRetired)
        {
            throw Retired();
        }

        bool added = false;
        try
        {
            DangerousAddRef(ref added);
        }
        catch (ObjectDisposedException)
        {
            throw Retired(); // retired and released between the check and the reference
        }
    }

    /// <summary>Whether <see cref="Retire"/> was called.</summary>
    internal bool IsRetired => Volatile.Read(ref _retired) != 0;

    /// <summary>Refuses new references and drops the handle's own; false when already retired.</summary>
    internal bool Retire()
    {
        if (Interlocked.Exchange(ref _retired, 1) != 0)
        {
            return false;
        }

        Dispose(); // the memory goes when the last rental's reference does (now, when none is held)
        return true;
    }

    private static ObjectDisposedException Retired() =>
        new(nameof(NativeArena), "The NativeArena was disposed: it rents nothing more (rentals made before stay usable until they are returned).");

    /// <summary>Takes a reference unless the arena was disposed (a give-back sweep, which must never throw); false when refused.</summary>
    internal bool TryAcquire()
    {
        if (IsRetired)
        {
            return false;
        }

        bool added = false;
        try
        {
            DangerousAddRef(ref added);
        }
        catch (ObjectDisposedException)
        {
            return false;
        }

        return added;
    }

    /// <summary>Gives back a rental's reference; the last one after disposal unmaps the memory.</summary>
    internal void Release()
    {
        DangerousRelease();
        ReleaseListener?.OnRentalReleased();
    }

    /// <summary>Gives back a reference taken by <see cref="TryAcquire"/> without telling the listener.</summary>
    internal void ReleaseQuietly() => DangerousRelease();

    /// <inheritdoc/>
    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>Reserves <paramref name="length"/> bytes of address space aligned to <paramref name="alignment"/> (a power of two); nothing is committed.</summary>
    /// <exception cref="InsufficientMemoryException">The memory cannot be reserved; the message says why.</exception>
    public static ArenaHandle Reserve(nuint length, nuint alignment)
    {
        t_reservations++;
        nint start = ArenaReservation.Reserve(length, alignment, out ArenaMapping mapping);
        return new ArenaHandle(start, length, mapping);
    }

    /// <inheritdoc/>
    protected override bool ReleaseHandle()
    {
        Volatile.Write(ref _released, true);
        return ArenaReservation.Release(handle, _length, _mapping);
    }
}
