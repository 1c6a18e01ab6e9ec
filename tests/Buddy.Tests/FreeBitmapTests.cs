using CsCheck;

namespace Buddy.Tests;

public class FreeBitmapTests
{
    public static TheoryData<long> Lengths => [1, 63, 64, 4096, 4097, 300_000, 1L << 40, 1L << 62];

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Random_sets_clears_and_ranges_agree_with_a_run_list(long length)
    {
        Gen.Select(Gen.Int[0, 9], Gen.Long[0, long.MaxValue], Gen.Long[0, long.MaxValue]).Array[1, 150].Sample(ops =>
        {
            var bitmap = new FreeBitmap(length);
            var model = new RunList();
            foreach ((int kind, long a, long b) in ops)
            {
                long index = Pick(length, kind, a);
                Apply(bitmap, model, length, kind, index, b);
                Assert.Null(bitmap.Validate());
                Agree(bitmap, model, length, index);
                Agree(bitmap, model, length, Pick(length, kind + 1, b));
            }

            if (model.Count <= 20_000)
            {
                Assert.Equal(model.Enumerate(), bitmap.EnumerateSet());
            }
        }, iter: 40);
    }

    [Theory]
    [InlineData(1L << 18)]
    [InlineData(1L << 30)]
    [InlineData(1L << 50)]
    public void Operations_interleaved_on_a_few_leaves_agree_with_a_run_list(long length)
    {
        long[] leaves = [0, 4096, length / 2, length - 4096]; // two siblings, two far apart: the cache is hit, missed and dropped
        Gen.Select(Gen.Int[0, 9], Gen.Int[0, 3], Gen.Long[0, long.MaxValue]).Array[1, 120].Sample(ops =>
        {
            var bitmap = new FreeBitmap(length);
            var model = new RunList();
            foreach ((int kind, int leaf, long r) in ops)
            {
                long index = leaves[leaf] + ((r % 3) switch { 0 => r % 4, 1 => 4092 + (r % 4), _ => r % 4096 });
                ApplyInLeaf(bitmap, model, kind, leaves[leaf], index);
                Assert.Null(bitmap.Validate());
                Agree(bitmap, model, length, index);
            }
        }, iter: 60);
    }

    [Fact]
    public void An_idle_huge_bitmap_is_tiny_and_a_huge_range_is_a_few_nodes()
    {
        var bitmap = new FreeBitmap(1L << 62);
        Assert.True(bitmap.MetadataBytes < 1024, $"idle: {bitmap.MetadataBytes} bytes");
        bitmap.Set((1L << 62) - 1);
        bitmap.Clear((1L << 62) - 1);
        bitmap.ReleaseKept();
        Assert.True(bitmap.MetadataBytes < 1024, $"idle again: {bitmap.MetadataBytes} bytes");

        bitmap.SetRange(0, 1L << 50);
        Assert.Equal(1L << 50, bitmap.Count);
        Assert.True(bitmap.MetadataBytes < 4 * BitmapInner.Bytes, $"after SetRange(0, 2^50): {bitmap.MetadataBytes} bytes");
        bitmap.Clear(12345);
        Assert.True(bitmap.MetadataBytes <= bitmap.Levels * BitmapInner.Bytes, $"after a clear inside the range: {bitmap.MetadataBytes} bytes");
        Assert.Equal(12345, bitmap.NextClear(0));
        Assert.Equal(1L << 50, bitmap.NextClear(12346));
        Assert.Equal(12346, bitmap.NextSet(12345));
        Assert.Null(bitmap.Validate());
    }

    [Fact]
    public void Leaves_are_dropped_when_empty_so_an_idle_bitmap_is_small()
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

