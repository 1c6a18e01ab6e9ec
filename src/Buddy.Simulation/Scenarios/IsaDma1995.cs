// IsaDma1995: the seed's story, reproducible. A 1995 PC with 32 MiB; processes and page cache
// churn (orders 0-2) until memory use passes 16 MiB and keep churning; then a driver loads,
// again and again, and asks for ISA DMA buffers: 64 KiB not crossing 64 KiB (8-bit channel),
// 128 KiB not crossing 128 KiB (16-bit channel), a 32 KiB floppy track buffer that falls back to
// 16 KiB, and small kmalloc(GFP_DMA)-sized requests (one page each).
//
// Frames (IsaDmaOptions.Frames): moments kept for pictures after round(k * N / Frames) of the run's
// N churn steps (FrameSchedule; N = WarmupSteps + DriverRounds × 800); the last is taken at the
// end of the run, after the driver's last unload, so it is the state the result reports.
using Buddy.Simulation.Metrics;
using Buddy.Simulation.Policies;
using static Buddy.Units;

namespace Buddy.Simulation.Scenarios;

/// <summary>Settings of the ISA DMA scenario.</summary>
public sealed record IsaDmaOptions
{
    /// <summary>The seed of the workload.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>The policies to run; empty: all.</summary>
    public IReadOnlyList<string> Policies { get; init; } = [];

    /// <summary>Memory use in bytes the churn hovers around (past 16 MiB).</summary>
    public ulong TargetUse { get; init; } = 24 * MiB;

    /// <summary>Churn steps before the driver first loads.</summary>
    public int WarmupSteps { get; init; } = 40_000;

    /// <summary>How often the driver loads, uses its buffers under churn, and unloads.</summary>
    public int DriverRounds { get; init; } = 50;

    /// <summary>The reserved-pool policy's pool size.</summary>
    public ulong DmaPoolSize { get; init; } = ReservedPoolPolicy.DefaultPoolSize;

    /// <summary>Keep each policy's final allocator dump (for maps and reports).</summary>
    public bool KeepDumps { get; init; }

    /// <summary>Take a time-series sample (free pages, unusable index, failures) every this many steps.</summary>
    public int SampleEvery { get; init; } = 1000;

    /// <summary>
    /// How many moments of the run each policy keeps as <see cref="PolicyResult.Frames"/> (its
    /// general allocator's dump), evenly spaced over the churn steps, the last at the end of the run.
    /// 0 (the default): none; at most 64.
    /// </summary>
    public int Frames { get; init; }

    /// <summary>The vm sysctls the policies that model them run with (the kernel's defaults).</summary>
    public KernelTunables Tunables { get; init; } = KernelTunables.Defaults;
}

/// <summary>What one policy did in the ISA DMA scenario.</summary>
public sealed record IsaDmaPolicyResult
{
    /// <summary>The policy.</summary>
    public required string Name { get; init; }

    /// <summary>DMA requests the driver made (the floppy's fallback counts as its own request).</summary>
    public required long DmaRequests { get; init; }

    /// <summary>DMA requests satisfied.</summary>
    public required long DmaSatisfied { get; init; }

    /// <summary>64 KiB / 128 KiB channel buffers satisfied, of those asked for.</summary>
    public required string ChannelBuffers { get; init; }

    /// <summary>Floppy loads that got 32 KiB, that fell back to 16 KiB, and that got nothing.</summary>
    public required string Floppy { get; init; }

    /// <summary>General (process and page cache) requests made.</summary>
    public required long GeneralRequests { get; init; }

    /// <summary>General requests refused.</summary>
    public required long GeneralRefused { get; init; }

    /// <summary>Bytes kept for DMA alone (the boot-time pool).</summary>
    public required ulong BytesSetAsideForDma { get; init; }

    /// <summary>The most bytes a DMA retry loop held at once.</summary>
    public required ulong PeakBytesHeldByRetries { get; init; }

    /// <summary>Blocks retry loops allocated and gave back.</summary>
    public required long RetryAllocations { get; init; }

    /// <summary>The common metrics (failures by order and reason, pages in use, indices, buddyinfo).</summary>
    public required PolicyResult Metrics { get; init; }
}

