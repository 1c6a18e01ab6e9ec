// PolicyMetrics: the counters a run keeps for one policy while it drives it, turned into a
// PolicyResult at the end — with the samples and map frames the run asked it to take (a frame is
// a whole allocator dump: runs keep at most FrameSchedule.MaxFrames of them).
using System.Diagnostics;
using Buddy.Kernel;
using Buddy.Simulation.Policies;
using Buddy.Diagnostics;

namespace Buddy.Simulation.Metrics;

/// <summary>Counts requests, failures, pages in use, fragmentation and time for one policy.</summary>
/// <remarks>Not thread-safe.</remarks>
public sealed class PolicyMetrics
{
    private readonly long[] _failuresByOrder;
    private readonly long[] _failuresByZone = new long[3];
    private readonly long[] _failuresByReason = new long[(int)Enum.GetValues<FailureReason>().Max() + 1];
    private readonly List<Sample> _samples = [];
    private readonly List<MapFrame> _frames = [];
    private readonly int _indexOrder;
    private double _pagesInUseSum;
    private long _steps;
    private double _wastedSum, _allocatedSum;
    private long _ticks;

    /// <summary>Creates the counters for <paramref name="policy"/>; indices are taken at <paramref name="indexOrder"/>.</summary>
    public PolicyMetrics(Policy policy, int indexOrder)
    {
        ArgumentNullException.ThrowIfNull(policy);
        Policy = policy;
        _indexOrder = Math.Min(indexOrder, policy.Machine.MaxOrder);
        _failuresByOrder = new long[policy.Machine.MaxOrder + 1];
    }

    /// <summary>The policy measured.</summary>
    public Policy Policy { get; }

    /// <summary>Requests made.</summary>
    public long Requests { get; private set; }

    /// <summary>Requests that failed.</summary>
    public long Failures { get; private set; }

    /// <summary>The most pages in use at once.</summary>
    public ulong PeakPagesInUse { get; private set; }

    /// <summary>Starts timing a call into the policy.</summary>
    public static long StartTimer() => Stopwatch.GetTimestamp();

    /// <summary>Stops timing a call started with <see cref="StartTimer"/>.</summary>
    public void StopTimer(long start) => _ticks += Stopwatch.GetTimestamp() - start;

    /// <summary>Records a request's outcome.</summary>
    public void Request(in PolicyRequest request, bool ok, FailureReason reason)
    {
        Requests++;
        if (!ok)
        {
            Failures++;
            _failuresByOrder[Math.Min(request.Order, _failuresByOrder.Length - 1)]++;
            _failuresByZone[(int)request.Zone]++;
            _failuresByReason[(int)reason]++;
        }
    }

    /// <summary>Records one event or step: pages in use now, and the internal fragmentation of what is live.</summary>
    public void Step(ulong requestedLive = 0, ulong allocatedLive = 0)
    {
        ulong used = Policy.PagesInUse;
        PeakPagesInUse = Math.Max(PeakPagesInUse, used);
        _pagesInUseSum += used;
        _wastedSum += allocatedLive - requestedLive;
        _allocatedSum += allocatedLive;
        _steps++;
    }

    /// <summary>Takes a time-series sample now.</summary>
    public void Sample(long step)
    {
        long[] nrFree = MergedFreeBlockCounts();
        ulong free = 0;
        for (int o = 0; o < nrFree.Length; o++)
        {
            free += (ulong)nrFree[o] << o;
        }

        _samples.Add(new Sample(step, free, Policy.PagesInUse,
            FragmentationIndex.Unusable(nrFree, _indexOrder) / 1000.0,
            FragmentationIndex.Extfrag(nrFree, _indexOrder) / 1000.0,
            Failures,
            nrFree));
    }

    /// <summary>
    /// Keeps the general allocator's state now (a dump of <c>Policy.Allocators[0]</c>) as a frame taken
    /// after <paramref name="step"/> events or steps; a second frame at the same step shares the dump.
    /// Not timed: callers stop the policy's timer around it, as around <see cref="Sample"/>.
    /// </summary>
    public void Frame(long step)
    {
        AllocatorDump dump = _frames.Count > 0 && _frames[^1].Step == step ? _frames[^1].Dump : Policy.Allocators[0].Dump();
        _frames.Add(new MapFrame(step, dump));
    }

