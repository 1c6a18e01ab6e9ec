// CompactionStatus: the outcomes mm_compaction_end prints, as Linux 6.18 names them
// (COMPACTION_STATUS in include/trace/events/mmflags.h, the values of enum compact_result in
// include/linux/compaction.h). Index = the kernel's value; a name not in the table is a bad line.
namespace Buddy.Tracing;

/// <summary>The kernel's compaction result names, indexed by enum compact_result.</summary>
internal static class CompactionStatus
{
    /// <summary>The names in the kernel's value order (0 = COMPACT_NOT_SUITABLE_ZONE ... 8 = COMPACT_SUCCESS).</summary>
    public static readonly string[] Names =
    [
        "not_suitable_zone", "skipped", "deferred", "no_suitable_page", "continue", "complete", "partial_skipped", "contended", "success",
    ];

    private static readonly byte[][] s_bytes = [.. Names.Select(System.Text.Encoding.ASCII.GetBytes)];

    /// <summary>The kernel's value of the status named by <paramref name="text"/>, or -1 when no kernel prints it.</summary>
    public static int Find(ReadOnlySpan<byte> text)
    {
        for (int i = 0; i < s_bytes.Length; i++)
        {
            if (text.SequenceEqual(s_bytes[i]))
            {
                return i;
            }
        }

        return -1;
    }
}
