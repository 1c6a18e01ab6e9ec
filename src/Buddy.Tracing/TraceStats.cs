// TraceStats: what a reader has seen so far — lines, events by kind, what it skipped, and the
// kernel's own fragmentation events (KernelEvidence). An event that does not drive a replay is
// counted as skipped, by name, even when it is also read into the evidence.
namespace Buddy.Tracing;

/// <summary>Counts kept while reading a trace.</summary>
/// <remarks>Not thread-safe; owned by one <see cref="FtraceReader"/>.</remarks>
public sealed class TraceStats
{
    private readonly List<(byte[] Name, long Count)> _otherEvents = []; // few distinct names: a list beats hashing

    /// <summary>Lines read, headers and blank lines included.</summary>
    public long Lines { get; internal set; }

    /// <summary>Header lines (starting with '#').</summary>
    public long HeaderLines { get; internal set; }

    /// <summary>Trace events read (every event line, whatever its name).</summary>
    public long Events { get; internal set; }

    /// <summary>mm_page_alloc events that returned a page.</summary>
    public long Allocs { get; internal set; }

    /// <summary>mm_page_free events.</summary>
    public long Frees { get; internal set; }

    /// <summary>mm_page_alloc events that returned no page (counted, not replayed).</summary>
    public long FailedAllocs { get; internal set; }

    /// <summary>
    /// Events of other names (mm_page_free_batched, mm_page_pcpu_drain, ...), counted and not replayed.
    /// The ones the reader reads into <see cref="Evidence"/> (mm_page_alloc_extfrag,
    /// mm_page_alloc_zone_locked, mm_compaction_begin, mm_compaction_end) are counted here too, once
    /// read without error: they annotate the trace, they do not drive a replay.
    /// </summary>
    public long SkippedEvents { get; internal set; }

    /// <summary>Events the kernel dropped because its ring buffer was full ("CPU:n [LOST m EVENTS]" lines); saturates at <see cref="long.MaxValue"/>.</summary>
    public long LostEvents { get; private set; }

    /// <summary>Malformed lines skipped because the reader was told to skip them.</summary>
    public long BadLines { get; internal set; }

    /// <summary>The first malformed line's error, when bad lines were skipped.</summary>
    public string? FirstBadLine { get; internal set; }

    /// <summary>
    /// A snapshot of what the traced kernel recorded so far about its fallbacks, zone-locked
    /// allocations and compaction runs (<see cref="KernelEvidence.Events"/> is 0 when the trace holds
    /// none of those events). Each read copies the counts.
    /// </summary>
    public KernelEvidence Evidence => EvidenceTally.ToEvidence();

    /// <summary>The counters behind <see cref="Evidence"/>, which the reader adds to.</summary>
    internal KernelEvidenceTally EvidenceTally { get; } = new();

    /// <summary>Skipped events by name.</summary>
    public IReadOnlyDictionary<string, long> SkippedByName =>
        _otherEvents.ToDictionary(e => System.Text.Encoding.ASCII.GetString(e.Name), e => e.Count, StringComparer.Ordinal);

    internal void AddLostEvents(ulong count) =>
        LostEvents = count >= (ulong)(long.MaxValue - LostEvents) ? long.MaxValue : LostEvents + (long)count;

    internal void CountSkipped(ReadOnlySpan<byte> name)
    {
        SkippedEvents++;
        for (int i = 0; i < _otherEvents.Count; i++)
        {
            if (name.SequenceEqual(_otherEvents[i].Name))
            {
                _otherEvents[i] = (_otherEvents[i].Name, _otherEvents[i].Count + 1);
                return;
            }
        }

        _otherEvents.Add((name.ToArray(), 1));
    }
}
