// BuddyMetrics: the library's System.Diagnostics.Metrics instruments, readable with
// `dotnet-counters monitor --counters Buddy` or an OpenTelemetry meter provider.
using System.Diagnostics.Metrics;

namespace Buddy;

/// <summary>The "Buddy" meter: allocations, failures, compaction moves, pages in use per zone, and native arenas' resident and committed bytes.</summary>
/// <remarks>Thread-safe. Instruments cost a field read when nobody listens.</remarks>
public static class BuddyMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Buddy";

    private static readonly Meter s_meter = new(MeterName, "0.1.0");
    private static readonly Lock s_lock = new();
    private static readonly List<WeakReference<PageAllocator>> s_allocators = [];
    private static readonly List<WeakReference<Memory.ArenaReservation>> s_arenas = [];

    internal static readonly Counter<long> Allocations = s_meter.CreateCounter<long>("buddy.allocations", "{block}", "Blocks allocated.");
    internal static readonly Counter<long> Failures = s_meter.CreateCounter<long>("buddy.allocation.failures", "{request}", "Requests that failed, by reason.");
    internal static readonly Counter<long> AbandonedRentals = s_meter.CreateCounter<long>("buddy.arena.abandoned_rentals", "{rental}", "Arena rentals whose owner was garbage-collected without Dispose; their memory was given back.");
    internal static readonly Counter<long> CompactionPagesMoved = s_meter.CreateCounter<long>("buddy.compaction.pages_moved", "{page}", "Pages migrated by compaction.");
    internal static readonly Counter<long> ArenaGivenBack = s_meter.CreateCounter<long>("buddy.arena.given_back", "By", "Bytes of free native-arena memory given back to the operating system.");

    static BuddyMetrics()
    {
        s_meter.CreateObservableGauge("buddy.zone.pages_in_use", ObservePagesInUse, "{page}", "Pages of each zone not free (allocated, cached or reserved), per allocator.");
        s_meter.CreateObservableGauge("buddy.arena.resident_bytes", () => ObserveArenas(r => r.ResidentBytes), "By", "Bytes of each native arena committed and used since their last give-back (an upper bound on its resident memory), per allocator.");
        s_meter.CreateObservableGauge("buddy.arena.committed_bytes", () => ObserveArenas(r => r.CommittedBytes), "By", "Bytes of each native arena committed (readable and writable), per allocator.");
    }

    /// <summary>Counts one allocation when someone listens to <see cref="Allocations"/>.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    internal static void CountAllocation()
    {
        if (Allocations.Enabled)
        {
            Allocations.Add(1);
        }
    }

    /// <summary>Counts one rental reclaimed from an owner dropped without Dispose.</summary>
    internal static void CountAbandonedRental()
    {
        if (AbandonedRentals.Enabled)
        {
            AbandonedRentals.Add(1);
        }
    }

    /// <summary>Registers an allocator for the observable gauges.</summary>
    internal static void Register(PageAllocator allocator)
    {
        lock (s_lock)
        {
            s_allocators.RemoveAll(w => !w.TryGetTarget(out _));
            s_allocators.Add(new WeakReference<PageAllocator>(allocator));
        }
    }

    /// <summary>Registers a native arena's reservation for the arena gauges (until it is collected).</summary>
    internal static void Register(Memory.ArenaReservation arena)
    {
        lock (s_lock)
        {
            s_arenas.RemoveAll(w => !w.TryGetTarget(out _));
            s_arenas.Add(new WeakReference<Memory.ArenaReservation>(arena));
        }
    }

    private static IEnumerable<Measurement<long>> ObserveArenas(Func<Memory.ArenaReservation, ulong> bytes)
    {
        Memory.ArenaReservation[] live;
        lock (s_lock)
        {
            live = [.. s_arenas.Select(w => w.TryGetTarget(out Memory.ArenaReservation? a) ? a : null).OfType<Memory.ArenaReservation>()];
        }

        foreach (Memory.ArenaReservation arena in live)
        {
            if (!arena.IsReleased)
            {
                yield return new Measurement<long>((long)bytes(arena), new KeyValuePair<string, object?>("allocator", arena.AllocatorId));
            }
        }
    }

    private static IEnumerable<Measurement<long>> ObservePagesInUse()
    {
        PageAllocator[] live;
        lock (s_lock)
        {
            live = [.. s_allocators.Select(w => w.TryGetTarget(out PageAllocator? a) ? a : null).OfType<PageAllocator>()];
        }

        foreach (PageAllocator allocator in live)
        {
            foreach (ZoneStats zone in allocator.GetZoneStats())
            {
                yield return new Measurement<long>((long)(zone.PresentPages - zone.FreePages),
                    new KeyValuePair<string, object?>("zone", zone.Name), new KeyValuePair<string, object?>("allocator", allocator.Id));
            }
        }
    }
}
