// NativeMethods: the few OS calls the native arena needs — libc's mmap, munmap, mprotect, madvise
// and mlock (Linux and macOS) and kernel32's VirtualAlloc and VirtualFree (Windows).
using System.Runtime.InteropServices;

namespace Buddy.Memory;

/// <summary>libc and kernel32 imports for reserving, committing and advising anonymous memory.</summary>
/// <remarks>The unprefixed constants are Linux's (x86-64 and arm64 share them); <c>Mac</c> ones are macOS's, <c>Win</c> ones Windows'.</remarks>
internal static partial class NativeMethods
{
    public const int ProtNone = 0x0, ProtRead = 0x1, ProtWrite = 0x2;
    public const int MapPrivate = 0x02, MapAnonymous = 0x20, MapNoReserve = 0x4000;
    public const int MadvDontNeed = 4, MadvHugePage = 14;

    // macOS (sys/mman.h): MAP_ANON is 0x1000; MADV_FREE lets the kernel take the pages lazily.
    public const int MacMapAnonymous = 0x1000;
    public const int MacMadvFree = 5;

    // Windows (winnt.h).
    public const uint WinMemCommit = 0x1000, WinMemReserve = 0x2000, WinMemDecommit = 0x4000, WinMemRelease = 0x8000, WinMemReset = 0x80000;
    public const uint WinPageNoAccess = 0x01, WinPageReadWrite = 0x04;

    public static readonly nint MapFailed = -1;

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    public static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    public static partial int Munmap(nint address, nuint length);

    [LibraryImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    public static partial int Mprotect(nint address, nuint length, int protection);

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    public static partial int Madvise(nint address, nuint length, int advice);

    [LibraryImport("libc", EntryPoint = "mlock", SetLastError = true)]
    public static partial int Mlock(nint address, nuint length);

    [LibraryImport("kernel32", EntryPoint = "VirtualAlloc", SetLastError = true)]
    public static partial nint VirtualAlloc(nint address, nuint size, uint allocationType, uint protect);

    [LibraryImport("kernel32", EntryPoint = "VirtualFree", SetLastError = true)]
    public static partial int VirtualFree(nint address, nuint size, uint freeType);
}