/// <summary>Runs the ISA DMA scenario.</summary>
public static class IsaDma1995
{
    /// <summary>Runs every policy named in <paramref name="options"/> on its own copy of the machine and workload.</summary>
    public static IReadOnlyList<IsaDmaPolicyResult> Run(IsaDmaOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.SampleEvery, 1, nameof(options.SampleEvery));
        FrameSchedule.Validate(options.Frames, "IsaDmaOptions.Frames");
        IReadOnlyList<string> names = options.Policies.Count > 0 ? options.Policies : PolicyCatalog.Names;
        return [.. names.Select(n => RunOne(PolicyCatalog.Create(n, Machines.Isa1995(), options.DmaPoolSize, options.Tunables), options))];
    }

    private static IsaDmaPolicyResult RunOne(Policy policy, IsaDmaOptions options)
    {
        var run = new IsaDmaRun(policy, options);
        run.Churn(options.WarmupSteps);
        for (int round = 0; round < options.DriverRounds; round++)
        {
            run.Churn(500);
            run.DriverLoads();
        }

        return run.Result();
    }

    // One policy's run: the churn of processes and page cache, and the driver's DMA requests.
    private sealed class IsaDmaRun(Policy policy, IsaDmaOptions options)
    {
        // Churn steps in a run: the warm-up, then 500 before and 300 during each driver load.
        private readonly long[] _frameSteps = FrameSchedule.Steps(options.WarmupSteps + (options.DriverRounds * 800L), options.Frames);
        private int _nextFrame;
        private readonly Random _rng = new(options.Seed);
        private readonly PolicyMetrics _metrics = new(policy, indexOrder: 4);
        private readonly List<PolicyBlock> _live = [];
        private readonly ulong _page = policy.Machine.PageSize;
        private readonly ulong _target = options.TargetUse / policy.Machine.PageSize;
        private long _general, _refused, _dmaRequests, _dmaOk, _step;
        private int _channelAsked, _channelOk, _floppy32, _floppy16, _floppyNone;

        // Steps of general load: grow toward the target (70% of steps below it, 30% above), orders
        // 0-2, or free a random live block.
        public void Churn(int steps)
        {
            for (int i = 0; i < steps; i++)
            {
                bool grow = policy.PagesInUse < _target ? _rng.NextDouble() < 0.7 : _rng.NextDouble() < 0.3;
                if (grow || _live.Count == 0)
                {
                    double u = _rng.NextDouble();
                    _general++;
                    if (Ask(new PolicyRequest(u < 0.75 ? 0 : u < 0.9 ? 1 : 2), out PolicyBlock b))
                    {
                        _live.Add(b);
                    }
                    else
                    {
                        _refused++;
                    }
                }
                else
                {
                    int k = _rng.Next(_live.Count);
                    policy.Free(_live[k]);
                    _live[k] = _live[^1];
                    _live.RemoveAt(_live.Count - 1);
                }

                _metrics.Step();
                if (++_step % options.SampleEvery == 0)
                {
                    _metrics.Sample(_step);
                }

                // Frames at the last step wait for the end of the run (Result): the driver still holds its buffers here.
                while (FrameSchedule.IsDue(_frameSteps, _nextFrame, _step) && _frameSteps[_nextFrame] < _frameSteps[^1])
                {
                    _metrics.Frame(_step);
                    _nextFrame++;
                }
            }
        }

        // The driver loads: two 8-bit channel buffers (64 KiB), one 16-bit (128 KiB), a floppy track
        // buffer (32 KiB, else 16 KiB) and 8 kmalloc(GFP_DMA) pages; the load goes on; it unloads.
        public void DriverLoads()
        {
            var held = new List<PolicyBlock>();
            _channelAsked += 3;
            _channelOk += Dma(64 * KiB, 64 * KiB, held) ? 1 : 0;
            _channelOk += Dma(64 * KiB, 64 * KiB, held) ? 1 : 0;
            _channelOk += Dma(128 * KiB, 128 * KiB, held) ? 1 : 0;
            if (Dma(32 * KiB, 64 * KiB, held))
            {
                _floppy32++;
            }
            else if (Dma(16 * KiB, 64 * KiB, held))
            {
                _floppy16++;
            }
            else
            {
                _floppyNone++;
            }

            for (int i = 0; i < 8; i++)
            {
                Dma(512, 0, held); // kmalloc(512, GFP_DMA): one page each in this model
            }

            Churn(300);
            foreach (PolicyBlock b in held)
            {
                policy.Free(b);
            }
        }

        public IsaDmaPolicyResult Result()
        {
            _metrics.Sample(_step);
            for (; _nextFrame < _frameSteps.Length; _nextFrame++)
            {
                _metrics.Frame(_step);
            }

            return new IsaDmaPolicyResult
            {
                Name = policy.Name,
                DmaRequests = _dmaRequests,
                DmaSatisfied = _dmaOk,
                ChannelBuffers = $"{_channelOk}/{_channelAsked}",
                Floppy = $"{_floppy32}/{_floppy16}/{_floppyNone}",
                GeneralRequests = _general,
                GeneralRefused = _refused,
                BytesSetAsideForDma = policy.PagesSetAsideForDma * _page,
                PeakBytesHeldByRetries = policy.PeakPagesHeldByRetries * _page,
                RetryAllocations = policy.RetryAllocations,
                Metrics = _metrics.ToResult("allocated pages (every request is a whole block)", options.KeepDumps),
            };
        }

        private bool Ask(in PolicyRequest request, out PolicyBlock block)
        {
            long t = PolicyMetrics.StartTimer();
            bool ok = policy.TryAllocate(request, out block, out FailureReason why);
            _metrics.StopTimer(t);
            _metrics.Request(request, ok, why);
            return ok;
        }

        private bool Dma(ulong bytes, ulong boundary, List<PolicyBlock> held)
        {
            int order = PageMath.OrderForPages((bytes + _page - 1) / _page);
            _dmaRequests++;
            bool ok = Ask(new PolicyRequest(order, ZoneKind.Dma, Boundary: boundary), out PolicyBlock b);
            if (ok)
            {
                _dmaOk++;
                held.Add(b);
            }

            return ok;
        }
    }
}
