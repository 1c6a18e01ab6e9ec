// ArenaHandle: owns an arena's native memory — an mmap'd range on Linux, an aligned allocation
// elsewhere — and gives it back exactly once. It counts the arena's live rentals with the
// SafeHandle's own reference count: every rental acquires a reference when it is rented and
// releases it when its block goes back. Retire (the arena's Dispose) refuses new references at
// once — SafeHandle alone would still hand them out while any is held — and drops the handle's own
// reference, so the memory is unmapped when the count reaches zero: no rental, pin or pipe
// segment can outlive the mapping, and a use after the arena's disposal never faults.
using System.Runtime.InteropServices;

namespace Buddy.Memory;

/// <summary>The SafeHandle of a native arena's memory.</summary>
internal sealed class ArenaHandle : SafeHandle
{
    private readonly nuint _length;
    private readonly bool _mapped;
    private bool _released;
    private int _retired;

    private ArenaHandle(nint address, nuint length, bool mapped)
        : base(IntPtr.Zero, ownsHandle: true)
    {
        SetHandle(address);
        _length = length;
        _mapped = mapped;
    }

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

    /// <summary>Gives back a rental's reference; the last one after disposal unmaps the memory.</summary>
    internal void Release() => DangerousRelease();

    /// <inheritdoc/>
    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>Reserves <paramref name="length"/> bytes aligned to <paramref name="alignment"/> (a power of two).</summary>
    /// <exception cref="InsufficientMemoryException">The memory cannot be reserved; the message says why.</exception>
    public static unsafe ArenaHandle Reserve(nuint length, nuint alignment)
    {
        t_reservations++;
        if (OperatingSystem.IsLinux())
        {
            // Over-reserve by the alignment, then give back the unaligned head and the tail.
            nuint reserve = length + alignment;
            nint raw = NativeMethods.Mmap(0, reserve, NativeMethods.ProtRead | NativeMethods.ProtWrite,
                NativeMethods.MapPrivate | NativeMethods.MapAnonymous | NativeMethods.MapNoReserve, -1, 0);
            if (raw == NativeMethods.MapFailed)
            {
                throw new InsufficientMemoryException($"mmap of {reserve} bytes failed: {Marshal.GetLastPInvokeErrorMessage()}");
            }

            nuint start = ((nuint)raw + alignment - 1) & ~(alignment - 1);
            nuint head = start - (nuint)raw;
            nuint tail = reserve - head - length;
            if (head > 0)
            {
                NativeMethods.Munmap(raw, head);
            }

            if (tail > 0)
            {
                NativeMethods.Munmap((nint)(start + length), tail);
            }

            return new ArenaHandle((nint)start, length, mapped: true);
        }

        void* p = NativeMemory.AlignedAlloc(length, alignment);
        if (p == null)
        {
            throw new InsufficientMemoryException($"NativeMemory.AlignedAlloc of {length} bytes aligned to {alignment} failed.");
        }

        return new ArenaHandle((nint)p, length, mapped: false);
    }

    /// <inheritdoc/>
    protected override unsafe bool ReleaseHandle()
    {
        Volatile.Write(ref _released, true);
        if (_mapped)
        {
            return NativeMethods.Munmap(handle, _length) == 0;
        }

        NativeMemory.AlignedFree((void*)handle);
        return true;
    }
}
