// FtraceReader.Evidence: reads the kernel's own fragmentation events into Stats.Evidence, every
// field checked, as Linux 6.18 prints them (include/trace/events/kmem.h, compaction.h):
//
//   mm_page_alloc_extfrag: page=%p pfn=0x%lx alloc_order=%d fallback_order=%d pageblock_order=%d alloc_migratetype=%d fallback_migratetype=%d fragmenting=%d change_ownership=%d
//   mm_page_alloc_zone_locked: page=%p pfn=0x%lx order=%u migratetype=%d percpu_refill=%d
//   mm_compaction_begin: zone_start=0x%lx migrate_pfn=0x%lx free_pfn=0x%lx zone_end=0x%lx, mode=%s
//   mm_compaction_end: zone_start=0x%lx migrate_pfn=0x%lx free_pfn=0x%lx zone_end=0x%lx, mode=%s status=%s
//
// Values no kernel prints are bad lines, named by field like the page events' (a migrate type
// above MIGRATE_ISOLATE, a flag other than 0 or 1, fragmenting that is not fallback_order <
// pageblock_order, a mode other than sync/async, a status not in CompactionStatus). These events
// are rare beside alloc/free: each field is found by a scan of the line's tokens, and nothing is
// allocated unless the line is bad.
using System.Text;
using Buddy.Kernel;

namespace Buddy.Tracing;

/// <content>The kernel's fragmentation events, read into <see cref="TraceStats.Evidence"/>.</content>
public sealed partial class FtraceReader
{
    // Reads the event into the evidence when it is one of the four; other names are left alone.
    private void ReadEvidence(ReadOnlySpan<byte> name, ReadOnlySpan<byte> fields, ReadOnlySpan<byte> line)
    {
        if (name.SequenceEqual("mm_page_alloc_extfrag"u8))
        {
            ReadFallback(fields, line);
        }
        else if (name.SequenceEqual("mm_page_alloc_zone_locked"u8))
        {
            ReadZoneLocked(fields, line);
        }
        else if (name.SequenceEqual("mm_compaction_begin"u8))
        {
            bool sync = ReadCompactionRun(fields, line);
            Stats.EvidenceTally.CountCompactionBegin(sync);
        }
        else if (name.SequenceEqual("mm_compaction_end"u8))
        {
            ReadCompactionRun(fields, line);
            ReadOnlySpan<byte> text = Value(fields, "status", line);
            int status = CompactionStatus.Find(text);
            if (status < 0)
            {
                throw Bad("status", $"expected a compaction result the kernel prints ({string.Join(", ", CompactionStatus.Names)}), found '{Encoding.ASCII.GetString(text)}'", line);
            }

            Stats.EvidenceTally.CountCompactionEnd(status);
        }
    }

    private void ReadFallback(ReadOnlySpan<byte> fields, ReadOnlySpan<byte> line)
    {
        Value(fields, "page", line);
        ParsePfn(Value(fields, "pfn", line), line);
        int allocOrder = ParseOrder(Value(fields, "alloc_order", line), line, "alloc_order");
        int fallbackOrder = ParseOrder(Value(fields, "fallback_order", line), line, "fallback_order");
        int pageblockOrder = ParseOrder(Value(fields, "pageblock_order", line), line, "pageblock_order");
        MigrateType alloc = ParseMigrateType(Value(fields, "alloc_migratetype", line), line, "alloc_migratetype");
        MigrateType fallback = ParseMigrateType(Value(fields, "fallback_migratetype", line), line, "fallback_migratetype");
        bool fragmenting = ParseFlag(fields, "fragmenting", line);
        bool changeOwnership = ParseFlag(fields, "change_ownership", line);
        if (fragmenting != fallbackOrder < pageblockOrder)
        {
            throw Bad("fragmenting", $"the kernel prints fragmenting={(fragmenting ? 0 : 1)} for fallback_order={fallbackOrder} and pageblock_order={pageblockOrder} (1 exactly when fallback_order < pageblock_order)", line);
        }

        Stats.EvidenceTally.CountFallback(allocOrder, alloc, fallback, fragmenting, changeOwnership);
    }

