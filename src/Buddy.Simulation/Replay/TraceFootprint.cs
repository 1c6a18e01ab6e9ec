// TraceFootprint: what one pass over a trace says about the machine it needs — the highest page
// frame it names and the most pages it holds at once. The peak is counted as the replay counts a
// policy's pages in use: an allocation makes its 2^order frames live (frames already live stay
// counted once: the replay releases a still-held page before reallocating it), a free makes the
// live frames of its range free (frames allocated before the capture are skipped), and the count is
// read after every event. So a policy that never fails has exactly this peak of pages in use.
using Buddy.Tracing;

namespace Buddy.Simulation.Replay;

/// <summary>The extent and the peak of a trace.</summary>
/// <param name="EndPfn">One past the highest page frame the trace names (at least 1).</param>
/// <param name="PeakPages">The most pages the trace held at once, counted after each event as the replay counts pages in use.</param>
public sealed record TraceFootprint(ulong EndPfn, ulong PeakPages)
{
    /// <summary>Reads <paramref name="path"/> once and measures it.</summary>
    /// <exception cref="TraceFormatException">The trace is malformed, holds no page event, or a line names a pfn or order beyond <see cref="TraceBounds"/> (file, line and field named).</exception>
    public static TraceFootprint Measure(string path, ulong pageSize, FtraceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        using FtraceReader reader = FtraceReader.Open(path, options);
        var tally = new Tally(pageSize);
        while (reader.TryRead(out PageEvent e))
        {
            tally.Add(in e, reader.Source);
        }

        reader.ThrowIfNoPageEvents();
        return tally.Result;
    }

    /// <summary>A footprint measured event by event, for a pass that also does other work with the events.</summary>
    internal sealed class Tally(ulong pageSize)
    {
        private readonly TraceBounds _bounds = new(pageSize);
        private readonly PageOwnerMap _live = new();
        private ulong _end = 1, _inUse, _peak;

        /// <summary>The footprint of the events added so far.</summary>
        public TraceFootprint Result => new(_end, _peak);

        /// <summary>Checks <paramref name="e"/> against the bounds (naming <paramref name="source"/> when it is out of them) and counts it.</summary>
        public void Add(in PageEvent e, string source)
        {
            _bounds.Check(e, source);
            ulong pages = 1UL << e.Order;
            _end = Math.Max(_end, e.Pfn + pages);
            bool alloc = e.Kind == PageEventKind.Alloc;
            for (ulong p = e.Pfn; p < e.Pfn + pages; p++)
            {
                bool wasLive = _live[p] != 0;
                if (alloc && !wasLive)
                {
                    _inUse++;
                }
                else if (!alloc && wasLive)
                {
                    _inUse--;
                }
            }

            _live.Fill(e.Pfn, pages, alloc ? 1 : 0);
            _peak = Math.Max(_peak, _inUse);
        }
    }
}
