// Knuth: the simulation of TAOCP vol. 1 §2.5 on a buddy memory — one request per tick, sizes from
// S1, S2 or S3, lifetimes uniform on 1..10, 1..100 or 1..1000 ticks; it measures internal
// fragmentation (what the power-of-two rounding wastes) and memory use. Memory is counted in
// words: one word per page of the allocator.
namespace Buddy.Simulation.Scenarios;

/// <summary>Knuth's request-size distributions.</summary>
public enum KnuthSizes
{
    /// <summary>S1: uniform on 100..2000 words.</summary>
    S1,

    /// <summary>S2: 1, 2, 4, 8, 16, 32 words with probabilities 1/2, 1/4, 1/8, 1/16, 1/32, 1/32.</summary>
    S2,

    /// <summary>S3: one of 10, 12, 14, 16, 18, 20, 30, 40, ..., 100, 150, 200, 250, 500, 1000, 2000, 3000, 4000 words, uniformly.</summary>
    S3,
}

/// <summary>Settings of the Knuth scenario.</summary>
public sealed record KnuthOptions
{
    /// <summary>The seed.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>The size distribution.</summary>
    public KnuthSizes Sizes { get; init; } = KnuthSizes.S1;

    /// <summary>Lifetimes are uniform on 1..this many ticks (10, 100 or 1000).</summary>
    public int MaxLifetime { get; init; } = 100;

    /// <summary>Ticks measured (after <see cref="WarmupTicks"/>).</summary>
    public int Ticks { get; init; } = 200_000;

    /// <summary>Ticks run before measuring, so the memory reaches its steady state.</summary>
    public int WarmupTicks { get; init; } = 2_000;

    /// <summary>log2 of the memory size in words.</summary>
    public int MemoryOrder { get; init; } = 20;
}

/// <summary>The outcome of the Knuth scenario.</summary>
public sealed record KnuthResult
{
    /// <summary>The settings.</summary>
    public required KnuthOptions Options { get; init; }

    /// <summary>Requests made during the measured ticks.</summary>
    public required long Requests { get; init; }

    /// <summary>Requests the memory could not hold.</summary>
    public required long Overflows { get; init; }

    /// <summary>Σ over ticks of (allocated − requested words) / Σ over ticks of allocated words.</summary>
    public required double InternalFragmentation { get; init; }

    /// <summary>What <see cref="InternalFragmentation"/> divides by.</summary>
    public required string InternalFragmentationDenominator { get; init; }

    /// <summary>Requested words live, averaged over ticks.</summary>
    public required double MeanRequestedWords { get; init; }

    /// <summary>Allocated words live, averaged over ticks.</summary>
    public required double MeanAllocatedWords { get; init; }

    /// <summary>The most words allocated at once.</summary>
    public required ulong PeakAllocatedWords { get; init; }

    /// <summary>The highest address (in words) any block reached: the memory the run needed.</summary>
    public required ulong HighWaterWords { get; init; }
}

/// <summary>Runs Knuth's simulation on a buddy memory.</summary>
public static class Knuth
{
    private static readonly int[] s_s3 = [10, 12, 14, 16, 18, 20, 30, 40, 50, 60, 70, 80, 90, 100, 150, 200, 250, 500, 1000, 2000, 3000, 4000];

    /// <summary>Runs the simulation.</summary>
    public static KnuthResult Run(KnuthOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.MaxLifetime < 1 || options.Ticks < 1 || options.WarmupTicks < 0 || options.MemoryOrder is < 12 or > 30)
        {
            throw new ArgumentException("Knuth needs MaxLifetime ≥ 1, Ticks ≥ 1, WarmupTicks ≥ 0 and MemoryOrder 12..30.", nameof(options));
        }

        var pages = new PageAllocator(MachineLayout.Flat(512UL << options.MemoryOrder) with { PageSize = 512, MaxOrder = options.MemoryOrder });
        var rng = new Random(options.Seed);
        var dying = new Dictionary<long, List<(Block Block, ulong Size)>>();
        ulong requestedLive = 0, allocatedLive = 0, peak = 0, highWater = 0;
        double wastedSum = 0, allocatedSum = 0, requestedSum = 0;
        long requests = 0, overflows = 0;
        for (long tick = 0; tick < options.WarmupTicks + options.Ticks; tick++)
        {
            if (dying.Remove(tick, out List<(Block Block, ulong Size)>? due))
            {
                foreach ((Block block, ulong size) in due)
                {
                    pages.Free(block);
                    requestedLive -= size;
                    allocatedLive -= block.PageCount;
                }
            }

            bool measuring = tick >= options.WarmupTicks;
            ulong words = (ulong)NextSize(rng, options.Sizes);
            long death = tick + rng.Next(1, options.MaxLifetime + 1);
            requests += measuring ? 1 : 0;
            if (pages.TryAllocate(Request.ForPages(words), out Block b))
            {
                if (!dying.TryGetValue(death, out List<(Block, ulong)>? list))
                {
                    dying[death] = list = [];
                }

                list.Add((b, words));
                requestedLive += words;
                allocatedLive += b.PageCount;
                peak = Math.Max(peak, allocatedLive);
                highWater = Math.Max(highWater, b.Pfn + b.PageCount);
            }
            else if (measuring)
            {
                overflows++;
            }

            if (measuring)
            {
                wastedSum += allocatedLive - requestedLive;
                allocatedSum += allocatedLive;
                requestedSum += requestedLive;
            }
        }

        return new KnuthResult
        {
            Options = options,
            Requests = requests,
            Overflows = overflows,
            InternalFragmentation = allocatedSum == 0 ? 0 : wastedSum / allocatedSum,
            InternalFragmentationDenominator = "allocated words, summed over ticks",
            MeanRequestedWords = requestedSum / options.Ticks,
            MeanAllocatedWords = allocatedSum / options.Ticks,
            PeakAllocatedWords = peak,
            HighWaterWords = highWater,
        };
    }

    private static int NextSize(Random rng, KnuthSizes sizes) => sizes switch
    {
        KnuthSizes.S1 => rng.Next(100, 2001),
        KnuthSizes.S2 => rng.Next(32) switch
        {
            < 16 => 1,
            < 24 => 2,
            < 28 => 4,
            < 30 => 8,
            30 => 16,
            _ => 32,
        },
        _ => s_s3[rng.Next(s_s3.Length)],
    };
}
