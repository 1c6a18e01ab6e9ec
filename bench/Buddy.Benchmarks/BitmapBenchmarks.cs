// BitmapBenchmarks: the bit operations of one idle order-0 pair (an order-10 block split down to
// order 0 and merged back) on FreeBitmap alone, against the same splits and merges on intrusive
// free lists — the piece of the uncached pair that docs/benchmarks.md explains. Also the churn
// cycle (Set and Clear of one bit) that the radix tree's kept path and leaf cache are for.
using BenchmarkDotNet.Attributes;

namespace Buddy.Benchmarks;

/// <summary>Operations per invocation are <see cref="Ops"/>; BenchmarkDotNet reports time per split-and-merge (or per Set+Clear).</summary>
public class BitmapBenchmarks
{
    /// <summary>Pairs per benchmark invocation.</summary>
    public const int Ops = 100_000;

    private const int MaxOrder = 10;
    private const int Pages = 1 << 18; // 1 GiB of 4 KiB pages

    private readonly FreeBitmap[] _free = new FreeBitmap[MaxOrder + 1];
    private readonly FreeBitmap[] _units = new FreeBitmap[MaxOrder + 1];
    private FreeBitmap _churn = null!;
    private readonly int[] _next = new int[Pages]; // intrusive lists: next, previous, and the order a free head has (-1 if none)
    private readonly int[] _prev = new int[Pages];
    private readonly sbyte[] _order = new sbyte[Pages];
    private readonly int[] _head = new int[MaxOrder + 1];

    /// <summary>Both representations hold an idle 1 GiB zone: 256 free order-10 blocks.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var reserve = new ChunkReserve(64);
        for (int o = 0; o <= MaxOrder; o++)
        {
            _free[o] = new FreeBitmap(Pages >> o, reserve);
            _units[o] = new FreeBitmap(Pages >> o, reserve);
        }

        _free[MaxOrder].SetRange(0, Pages >> MaxOrder);
        _churn = new FreeBitmap(Pages, reserve);
        Array.Fill(_head, -1);
        Array.Fill(_order, (sbyte)-1);
        for (int p = Pages - (1 << MaxOrder); p >= 0; p -= 1 << MaxOrder)
        {
            Push(p, MaxOrder);
        }
    }

    /// <summary>Split the lowest order-10 block down to order 0 and merge it back, on FreeBitmaps as Zone does: one free bit per level, the unit's bit set once and cleared once.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Ops)]
    public long SplitMergeBitmaps()
    {
        long sum = 0;
        for (int i = 0; i < Ops; i++)
        {
            long p = _free[MaxOrder].FindFirst() << MaxOrder;
            _free[MaxOrder].Clear(p >> MaxOrder);
            for (int o = MaxOrder - 1; o >= 0; o--)
            {
                _free[o].Set((p + (1L << o)) >> o);
            }

            _units[0].Set(p);
            sum += p;
            _units[0].Clear(p);
            int q = 0;
            for (; q < MaxOrder && _free[q].TryClear((p ^ (1L << q)) >> q); q++)
            {
                p &= ~(1L << q);
            }

            _free[q].Set(p >> q);
        }

        return sum;
    }

    /// <summary>The same splits and merges on intrusive doubly linked free lists (the textbook buddy).</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public long SplitMergeLists()
    {
        long sum = 0;
        for (int i = 0; i < Ops; i++)
        {
            int p = _head[MaxOrder];
            Remove(p, MaxOrder);
            for (int o = MaxOrder; o > 0; o--)
            {
                Push(p + (1 << (o - 1)), o - 1);
            }

            sum += p;
            int q = 0;
            for (; q < MaxOrder && _order[p ^ (1 << q)] == q; q++)
            {
                Remove(p ^ (1 << q), q);
                p &= ~(1 << q);
            }

            Push(p, q);
        }

        return sum;
    }

    /// <summary>Set and clear one bit of an otherwise empty 2^18-bit bitmap (the kept path and leaf cache).</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public long Churn()
    {
        for (int i = 0; i < Ops; i++)
        {
            _churn.Set(77_777);
            _churn.Clear(77_777);
        }

        return _churn.Count;
    }

    private void Push(int page, int order)
    {
        _next[page] = _head[order];
        _prev[page] = -1;
        if (_head[order] >= 0)
        {
            _prev[_head[order]] = page;
        }

        _head[order] = page;
        _order[page] = (sbyte)order;
    }

    private void Remove(int page, int order)
    {
        int next = _next[page], prev = _prev[page];
        if (prev >= 0)
        {
            _next[prev] = next;
        }
        else
        {
            _head[order] = next;
        }

        if (next >= 0)
        {
            _prev[next] = prev;
        }

        _order[page] = -1;
    }
}