    /// <summary>The result, with <paramref name="denominator"/> naming what internal fragmentation divides by.</summary>
    public PolicyResult ToResult(string denominator, bool keepDump = false)
    {
        // A frame taken at the last step is the end state: its dump serves as the final one.
        AllocatorDump? dump = !keepDump ? null : _frames.Count > 0 && _frames[^1].Step == _steps ? _frames[^1].Dump : Policy.Allocators[0].Dump();
        long[] nrFree = MergedFreeBlockCounts();
        double seconds = (double)_ticks / Stopwatch.Frequency;
        return new PolicyResult
        {
            Name = Policy.Name,
            Requests = Requests,
            AllocFailures = Failures,
            FailuresByOrder = _failuresByOrder,
            FailuresByZone = new Dictionary<string, long>
            {
                ["DMA"] = _failuresByZone[(int)ZoneKind.Dma],
                ["DMA32"] = _failuresByZone[(int)ZoneKind.Dma32],
                ["Normal"] = _failuresByZone[(int)ZoneKind.Normal],
            },
            FailuresByReason = Enum.GetValues<FailureReason>().ToDictionary(r => r.ToString(), r => _failuresByReason[(int)r]),
            PeakPagesInUse = PeakPagesInUse,
            MeanPagesInUse = _steps == 0 ? 0 : _pagesInUseSum / _steps,
            InternalFragmentation = _allocatedSum == 0 ? 0 : _wastedSum / _allocatedSum,
            InternalFragmentationDenominator = denominator,
            IndexOrder = _indexOrder,
            MeanUnusableIndex = _samples.Count == 0 ? FragmentationIndex.Unusable(nrFree, _indexOrder) / 1000.0 : _samples.Average(s => s.UnusableIndex),
            FinalUnusableIndex = FragmentationIndex.Unusable(nrFree, _indexOrder) / 1000.0,
            FinalFragmentationIndex = FragmentationIndex.Extfrag(nrFree, _indexOrder) / 1000.0,
            FinalFreeBlocksAtIndexOrder = BlocksAtOrder(nrFree, _indexOrder),
            PagesSetAsideForDma = Policy.PagesSetAsideForDma,
            PeakPagesHeldByRetries = Policy.PeakPagesHeldByRetries,
            RetryAllocations = Policy.RetryAllocations,
            CompactionPagesMoved = Policy.Allocators.Aggregate(0UL, (sum, a) => sum + a.GetCompactionStatistics().PagesMoved),
            EventsPerSecond = seconds > 0 ? _steps / seconds : 0,
            BuddyInfo = Policy.GetBuddyInfo().ToString(),
            Mobility = Policy.Machine.Mobility.GroupByMobility ? Policy.Allocators[0].GetMobilityStatistics() : MobilityStatistics.None,
            PageTypeInfo = Policy.Machine.Mobility.GroupByMobility ? Policy.Allocators[0].GetPageTypeInfo(mixedBlocks: true) : null,
            Samples = _samples,
            Frames = _frames.Count > 0 ? [.. _frames] : null,
            Dump = dump,
        };
    }

    // Free blocks of `order`, a larger block counting as 2^(its order - order) of them.
    private static long BlocksAtOrder(long[] nrFree, int order)
    {
        long blocks = 0;
        for (int o = order; o < nrFree.Length; o++)
        {
            blocks += nrFree[o] << (o - order);
        }

        return blocks;
    }

    // Free blocks per order summed over every zone of every allocator of the policy.
    private long[] MergedFreeBlockCounts()
    {
        long[] merged = new long[Policy.Machine.MaxOrder + 1];
        foreach (PageAllocator allocator in Policy.Allocators)
        {
            foreach (ZoneStats zone in allocator.GetZoneStats())
            {
                for (int o = 0; o < merged.Length; o++)
                {
                    merged[o] += zone.FreeBlockCounts[o];
                }
            }
        }

        return merged;
    }
}
