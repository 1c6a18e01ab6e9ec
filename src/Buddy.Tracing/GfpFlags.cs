// GfpFlags: what the gfp_flags text of a trace line says about zone and priority.
// Names as include/trace/events/mmflags.h prints them (Linux 6.18); leftover bits print as hex.
namespace Buddy.Tracing;

/// <summary>Maps a tracepoint's gfp_flags text to the highest zone and the watermark priority.</summary>
public static class GfpFlags
{
    private const ulong GfpDmaBit = 0x01, GfpDma32Bit = 0x04, GfpHighBit = 0x20;

    /// <summary>
    /// The highest zone: GFP_DMA or __GFP_DMA → DMA, GFP_DMA32 or __GFP_DMA32 → DMA32, otherwise
    /// Normal (this model has no ZONE_MOVABLE or ZONE_HIGHMEM); unnamed bits in hex count too.
    /// </summary>
    public static ZoneKind Zone(ReadOnlySpan<byte> flags)
    {
        Classify(flags, out ZoneKind zone, out _);
        return zone;
    }

    /// <summary>
    /// The watermark priority, as gfp_to_alloc_flags derives it: __GFP_HIGH (named, in GFP_ATOMIC,
    /// or as bit 0x20) gives ALLOC_MIN_RESERVE (High); without direct reclaim and without
    /// __GFP_NOMEMALLOC it is also ALLOC_NON_BLOCK (Atomic). Everything else is Normal.
    /// </summary>
    public static AllocationPriority Priority(ReadOnlySpan<byte> flags)
    {
        Classify(flags, out _, out AllocationPriority priority);
        return priority;
    }

    /// <summary><see cref="Zone"/> and <see cref="Priority"/> in one pass over the flags (the trace reader's).</summary>
    internal static void Classify(ReadOnlySpan<byte> flags, out ZoneKind zone, out AllocationPriority priority)
    {
        bool dma = false, dma32 = false, high = false, directReclaim = false, noMemalloc = false;
        while (true)
        {
            int bar = flags.IndexOf((byte)'|');
            ReadOnlySpan<byte> token = bar < 0 ? flags : flags[..bar];
            // Names by length first: most tokens (__GFP_COMP, __GFP_ZERO, ...) then cost one switch.
            switch (token.Length)
            {
                case 7 or 9 when token.SequenceEqual("GFP_DMA"u8) || token.SequenceEqual("__GFP_DMA"u8):
                    dma = true;
                    break;
                case 9 or 11 when token.SequenceEqual("GFP_DMA32"u8) || token.SequenceEqual("__GFP_DMA32"u8):
                    dma32 = true;
                    break;
                case 10 when token.SequenceEqual("GFP_ATOMIC"u8) || token.SequenceEqual("__GFP_HIGH"u8):
                    high = true;
                    break;
                case 16 when token.SequenceEqual("__GFP_NOMEMALLOC"u8):
                    noMemalloc = true;
                    break;
                case 8 or 10 or 12 or 13 or 18 or 20 when IsDirectReclaim(token):
                    directReclaim = true;
                    break;
                default:
                    if (AsciiNumbers.TryParseHex(token, out ulong bits))
                    {
                        dma |= (bits & GfpDmaBit) != 0;
                        dma32 |= (bits & GfpDma32Bit) != 0;
                        high |= (bits & GfpHighBit) != 0;
                    }

                    break;
            }

            if (bar < 0)
            {
                break;
            }

            flags = flags[(bar + 1)..];
        }

        zone = dma ? ZoneKind.Dma : dma32 ? ZoneKind.Dma32 : ZoneKind.Normal;
        priority = !high ? AllocationPriority.Normal
            : directReclaim || noMemalloc ? AllocationPriority.High
            : AllocationPriority.Atomic;
    }

    // Names whose mask includes __GFP_DIRECT_RECLAIM (include/linux/gfp_types.h, Linux 6.18).
    private static bool IsDirectReclaim(ReadOnlySpan<byte> token) =>
        token.SequenceEqual("__GFP_DIRECT_RECLAIM"u8) || token.SequenceEqual("__GFP_RECLAIM"u8) ||
        token.SequenceEqual("GFP_KERNEL"u8) || token.SequenceEqual("GFP_KERNEL_ACCOUNT"u8) ||
        token.SequenceEqual("GFP_NOFS"u8) || token.SequenceEqual("GFP_NOIO"u8) ||
        token.SequenceEqual("GFP_USER"u8) || token.SequenceEqual("GFP_HIGHUSER"u8) ||
        token.SequenceEqual("GFP_HIGHUSER_MOVABLE"u8) || token.SequenceEqual("GFP_TRANSHUGE"u8);
}
