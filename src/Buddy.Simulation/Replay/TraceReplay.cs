// TraceReplay: drives policies with a trace's allocations and frees. Each event is decoded once
// and turned into the operations every policy must see (allocate, free a block or part of it,
// forget an entry, end of event); a batch of them is then applied to one policy after another, so a policy's own structures stay in cache across the batch and its clock
// is read twice per batch, not twice per operation. A trace allocation is remembered by its pfn
// range, so the trace's free of any of those pages releases the matching pages of the policy's own
// block, wherever the policy placed it.
//
// The trace's other events are not replayed; the kernel's own record of fallbacks, zone-locked
// allocations and compaction runs that the reader collects (TraceStats.Evidence) is copied into the
// result as it was read.
//
// Run reads the file once. When it must size the machine itself (no --memory), the one read both
// finds the pfns' extent and keeps the decoded events (up to MaxBufferedEvents, 2^22 of 8 bytes:
// 32 MB),
// and the policies then replay them from memory; a longer trace is read a second time instead, so
// memory stays bounded however long the trace.
//
// Frames (ReplayOptions.Frames): each policy keeps that many dumps of its general allocator, after
// round(k * N / Frames) of the N events (FrameSchedule), so the schedule needs N before the first
// event. The sizing read counts it (buffered or not); on the traced machine the read for
// TraceTouches does; with --memory (no sizing read) the trace is read once more to count its page
// events, only when frames are asked. A frame is taken in Apply at its event's end, with the
// policy's clock stopped as for a sample; the last (event N) is the state the results report.
//
// Invariants:
// - _owner[p] (a PageOwnerMap: memory grows with the pages a trace touches) is the live entry holding trace page p, or 0; an entry's Remaining counts its pages
//   whose _owner still points at it.
// - Once a batch is applied, for every live entry and policy, the policy's block is either absent
//   (the policy failed that allocation) or holds exactly the entry's live pages at the same offsets.
// - Each policy sees the same operations in the same order as the trace produced them: batching
//   changes when a policy runs, never what it is asked (an entry id reused inside a batch is
//   forgotten before it is reused, in every policy's order alike).
using System.Diagnostics;
using Buddy.Simulation.Metrics;
using Buddy.Simulation.Policies;
using Buddy.Simulation.Scenarios;
using Buddy.Tracing;

namespace Buddy.Simulation.Replay;

/// <summary>Replays a Linux page-allocation trace through several policies at once.</summary>
/// <remarks>Not thread-safe; one replay per instance.</remarks>
public sealed class TraceReplay
{
    /// <summary>One past the largest pfn a trace may name (2^30 pages: 4 TiB at 4 KiB pages, the largest machine a replay models; see <see cref="TraceBounds"/>).</summary>
    public const ulong MaxPfn = 1UL << 30;

    /// <summary>The most events <see cref="Run(string, ReplayOptions, Action{long, long}?)"/> keeps from its sizing read (2^22 of 8 bytes: 32 MB); a longer trace is read twice.</summary>
    internal const int MaxBufferedEvents = 1 << 22;

    private const int ChunkEvents = 1 << 16;

    private readonly Policy[] _policies;
    private readonly PolicyMetrics[] _metrics;
    private readonly int _sampleEvery;
    private readonly PageOwnerMap _owner = new();
    private Entry[] _entries = new Entry[1024];
    private readonly PolicyBlock[][] _blocks;
    private readonly Stack<int> _freeIds = new();
    private int _nextId = 1;
    private long _steps;
    private long _appliedSteps; // the steps every policy has been driven through
    private long _unmatchedFrees, _partialFrees, _staleAllocs;
    private int _nextFrame; // the first of FrameSteps not yet taken (the same for every policy between batches)
    private Op[] _ops = new Op[4096];
    private int _opCount;

