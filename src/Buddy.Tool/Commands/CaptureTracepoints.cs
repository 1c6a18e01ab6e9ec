// CaptureTracepoints: the tracepoints `buddy capture` turns on, and putting each back as it was.
// The two page events are required (a replay needs them); the kernel's own fragmentation events
// (extfrag fallbacks, zone-locked allocations, compaction begin/end) are enabled where the kernel
// has them and listed as missing where it does not. Each switch's state is read before anything is
// written, and Restore writes every one back even when one of them fails.
namespace Buddy.Tool.Commands;

/// <summary>The enable switches of the tracepoints a capture records, under one tracefs directory.</summary>
internal sealed class CaptureTracepoints
{
    /// <summary>The events a capture cannot do without (system/event, as under tracefs/events).</summary>
    public static readonly IReadOnlyList<string> Required = ["kmem/mm_page_alloc", "kmem/mm_page_free"];

    /// <summary>The events enabled when the kernel has them: what the traced kernel records about fallbacks and compaction.</summary>
    public static readonly IReadOnlyList<string> WhereAvailable =
    [
        "kmem/mm_page_alloc_extfrag", "kmem/mm_page_alloc_zone_locked", "compaction/mm_compaction_begin", "compaction/mm_compaction_end",
    ];

    private readonly string[] _files;
    private readonly string[] _previous;

    private CaptureTracepoints(string[] events, string[] files, string[] previous, string[] missing)
    {
        Events = events;
        _files = files;
        _previous = previous;
        Missing = missing;
    }

    /// <summary>The events this capture enables, required ones first.</summary>
    public IReadOnlyList<string> Events { get; }

    /// <summary>The events of <see cref="WhereAvailable"/> this kernel does not have.</summary>
    public IReadOnlyList<string> Missing { get; }

    /// <summary>Finds the switches under <paramref name="tracefs"/> and reads each one's state (nothing is written).</summary>
    /// <exception cref="UserInputException">A required event's switch does not exist.</exception>
    public static CaptureTracepoints Find(string tracefs)
    {
        string EnableFile(string e) => Path.Combine(tracefs, "events", e, "enable");
        if (Required.FirstOrDefault(e => !File.Exists(EnableFile(e))) is { } absent)
        {
            throw new UserInputException($"tracefs at {tracefs} has no {EnableFile(absent)} (a kernel with CONFIG_FTRACE and the kmem tracepoints is needed).");
        }

        string[] events = [.. Required, .. WhereAvailable.Where(e => File.Exists(EnableFile(e)))];
        string[] files = [.. events.Select(EnableFile)];
        string[] previous = [.. files.Select(f => File.ReadAllText(f).TrimStart().StartsWith('1') ? "1" : "0")]; // "1*" (soft-enabled) reads as on
        return new CaptureTracepoints(events, files, previous, [.. WhereAvailable.Except(events)]);
    }

    /// <summary>Turns every found event on.</summary>
    public void Enable()
    {
        foreach (string f in _files)
        {
            File.WriteAllText(f, "1");
        }
    }

    /// <summary>Writes each switch back as <see cref="Find"/> read it; tries them all, then throws the first failure.</summary>
    public void Restore()
    {
        Exception? first = null;
        for (int i = 0; i < _files.Length; i++)
        {
            try
            {
                File.WriteAllText(_files[i], _previous[i]);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                first ??= e;
            }
        }

        if (first is not null)
        {
            throw new IOException($"could not put every tracepoint back as it was: {first.Message}", first);
        }
    }
}
