// BuddyMetrics: the library's System.Diagnostics.Metrics instruments, readable with
// `dotnet-counters monitor --counters Buddy` or an OpenTelemetry meter provider.
using System.Diagnostics.Metrics;

namespace Buddy.Allocation;

/// <summary>The "Buddy" meter: allocations, failures, compaction moves, and pages in use per zone.</summary>
/// <remarks>Thread-safe. Instruments cost a field read when nobody listens.</remarks>
public static class BuddyMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Buddy";

    private static readonly Meter s_meter = new(MeterName, "0.1.0");
    private static readonly Lock s_lock = new();
    private static readonly List<WeakReference<PageAllocator>> s_allocators = [];

    internal static readonly Counter<long> Allocations = s_meter.CreateCounter<long>("buddy.allocations", "{block}", "Blocks allocated.");
    internal static readonly Counter<long> Failures = s_meter.CreateCounter<long>("buddy.allocation.failures", "{request}", "Requests that failed, by reason.");
    internal static readonly Counter<long> AbandonedRentals = s_meter.CreateCounter<long>("buddy.arena.abandoned_rentals", "{rental}", "Arena rentals whose owner was garbage-collected without Dispose; their memory was given back.");
    internal static readonly Counter<long> CompactionPagesMoved = s_meter.CreateCounter<long>("buddy.compaction.pages_moved", "{page}", "Pages migrated by compaction.");

    static BuddyMetrics()
    {
        s_meter.CreateObservableGauge("buddy.zone.pages_in_use", ObservePagesInUse, "{page}", "Pages of each zone not free (allocated, cached or reserved), per allocator.");
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

    private static IEnumerable<Measurement<long>> ObservePagesInUse()
    {
        PageAllocator[] live;
        lock (s_lock)
        {
            live = [.. s_allocators.Select(w => w.TryGetTarget(out PageAllocator? a) ? a : null).OfType<PageAllocator>()];
        }

        foreach (PageAllocator allocator in live)
        {
            foreach (Zones.ZoneStats zone in allocator.GetZoneStats())
            {
                yield return new Measurement<long>((long)(zone.PresentPages - zone.FreePages),
                    new KeyValuePair<string, object?>("zone", zone.Name), new KeyValuePair<string, object?>("allocator", allocator.Id));
            }
        }
    }
}
