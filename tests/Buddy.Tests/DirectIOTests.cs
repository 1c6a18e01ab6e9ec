using System.Runtime.InteropServices;
using Buddy.Memory;
using Microsoft.Win32.SafeHandles;
using static Buddy.Units;

namespace Buddy.Tests;

/// <summary>O_DIRECT on the real disk through arena blocks.</summary>
public sealed class DirectIOTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("buddy-dio-").FullName;
    private readonly NativeArena _arena = NativeArena.Create(16 * MiB);

    public void Dispose()
    {
        _arena.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private SafeFileHandle? OpenOrSkipReason(string path, out string? reason)
    {
        reason = null;
        if (!OperatingSystem.IsLinux())
        {
            reason = "O_DIRECT through open(2) is Linux only";
            return null;
        }

        try
        {
            return DirectIO.Open(path, FileMode.Create);
        }
        catch (IOException e) when (e.HResult == 22)
        {
            reason = $"the file system of {_dir} refuses O_DIRECT (tmpfs does): {e.Message}";
            return null;
        }
    }

    [Fact]
    public void Writes_and_reads_back_several_MiB_with_O_DIRECT_through_arena_blocks()
    {
        string path = Path.Combine(_dir, "data.bin");
        using SafeFileHandle? file = OpenOrSkipReason(path, out string? reason);
        Assert.SkipWhen(file is null, reason ?? "");
        DirectIOAlignment alignment = DirectIO.GetAlignment(path);
        Assert.True(alignment.MemoryAlignment is > 0 and <= 4096 && alignment.OffsetAlignment is > 0 and <= 4096, $"{alignment}");

        var rng = new Random(11);
        var expected = new byte[4 * MiB];
        rng.NextBytes(expected);
        using (ArenaMemory buffer = _arena.Rent(1 * MiB))
        {
            for (int i = 0; i < 4; i++)
            {
                expected.AsSpan(i * (int)MiB, (int)MiB).CopyTo(buffer.GetSpan());
                RandomAccess.Write(file!, buffer.GetSpan(), (long)i * (long)MiB);
            }
        }

        using (ArenaMemory buffer = _arena.Rent(4 * MiB))
        {
            int read = DirectIO.Read(file!, buffer, 0, alignment);
            Assert.Equal(expected.Length, read);
            Assert.True(buffer.GetSpan().SequenceEqual(expected));
        }
    }

    [Fact]
    public unsafe void A_misaligned_buffer_is_refused_by_the_kernel_where_the_file_system_enforces_it()
    {
        string path = Path.Combine(_dir, "misaligned.bin");
        using SafeFileHandle? file = OpenOrSkipReason(path, out string? reason);
        Assert.SkipWhen(file is null, reason ?? "");
        using ArenaMemory buffer = _arena.Rent(64 * KiB);
        Span<byte> misaligned = buffer.GetSpan().Slice(1, 4096); // one byte off the page
        IOException? error = null;
        try
        {
            RandomAccess.Write(file!, misaligned, 0);
        }
        catch (IOException e)
        {
            error = e;
        }

        // ext4 and xfs refuse it with EINVAL; a file system that bounces unaligned direct I/O
        // through the page cache accepts it, and only then is this assertion skipped.
        Assert.SkipWhen(error is null, $"the file system of {_dir} accepted a misaligned O_DIRECT write; it does not enforce alignment");
        Assert.Contains("Invalid argument", error!.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void The_helpers_refuse_a_misaligned_offset_before_the_kernel_sees_it()
    {
        string path = Path.Combine(_dir, "offset.bin");
        using SafeFileHandle? file = OpenOrSkipReason(path, out string? reason);
        Assert.SkipWhen(file is null, reason ?? "");
        using ArenaMemory buffer = _arena.Rent(8 * KiB);
        Assert.Equal("offset", Assert.Throws<ArgumentException>(() => DirectIO.Write(file!, buffer, 100)).ParamName);
        DirectIO.Write(file!, buffer, 4096);
        Assert.Equal(8192, DirectIO.Read(file!, buffer, 4096));
    }

    [Fact]
    public void Opening_a_missing_directory_names_the_path_and_the_error()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "Linux only");
        string path = Path.Combine(_dir, "no", "such", "file");
        var ex = Assert.Throws<IOException>(() => DirectIO.Open(path, FileMode.Open));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void O_DIRECT_has_its_architecture_value()
    {
        int expected = RuntimeInformation.ProcessArchitecture is Architecture.Arm64 ? 0x10000 : 0x4000;
        Assert.Equal(expected, DirectIO.ODirect);
    }
}
