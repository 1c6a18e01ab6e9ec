// IsaDma1995: the seed's story, reproducible. A 1995 PC with 32 MiB; processes and page cache
// churn (orders 0-2) until memory use passes 16 MiB and keep churning; then a driver loads,
// again and again, and asks for ISA DMA buffers: 64 KiB not crossing 64 KiB (8-bit channel),
// 128 KiB not crossing 128 KiB (16-bit channel), a 32 KiB floppy track buffer that falls back to
// 16 KiB, and small kmalloc(GFP_DMA)-sized requests (one page each).
using Buddy.Allocation;
using Buddy.Simulation.Metrics;
using Buddy.Simulation.Policies;
using Buddy.Zones;
using static Buddy.Units;

namespace Buddy.Simulation.Scenarios;

/// <summary>Settings of the ISA DMA scenario.</summary>
public sealed record IsaDmaOptions
{
    /// <summary>The seed of the workload.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>The policies to run; empty: all.</summary>
    public IReadOnlyList<string> Policies { get; init; } = [];

    /// <summary>Memory use the churn hovers around (past 16 MiB).</summary>
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
        IReadOnlyList<string> names = options.Policies.Count > 0 ? options.Policies : PolicyCatalog.Names;
        return [.. names.Select(n => RunOne(PolicyCatalog.Create(n, Machines.Isa1995(), options.DmaPoolSize), options))];
    }

    private static IsaDmaPolicyResult RunOne(Policy policy, IsaDmaOptions options)
    {
        var rng = new Random(options.Seed);
        var metrics = new PolicyMetrics(policy, indexOrder: 4);
        var live = new List<PolicyBlock>();
        ulong page = policy.Machine.PageSize;
        ulong target = options.TargetUse / page;
        long general = 0, refused = 0, dmaRequests = 0, dmaOk = 0;
        int channelAsked = 0, channelOk = 0, floppy32 = 0, floppy16 = 0, floppyNone = 0;
        long step = 0;

        bool Ask(in PolicyRequest request, out PolicyBlock block)
        {
            long t = PolicyMetrics.StartTimer();
            bool ok = policy.TryAllocate(request, out block, out FailureReason why);
            metrics.StopTimer(t);
            metrics.Request(request, ok, why);
            return ok;
        }

        void Churn(int steps)
        {
            for (int i = 0; i < steps; i++)
            {
                bool grow = policy.PagesInUse < target ? rng.NextDouble() < 0.7 : rng.NextDouble() < 0.3;
                if (grow || live.Count == 0)
                {
                    double u = rng.NextDouble();
                    general++;
                    if (Ask(new PolicyRequest(u < 0.75 ? 0 : u < 0.9 ? 1 : 2), out PolicyBlock b))
                    {
                        live.Add(b);
                    }
                    else
                    {
                        refused++;
                    }
                }
                else
                {
                    int k = rng.Next(live.Count);
                    policy.Free(live[k]);
                    live[k] = live[^1];
                    live.RemoveAt(live.Count - 1);
                }

                metrics.Step();
                if (++step % options.SampleEvery == 0)
                {
                    metrics.Sample(step);
                }
            }
        }

        bool Dma(ulong bytes, ulong boundary, List<PolicyBlock> held)
        {
            int order = Pages.PageMath.OrderForPages((bytes + page - 1) / page);
            dmaRequests++;
            bool ok = Ask(new PolicyRequest(order, ZoneKind.Dma, Boundary: boundary), out PolicyBlock b);
            if (ok)
            {
                dmaOk++;
                held.Add(b);
            }

            return ok;
        }

        Churn(options.WarmupSteps);
        for (int round = 0; round < options.DriverRounds; round++)
        {
            Churn(500);
            var held = new List<PolicyBlock>();
            channelAsked += 3;
            channelOk += Dma(64 * KiB, 64 * KiB, held) ? 1 : 0;
            channelOk += Dma(64 * KiB, 64 * KiB, held) ? 1 : 0;
            channelOk += Dma(128 * KiB, 128 * KiB, held) ? 1 : 0;
            if (Dma(32 * KiB, 64 * KiB, held))
            {
                floppy32++;
            }
            else if (Dma(16 * KiB, 64 * KiB, held))
            {
                floppy16++;
            }
            else
            {
                floppyNone++;
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

        metrics.Sample(step);
        return new IsaDmaPolicyResult
        {
            Name = policy.Name,
            DmaRequests = dmaRequests,
            DmaSatisfied = dmaOk,
            ChannelBuffers = $"{channelOk}/{channelAsked}",
            Floppy = $"{floppy32}/{floppy16}/{floppyNone}",
            GeneralRequests = general,
            GeneralRefused = refused,
            BytesSetAsideForDma = policy.PagesSetAsideForDma * page,
            PeakBytesHeldByRetries = policy.PeakPagesHeldByRetries * page,
            RetryAllocations = policy.RetryAllocations,
            Metrics = metrics.ToResult("allocated pages (every request is a whole block)", options.KeepDumps),
        };
    }
}