    private void ReadZoneLocked(ReadOnlySpan<byte> fields, ReadOnlySpan<byte> line)
    {
        Value(fields, "page", line);
        ParsePfn(Value(fields, "pfn", line), line);
        ParseOrder(Value(fields, "order", line), line);
        ParseMigrateType(Value(fields, "migratetype", line), line);
        Stats.EvidenceTally.CountZoneLocked(ParseFlag(fields, "percpu_refill", line));
    }

    // The fields begin and end share; returns whether the run is synchronous.
    private bool ReadCompactionRun(ReadOnlySpan<byte> fields, ReadOnlySpan<byte> line)
    {
        ulong zoneStart = ParseZonePfn(fields, "zone_start", line);
        ParseZonePfn(fields, "migrate_pfn", line);
        ParseZonePfn(fields, "free_pfn", line);
        ulong zoneEnd = ParseZonePfn(fields, "zone_end", line);
        if (zoneEnd < zoneStart)
        {
            throw Bad("zone_end", $"zone_end 0x{zoneEnd:x} is below zone_start 0x{zoneStart:x}", line);
        }

        ReadOnlySpan<byte> mode = Value(fields, "mode", line);
        if (mode.SequenceEqual("sync"u8))
        {
            return true;
        }

        if (mode.SequenceEqual("async"u8))
        {
            return false;
        }

        throw Bad("mode", $"expected mode=sync or mode=async, found '{Encoding.ASCII.GetString(mode)}'", line);
    }

    // A compaction pfn, printed 0x%lx (zone_end followed by the format's ','): a zone ends at
    // KernelLimits.MaxPages at most.
    private ulong ParseZonePfn(ReadOnlySpan<byte> fields, string name, ReadOnlySpan<byte> line)
    {
        ReadOnlySpan<byte> text = Value(fields, name, line);
        if (text.EndsWith(","u8))
        {
            text = text[..^1];
        }

        if (!AsciiNumbers.TryParseHex(text, out ulong pfn))
        {
            throw Bad(name, $"expected {name}=0x<hex>, found '{Encoding.ASCII.GetString(text)}'", line);
        }

        return pfn <= KernelLimits.MaxPages
            ? pfn
            : throw Bad(name, $"0x{pfn:x} is beyond every machine: page frames end at 0x{KernelLimits.MaxPages:x} (2^{KernelLimits.MaxPhysicalAddressBits} bytes of 4 KiB pages)", line);
    }

    private bool ParseFlag(ReadOnlySpan<byte> fields, string name, ReadOnlySpan<byte> line)
    {
        ReadOnlySpan<byte> text = Value(fields, name, line);
        if (text.SequenceEqual("1"u8))
        {
            return true;
        }

        if (text.SequenceEqual("0"u8))
        {
            return false;
        }

        throw Bad(name, $"expected 0 or 1, found '{Encoding.ASCII.GetString(text)}'", line);
    }

    // The value of the first "name=value" token of the fields; a missing key is a bad line. The
    // name is ASCII and short: it is matched byte by byte against each token's key without a copy.
    private ReadOnlySpan<byte> Value(ReadOnlySpan<byte> fields, string name, ReadOnlySpan<byte> line)
    {
        for (int start = 0; start < fields.Length;)
        {
            int space = fields[start..].IndexOf((byte)' ');
            int end = space < 0 ? fields.Length : start + space;
            ReadOnlySpan<byte> token = fields[start..end];
            int eq = token.IndexOf((byte)'=');
            if (eq == name.Length && KeyIs(token[..eq], name))
            {
                return token[(eq + 1)..];
            }

            start = end + 1;
        }

        throw Bad(name, $"missing; expected '{name}=<value>'", line);

        static bool KeyIs(ReadOnlySpan<byte> key, string name)
        {
            for (int i = 0; i < key.Length; i++)
            {
                if (key[i] != name[i])
                {
                    return false;
                }
            }

            return true;
        }
    }
}
