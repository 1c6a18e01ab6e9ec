using System.Diagnostics.Metrics;
using static Buddy.Units;

namespace Buddy.Tests;

/// <summary>The "Buddy" meter reports allocations, failures, compaction moves and pages in use per zone.</summary>
public class MetricsTests
{
    [Fact]
    public void A_listener_sees_allocations_failures_and_pages_in_use_of_this_allocator()
    {
        var pages = new PageAllocator(MachineLayout.Flat(1 * MiB));
        long allocations = 0, failures = 0, inUse = -1;
        string? reason = null;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == BuddyMetrics.MeterName)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var tagList = tags.ToArray();
            switch (instrument.Name)
            {
                case "buddy.allocations": Interlocked.Add(ref allocations, value); break;
                case "buddy.allocation.failures":
                    Interlocked.Add(ref failures, value);
                    reason = (string?)tagList.First(t => t.Key == "reason").Value;
                    break;
                case "buddy.zone.pages_in_use":
                    if (tagList.Any(t => t.Key == "allocator" && (int)t.Value! == pages.Id))
                    {
                        inUse = value;
                    }

                    break;
            }
        });
        listener.Start();

        long before = Interlocked.Read(ref allocations);
        var blocks = Enumerable.Range(0, 5).Select(_ => pages.Allocate(Request.ForOrder(2))).ToList();
        Assert.False(pages.TryAllocate(Request.ForOrder(9), out _));
        listener.RecordObservableInstruments();

        Assert.True(Interlocked.Read(ref allocations) - before >= 5, "allocations counted"); // other tests may allocate too
        Assert.True(failures >= 1);
        Assert.NotNull(reason);
        Assert.Equal(20, inUse);
        blocks.ForEach(b => pages.Free(b));
    }
}
