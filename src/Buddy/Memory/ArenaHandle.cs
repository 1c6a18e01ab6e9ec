// ArenaHandle: owns an arena's native memory — an mmap'd range on Linux, an aligned allocation
// elsewhere — and gives it back exactly once.
using System.Runtime.InteropServices;

namespace Buddy.Memory;

/// <summary>The SafeHandle of a native arena's memory.</summary>
internal sealed class ArenaHandle : SafeHandle
{
    private readonly nuint _length;
    private readonly bool _mapped;

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
        if (_mapped)
        {
            return NativeMethods.Munmap(handle, _length) == 0;
        }

        NativeMemory.AlignedFree((void*)handle);
        return true;
    }
}
