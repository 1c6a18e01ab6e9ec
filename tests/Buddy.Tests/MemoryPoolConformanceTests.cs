using System.Buffers;
using Buddy.Memory;

namespace Buddy.Tests;

/// <summary>
/// What any MemoryPool&lt;byte&gt; must do, written once. Run against MemoryPool&lt;byte&gt;.Shared it
/// proves the tests themselves right; run against BuddyMemoryPool it checks the pool.
/// </summary>
public abstract class MemoryPoolConformanceTests : IDisposable
{
    protected abstract MemoryPool<byte> Pool { get; }

    public virtual void Dispose() => GC.SuppressFinalize(this);

    [Fact]
    public void Rent_with_minus_one_gives_a_default_buffer()
    {
        using IMemoryOwner<byte> owner = Pool.Rent(-1);
        Assert.True(owner.Memory.Length > 0);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(100)]
    [InlineData(4096)]
    [InlineData(65_537)]
    [InlineData(1 << 20)]
    public void Rent_gives_at_least_the_size_asked_for(int size)
    {
        using IMemoryOwner<byte> owner = Pool.Rent(size);
        Assert.True(owner.Memory.Length >= size, $"{owner.Memory.Length} < {size}");
        owner.Memory.Span.Fill(0xA5); // the whole buffer is writable
        Assert.True(owner.Memory.Span.IndexOfAnyExcept((byte)0xA5) < 0);
    }

    [Fact]
    public void Sizes_out_of_range_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Pool.Rent(-2));
        if (Pool.MaxBufferSize < int.MaxValue)
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => Pool.Rent(Pool.MaxBufferSize + 1));
        }
    }

    [Fact]
    public void The_default_max_buffer_size_is_at_least_1_MiB_so_pipelines_use_the_pool()
    {
        Assert.True(Pool.MaxBufferSize >= 1 << 20, $"MaxBufferSize {Pool.MaxBufferSize}");
    }

    [Fact]
    public void Distinct_rentals_do_not_share_memory()
    {
        using IMemoryOwner<byte> a = Pool.Rent(4096);
        using IMemoryOwner<byte> b = Pool.Rent(4096);
        a.Memory.Span.Fill(1);
        b.Memory.Span.Fill(2);
        Assert.True(a.Memory.Span.IndexOfAnyExcept((byte)1) < 0);
        Assert.True(b.Memory.Span.IndexOfAnyExcept((byte)2) < 0);
    }

    [Fact]
    public unsafe void Pin_works_at_every_offset_from_0_to_length()
    {
        using IMemoryOwner<byte> owner = Pool.Rent(4096);
        Memory<byte> memory = owner.Memory;
        using MemoryHandle first = memory.Pin();
        foreach (int offset in new[] { 0, 1, memory.Length / 2, memory.Length - 1, memory.Length })
        {
            using MemoryHandle handle = memory[offset..].Pin();
            Assert.True(handle.Pointer != null);
            Assert.Equal((nint)first.Pointer + offset, (nint)handle.Pointer);
        }
    }

    [Fact]
    public void Disposing_twice_is_safe_and_use_after_dispose_throws()
    {
        IMemoryOwner<byte> owner = Pool.Rent(4096);
        owner.Dispose();
        owner.Dispose();
        Assert.Throws<ObjectDisposedException>(() => owner.Memory);
    }
}

public sealed class SharedMemoryPoolConformanceTests : MemoryPoolConformanceTests
{
    protected override MemoryPool<byte> Pool => MemoryPool<byte>.Shared;
}

public sealed class BuddyMemoryPoolConformanceTests : MemoryPoolConformanceTests
{
    private readonly NativeArena _arena = NativeArena.Create(64 * Units.MiB);

    protected override MemoryPool<byte> Pool => _arena.Pool;

    public override void Dispose()
    {
        _arena.Dispose();
        base.Dispose();
    }
}