        Assert.True(busy > idle + (1 << 20), $"busy {busy} should hold a leaf per set bit beyond idle {idle}");
        Assert.True(bitmap.MetadataBytes <= idle + (bitmap.Levels * BitmapInner.Bytes), $"after clearing, {bitmap.MetadataBytes} bytes remain (the kept path at most); idle was {idle}");
        bitmap.ReleaseKept();
        Assert.Equal(idle, bitmap.MetadataBytes);
        Assert.Null(bitmap.Validate());
    }

    [Theory]
    [InlineData(1L << 18, 77_777L)]
    [InlineData(1L << 50, (1L << 50) - 3)]
    public void Churn_at_one_place_takes_and_gives_no_node(long length, long index)
    {
        var reserve = new ChunkReserve(FreeBitmap.NodesPerChange(length));
        var bitmap = new FreeBitmap(length, reserve);
        bitmap.Set(index);
        bitmap.Clear(index);
        long inHand = reserve.Bytes;
        long bytes = bitmap.MetadataBytes;
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            bitmap.Set(index);
            bitmap.Clear(index);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - allocated);
        Assert.Equal(inHand, reserve.Bytes);
        Assert.Equal(bytes, bitmap.MetadataBytes);
        Assert.Null(bitmap.Validate());
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void One_change_after_reserving_NodesPerChange_never_allocates(long length)
    {
        Gen.Select(Gen.Int[0, 9], Gen.Long[0, long.MaxValue], Gen.Long[0, long.MaxValue]).Array[1, 60].Sample(ops =>
        {
            var reserve = new ChunkReserve(FreeBitmap.NodesPerChange(length));
            var bitmap = new FreeBitmap(length, reserve);
            var model = new RunList();
            foreach ((int kind, long a, long b) in ops)
            {
                if (kind >= 8)
                {
                    Apply(bitmap, model, length, kind, Pick(length, kind, a), b); // a range, reserving for itself
                    continue;
                }

                long index = kind == 7 && model.Count > 0 ? model.InsideARun(a) : Pick(length, kind, a);
                reserve.Clear();
                reserve.Ensure(FreeBitmap.NodesPerChange(length));
                Faults.FailAllocation(1);
                try
                {
                    Toggle(bitmap, model, index);
                }
                finally
                {
                    Faults.FailAllocation(0);
                }

                Assert.Null(bitmap.Validate());
            }
        }, iter: 30);
    }

    [Fact]
    public void A_failed_allocation_leaves_the_bitmap_as_it_was()
    {
        var reserve = new ChunkReserve(perOperation: 1);
        var bitmap = new FreeBitmap(1L << 40, reserve);
        bitmap.SetRange(1L << 30, 1L << 35);
        reserve.Clear();
        foreach (long index in new[] { 5L, (1L << 30) + 4097 })
        {
            bool was = bitmap.Test(index);
            long count = bitmap.Count;
            Faults.FailAllocation(1);
            try
            {
                Assert.Throws<OutOfMemoryException>(() =>
                {
                    if (was)
                    {
                        bitmap.Clear(index);
                    }
                    else
                    {
                        bitmap.Set(index);
                    }
                });
            }
            finally
            {
                Faults.FailAllocation(0);
            }

            Assert.Equal(was, bitmap.Test(index));
            Assert.Equal(count, bitmap.Count);
            Assert.Null(bitmap.Validate());
        }
    }

    [Fact]
    public void Sets_that_fill_a_leaf_fold_it_into_a_full_bit()
    {
        var bitmap = new FreeBitmap(1 << 20);
        for (long i = 0; i < 8192; i++)
        {
            bitmap.Set(i);
        }

        Assert.Equal(BitmapInner.Bytes * (bitmap.Levels - 1), bitmap.MetadataBytes);
        Assert.Equal(8192, bitmap.NextClear(0));
        Assert.Null(bitmap.Validate());
        for (long i = 0; i < 8192; i++)
        {
            bitmap.Clear(i);
        }

        Assert.Equal(-1, bitmap.FindFirst());
        Assert.Null(bitmap.Validate());
    }

    // An index near the start, the end, the middle or a power of two, or anywhere.
    private static long Pick(long length, int kind, long r)
    {
        if (length <= 10_000)
        {
            return r % length;
        }

        long near = r % 5000;
        return (kind % 5) switch
        {
            0 => near,
            1 => length - 1 - near,
            2 => (length / 2) - 2500 + near,
            3 => Math.Clamp((1L << (int)(r % 63)) - 2 + (r % 4), 0, length - 1),
            _ => r % length,
        };
    }

    // Kinds 0-7 toggle one bit (7: one inside a run); 8-9 set a range (as long as the model allows) from index.
    private static void Apply(FreeBitmap bitmap, RunList model, long length, int kind, long index, long b)
    {
        if (kind < 7 || (kind == 7 && model.Count == 0))
        {
            Toggle(bitmap, model, index);
            return;
        }

        if (kind == 7)
        {
            Toggle(bitmap, model, model.InsideARun(b));
            return;
        }

        if (model.Contains(index))
        {
            return;
        }

        long next = model.NextSet(index);
        long room = (next < 0 ? length : next) - index;
        long count = Math.Min(room, kind == 8 ? 1 + (b % 9000) : (1L << (int)(b % 63)) + (b % 1000));
        bitmap.SetRange(index, count);
        model.AddRange(index, count);
    }

    // Kinds 0-3 toggle the bit, 4-5 TryClear it, 6 tests it, 7 fills its leaf (ranges, then a Set that folds it), 8 releases the
    // kept path, 9 clears the first set bit of the leaf (materialising a folded one).
    private static void ApplyInLeaf(FreeBitmap bitmap, RunList model, int kind, long leafBase, long index)
    {
        switch (kind)
        {
            case < 4:
                Toggle(bitmap, model, index);
                break;
            case < 6:
                bool was = model.Contains(index);
                Assert.Equal(was, bitmap.TryClear(index));
                if (was)
                {
                    model.Remove(index);
                }

                break;
            case 6:
                Assert.Equal(model.Contains(index), bitmap.Test(index));
                break;
            case 7:
                FillLeaf(bitmap, model, leafBase);
                break;
            case 8:
                bitmap.ReleaseKept();
                break;
            default:
                long first = model.NextSet(leafBase);
                if (first >= 0 && first < leafBase + 4096)
                {
                    bitmap.Clear(first);
                    model.Remove(first);
                }

                break;
        }
    }

    // Sets every clear bit of the leaf at leafBase: its clear runs but the last bit by SetRange, that bit by Set.
    private static void FillLeaf(FreeBitmap bitmap, RunList model, long leafBase)
    {
        long end = leafBase + 4096;
        for (long clear = model.NextClear(leafBase, end); clear < end; clear = model.NextClear(clear, end))
        {
            long next = model.NextSet(clear);
            long count = Math.Min(next < 0 ? end : next, end) - clear;
            bool last = clear + count == end;
            if (count > 1 || !last)
            {
                bitmap.SetRange(clear, last ? count - 1 : count);
                model.AddRange(clear, last ? count - 1 : count);
            }

            if (last)
            {
                bitmap.Set(end - 1);
                model.AddRange(end - 1, 1);
            }
        }
    }

    private static void Toggle(FreeBitmap bitmap, RunList model, long index)
    {
        if (model.Contains(index))
        {
            bitmap.Clear(index);
            model.Remove(index);
        }
        else
        {
            bitmap.Set(index);
            model.AddRange(index, 1);
        }
    }

    private static void Agree(FreeBitmap bitmap, RunList model, long length, long probe)
    {
        Assert.Equal(model.Count, bitmap.Count);
        Assert.Equal(model.First, bitmap.FindFirst());
        Assert.Equal(model.Last, bitmap.FindLast());
        Assert.Equal(model.Contains(probe), bitmap.Test(probe));
        Assert.Equal(model.NextSet(probe), bitmap.NextSet(probe));
        Assert.Equal(model.NextClear(probe, length), bitmap.NextClear(probe));
        Assert.Equal(model.LastBefore(probe), bitmap.FindLastBefore(probe));
        Assert.Equal(model.LastBefore(probe + 1), bitmap.FindLastBefore(probe + 1));
    }

    // The model: sorted, disjoint, non-adjacent runs [Start, End).
    private sealed class RunList
    {
        private readonly List<(long Start, long End)> _runs = [];

        public long Count { get; private set; }

        public long First => _runs.Count == 0 ? -1 : _runs[0].Start;

        public long Last => _runs.Count == 0 ? -1 : _runs[^1].End - 1;

        public bool Contains(long i) => _runs.Exists(r => r.Start <= i && i < r.End);

        public long NextSet(long from)
        {
            foreach ((long s, long e) in _runs)
            {
                if (e > from)
                {
                    return Math.Max(s, from);
                }
            }

            return -1;
        }

        public long NextClear(long from, long length)
        {
            foreach ((long s, long e) in _runs)
            {
                if (s <= from && from < e)
                {
                    return e;
                }
            }

            return Math.Min(from, length);
        }

        public long LastBefore(long end)
        {
            long best = -1;
            foreach ((long s, long e) in _runs)
            {
                if (s < end)
                {
                    best = Math.Min(e, end) - 1;
                }
            }

            return best;
        }

        public long InsideARun(long r)
        {
            (long s, long e) = _runs[(int)(r % _runs.Count)];
            return s + ((r / 7) % (e - s));
        }

        public void AddRange(long start, long count)
        {
            _runs.Add((start, start + count));
            _runs.Sort();
            Count += count;
            for (int k = _runs.Count - 1; k > 0; k--)
            {
                if (_runs[k - 1].End == _runs[k].Start)
                {
                    _runs[k - 1] = (_runs[k - 1].Start, _runs[k].End);
                    _runs.RemoveAt(k);
                }
            }
        }

        public void Remove(long i)
        {
            int k = _runs.FindIndex(r => r.Start <= i && i < r.End);
            (long s, long e) = _runs[k];
            _runs.RemoveAt(k);
            Count--;
            if (i + 1 < e)
            {
                _runs.Insert(k, (i + 1, e));
            }

            if (s < i)
            {
                _runs.Insert(k, (s, i));
            }
        }

        public IEnumerable<long> Enumerate()
        {
            foreach ((long s, long e) in _runs)
            {
                for (long i = s; i < e; i++)
                {
                    yield return i;
                }
            }
        }
    }
}