    // One kept event in 8 bytes, what a replay uses of it: pfn (below MaxPfn = 2^30, checked before
    // it is kept) in bits 0-39, order 40-45, kind 46, migrate type 47-49, zone 50-51, priority 52-53.
    private readonly struct BufferedEvent(in PageEvent e)
    {
        private readonly ulong _bits = e.Pfn | ((ulong)e.Order << 40) | ((ulong)e.Kind << 46)
            | ((ulong)e.Mobility << 47) | ((ulong)e.Zone << 50) | ((ulong)e.Priority << 52);

        // The event again (its line number is not kept: the replay does not use it).
        public PageEvent Event => new((PageEventKind)((_bits >> 46) & 1), _bits & ((1UL << 40) - 1), (int)((_bits >> 40) & 63),
            (MigrateType)((_bits >> 47) & 7), (ZoneKind)((_bits >> 50) & 3), (AllocationPriority)((_bits >> 52) & 3), 0);
    }

    private struct Entry
    {
        public ulong Pfn;
        public int Order;
        public ulong Remaining;
    }

    private enum OpKind : byte
    {
        Allocate, // TryAllocate(Request) into _blocks[policy][Id]
        Free,     // free _blocks[policy][Id] whole, when the policy holds it
        FreePart, // free Length pages at Offset of it
        Forget,   // the entry Id has ended: clear _blocks[policy][Id]
        EndEvent, // one trace event done: the metrics' step (and sample)
    }

    private struct Op
    {
        public OpKind Kind;
        public int Id;
        public PolicyRequest Request;
        public ulong Offset;
        public ulong Length;
    }

    /// <summary>Creates a replay that drives <paramref name="policies"/>.</summary>
    public TraceReplay(IReadOnlyList<Policy> policies, int indexOrder = 9, int sampleEvery = 4096)
    {
        ArgumentNullException.ThrowIfNull(policies);
        if (policies.Count == 0)
        {
            throw new ArgumentException("At least one policy is needed.", nameof(policies));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(sampleEvery, 1);
        _policies = [.. policies];
        _metrics = [.. policies.Select(p => new PolicyMetrics(p, indexOrder))];
        _blocks = [.. policies.Select(_ => new PolicyBlock[1024])];
        _sampleEvery = sampleEvery;
    }

    /// <summary>
    /// Replays a trace file through the policies the options name. When <see cref="ReplayOptions.MemoryBytes"/>
    /// is not given, the machine is sized to <see cref="ReplayOptions.PeakMultiple"/> times the trace's
    /// peak in use (<see cref="TraceFootprint"/>): the file is read once and its events replayed from
    /// memory (a trace of more than 2^22 events is read a second time instead).
    /// </summary>
    /// <exception cref="TraceFormatException">The trace is malformed or truncated, holds no page event, or its recording's program (perf, trace-cmd) failed.</exception>
    /// <exception cref="IOException">The file cannot be opened, or is a perf.data / trace.dat recording whose program is not installed.</exception>
    /// <exception cref="ArgumentException">An option is invalid (unknown policy, memory too small for a pool).</exception>
    public static ReplayResult Run(string path, ReplayOptions options, Action<long, long>? progress = null) =>
        Run(path, options, progress, MaxBufferedEvents);

    /// <summary><see cref="Run(string, ReplayOptions, Action{long, long}?)"/> keeping at most <paramref name="maxBuffered"/> events (tests take both paths).</summary>
    internal static ReplayResult Run(string path, ReplayOptions options, Action<long, long>? progress, int maxBuffered)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(options);
        FrameSchedule.Validate(options.Frames, "ReplayOptions.Frames");
        if (options.Traced is not null)
        {
            return RunOnMachine(path, options, options.Traced, progress);
        }

        if (options.KernelPlacement || options.Node is > 0)
        {
            throw new ArgumentException("The kernel placement and a node other than 0 need the traced machine's layout (ReplayOptions.Traced, from its /proc/zoneinfo).", nameof(options));
        }

        var start = Stopwatch.GetTimestamp();
        var readerOptions = new FtraceOptions { SkipBadLines = options.SkipBadLines };
        Stream file = TraceFile.OpenRead(path); // text, or perf.data / trace.dat printed by their program
        FtraceReader? reader = null;
        try
        {
            reader = new FtraceReader(file, path, readerOptions);
            Action<long>? report = progress is null || !file.CanSeek ? null : _ => progress(file.Position, file.Length);
            List<BufferedEvent[]>? buffered = null;
            int count = 0;
            long events = 0;
            TraceFootprint? footprint = options.MemoryBytes is null ? ReadToMeasure(reader, options.PageSize, maxBuffered, report, out buffered, out count, out events) : null;
            if (footprint is not null)
            {
                reader.ThrowIfNoPageEvents(); // not a machine sized to nothing
            }

            ulong memory = options.MemoryBytes ?? MemoryFor(footprint!.PeakPages, options.PageSize);
            var machine = Machines.X86(memory, options.PageSize);
            IReadOnlyList<string> names = options.Policies.Count > 0 ? options.Policies : PolicyCatalog.Names;
            var policies = names.Select(n => PolicyCatalog.Create(n, machine, options.DmaPoolSize, options.Tunables)).ToList();
            if (options.MemoryBytes is not null && options.Frames > 0)
            {
                events = CountPageEvents(path, readerOptions); // the frames' schedule needs the count first
            }

            var replay = new TraceReplay(policies, options.IndexOrder, options.SampleEvery)
            {
                KeepDumps = options.KeepDumps, PageSize = options.PageSize, FrameSteps = FrameSchedule.Steps(events, options.Frames),
            };
            IReadOnlyList<PolicyResult> results;
            if (options.MemoryBytes is not null)
            {
                results = replay.Drive(reader, report);
            }
            else if (buffered is not null)
            {
                results = replay.DriveBuffered(buffered, count);
            }
            else
            {
                // Too long to keep: read it again, now replaying as it is read.
                reader.Dispose();
                reader = null;
                file = TraceFile.OpenRead(path);
                reader = new FtraceReader(file, path, readerOptions);
                results = replay.Drive(reader, report);
            }

            reader.ThrowIfNoPageEvents();

            return Completed(path, machine, replay, reader, results, start) with { SizedToPeakPages = footprint?.PeakPages };
        }
        finally
        {
            reader?.Dispose(); // and the file under it
            file.Dispose();
        }
    }

