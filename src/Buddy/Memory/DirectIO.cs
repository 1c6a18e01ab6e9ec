// DirectIO: files opened with O_DIRECT (open(2); FileOptions cannot ask for it on Linux), and the
// alignment their file system wants for direct I/O (statx STATX_DIOALIGN). Read and write them
// with RandomAccess through arena blocks, which are aligned to their own size.
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Buddy.Memory;

/// <summary>What a file system wants of direct I/O buffers and offsets.</summary>
/// <param name="MemoryAlignment">Buffer address alignment in bytes.</param>
/// <param name="OffsetAlignment">File offset and length alignment in bytes.</param>
/// <param name="Reported">Whether the kernel reported them (statx STATX_DIOALIGN); otherwise 4,096 is assumed.</param>
public readonly record struct DirectIOAlignment(uint MemoryAlignment, uint OffsetAlignment, bool Reported);

/// <summary>Opens files for direct I/O and tells the alignment they need (Linux).</summary>
public static partial class DirectIO
{
    private const int OCreat = 0x40, OTrunc = 0x200, ORdWr = 0x2, ORdOnly = 0x0, OWrOnly = 0x1, OCloexec = 0x80000;
    private const int AtFdCwd = -100;
    private const uint StatxDioAlign = 0x2000;

    /// <summary>O_DIRECT's value on this architecture (x86-64: 0x4000; arm64: 0x10000).</summary>
    public static int ODirect => RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x10000 : 0x4000;

    /// <summary>Opens <paramref name="path"/> with O_DIRECT.</summary>
    /// <exception cref="PlatformNotSupportedException">Not Linux.</exception>
    /// <exception cref="IOException">open(2) failed; the message names the path and the error (EINVAL: the file system refuses O_DIRECT).</exception>
    public static SafeFileHandle Open(string path, FileMode mode = FileMode.OpenOrCreate, FileAccess access = FileAccess.ReadWrite)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("DirectIO.Open uses open(2) with O_DIRECT, which this helper supports on Linux only.");
        }

        int flags = ODirect | OCloexec | access switch
        {
            FileAccess.Read => ORdOnly,
            FileAccess.Write => OWrOnly,
            _ => ORdWr,
        };
        flags |= mode switch
        {
            FileMode.Create => OCreat | OTrunc,
            FileMode.CreateNew => OCreat | 0x80, // O_EXCL
            FileMode.OpenOrCreate => OCreat,
            FileMode.Truncate => OTrunc,
            _ => 0,
        };
        int fd = OpenNative(path, flags, 0x1A4); // 0644
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            string why = Marshal.GetPInvokeErrorMessage(errno);
            throw new IOException(errno == 22
                ? $"'{path}': the file system refuses O_DIRECT ({why})."
                : $"'{path}': open with O_DIRECT failed: {why} (errno {errno}).", errno);
        }

        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>The direct I/O alignment of <paramref name="path"/>'s file system (statx STATX_DIOALIGN; 4,096 when unknown).</summary>
    public static unsafe DirectIOAlignment GetAlignment(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (OperatingSystem.IsLinux())
        {
            byte* buffer = stackalloc byte[256];
            new Span<byte>(buffer, 256).Clear();
            try
            {
                if (Statx(AtFdCwd, path, 0, StatxDioAlign, buffer) == 0 && (*(uint*)buffer & StatxDioAlign) != 0)
                {
                    uint memory = *(uint*)(buffer + 0x98), offset = *(uint*)(buffer + 0x9c);
                    if (memory != 0 && offset != 0)
                    {
                        return new DirectIOAlignment(memory, offset, Reported: true);
                    }
                }
            }
            catch (EntryPointNotFoundException)
            {
                // an old libc without statx: fall back below
            }
        }

        return new DirectIOAlignment(4096, 4096, Reported: false);
    }

    /// <summary>Writes all of <paramref name="buffer"/> at <paramref name="offset"/>, after checking the direct I/O alignment.</summary>
    /// <exception cref="ArgumentException">The buffer's address, its length or the offset is not aligned as <paramref name="alignment"/> requires (default 4,096), or <paramref name="alignment"/> has a zero part.</exception>
    public static void Write(SafeFileHandle file, ArenaMemory buffer, long offset, DirectIOAlignment? alignment = null)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(buffer);
        CheckAligned(buffer, buffer.Length, offset, alignment);
        RandomAccess.Write(file, buffer.GetSpan(), offset);
    }

    /// <summary>Reads into <paramref name="buffer"/> from <paramref name="offset"/>, after checking the direct I/O alignment; returns the bytes read.</summary>
    /// <exception cref="ArgumentException">The buffer's address, its length or the offset is not aligned as <paramref name="alignment"/> requires (default 4,096), or <paramref name="alignment"/> has a zero part.</exception>
    public static int Read(SafeFileHandle file, ArenaMemory buffer, long offset, DirectIOAlignment? alignment = null)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(buffer);
        CheckAligned(buffer, buffer.Length, offset, alignment);
        return RandomAccess.Read(file, buffer.GetSpan(), offset);
    }

    private static void CheckAligned(ArenaMemory buffer, int length, long offset, DirectIOAlignment? alignment)
    {
        DirectIOAlignment a = alignment ?? new DirectIOAlignment(4096, 4096, Reported: false);
        if (a.MemoryAlignment == 0 || a.OffsetAlignment == 0)
        {
            throw new ArgumentException($"The alignment {a} has a zero MemoryAlignment or OffsetAlignment; pass DirectIO.GetAlignment(path), or null for 4,096 bytes.", nameof(alignment));
        }

        if ((ulong)buffer.DangerousGetPointer() % a.MemoryAlignment != 0)
        {
            throw new ArgumentException($"The buffer at 0x{buffer.DangerousGetPointer():x} is not aligned to {a.MemoryAlignment} bytes, as direct I/O requires.", nameof(buffer));
        }

        if (offset < 0 || (ulong)offset % a.OffsetAlignment != 0 || (ulong)length % a.OffsetAlignment != 0)
        {
            throw new ArgumentException($"The offset {offset} and length {length} must be multiples of {a.OffsetAlignment} bytes for direct I/O.", nameof(offset));
        }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int OpenNative(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);
}
