// FragmentationIndex: the kernel's unusable free space index and fragmentation index
// (Linux 6.18 mm/vmstat.c: fill_contig_page_info, unusable_free_index, __fragmentation_index)
// and the debugfs texts that print them (unusable_show_print: "%d.%03d ",
// extfrag_show_print: "%2d.%03d "), reproduced with the kernel's integer arithmetic.
using System.Text;

namespace Buddy.Kernel;

/// <summary>The kernel's unusable-free-space and external-fragmentation indices, in thousandths.</summary>
/// <remarks>Pure functions; thread-safe.</remarks>
public static class FragmentationIndex
{
    /// <summary>
    /// The unusable free space index at <paramref name="order"/>, in thousandths: the share of free
    /// pages that lie in blocks smaller than 2^order (1000 when nothing is free).
    /// </summary>
    public static int Unusable(IReadOnlyList<long> freeBlockCounts, int order)
    {
        (ulong freePages, _, ulong suitable) = Fill(freeBlockCounts, order);
        if (freePages == 0)
        {
            return 1000;
        }

        return (int)((freePages - (suitable << order)) * 1000UL / freePages);
    }

    /// <summary>
    /// The fragmentation index at <paramref name="order"/>, in thousandths: -1000 when a block of the
    /// order is free (the request would succeed), 0 when nothing is free; otherwise towards 1000 the
    /// more a failure is due to fragmentation rather than lack of memory.
    /// </summary>
    public static int Extfrag(IReadOnlyList<long> freeBlockCounts, int order)
    {
        (ulong freePages, ulong total, ulong suitable) = Fill(freeBlockCounts, order);
        if (total == 0)
        {
            return 0;
        }

        if (suitable != 0)
        {
            return -1000;
        }

        ulong requested = 1UL << order;
        return 1000 - (int)((1000 + (freePages * 1000UL / requested)) / total);
    }

    /// <summary>The text of /sys/kernel/debug/extfrag/unusable_index for these zones.</summary>
    public static string UnusableText(BuddyInfo info) => Text(info, Unusable, integerWidth: 1);

    /// <summary>The text of /sys/kernel/debug/extfrag/extfrag_index for these zones.</summary>
    public static string ExtfragText(BuddyInfo info) => Text(info, Extfrag, integerWidth: 2);

    private static string Text(BuddyInfo info, Func<IReadOnlyList<long>, int, int> index, int integerWidth)
    {
        ArgumentNullException.ThrowIfNull(info);
        var sb = new StringBuilder();
        foreach (BuddyInfoZone zone in info.Zones)
        {
            BuddyInfo.AppendZonePrefix(sb, zone);
            for (int order = 0; order < zone.FreeBlockCounts.Count; order++)
            {
                sb.Append(CFormat.Thousandths(index(zone.FreeBlockCounts, order), integerWidth)).Append(' ');
            }

            sb.Append('\n');
        }

        return sb.ToString();
    }

    // fill_contig_page_info: free pages, free blocks, and blocks of at least `order` counted in
    // units of 2^order (a free order-5 block is two order-4 blocks).
    private static (ulong FreePages, ulong TotalBlocks, ulong Suitable) Fill(IReadOnlyList<long> freeBlockCounts, int order)
    {
        ArgumentNullException.ThrowIfNull(freeBlockCounts);
        if ((uint)order >= (uint)freeBlockCounts.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(order), order, $"order must be from 0 to {freeBlockCounts.Count - 1}.");
        }

        ulong freePages = 0, total = 0, suitable = 0;
        for (int o = 0; o < freeBlockCounts.Count; o++)
        {
            ulong blocks = (ulong)freeBlockCounts[o];
            total += blocks;
            freePages += blocks << o;
            if (o >= order)
            {
                suitable += blocks << (o - order);
            }
        }

        return (freePages, total, suitable);
    }
}
