// Refusals: what a refused rent costs in a full arena (`refusals`). A 64 MiB arena is filled with
// live 4 KiB rentals, so no sweep can reclaim anything and no cache holds a ready rental; then
// TryRent(4096) is refused ten thousand times, timed as a whole, five rounds, the median. Before
// refusals were rate-limited every one of them walked all 16,384 rentals (docs/design.md,
// "Abandoned owners").
using System.Diagnostics;
using System.Globalization;
using Buddy.Memory;
using static Buddy.Units;

namespace Buddy.Benchmarks;

/// <summary>The refused-rent harness.</summary>
internal static class Refusals
{
    private const int Rounds = 5;
    private const int Count = 10_000;

    /// <summary>Fills an arena with live rentals, times refused rents and prints the median per refusal.</summary>
    public static void Run(TextWriter output)
    {
        using NativeArena arena = NativeArena.Create(new ArenaOptions { MaxSize = 64 * MiB, GiveBackFreeMemory = false });
        var owners = new List<ArenaMemory>();
        while (arena.TryRent(4096, out ArenaMemory? owner))
        {
            owners.Add(owner);
        }

        var perRefusal = new List<double>();
        for (int round = 0; round < Rounds; round++)
        {
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < Count; i++)
            {
                if (arena.TryRent(4096, out ArenaMemory? unexpected))
                {
                    throw new InvalidOperationException($"A rent in a full arena succeeded ({unexpected.Length} bytes).");
                }
            }

            perRefusal.Add(Stopwatch.GetElapsedTime(start).TotalNanoseconds / Count);
        }

        perRefusal.Sort();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"refused TryRent(4096) among {owners.Count:N0} live rentals: {perRefusal[Rounds / 2]:F0} ns each (median of {Rounds} rounds of {Count:N0}; {arena.Sweeps:N0} sweeps in all)"));
        owners.ForEach(o => ((IDisposable)o).Dispose());
    }
}
