// FtraceReader: streams kmem:mm_page_alloc and mm_page_free events out of trace text, in any of the
// three forms kernel engineers have, told apart line by line by content (never by file name):
//
//   trace_pipe / trace (tracefs), Linux 6.18 include/trace/events/kmem.h:
//     <task>-<pid> [<cpu>] <flags> <timestamp>: mm_page_alloc: page=%p pfn=0x%lx order=%d migratetype=%d gfp_flags=%s
//            bash-1042    [001] d..1.   224.598769: mm_page_free: page=00000000175c6634 pfn=0x120000 order=10
//   perf script (default fields; -F may drop comm, pid/tid, cpu, add flags; the name carries its
//   system and is right-aligned to the longest event name, so it may follow two or more spaces):
//     <comm> <pid>[/<tid>] [<cpu>] <timestamp>: <system>:<event>: <fields>
//               perf-exec 22168 [000] 59890.984124:  kmem:mm_page_free: page=0x50166a pfn=0x50166a order=0
//   trace-cmd report ("cpus=<n>" first; the name padded to 20 columns after it):
//     <comm>-<pid> [<cpu>] <timestamp>: <event>: <fields>
//            trace-cmd-3291  [001]  5127.563153: mm_page_alloc:        page=0x1ef618 pfn=0x1ef618 order=0 migratetype=0 gfp_flags=GFP_KERNEL
//
// Task names may hold spaces, dashes and digits, so a line is anchored at its timestamp (the first
// "<digits>[.<digits>]: " token after a "[<cpu>]" field; a line with no cpu field, as perf script
// -F can print, needs a fractional "<digits>.<digits>: " timestamp), not at its first columns.
// A system prefix other than the event's own (kmem:, compaction:) names another event (a probe
// with the same name) and is skipped under its full name. Header lines are '#' lines and
// trace-cmd's "cpus=<n>", "version = <v>" and "CPU <n> is empty"; lost events are trace_pipe's
// "CPU:<n> [LOST <m> EVENTS]" and trace-cmd's "CPU:<n> [<m> EVENTS DROPPED]" (an unknown count,
// "CPU:<n> [EVENTS DROPPED]", counts as 1). Lines are
// parsed as bytes from a reused buffer: no string per line, memory flat however long the trace.
// A line ends at '\n', "\r\n" or a lone '\r'. Values no kernel prints are bad lines: an event name
// that is not a C identifier (so never invalid UTF-8), an order above KernelLimits.MaxPageOrder, a
// block beyond KernelLimits.MaxPages. Counts saturate at long.MaxValue instead of wrapping.
// The kernel's own fragmentation events (mm_page_alloc_extfrag, mm_page_alloc_zone_locked,
// mm_compaction_begin/end) are read into Stats.Evidence by FtraceReader.Evidence.cs, never returned.
// Binary recordings (perf.data, trace.dat) are turned into this text by TraceFile.
using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text;
using Buddy.Kernel;

namespace Buddy.Tracing;

/// <summary>Options for <see cref="FtraceReader"/>.</summary>
public sealed record FtraceOptions
{
    /// <summary>Count malformed lines and go on, instead of stopping at the first with an error.</summary>
    public bool SkipBadLines { get; init; }
}

/// <summary>Reads page allocation and free events from ftrace text, plain or gzip, one at a time.</summary>
/// <remarks>
/// Other events (mm_page_free_batched, mm_page_pcpu_drain, anything else) are counted in
/// <see cref="Stats"/> and skipped; they repeat or annotate the two that drive a replay. Four of
/// them are also read, every field checked, into <see cref="TraceStats.Evidence"/>: the kernel's own
/// record of fallbacks (mm_page_alloc_extfrag), zone-locked allocations (mm_page_alloc_zone_locked)
/// and compaction runs (mm_compaction_begin, mm_compaction_end); a malformed one is a bad line.
/// Allocations that returned no page are counted.
/// pfn may be hex (kernels from 5.14) or decimal (older). Not thread-safe.
/// </remarks>
public sealed partial class FtraceReader : IDisposable
{
    private const int MaxLine = 1 << 20;
    private static readonly SearchValues<byte> IdentifierBytes = SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"u8);
    private readonly Stream _input;
    private readonly string _source;
    private readonly FtraceOptions _options;
    private byte[] _buffer = new byte[1 << 20];
    private int _start, _end;
    private bool _eof;
    private long _line;