    // The replay on the traced machine's own layout: a first read finds each page's first event
    // (for the start state), the second drives the kernel placement and the policies from it.
    private static ReplayResult RunOnMachine(string path, ReplayOptions options, TracedMachine traced, Action<long, long>? progress)
    {
        long started = Stopwatch.GetTimestamp();
        var readerOptions = new FtraceOptions { SkipBadLines = options.SkipBadLines };
        TraceTouches touches;
        using (Stream first = TraceFile.OpenRead(path))
        using (var touchReader = new FtraceReader(first, path, readerOptions))
        {
            touches = TraceTouches.Read(touchReader, Math.Min(traced.EndPfn, MaxPfn), MobilitySettings.Grouping.PageblockOrder);
            touchReader.ThrowIfNoPageEvents();
        }

        MachineLayout machine = traced.Layout(options.PageSize, touches.IsTouched);
        if (options.Node is { } node && !machine.Zones.Any(z => z.Node == node))
        {
            throw new ArgumentException($"Node {node} is not a node of the traced machine; its nodes are {string.Join(", ", machine.Zones.Select(z => z.Node).Distinct())}.", nameof(options));
        }

        MachineStart? start = traced.StartPageTypes is { } startTypes ? MachineStart.Build(machine, touches, startTypes) : null;
        IReadOnlyList<string> names = options.Policies.Count > 0 ? options.Policies : PolicyCatalog.Names;
        var policies = new List<Policy>();
        if (options.KernelPlacement)
        {
            policies.Add(new KernelPlacementPolicy(machine));
        }

        policies.AddRange(names.Select(n => PolicyCatalog.Create(n, machine, options.DmaPoolSize, options.Tunables)));
        var replay = new TraceReplay(policies, options.IndexOrder, options.SampleEvery)
        {
            KeepDumps = options.KeepDumps, PageSize = options.PageSize, Node = options.Node, FrameSteps = FrameSchedule.Steps(touches.PageEvents, options.Frames),
        };
        if (start is not null)
        {
            replay.ApplyStart(start);
        }

        using Stream file = TraceFile.OpenRead(path);
        using var reader = new FtraceReader(file, path, readerOptions);
        Action<long>? report = progress is null || !file.CanSeek ? null : _ => progress(file.Position, file.Length);
        IReadOnlyList<PolicyResult> results = replay.Drive(reader, report);
        reader.ThrowIfNoPageEvents();
        return Completed(path, machine, replay, reader, options.KernelPlacement ? WithDistances(results) : results, started) with
        {
            Start = start is null ? null : Summarize(start),
            EndCheck = options.KernelPlacement && traced.EndBuddyInfo is { } after ? EndCheck(results[0], after) : null,
        };
    }

