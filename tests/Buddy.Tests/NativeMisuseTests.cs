// Misuse of the native-memory and small-block parts (issue 11): every refusal names what was wrong
// and leaves the state exactly as before.
using Buddy.Memory;
using Buddy.Mobility;
using Buddy.Zones;
using Microsoft.Win32.SafeHandles;
using static Buddy.Units;

namespace Buddy.Tests;

/// <summary>Impossible arena settings and direct I/O alignments are refused up front, naming the setting.</summary>
public class ArenaSettingsMisuseTests
{
    public static TheoryData<string, string> ImpossibleSettings => new()
    {
        { "MaxOrder = 60", "MaxOrder" },
        { "MaxOrder = -1", "MaxOrder" },
        { "PageSize << MaxOrder beyond 2^63", "MaxOrder" },
        { "PageSize = 3", "PageSize" },
        { "PageSize = 0", "PageSize" },
        { "PageSize = 256", "PageSize" },
        { "size = 0", "size" },
        { "size not a page multiple", "size" },
        { "size above 2^62", "size" },
        { "ZonesByOffset null", "ZonesByOffset" },
        { "ZonesByOffset not page aligned", "ZonesByOffset" },
        { "ZonesByOffset beyond the arena", "ZonesByOffset" },
        { "ZonesByOffset falling", "ZonesByOffset" },
        { "ZonesByAddress null", "ZonesByAddress" },
        { "Mobility null", "Mobility" },
        { "PageblockOrder above MaxOrder", "Mobility" },
    };

    private static (ulong Size, ArenaOptions Options) Case(string name) => name switch
    {
        "MaxOrder = 60" => (4 * MiB, new ArenaOptions { MaxOrder = 60 }),
        "MaxOrder = -1" => (4 * MiB, new ArenaOptions { MaxOrder = -1 }),
        "PageSize << MaxOrder beyond 2^63" => (1UL << 30, new ArenaOptions { PageSize = 1UL << 30, MaxOrder = 40 }),
        "PageSize = 3" => (4 * MiB, new ArenaOptions { PageSize = 3 }),
        "PageSize = 0" => (4 * MiB, new ArenaOptions { PageSize = 0 }),
        "PageSize = 256" => (4 * MiB, new ArenaOptions { PageSize = 256 }),
        "size = 0" => (0, new ArenaOptions()),
        "size not a page multiple" => (5000, new ArenaOptions()),
        "size above 2^62" => ((1UL << 62) + 4096, new ArenaOptions()),
        "ZonesByOffset null" => (4 * MiB, new ArenaOptions { ZonesByOffset = null! }),
        "ZonesByOffset not page aligned" => (4 * MiB, new ArenaOptions { ZonesByOffset = [new(ZoneKind.Dma, 1000), new(ZoneKind.Normal, ulong.MaxValue)] }),
        "ZonesByOffset beyond the arena" => (4 * MiB, new ArenaOptions { ZonesByOffset = [new(ZoneKind.Dma, ulong.MaxValue - 4095), new(ZoneKind.Normal, ulong.MaxValue)] }),
        "ZonesByOffset falling" => (4 * MiB, new ArenaOptions { ZonesByOffset = [new(ZoneKind.Dma32, 2 * MiB), new(ZoneKind.Dma, 3 * MiB), new(ZoneKind.Normal, ulong.MaxValue)] }),
        "ZonesByAddress null" => (4 * MiB, new ArenaOptions { ZonesByAddress = null! }),
        "Mobility null" => (4 * MiB, new ArenaOptions { Mobility = null! }),
        "PageblockOrder above MaxOrder" => (4 * MiB, new ArenaOptions { MaxOrder = 4, Mobility = MobilitySettings.Grouping }),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "no such case"),
    };

    [Theory]
    [MemberData(nameof(ImpossibleSettings))]
    public void An_impossible_setting_is_an_ArgumentException_naming_it_before_any_memory_is_reserved(string name, string setting)
    {
        (ulong size, ArenaOptions options) = Case(name);
        int reservations = ArenaHandle.ReservationsOnThisThread;
        var ex = Assert.Throws<ArgumentException>(() => NativeArena.Create(size, options));
        Assert.Equal(setting, ex.ParamName);
        Assert.Contains(setting, ex.Message, StringComparison.Ordinal);
        Assert.Equal(reservations, ArenaHandle.ReservationsOnThisThread);
    }

    [Fact]
    public void The_largest_order_the_allocator_supports_is_built_without_reserving_its_alignment()
    {
        // 4 KiB << 48 is 2^60 bytes of alignment no address space has; the arena needs only its own size.
        using NativeArena arena = NativeArena.Create(4 * MiB, new ArenaOptions { MaxOrder = Pages.PageMath.MaxSupportedOrder });
        Assert.Equal(0UL, arena.BaseAddress % (4 * MiB));
        using ArenaMemory whole = arena.Rent(4 * MiB);
        Assert.Equal(arena.BaseAddress, whole.Block.Address);
    }

    [Theory]
    [InlineData(0u, 4096u)]
    [InlineData(4096u, 0u)]
    [InlineData(0u, 0u)]
    public void Direct_IO_with_a_zero_alignment_is_an_ArgumentException_naming_it(uint memory, uint offset)
    {
        string path = Path.GetTempFileName();
        try
        {
            using SafeFileHandle file = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
            using NativeArena arena = NativeArena.Create(1 * MiB);
            using ArenaMemory buffer = arena.Rent(4 * KiB);
            buffer.GetSpan().Fill(0x5A);
            var alignment = new DirectIOAlignment(memory, offset, Reported: false);
            Assert.Equal("alignment", Assert.Throws<ArgumentException>(() => DirectIO.Write(file, buffer, 0, alignment)).ParamName);
            Assert.Equal("alignment", Assert.Throws<ArgumentException>(() => DirectIO.Read(file, buffer, 0, alignment)).ParamName);
            Assert.Equal("alignment", Assert.Throws<ArgumentException>(() => DirectIO.Write(file, buffer, 0, default(DirectIOAlignment))).ParamName);
            Assert.Equal(0L, RandomAccess.GetLength(file));               // nothing written
            Assert.True(buffer.GetSpan().IndexOfAnyExcept((byte)0x5A) < 0); // nothing read
        }
        finally
        {
            File.Delete(path);
        }
    }
}
