// TraceTouches: what a trace says about each page before it says anything else — the first event
// that names a page tells its state when the capture began: a page first allocated was free (the
// kernel took it from its free lists), a page first freed was allocated (by someone before the
// capture), a page never named is unknown. Also, per pageblock, the migrate types of the
// first allocations in it: the kernel takes a block from a pageblock of the request's own type
// unless it falls back, so they are evidence of the pageblock's type when tracing started.
//
// Invariants: bits are set once, at a page's first event, and never cleared; Touched ⊇ FreedFirst;
// pages at or beyond EndPfn are counted (OutsidePages), never stored.
using Buddy.Tracing;

namespace Buddy.Simulation.Replay;

/// <summary>The state a trace implies for each page when the capture began, and per pageblock the types first allocated there.</summary>
/// <remarks>Not thread-safe while it is filled; read-only afterwards.</remarks>
public sealed class TraceTouches
{
    private readonly ulong[] _touched;
    private readonly ulong[] _freedFirst;
    private readonly int[] _evidence; // [pageblock * 3 + type]: pages first allocated there, by type (Unmovable, Movable, Reclaimable)

    /// <summary>Creates an empty record for pages [0, <paramref name="endPfn"/>) and pageblocks of 2^<paramref name="pageblockOrder"/> pages.</summary>
    public TraceTouches(ulong endPfn, int pageblockOrder)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(endPfn, TraceReplay.MaxPfn);
        ArgumentOutOfRangeException.ThrowIfNegative(pageblockOrder);
        EndPfn = endPfn;
        PageblockOrder = pageblockOrder;
        _touched = new ulong[(endPfn + 63) / 64];
        _freedFirst = new ulong[_touched.Length];
        _evidence = new int[checked((int)(((endPfn >> pageblockOrder) + 1) * 3))];
    }

    /// <summary>One past the last page recorded.</summary>
    public ulong EndPfn { get; }

    /// <summary>The pageblock order of the evidence.</summary>
    public int PageblockOrder { get; }

    /// <summary>Pages named by the trace at or beyond <see cref="EndPfn"/> (outside the machine).</summary>
    public long OutsidePages { get; private set; }

    /// <summary>Pages whose first event is an allocation (free when the capture began).</summary>
    public long FreeAtStartPages { get; private set; }

    /// <summary>Pages whose first event is a free (allocated before the capture).</summary>
    public long AllocatedAtStartPages { get; private set; }

    /// <summary>The page events <see cref="Read"/> read (what a replay of the same trace counts as its events).</summary>
    internal long PageEvents { get; private set; }

    /// <summary>Reads every page event of <paramref name="reader"/>.</summary>
    public static TraceTouches Read(FtraceReader reader, ulong endPfn, int pageblockOrder)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var touches = new TraceTouches(endPfn, pageblockOrder);
        while (reader.TryRead(out PageEvent e))
        {
            touches.Add(e);
            touches.PageEvents++;
        }

        return touches;
    }

    /// <summary>Records one event: the pages it names that no earlier event named.</summary>
    public void Add(in PageEvent e)
    {
        ulong end = e.Pfn + (1UL << e.Order);
        for (ulong p = e.Pfn; p < end; p++)
        {
            if (p >= EndPfn)
            {
                OutsidePages++;
                continue;
            }

            ulong bit = 1UL << (int)(p & 63);
            ref ulong word = ref _touched[p >> 6];
            if ((word & bit) != 0)
            {
                continue;
            }

            word |= bit;
            if (e.Kind == PageEventKind.Free)
            {
                _freedFirst[p >> 6] |= bit;
                AllocatedAtStartPages++;
            }
            else
            {
                FreeAtStartPages++;
                int type = e.Mobility is MigrateType.Movable or MigrateType.Reclaimable ? (int)e.Mobility : (int)MigrateType.Unmovable;
                _evidence[(int)((p >> PageblockOrder) * 3) + type]++;
            }
        }
    }

    /// <summary>Whether the trace names page <paramref name="pfn"/> at all.</summary>
    public bool IsTouched(ulong pfn) => pfn < EndPfn && (_touched[pfn >> 6] & (1UL << (int)(pfn & 63))) != 0;

    /// <summary>Whether the trace frees page <paramref name="pfn"/> before it allocates it (allocated before the capture).</summary>
    public bool IsFreedFirst(ulong pfn) => pfn < EndPfn && (_freedFirst[pfn >> 6] & (1UL << (int)(pfn & 63))) != 0;

    /// <summary>Pages first allocated with <paramref name="type"/> (Unmovable, Movable or Reclaimable) in the pageblock holding <paramref name="pfn"/>.</summary>
    public int Evidence(ulong pfn, MigrateType type) => _evidence[(int)((pfn >> PageblockOrder) * 3) + (int)type];
}