    // What every replay reports once its reader is done: the machine, the trace's counts and
    // evidence, the policies' results and the time since `started`.
    private static ReplayResult Completed(string path, MachineLayout machine, TraceReplay replay, FtraceReader reader, IReadOnlyList<PolicyResult> results, long started) => new()
    {
        Source = path,
        MemoryBytes = machine.Size,
        PageSize = machine.PageSize,
        Trace = replay.GetTraceCounts(reader.Stats),
        KernelEvidence = reader.Stats.Evidence is { Events: > 0 } evidence ? evidence : null,
        Policies = results,
        Seconds = Stopwatch.GetElapsedTime(started).TotalSeconds,
    };

    // Each policy after the first (the kernel placement) with its distance from it.
    private static PolicyResult[] WithDistances(IReadOnlyList<PolicyResult> results) =>
        [results[0], .. results.Skip(1).Select(r => r with { DistanceFromKernel = KernelDistance.Between(r, results[0]) })];

    private static StartSummary Summarize(MachineStart start)
    {
        static ulong Pages(IReadOnlyList<StartBlock> blocks) => blocks.Aggregate(0UL, (sum, b) => sum + (1UL << b.Order));
        ulong free = start.Zones.Aggregate(0UL, (sum, z) => sum + (ulong)z.RebuiltFreeBlocks.Select((n, o) => n << o).Sum());
        return new StartSummary(Pages(start.PreCaptureBlocks), free, Pages(start.HeldBlocks), start.Zones);
    }

    // The kernel placement's free blocks at the end beside the buddyinfo read after the capture, zone by zone.
    private static List<ZoneFreeCheck> EndCheck(PolicyResult kernel, Buddy.Kernel.BuddyInfo after)
    {
        Buddy.Kernel.BuddyInfo rebuilt = Buddy.Kernel.BuddyInfo.Parse(kernel.BuddyInfo, "the kernel placement's buddyinfo");
        return [.. rebuilt.Zones.Select(z => new ZoneFreeCheck(z.Node, z.Name,
            after.Zones.FirstOrDefault(a => a.Node == z.Node && a.Name == z.Name)?.FreeBlockCounts ?? [],
            z.FreeBlockCounts, 0))];
    }

    // Reads the whole trace, checking every event against the bounds; returns its footprint, its
    // page events' count (total), and the events in chunks of ChunkEvents unless there were more
    // than maxBuffered (then null: the caller reads the trace again).
    private static TraceFootprint ReadToMeasure(FtraceReader reader, ulong pageSize, int maxBuffered, Action<long>? progress, out List<BufferedEvent[]>? events, out int count, out long total)
    {
        var tally = new TraceFootprint.Tally(pageSize);
        events = [];
        count = 0;
        total = 0;
        while (reader.TryRead(out PageEvent e))
        {
            total++;
            tally.Add(in e, reader.Source);
            if (events is not null)
            {
                if (count == maxBuffered)
                {
                    events = null; // too long to keep: from here on only the extent is wanted
                }
                else
                {
                    if ((count & (ChunkEvents - 1)) == 0)
                    {
                        events.Add(new BufferedEvent[ChunkEvents]);
                    }

                    events[^1][count & (ChunkEvents - 1)] = new BufferedEvent(e);
                    count++;
                }
            }

            if (progress is not null && (reader.Stats.Events & 0xFFFF) == 0)
            {
                progress(reader.Stats.Events);
            }
        }

        return tally.Result;
    }

