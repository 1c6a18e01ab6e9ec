// PageTypeInfoTests: the /proc/pagetypeinfo text of a grouping machine and PageTypeInfo.Format against a live 6.18 file.
using System.Globalization;
using Buddy.Kernel;
using static Buddy.Units;

namespace Buddy.Tests;

// Inside the namespace, so that Pages and Small are these helpers, not the namespaces Buddy.Pages and Buddy.Small.
using static Buddy.Tests.MobilityTestData;

public class PageTypeInfoTests
{
    [Fact]
    public void PageTypeInfo_of_a_fresh_small_machine_is_the_kernels_text()
    {
        string expected =
            "Page block order: 4\n" +
            "Pages per block:  16\n" +
            "\n" +
            "Free pages count per migrate type at order       0      1      2      3      4      5      6 \n" +
            "Node    0, zone   Normal, type    Unmovable      0      0      0      0      0      0      0 \n" +
            "Node    0, zone   Normal, type      Movable      0      0      0      0      0      0      4 \n" +
            "Node    0, zone   Normal, type  Reclaimable      0      0      0      0      0      0      0 \n" +
            "Node    0, zone   Normal, type   HighAtomic      0      0      0      0      0      0      0 \n" +
            "Node    0, zone   Normal, type      Isolate      0      0      0      0      0      0      0 \n" +
            "\n" +
            "Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic      Isolate \n" +
            "Node 0, zone   Normal            0           16            0            0            0 \n";
        Assert.Equal(expected, Machine().GetPageTypeInfo());
    }

    [Fact]
    public void Mixed_blocks_count_a_pageblock_once_under_its_own_type_when_another_types_allocation_lies_in_it()
    {
        // Two pageblocks of 512 pages (4 MiB, max order 10). A movable order-9 block takes pageblock
        // 0 whole; movable blocks of orders 8 down to 1 fill pageblock 1 but for its last 2 pages.
        // An unmovable page then finds no unmovable list: the claim of pageblock 1 needs free +
        // alike ≥ 256 (here 2 free + 0 unmovable-alike pages: try_to_claim_block refuses), so it is
        // stolen — pageblock 1 stays movable and now holds an unmovable page: one mixed movable block.
        var pages = new PageAllocator(MachineLayout.Flat(4 * MiB) with { Mobility = MobilitySettings.Grouping });
        pages.Allocate(Request.ForOrder(9).WithMobility(MigrateType.Movable));
        for (int order = 8; order >= 1; order--)
        {
            pages.Allocate(Request.ForOrder(order).WithMobility(MigrateType.Movable));
        }

        Block stolen = pages.Allocate(Request.ForOrder(0));
        Assert.Equal(512UL + 510, stolen.Pfn);
        Assert.DoesNotContain("Number of mixed blocks", pages.GetPageTypeInfo()); // a kernel without page_owner prints none
        string[] lines = pages.GetPageTypeInfo(mixedBlocks: true).Split('\n');
        int header = Array.IndexOf(lines, "Number of mixed blocks    Unmovable      Movable  Reclaimable   HighAtomic      Isolate ");
        Assert.True(header > 0, string.Join('\n', lines));
        Assert.Equal("", lines[header - 1]);
        Assert.Equal("Node 0, zone   Normal            0            1            0            0            0 ", lines[header + 1]);
        Assert.Equal("Node 0, zone   Normal            0            2            0            0            0 ", lines[header - 2]); // both pageblocks still movable
        Assert.Equal(1, pages.GetMobilityStatistics().FragmentingEvents);
        pages.Validate();
    }

