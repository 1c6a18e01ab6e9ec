// NativeMethods: the few libc calls the native arena needs on Linux (mmap, munmap, madvise, mlock).
using System.Runtime.InteropServices;

namespace Buddy.Memory;

/// <summary>libc imports for reserving and advising anonymous memory (Linux x86-64 and arm64 constants).</summary>
internal static partial class NativeMethods
{
    public const int ProtRead = 0x1, ProtWrite = 0x2;
    public const int MapPrivate = 0x02, MapAnonymous = 0x20, MapNoReserve = 0x4000;
    public const int MadvHugePage = 14;
    public static readonly nint MapFailed = -1;

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    public static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    public static partial int Munmap(nint address, nuint length);

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    public static partial int Madvise(nint address, nuint length, int advice);

    [LibraryImport("libc", EntryPoint = "mlock", SetLastError = true)]
    public static partial int Mlock(nint address, nuint length);
}