    /// <summary>Reads from <paramref name="stream"/> (plain or gzip); <paramref name="source"/> names it in errors.</summary>
    public FtraceReader(Stream stream, string source, FtraceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(source);
        _source = source;
        _options = options ?? new FtraceOptions();
        _input = TraceInput.Open(stream, source);
    }

    /// <summary>What has been read so far.</summary>
    public TraceStats Stats { get; } = new();

    /// <summary>The name of the input in errors (the file's path for <see cref="Open"/>).</summary>
    public string Source => _source;

    /// <summary>Opens a trace file: text (any of the three forms, plain or gzip), or a perf.data or trace.dat recording printed by perf or trace-cmd (<see cref="TraceFile"/>).</summary>
    /// <exception cref="IOException">The file cannot be opened, or is a directory ("is a directory"), or is a recording whose program is not installed.</exception>
    public static FtraceReader Open(string path, FtraceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        Stream file = TraceFile.OpenRead(path);
        try
        {
            return new FtraceReader(file, path, options);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Throws when what has been read held no kmem:mm_page_alloc or mm_page_free event (an empty
    /// file, headers only, other events only, every line bad and skipped); what needs page events
    /// (a replay, a footprint) calls it once the trace is read, rather than model an empty machine.
    /// </summary>
    /// <exception cref="TraceFormatException">No page event was read ("no page events found: ..."), naming the source, what it held and how to record page events.</exception>
    public void ThrowIfNoPageEvents()
    {
        TraceStats s = Stats;
        if (s.Allocs + s.Frees + s.FailedAllocs > 0)
        {
            return;
        }

        string bad = s.BadLines > 0 ? $", {s.BadLines:N0} bad lines skipped (the first: {s.FirstBadLine})" : "";
        throw new TraceFormatException(_source, 0, null,
            $"no page events found: {s.Lines:N0} lines, {s.Events:N0} events, none of them kmem:mm_page_alloc or kmem:mm_page_free{bad}; "
            + "record them with `buddy capture`, `perf record -e kmem:mm_page_alloc -e kmem:mm_page_free -a` or `trace-cmd record -e kmem:mm_page_alloc -e kmem:mm_page_free`");
    }

    /// <summary>Reads the next allocation or free; false at the end of the trace.</summary>
    /// <exception cref="TraceFormatException">A malformed line (unless skipped) or a truncated or corrupt gzip stream.</exception>
    public bool TryRead(out PageEvent pageEvent)
    {
        while (TryReadLine(out ReadOnlySpan<byte> line))
        {
            _line++;
            Stats.Lines++;
            try
            {
                if (TryParse(line, out pageEvent))
                {
                    return true;
                }
            }
            catch (TraceFormatException e) when (_options.SkipBadLines && e.Line > 0)
            {
                Stats.BadLines++;
                Stats.FirstBadLine ??= e.Message;
            }
        }

        pageEvent = default;
        return false;
    }

    /// <inheritdoc/>
    public void Dispose() => _input.Dispose();

    private bool TryParse(ReadOnlySpan<byte> line, out PageEvent pageEvent)
    {
        pageEvent = default;
        line = line.TrimEnd("\r\n\t "u8); // CRLF files: the last field must not keep its '\r'
        ReadOnlySpan<byte> trimmed = line.TrimStart((byte)' ');
        if (trimmed.IsEmpty)
        {
            return false;
        }

        if (trimmed[0] == (byte)'#')
        {
            Stats.HeaderLines++;
            return false;
        }

        if (IsNonEventLine(trimmed))
        {
            return false;
        }

        int body = FindEventStart(line);
        if (body < 0)
        {
            throw Bad(null, "not a trace event line: expected trace_pipe's '<task>-<pid> [<cpu>] <flags> <timestamp>: <event>: <fields>', perf script's '<comm> <pid> [<cpu>] <timestamp>: <system>:<event>: <fields>' or trace-cmd report's '<comm>-<pid> [<cpu>] <timestamp>: <event>: <fields>'", line);
        }

        ReadOnlySpan<byte> rest = line[body..];
        int colon = rest.IndexOf((byte)':');
        if (colon <= 0 || rest[..colon].IndexOf((byte)' ') >= 0)
        {
            throw Bad("event", "expected '<event>: <fields>' after the timestamp", line);
        }

        // perf script names the event with its system: "kmem:mm_page_alloc: <fields>".
        ReadOnlySpan<byte> system = default;
        if (colon + 1 < rest.Length && rest[colon + 1] != (byte)' ')
        {
            int second = rest[(colon + 1)..].IndexOf((byte)':');
            if (second <= 0 || rest.Slice(colon + 1, second).IndexOf((byte)' ') >= 0)
            {
                throw Bad("event", "expected '<event>: <fields>' or '<system>:<event>: <fields>' after the timestamp", line);
            }

            system = rest[..colon];
            colon += 1 + second;
        }

        ReadOnlySpan<byte> name = system.IsEmpty ? rest[..colon] : rest[(system.Length + 1)..colon];
        if (name.IndexOfAnyExcept(IdentifierBytes) >= 0 || system.IndexOfAnyExcept(IdentifierBytes) >= 0)
        {
            throw Bad("event", "the event name may hold only letters, digits and '_' (as every kernel event name does)", line);
        }

        if (!system.IsEmpty && !IsOwnSystem(system, name))
        {
            Stats.Events++;
            Stats.CountSkipped(rest[..colon]); // probe:mm_page_alloc is not the kmem tracepoint
            return false;
        }

        ReadOnlySpan<byte> fields = rest[(colon + 1)..].TrimStart((byte)' '); // trace-cmd pads the name to 20 columns
        Stats.Events++;
        if (name.SequenceEqual("mm_page_alloc"u8))
        {
            return ParseAlloc(fields, line, out pageEvent);
        }

        if (name.SequenceEqual("mm_page_free"u8))
        {
            Fields found = FindFields(fields);
            ulong pfn = ParsePfn(Field(fields, found.Pfn, "pfn", line), line);
            int order = ParseOrder(Field(fields, found.Order, "order", line), line);
            Stats.Frees++;
            pageEvent = new PageEvent(PageEventKind.Free, pfn, order, MigrateType.Unmovable, ZoneKind.Normal, AllocationPriority.Normal, _line);
            return true;
        }

        ReadEvidence(name, fields, line);
        Stats.CountSkipped(name);
        return false;
    }

    private bool ParseAlloc(ReadOnlySpan<byte> fields, ReadOnlySpan<byte> line, out PageEvent pageEvent)
    {
        pageEvent = default;
        Fields found = FindFields(fields);
        ReadOnlySpan<byte> page = Field(fields, found.Page, "page", line);
        ReadOnlySpan<byte> pfnText = Field(fields, found.Pfn, "pfn", line);
        int order = ParseOrder(Field(fields, found.Order, "order", line), line);
        ReadOnlySpan<byte> mt = Field(fields, found.MigrateType, "migratetype", line);
        ReadOnlySpan<byte> gfp = Field(fields, found.GfpFlags, "gfp_flags", line);
        MigrateType migrate = ParseMigrateType(mt, line);

        // A failed allocation prints a NULL page (all zeros, or "(null)"/"(nil)" on older kernels).
        if (page.IndexOfAnyExcept((byte)'0') < 0 || page.SequenceEqual("(null)"u8) || page.SequenceEqual("(nil)"u8))
        {
            Stats.FailedAllocs++;
            return false;
        }

        ulong pfn = ParsePfn(pfnText, line);
        Stats.Allocs++;
        GfpFlags.Classify(gfp, out ZoneKind zone, out AllocationPriority priority);
        pageEvent = new PageEvent(PageEventKind.Alloc, pfn, order, migrate, zone, priority, _line);
        return true;
    }

    // The index of the event name: after "<timestamp>: " and any spaces (perf right-aligns the
    // name); -1 when there is none. Without a "[<cpu>]" field the timestamp must have a fraction.
    private static int FindEventStart(ReadOnlySpan<byte> line)
    {
        int cpu = FindCpuField(line);
        bool needFraction = cpu < 0;
        int from = Math.Max(cpu, 0);
        for (int i = from; i + 1 < line.Length;)
        {
            int next = line[i..].IndexOf(": "u8);
            if (next < 0)
            {
                return -1;
            }

            i += next;
            int tokenStart = Math.Max(line[..i].LastIndexOf((byte)' ') + 1, from);
            if (IsTimestamp(line[tokenStart..i], needFraction))
            {
                int start = i + 2;
                while (start < line.Length && line[start] == (byte)' ')
                {
                    start++;
                }

                return start;
            }

            i++;
        }

        return -1;
    }

    // Whether a perf system prefix is the event's own: kmem for the page events, compaction for
    // the compaction events; any system for other names (they are skipped either way).
    private static bool IsOwnSystem(ReadOnlySpan<byte> system, ReadOnlySpan<byte> name) =>
        name.StartsWith("mm_compaction_"u8) ? system.SequenceEqual("compaction"u8)
        : !name.StartsWith("mm_page_"u8) || system.SequenceEqual("kmem"u8);

    // Header and lost-event lines of the three formats (see the file's header); true when the
    // line is one of them (counted), false for a line that may be an event.
    private bool IsNonEventLine(ReadOnlySpan<byte> trimmed)
    {
        if (trimmed.StartsWith("CPU:"u8) && trimmed.EndsWith(" EVENTS]"u8))
        {
            // trace_pipe: "CPU:<n> [LOST <m> EVENTS]".
            int lost = trimmed.IndexOf("[LOST "u8);
            if (lost > 0 && AsciiNumbers.TryParseDecimal(trimmed[(lost + 6)..^8], out ulong count))
            {
                Stats.AddLostEvents(count);
                return true;
            }
        }

        if (trimmed.StartsWith("CPU:"u8) && trimmed.EndsWith("EVENTS DROPPED]"u8))
        {
            // trace-cmd report: "CPU:<n> [<m> EVENTS DROPPED]", or "CPU:<n> [EVENTS DROPPED]" when it does not know how many.
            int open = trimmed.IndexOf((byte)'[');
            if (open > 0 && trimmed[(open + 1)..].SequenceEqual("EVENTS DROPPED]"u8))
            {
                Stats.AddLostEvents(1);
                return true;
            }

            if (open > 0 && AsciiNumbers.TryParseDecimal(trimmed[(open + 1)..^16], out ulong count))
            {
                Stats.AddLostEvents(count);
                return true;
            }
        }

        // trace-cmd report's headers: "cpus=<n>", "version = <v>", "CPU <n> is empty".
        bool header = (trimmed.StartsWith("cpus="u8) && AsciiNumbers.TryParseDecimal(trimmed[5..], out _))
            || trimmed.StartsWith("version = "u8)
            || (trimmed.StartsWith("CPU "u8) && trimmed.EndsWith(" is empty"u8) && AsciiNumbers.TryParseDecimal(trimmed[4..^9], out _));
        if (header)
        {
            Stats.HeaderLines++;
        }

        return header;
    }

    // The index after the first "[<digits>]" field, or -1.
    private static int FindCpuField(ReadOnlySpan<byte> line)
    {
        for (int i = 0; i < line.Length; i++)
        {
            int open = line[i..].IndexOf((byte)'[');
            if (open < 0)
            {
                return -1;
            }

            i += open;
            int j = i + 1;
            while (j < line.Length && char.IsAsciiDigit((char)line[j]))
            {
                j++;
            }

            if (j > i + 1 && j < line.Length && line[j] == (byte)']')
            {
                return j + 1;
            }
        }

        return -1;
    }

    private static bool IsTimestamp(ReadOnlySpan<byte> token, bool needFraction)
    {
        int dot = token.IndexOf((byte)'.');
        if (dot < 0 && needFraction)
        {
            return false;
        }

        ReadOnlySpan<byte> whole = dot < 0 ? token : token[..dot];
        ReadOnlySpan<byte> frac = dot < 0 ? [] : token[(dot + 1)..];
        return !whole.IsEmpty && whole.IndexOfAnyExceptInRange((byte)'0', (byte)'9') < 0
            && (dot < 0 || (!frac.IsEmpty && frac.IndexOfAnyExceptInRange((byte)'0', (byte)'9') < 0));
    }

    // Where each value of the two events' fields lies in the fields text: (start, length), start -1
    // when the key is missing; the first "key=value" token of a key wins.
    private struct Fields
    {
        public (int Start, int Length) Page, Pfn, Order, MigrateType, GfpFlags;
    }

    // The kernel's own layout first, then one pass over the space-separated tokens, each looked at
    // once (the keys have no '=', so a token's key is what precedes its first '=').
    private static Fields FindFields(ReadOnlySpan<byte> fields)
    {
        (int, int) missing = (-1, 0);
        var found = new Fields { Page = missing, Pfn = missing, Order = missing, MigrateType = missing, GfpFlags = missing };
        if (InKernelLayout(fields, ref found))
        {
            return found;
        }

        found = new Fields { Page = missing, Pfn = missing, Order = missing, MigrateType = missing, GfpFlags = missing };
        int start = 0;
        while (start < fields.Length)
        {
            int space = fields[start..].IndexOf((byte)' ');
            int end = space < 0 ? fields.Length : start + space;
            ReadOnlySpan<byte> token = fields[start..end];
            int eq = token.IndexOf((byte)'=');
            if (eq > 0)
            {
                ref (int Start, int Length) slot = ref SlotOf(ref found, token[..eq]);
                if (!Unsafe.IsNullRef(ref slot) && slot.Start < 0)
                {
                    slot = (start + eq + 1, token.Length - eq - 1); // the first occurrence of a key counts
                }
            }

            start = end + 1;
        }

        return found;
    }

    // The field a key names, or a null reference for a key the reader does not use (matched by
    // length first: one compare rules out most keys).
    private static ref (int Start, int Length) SlotOf(ref Fields found, ReadOnlySpan<byte> key)
    {
        switch (key.Length)
        {
            case 3 when key.SequenceEqual("pfn"u8): return ref found.Pfn;
            case 4 when key.SequenceEqual("page"u8): return ref found.Page;
            case 5 when key.SequenceEqual("order"u8): return ref found.Order;
            case 9 when key.SequenceEqual("gfp_flags"u8): return ref found.GfpFlags;
            case 11 when key.SequenceEqual("migratetype"u8): return ref found.MigrateType;
            default: return ref Unsafe.NullRef<(int Start, int Length)>();
        }
    }

    // Whether the fields are exactly what kmem.h prints, "page=… pfn=… order=…" and for an
    // allocation " migratetype=… gfp_flags=…" after it (each key once, so the general scan would
    // find the same values); found holds them when so.
    private static bool InKernelLayout(ReadOnlySpan<byte> fields, ref Fields found)
    {
        int at = 0;
        if (!Next(fields, ref at, "page="u8, out found.Page) || !Next(fields, ref at, " pfn="u8, out found.Pfn)
            || !Next(fields, ref at, " order="u8, out found.Order))
        {
            return false;
        }

        return at == fields.Length
            || (Next(fields, ref at, " migratetype="u8, out found.MigrateType) && Next(fields, ref at, " gfp_flags="u8, out found.GfpFlags) && at == fields.Length);

        static bool Next(ReadOnlySpan<byte> fields, ref int at, ReadOnlySpan<byte> key, out (int Start, int Length) value)
        {
            value = (-1, 0);
            if (!fields[at..].StartsWith(key))
            {
                return false;
            }

            int start = at + key.Length;
            int space = fields[start..].IndexOf((byte)' ');
            at = space < 0 ? fields.Length : start + space;
            value = (start, at - start);
            return true;
        }
    }

    private ReadOnlySpan<byte> Field(ReadOnlySpan<byte> fields, (int Start, int Length) at, string name, ReadOnlySpan<byte> line) =>
        at.Start >= 0 ? fields.Slice(at.Start, at.Length) : throw Bad(name, $"missing; expected '{name}=<value>'", line);

    private ulong ParsePfn(ReadOnlySpan<byte> text, ReadOnlySpan<byte> line)
    {
        if (!AsciiNumbers.TryParseHex(text, out ulong pfn) && !AsciiNumbers.TryParseDecimal(text, out pfn))
        {
            throw Bad("pfn", $"expected pfn=0x<hex> or pfn=<decimal>, found '{Encoding.ASCII.GetString(text)}'", line);
        }

        if (pfn >= KernelLimits.MaxPages)
        {
            throw Bad("pfn", $"pfn 0x{pfn:x} is beyond every machine: page frames end below 0x{KernelLimits.MaxPages:x} (2^{KernelLimits.MaxPhysicalAddressBits} bytes of 4 KiB pages)", line);
        }

        return pfn;
    }

    private int ParseOrder(ReadOnlySpan<byte> text, ReadOnlySpan<byte> line, string field = "order")
    {
        if (!AsciiNumbers.TryParseDecimal(text, out ulong order) || order > KernelLimits.MaxPageOrder)
        {
            throw Bad(field, $"expected an order 0..{KernelLimits.MaxPageOrder} (no kernel's buddy allocator holds a larger block), found '{Encoding.ASCII.GetString(text)}'", line);
        }

        return (int)order;
    }

    private MigrateType ParseMigrateType(ReadOnlySpan<byte> text, ReadOnlySpan<byte> line, string field = "migratetype")
    {
        if (!AsciiNumbers.TryParseDecimal(text, out ulong migrate) || migrate > (ulong)MigrateType.Isolate)
        {
            throw Bad(field, $"expected a migrate type 0..5, found '{Encoding.ASCII.GetString(text)}'", line);
        }

        return (MigrateType)migrate;
    }

    private TraceFormatException Bad(string? field, string message, ReadOnlySpan<byte> line)
    {
        string shown = Encoding.ASCII.GetString(line.Length > 160 ? line[..160] : line).Trim();
        return new TraceFormatException(_source, _line, field, $"{message} (line: '{shown}')");
    }

    // A line ends at '\n', at "\r\n" or at a lone '\r' (old Mac line ends): a '\r' that ends the
    // buffer waits for the next fill to tell "\r\n" from '\r'.
    private bool TryReadLine(out ReadOnlySpan<byte> line)
    {
        while (true)
        {
            int end = _buffer.AsSpan(_start, _end - _start).IndexOfAny((byte)'\n', (byte)'\r');
            if (end >= 0 && (_buffer[_start + end] == (byte)'\n' || _start + end + 1 < _end || _eof))
            {
                line = _buffer.AsSpan(_start, end);
                bool crlf = _buffer[_start + end] == (byte)'\r' && _start + end + 1 < _end && _buffer[_start + end + 1] == (byte)'\n';
                _start += end + (crlf ? 2 : 1);
                return true;
            }

            if (_eof)
            {
                if (_start < _end)
                {
                    line = _buffer.AsSpan(_start, _end - _start); // a last line without '\n'
                    _start = _end;
                    return true;
                }

                line = default;
                return false;
            }

            Fill();
        }
    }

    private void Fill()
    {
        if (_start > 0)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            if (_buffer.Length >= MaxLine * 4)
            {
                throw new TraceFormatException(_source, _line + 1, null, $"a line is longer than {MaxLine * 4:N0} bytes; this is not ftrace text");
            }

            Array.Resize(ref _buffer, _buffer.Length * 2);
        }

        int n = _input.Read(_buffer, _end, _buffer.Length - _end);
        if (n == 0)
        {
            _eof = true;
        }

        _end += n;
    }
}