    [Fact]
    public void PageTypeInfo_header_rows_and_block_counts_follow_the_kernels_format()
    {
        var pages = new PageAllocator(MachineLayout.X86(32 * MiB) with { Mobility = MobilitySettings.Grouping });
        pages.Allocate(Request.ForOrder(0)); // unmovable, from DMA32 (the highest zone): claims a whole order-10 block
        string[] lines = pages.GetPageTypeInfo().Split('\n');
        Assert.Equal("Page block order: 9", lines[0]);
        Assert.Equal("Pages per block:  512", lines[1]);
        Assert.Equal("", lines[2]);
        string head = "Free pages count per migrate type at order".PadRight(43) + " ";
        Assert.Equal(44, head.Length);
        Assert.Equal(head + string.Concat(Enumerable.Range(0, 11).Select(o => o.ToString(CultureInfo.InvariantCulture).PadLeft(6) + " ")), lines[3]);
        string[] types = ["Unmovable", "Movable", "Reclaimable", "HighAtomic", "Isolate"];
        string[] zones = ["DMA", "DMA32"];
        for (int z = 0; z < 2; z++)
        {
            for (int t = 0; t < 5; t++)
            {
                Assert.StartsWith("Node    0, zone " + zones[z].PadLeft(8) + ", type " + types[t].PadLeft(12) + " ", lines[4 + (z * 5) + t], StringComparison.Ordinal);
            }
        }

        // Each zone has 4096 pages: four order-10 blocks, eight pageblocks.
        Assert.Equal("Node    0, zone      DMA, type    Unmovable      0      0      0      0      0      0      0      0      0      0      0 ", lines[4]);
        Assert.Equal("Node    0, zone      DMA, type      Movable      0      0      0      0      0      0      0      0      0      0      4 ", lines[5]);
        Assert.Equal("Node    0, zone    DMA32, type    Unmovable      1      1      1      1      1      1      1      1      1      1      0 ", lines[9]);
        Assert.Equal("Node    0, zone    DMA32, type      Movable      0      0      0      0      0      0      0      0      0      0      3 ", lines[10]);
        Assert.Equal("", lines[14]);
        Assert.Equal("Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic      Isolate ", lines[15]);
        Assert.Equal("Node 0, zone      DMA            0            8            0            0            0 ", lines[16]);
        Assert.Equal("Node 0, zone    DMA32            2            6            0            0            0 ", lines[17]);
        Assert.Equal("", lines[18]);
        Assert.Equal(19, lines.Length);
    }

    [Fact]
    public void PageTypeInfo_Format_reproduces_a_live_6_18_pagetypeinfo_byte_for_byte()
    {
        string text = TestData.Read("live-6.18.pagetypeinfo");
        (int pageblockOrder, int orders, List<PageTypeInfoZone> zones) = ParsePageTypeInfo(text);
        Assert.Equal(9, pageblockOrder);
        Assert.Equal(11, orders);
        Assert.Equal(["DMA", "DMA32", "Normal"], zones.Select(z => z.Name));
        Assert.Equal(104, zones[2].FreeBlockCounts[(int)MigrateType.Movable][10]);
        Assert.Equal([80L, 346, 22, 0, 0], zones[2].Pageblocks);
        Assert.Equal(text, PageTypeInfo.Format(zones, pageblockOrder, orders));
    }

    // A small parser of /proc/pagetypeinfo, independent of the formatter.
    private static (int PageblockOrder, int Orders, List<PageTypeInfoZone> Zones) ParsePageTypeInfo(string text)
    {
        static long Num(string s) => long.Parse(s, NumberStyles.None, CultureInfo.InvariantCulture);
        string[] lines = text.Split('\n');
        const string OrderPrefix = "Page block order: ";
        Assert.StartsWith(OrderPrefix, lines[0], StringComparison.Ordinal);
        int pageblockOrder = (int)Num(lines[0][OrderPrefix.Length..]);
        int orders = lines[3].Split(' ', StringSplitOptions.RemoveEmptyEntries).Length - "Free pages count per migrate type at order".Split(' ').Length;
        var free = new List<(string Zone, long[][] Counts)>();
        var blocks = new Dictionary<string, long[]>();
        bool blockSection = false;
        foreach (string line in lines.Skip(4))
        {
            if (line.StartsWith("Number of blocks type", StringComparison.Ordinal))
            {
                blockSection = true;
                continue;
            }

            if (!line.StartsWith("Node ", StringComparison.Ordinal))
            {
                continue;
            }

            string[] parts = line.Split(',');
            Assert.Equal("0", parts[0]["Node ".Length..].Trim());
            string[] rest = parts[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal("zone", rest[0]);
            string zone = rest[1];
            if (blockSection)
            {
                blocks[zone] = [.. rest.Skip(2).Select(Num)];
                continue;
            }

            string[] typeAndCounts = parts[2].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal("type", typeAndCounts[0]);
            int type = PageTypeInfo.TypeNames.ToList().IndexOf(typeAndCounts[1]);
            Assert.True(type >= 0, $"unknown migrate type {typeAndCounts[1]}");
            if (free.Count == 0 || free[^1].Zone != zone)
            {
                free.Add((zone, new long[PageTypeInfo.TypeNames.Count][]));
            }

            free[^1].Counts[type] = [.. typeAndCounts.Skip(2).Select(Num)];
            Assert.Equal(orders, free[^1].Counts[type].Length);
        }

        List<PageTypeInfoZone> zones = [.. free.Select(f => new PageTypeInfoZone(0, f.Zone, f.Counts, blocks[f.Zone]))];
        return (pageblockOrder, orders, zones);
    }
}
