// ResidentMemory: issue 13's "RSS after a burst and after give-back". A burst rents many buffers
// from a pool and writes every page of them, then returns them all; the process's resident set
// (VmRSS) is read before, after the burst, after the return and after the pool's memory is given
// back (the arena's GiveBack, which returns the free chunks to the operating system).
using System.Buffers;
using System.Globalization;
using Buddy.Memory;

namespace Buddy.Bench;

/// <summary>The process's resident set size after each step of a burst, in bytes.</summary>
/// <param name="Before">Before the burst, just after a full aggressive collection.</param>
/// <param name="AfterBurst">With the burst's buffers rented and every page written.</param>
/// <param name="AfterReturn">After every buffer was returned to the pool.</param>
/// <param name="AfterGiveBack">After the give-back, or null when it is not available.</param>
/// <param name="GiveBack">What the give-back did ("not available" when there is none).</param>
public sealed record BurstFigures(long Before, long AfterBurst, long AfterReturn, long? AfterGiveBack, string GiveBack);

/// <summary>The process's resident memory, and the burst that issue 13's RSS figures come from.</summary>
public static class ResidentMemory
{
    /// <summary>What <see cref="TryGiveBack"/> reports when the arena has no give-back.</summary>
    public const string NotAvailable = "not available";

    /// <summary>
    /// The process's resident set size in bytes: VmRSS of /proc/self/status on Linux, otherwise
    /// <see cref="Environment.WorkingSet"/>.
    /// </summary>
    public static long ProcessBytes()
    {
        const string status = "/proc/self/status";
        if (File.Exists(status))
        {
            foreach (string line in File.ReadLines(status))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    // "VmRSS:     123456 kB"
                    string kb = line["VmRSS:".Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
                    return long.Parse(kb, CultureInfo.InvariantCulture) * 1024;
                }
            }
        }

        return Environment.WorkingSet;
    }

    /// <summary>
    /// Rents <paramref name="bytes"/> from <paramref name="pool"/> in buffers of
    /// <paramref name="bufferSize"/> bytes, writes one byte in every 4 KiB of each (so every page
    /// is resident), returns them all, then calls <paramref name="giveBack"/>, which returns what it
    /// did, or null when there is nothing to call. Reads the resident set at each step, the first
    /// just after a full aggressive collection.
    /// </summary>
    public static BurstFigures Burst(MemoryPool<byte> pool, long bytes, int bufferSize, Func<string?> giveBack)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentNullException.ThrowIfNull(giveBack);

        // Start from a GC heap with no spare memory, so that a managed burst shows its growth
        // instead of filling space an earlier workload left committed.
        CollectAggressively();
        long before = ProcessBytes();
        var rented = new IMemoryOwner<byte>[(int)(bytes / bufferSize)];
        for (int i = 0; i < rented.Length; i++)
        {
            rented[i] = pool.Rent(bufferSize);
            Span<byte> span = rented[i].Memory.Span;
            for (int at = 0; at < span.Length; at += 4096)
            {
                span[at] = 1;
            }
        }

        long afterBurst = ProcessBytes();
        foreach (IMemoryOwner<byte> owner in rented)
        {
            owner.Dispose();
        }

        Array.Clear(rented);
        long afterReturn = ProcessBytes();
        string? did = giveBack();
        return did is null
            ? new BurstFigures(before, afterBurst, afterReturn, null, NotAvailable)
            : new BurstFigures(before, afterBurst, afterReturn, ProcessBytes(), did);
    }

    /// <summary>
    /// The managed pools' give-back: a blocking, compacting, aggressive full collection, which lets
    /// the GC decommit what it no longer needs (ArrayPool&lt;byte&gt;.Shared keeps a few arrays per size).
    /// </summary>
    public static string? CollectAggressively()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        return "GC.Collect(Aggressive)";
    }

    /// <summary>
    /// Gives the arena's free memory back to the operating system (its thread caches emptied first,
    /// so that every returned block is free) and says what it did, with the arena's own count of
    /// resident bytes after it.
    /// </summary>
    public static string? TryGiveBack(NativeArena arena)
    {
        ArgumentNullException.ThrowIfNull(arena);
        arena.DrainCaches();
        ulong given = arena.GiveBack();
        return string.Create(CultureInfo.InvariantCulture, $"NativeArena.GiveBack() gave back {given / (1024.0 * 1024.0):F1} MiB; the arena counts {arena.ResidentBytes / (1024.0 * 1024.0):F1} MiB resident");
    }
}