    // The page events of a trace (what Drive replays as its steps), read once for the count alone.
    private static long CountPageEvents(string path, FtraceOptions readerOptions)
    {
        using Stream file = TraceFile.OpenRead(path);
        using var reader = new FtraceReader(file, path, readerOptions);
        long events = 0;
        while (reader.TryRead(out _))
        {
            events++;
        }

        return events;
    }

    /// <summary>The memory that covers every pfn a trace names, in bytes.</summary>
    /// <exception cref="TraceFormatException">The trace is malformed, or a line names a pfn or order beyond <see cref="TraceBounds"/> (file, line and field named).</exception>
    public static ulong MemoryToCover(string path, ulong pageSize, FtraceOptions? options = null) =>
        TraceFootprint.Measure(path, pageSize, options).EndPfn * pageSize;

    /// <summary>The default machine's memory for a trace whose peak in use is <paramref name="peakPages"/>: <see cref="ReplayOptions.PeakMultiple"/> times it (at least one page), in bytes, before <see cref="Machines.X86"/> rounds it up to whole max-order blocks.</summary>
    public static ulong MemoryFor(ulong peakPages, ulong pageSize) =>
        (ulong)Math.Ceiling(Math.Max(peakPages, 1) * ReplayOptions.PeakMultiple) * pageSize;

    /// <summary>The NUMA node every trace request prefers; null: the machine's lowest node.</summary>
    public int? Node { get; init; }

    /// <summary>Whether results keep each policy's final dump.</summary>
    public bool KeepDumps { get; init; }

    /// <summary>The events after which each policy keeps a <see cref="MapFrame"/> (<see cref="FrameSchedule.Steps"/>); empty: none.</summary>
    internal long[] FrameSteps { get; init; } = [];

    /// <summary>Operations recorded before a batch is applied to the policies (a whole event's worth may exceed it); tests set 1 to drive every policy event by event.</summary>
    internal int BatchSize { get; init; } = 4096;

    /// <summary>The page size the trace's pfns count (sets the <see cref="TraceBounds"/> checked per event); 4 KiB by default.</summary>
    public ulong PageSize { get; init; } = 4 * Units.KiB;

    /// <summary>Drives every policy with every event of <paramref name="reader"/>; returns each policy's result.</summary>
    /// <exception cref="TraceFormatException">The trace is malformed, or names a pfn or order beyond <see cref="TraceBounds"/>.</exception>
    public IReadOnlyList<PolicyResult> Drive(FtraceReader reader, Action<long>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var bounds = new TraceBounds(PageSize);
        while (reader.TryRead(out PageEvent e))
        {
            bounds.Check(e, reader.Source);
            Replay(e);
            if (progress is not null && (_steps & 0xFFFF) == 0)
            {
                progress(_steps);
            }
        }

        return Finish();
    }

    // Drives every policy with the first count events of the chunks (read and checked against the
    // bounds by ReadToMeasure).
    private PolicyResult[] DriveBuffered(List<BufferedEvent[]> chunks, int count)
    {
        for (int i = 0; i < count; i++)
        {
            Replay(chunks[i / ChunkEvents][i % ChunkEvents].Event);
        }

        return Finish();
    }

    private void Replay(in PageEvent e)
    {
        if (e.Kind == PageEventKind.Alloc)
        {
            Allocate(e);
        }
        else
        {
            FreeTracePages(e.Pfn, 1UL << e.Order, stale: false);
        }

        _steps++;
        Record(new Op { Kind = OpKind.EndEvent });
        if (_opCount >= BatchSize)
        {
            Apply();
        }
    }

