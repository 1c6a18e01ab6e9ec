using Buddy.FreeAreas;
using CsCheck;

namespace Buddy.Tests;

public class FreeBitmapTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(4097)]
    [InlineData(300_000)]
    public void Random_sets_and_clears_agree_with_a_sorted_set(int length)
    {
        Gen.Select(Gen.Int[0, length - 1], Gen.Bool).Array[1, 400].Sample(ops =>
        {
            var bitmap = new FreeBitmap(length);
            var model = new SortedSet<long>();
            foreach ((int index, bool set) in ops)
            {
                if (set && model.Add(index))
                {
                    bitmap.Set(index);
                }
                else if (!set && model.Remove(index))
                {
                    bitmap.Clear(index);
                }

                Assert.Equal(model.Count == 0 ? -1 : model.Min, bitmap.FindFirst());
                Assert.Equal(model.Count == 0 ? -1 : model.Max, bitmap.FindLast());
                Assert.Equal(model.Count, bitmap.Count);
                long probe = (index * 7919L) % (length + 1);
                long expected = -1;
                foreach (long x in model)
                {
                    if (x >= probe)
                    {
                        break;
                    }

                    expected = x;
                }

                Assert.Equal(expected, bitmap.FindLastBefore(probe));
                Assert.True(bitmap.Test(index) == model.Contains(index));
            }

            Assert.Null(bitmap.Validate());
            Assert.Equal(model, bitmap.EnumerateSet());
        }, iter: 60);
    }

    [Fact]
    public void Leaf_chunks_are_dropped_when_empty_so_an_idle_bitmap_is_small()
    {
        var bitmap = new FreeBitmap(1 << 24);
        long idle = bitmap.MetadataBytes;
        for (long i = 0; i < 1 << 24; i += 4096)
        {
            bitmap.Set(i);
        }

        long busy = bitmap.MetadataBytes;
        for (long i = 0; i < 1 << 24; i += 4096)
        {
            bitmap.Clear(i);
        }

        Assert.True(busy > idle + (1 << 20), $"busy {busy} should hold a chunk per set bit beyond idle {idle}");
        Assert.True(bitmap.MetadataBytes <= idle + 512, $"after clearing, {bitmap.MetadataBytes} bytes remain; idle was {idle}");
        Assert.Null(bitmap.Validate());
    }
}