    private PolicyResult[] Finish()
    {
        Apply();
        foreach (PolicyMetrics m in _metrics)
        {
            m.Sample(_steps);
        }

        // The results first (buddyinfo, indices, dumps: the state the trace left), then the last
        // measure: what each policy can still give at the index order. Its blocks are given back,
        // so the policy holds the trace's pages again (compaction may have moved some of them).
        var results = new PolicyResult[_metrics.Length];
        for (int i = 0; i < results.Length; i++)
        {
            PolicyResult r = _metrics[i].ToResult("allocated pages (trace requests are whole blocks, so none is wasted inside them)", KeepDumps);
            var obtained = new List<PolicyBlock>();
            HighAllocMeasurement end = HighAlloc.Measure(_policies[i], r.IndexOrder, obtained);
            foreach (PolicyBlock block in obtained)
            {
                _policies[i].Free(block);
            }

            results[i] = r with { LargeBlocksAtEnd = end };
        }

        return results;
    }

    /// <summary>
    /// Puts every policy in the machine's start state before the first event: the same blocks
    /// allocated in each, and the blocks allocated before the capture (which the trace frees)
    /// remembered as live trace allocations, so their frees release them in every policy.
    /// </summary>
    /// <exception cref="InvalidOperationException">Events were already replayed, or a policy's machine does not hold the start state's blocks.</exception>
    public void ApplyStart(MachineStart start)
    {
        ArgumentNullException.ThrowIfNull(start);
        if (_steps > 0)
        {
            throw new InvalidOperationException("The start state is applied before the first event.");
        }

        int[] ids = new int[start.PreCaptureBlocks.Count];
        for (int k = 0; k < ids.Length; k++)
        {
            StartBlock b = start.PreCaptureBlocks[k];
            ids[k] = NewEntry(b.Pfn, b.Order);
            _owner.Fill(b.Pfn, 1UL << b.Order, ids[k]);
        }

        for (int i = 0; i < _policies.Length; i++)
        {
            PolicyBlock[] blocks = _blocks[i];
            start.ApplyTo(_policies[i], (k, block) => blocks[ids[k]] = block);
        }
    }

    /// <summary>The trace counts after <see cref="Drive"/>.</summary>
    public TraceCounts GetTraceCounts(TraceStats stats)
    {
        ArgumentNullException.ThrowIfNull(stats);
        return new TraceCounts(
            Lines: stats.Lines,
            Events: stats.Events,
            Allocs: stats.Allocs,
            Frees: stats.Frees,
            FailedAllocs: stats.FailedAllocs,
            UnmatchedFrees: _unmatchedFrees,
            PartialFrees: _partialFrees,
            StaleAllocs: _staleAllocs,
            Skipped: stats.SkippedEvents,
            BadLines: stats.BadLines);
    }

    private void Allocate(in PageEvent e)
    {
        ulong pages = 1UL << e.Order;
        if (FreeTracePages(e.Pfn, pages, stale: true))
        {
            _staleAllocs++;
        }

        int id = NewEntry(e.Pfn, e.Order);
        _owner.Fill(e.Pfn, pages, id);
        Record(new Op { Kind = OpKind.Allocate, Id = id, Request = new PolicyRequest(e.Order, e.Zone, e.Mobility, e.Priority, TracePfn: e.Pfn) { Node = Node } });
    }

    private void Record(in Op op)
    {
        if (_opCount == _ops.Length)
        {
            Array.Resize(ref _ops, _ops.Length * 2);
        }

        _ops[_opCount++] = op;
    }

    // Drives each policy in turn through the recorded operations; its clock runs for its own work
    // and its metrics' bookkeeping, and stops while a sample reads its free lists or a frame dumps
    // its allocator.
    private void Apply()
    {
        ReadOnlySpan<Op> ops = _ops.AsSpan(0, _opCount);
        long[] frameSteps = FrameSteps;
        int nextFrame = _nextFrame;
        for (int i = 0; i < _policies.Length; i++)
        {
            Policy policy = _policies[i];
            PolicyMetrics m = _metrics[i];
            PolicyBlock[] blocks = _blocks[i];
            long step = _appliedSteps;
            nextFrame = _nextFrame;
            long t = PolicyMetrics.StartTimer();
            foreach (ref readonly Op op in ops)
            {
                switch (op.Kind)
                {
                    case OpKind.Allocate:
                        bool ok = policy.TryAllocate(op.Request, out PolicyBlock block, out FailureReason reason);
                        m.Request(op.Request, ok, reason);
                        blocks[op.Id] = ok ? block : default;
                        break;
                    case OpKind.Free when !blocks[op.Id].Block.IsEmpty:
                        policy.Free(blocks[op.Id]);
                        break;
                    case OpKind.FreePart when !blocks[op.Id].Block.IsEmpty:
                        policy.FreePart(blocks[op.Id], op.Offset, op.Length);
                        break;
                    case OpKind.Forget:
                        blocks[op.Id] = default;
                        break;
                    case OpKind.EndEvent:
                        m.Step();
                        if (++step % _sampleEvery == 0)
                        {
                            m.StopTimer(t);
                            m.Sample(step);
                            t = PolicyMetrics.StartTimer();
                        }

                        if (FrameSchedule.IsDue(frameSteps, nextFrame, step))
                        {
                            m.StopTimer(t);
                            while (FrameSchedule.IsDue(frameSteps, nextFrame, step))
                            {
                                m.Frame(step);
                                nextFrame++;
                            }

                            t = PolicyMetrics.StartTimer();
                        }

                        break;
                }
            }

            m.StopTimer(t);
        }

        _appliedSteps = _steps;
        _nextFrame = nextFrame;
        _opCount = 0;
    }

    // Releases the live trace pages in [start, start + count) in every policy. Returns whether any
    // page was live. For a trace free, pages no allocation holds are counted as unmatched.
    private bool FreeTracePages(ulong start, ulong count, bool stale)
    {
        ulong end = start + count;
        bool any = false, unmatched = false, partial = false;
        for (ulong p = start; p < end;)
        {
            int id = _owner[p];
            if (id == 0)
            {
                unmatched = true;
                p++;
                continue;
            }

            ref Entry entry = ref _entries[id];
            ulong entryEnd = entry.Pfn + (1UL << entry.Order);
            ulong q = p;
            while (q < end && q < entryEnd && _owner[q] == id)
            {
                q++;
            }

            ulong length = q - p;
            bool whole = p == entry.Pfn && length == 1UL << entry.Order;
            partial |= !whole || start != entry.Pfn || count != 1UL << entry.Order; // part of a block, or another order
            Record(whole ? new Op { Kind = OpKind.Free, Id = id } : new Op { Kind = OpKind.FreePart, Id = id, Offset = p - entry.Pfn, Length = length });

            _owner.Fill(p, length, 0);
            entry.Remaining -= length;
            if (entry.Remaining == 0)
            {
                ReleaseEntry(id);
            }

            any = true;
            p = q;
        }

        if (!stale)
        {
            _unmatchedFrees += unmatched ? 1 : 0;
            _partialFrees += partial && any ? 1 : 0;
        }

        return any;
    }

    private int NewEntry(ulong pfn, int order)
    {
        int id = _freeIds.Count > 0 ? _freeIds.Pop() : _nextId++;
        if (id >= _entries.Length)
        {
            Array.Resize(ref _entries, _entries.Length * 2);
            for (int i = 0; i < _blocks.Length; i++)
            {
                Array.Resize(ref _blocks[i], _entries.Length);
            }
        }

        _entries[id] = new Entry { Pfn = pfn, Order = order, Remaining = 1UL << order };
        return id;
    }

    private void ReleaseEntry(int id)
    {
        Record(new Op { Kind = OpKind.Forget, Id = id });
        _freeIds.Push(id);
    }
}
