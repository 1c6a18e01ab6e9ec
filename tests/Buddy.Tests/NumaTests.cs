// NumaTests: several NUMA nodes — the node-ordered zonelist (build_zonelists' fallback order by
// distance), per-node lowmem reserve and machine-wide min watermark, given watermarks, buddyinfo
// text per node, layout validation, and random operations with Validate after every step.
using Buddy.Kernel;
using CsCheck;

namespace Buddy.Tests;

public class NumaTests
{
    private const ulong Page = 4096;

    // Node 0: DMA [0, 16), DMA32 [16, 64), Normal [64, 128); node 1: Normal [128, 192) (pages).
    private static MachineLayout TwoNodes(WatermarkSettings? marks = null) => new()
    {
        Size = 192 * Page,
        MaxOrder = 2,
        Zones =
        [
            new(ZoneKind.Dma, 16 * Page),
            new(ZoneKind.Dma32, 64 * Page),
            new(ZoneKind.Normal, 128 * Page),
            new(ZoneKind.Normal, ulong.MaxValue) { Node = 1 },
        ],
        Watermarks = marks ?? WatermarkSettings.None,
    };

    private static string ZoneOf(ulong pfn) => pfn switch
    {
        < 16 => "0 DMA",
        < 64 => "0 DMA32",
        < 128 => "0 Normal",
        _ => "1 Normal",
    };

    // The zones the pages came from, in order, each once.
    private static List<string> FillOrder(PageAllocator pages, Request request)
    {
        var order = new List<string>();
        while (pages.TryAllocate(request, out Block b))
        {
            string zone = ZoneOf(b.Pfn);
            if (order.Count == 0 || order[^1] != zone)
            {
                order.Add(zone);
            }
        }

        return order;
    }

    [Fact]
    public void Requests_on_node_1_fill_its_Normal_then_fall_back_to_node_0_Normal_DMA32_DMA()
    {
        var pages = new PageAllocator(TwoNodes());
        Assert.Equal(["1 Normal", "0 Normal", "0 DMA32", "0 DMA"], FillOrder(pages, Request.ForOrder(0).OnNode(1)));
        Assert.Equal(0UL, pages.FreePages);
        pages.Validate();
    }

    [Fact]
    public void Requests_on_node_0_or_no_node_use_node_0_zones_before_node_1()
    {
        Assert.Equal(["0 Normal", "0 DMA32", "0 DMA", "1 Normal"], FillOrder(new PageAllocator(TwoNodes()), Request.ForOrder(1).OnNode(0)));
        Assert.Equal(["0 Normal", "0 DMA32", "0 DMA", "1 Normal"], FillOrder(new PageAllocator(TwoNodes()), Request.ForOrder(1)));
    }

    [Fact]
    public void A_named_zone_or_an_address_limit_applies_on_every_node()
    {
        // DMA32 on node 1: node 1 has none, so node 0's DMA32, then DMA; never a Normal zone.
        Assert.Equal(["0 DMA32", "0 DMA"], FillOrder(new PageAllocator(TwoNodes()), Request.ForOrder(0).OnNode(1).InZone(ZoneKind.Dma32)));

        // A limit inside node 0's Normal: node 1's Normal lies above it; only blocks below the limit serve.
        var pages = new PageAllocator(TwoNodes());
        Assert.Equal(["0 Normal", "0 DMA32", "0 DMA"], FillOrder(pages, Request.ForOrder(0).OnNode(1).Below((100 * Page) - 1)));
        Assert.Equal(92UL, pages.FreePages); // [100, 128) and node 1's 64 pages
        pages.Validate();
    }

    [Fact]
    public void Three_nodes_fall_back_by_distance()
    {
        MachineLayout layout = new()
        {
            Size = 96 * Page,
            MaxOrder = 2,
            Zones =
            [
                new(ZoneKind.Normal, 32 * Page),
                new(ZoneKind.Normal, 64 * Page) { Node = 1 },
                new(ZoneKind.Normal, ulong.MaxValue) { Node = 2 },
            ],
            NodeDistances = [[10, 30, 20], [30, 10, 20], [20, 20, 10]],
            Watermarks = WatermarkSettings.None,
        };
        Assert.Equal([0, 2, 1], NodeFillOrder(layout, 0));
        Assert.Equal([1, 2, 0], NodeFillOrder(layout, 1));
        Assert.Equal([2, 0, 1], NodeFillOrder(layout, 2)); // 20 both ways: ties by node number

        // Default distances (10/20): find_next_best_node prefers the next node above over one below.
        Assert.Equal([1, 2, 0], NodeFillOrder(layout with { NodeDistances = null }, 1));
        Assert.Equal([2, 0, 1], NodeFillOrder(layout with { NodeDistances = null }, 2));
    }

    private static List<int> NodeFillOrder(MachineLayout layout, int node)
    {
        var pages = new PageAllocator(layout);
        var order = new List<int>();
        while (pages.TryAllocate(Request.ForOrder(0).OnNode(node), out Block b))
        {
            int n = (int)(b.Pfn / 32);
            if (order.Count == 0 || order[^1] != n)
            {
                order.Add(n);
            }
        }

        return order;
    }

    [Fact]
    public void Buddyinfo_lists_zones_by_node_then_kind_in_the_kernel_format()
    {
        var pages = new PageAllocator(TwoNodes());
        pages.Allocate(Request.ForOrder(0).OnNode(1)); // splits node 1's first order-2 block: 1 × order 0, 1 × order 1
        pages.Allocate(Request.ForOrder(1).OnNode(0)); // splits node 0 Normal's first order-2 block
        string expected =
            "Node 0, zone      DMA      0      0      4 \n" +
            "Node 0, zone    DMA32      0      0     12 \n" +
            "Node 0, zone   Normal      0      1     15 \n" +
            "Node 1, zone   Normal      1      1     15 \n";
        string text = pages.GetBuddyInfo().ToString();
        Assert.Equal(expected, text);
        Assert.Equal(expected, BuddyInfo.Parse(text).ToString());
        Assert.Equal([0, 0, 0, 1], pages.GetZoneStats().Select(z => z.Node));
    }

    [Fact]
    public void Buddyinfo_of_the_two_node_2020_sample_at_a_small_scale_formats_like_the_reference()
    {
        // The sample's shape (node 0: DMA, DMA32, Normal; node 1: Normal) with every zone's free
        // counts cut down by allocating: each zone keeps a different pattern of orders 0..2.
        var pages = new PageAllocator(TwoNodes());
        var taken = new List<Block>();
        for (int i = 0; i < 3; i++)
        {
            taken.Add(pages.Allocate(Request.ForOrder(2).OnNode(1))); // node 1 Normal: 13 order-2 left
        }

        pages.Allocate(Request.ForOrder(0).InZone(ZoneKind.Dma)); // DMA: 1, 1, 3
        pages.Allocate(Request.ForOrder(1).InZone(ZoneKind.Dma32)); // DMA32: 0, 1, 11
        pages.Free(taken[1]);
        BuddyInfo reference = BuddyInfo.Parse(
            "Node 0, zone      DMA      1      1      3 \n" +
            "Node 0, zone    DMA32      0      1     11 \n" +
            "Node 0, zone   Normal      0      0     16 \n" +
            "Node 1, zone   Normal      0      0     14 \n");
        Assert.Equal(reference.ToString(), pages.GetBuddyInfo().ToString());
        Assert.Equal(
            "Node 0, zone      DMA      1      1      3 \n" +
            "Node 0, zone    DMA32      0      1     11 \n" +
            "Node 0, zone   Normal      0      0     16 \n" +
            "Node 1, zone   Normal      0      0     14 \n",
            pages.GetBuddyInfo().ToString());
    }

    [Fact]
    public void Pagetypeinfo_repeats_per_node_as_the_kernel_prints_each_node()
    {
        var pages = new PageAllocator(TwoNodes());
        string text = pages.GetPageTypeInfo();
        Assert.Equal(2, text.Split("Page block order:").Length - 1);
        Assert.Contains("Node    1, zone   Normal, type    Unmovable", text, StringComparison.Ordinal);
        Assert.Contains("Node 1, zone   Normal ", text, StringComparison.Ordinal);
        Assert.True(text.IndexOf("Node    0, zone      DMA", StringComparison.Ordinal) < text.IndexOf("Node    1, zone   Normal", StringComparison.Ordinal));
    }

    [Fact]
    public void Lowmem_reserve_stays_within_a_node_and_min_spreads_over_every_node()
    {
        // min_free_kbytes 768 = 192 pages over 192 low pages: each zone's min is its managed pages.
        var pages = new PageAllocator(TwoNodes(new WatermarkSettings { MinFreeKbytes = 768, LowmemReserveRatio = [4, 4, 2, 0] }));
        IReadOnlyList<ZoneStats> z = pages.GetZoneStats();
        Assert.Equal([16UL, 48, 64, 64], z.Select(s => s.Watermarks.Min));
        Assert.Equal([0UL, 48 / 4, (48 + 64) / 4], z[0].Protection); // node 1's Normal is not above DMA
        Assert.Equal([0UL, 0, 64 / 4], z[1].Protection);
        Assert.Equal([0UL, 0, 0], z[2].Protection);
        Assert.Equal([0UL, 0, 0], z[3].Protection);
        pages.Validate();
    }

    [Fact]
    public void A_request_from_node_1_falling_back_to_DMA32_meets_its_Normal_protection()
    {
        WatermarkSettings marks = new() { MinFreeKbytes = 4, LowmemReserveRatio = [4, 4, 2, 0] }; // min 1 page per zone at most
        var pages = new PageAllocator(TwoNodes(marks));
        ZoneStats dma32 = pages.GetZoneStats()[1];
        Assert.Equal(16UL, dma32.Protection[(int)ZoneKind.Normal]);
        _ = FillOrder(pages, Request.ForOrder(0).OnNode(1));
        dma32 = pages.GetZoneStats()[1];
        Assert.Equal(dma32.Watermarks.Min + 16, dma32.FreePages); // kept back from Normal requests

        // A DMA32 request's reserve in DMA32 is 0: it takes what Normal requests could not.
        Assert.True(pages.TryAllocate(Request.ForOrder(0).OnNode(1).InZone(ZoneKind.Dma32), out _));
    }

    [Fact]
    public void Given_watermarks_and_protection_replace_the_computed_ones()
    {
        MachineLayout layout = new()
        {
            Size = 64 * Page,
            MaxOrder = 2,
            Zones = [new(ZoneKind.Normal, ulong.MaxValue) { Watermarks = new Watermarks(10, 20, 30, 40), Protection = [0, 0, 0, 0, 0] }],
            Watermarks = new WatermarkSettings { MinFreeKbytes = 4 },
        };
        var pages = new PageAllocator(layout);
        Assert.Equal(new Watermarks(10, 20, 30, 40), pages.GetZoneStats()[0].Watermarks);
        for (int i = 0; i < 54; i++)
        {
            Assert.True(pages.TryAllocate(Request.ForOrder(0), out _), $"page {i} while free pages stay above min 10");
        }

        Assert.False(pages.TryAllocate(Request.ForOrder(0), out _, out AllocationFailure? failure));
        Assert.Equal(FailureReason.Watermark, failure.Reason);
        Assert.Equal(10UL, pages.FreePages);
        Assert.True(pages.TryAllocate(Request.ForOrder(0).WithPriority(AllocationPriority.High), out _)); // high priority: half of min
    }

    [Fact]
    public void Given_protection_is_used_for_the_request_s_highest_kind()
    {
        MachineLayout layout = new()
        {
            Size = 64 * Page,
            MaxOrder = 2,
            Zones =
            [
                new(ZoneKind.Dma32, 32 * Page) { Watermarks = new Watermarks(2, 2, 2, 2), Protection = [0, 0, 20] },
                new(ZoneKind.Normal, ulong.MaxValue),
            ],
            Watermarks = new WatermarkSettings { MinFreeKbytes = 4 },
        };
        var pages = new PageAllocator(layout);
        _ = FillOrder(pages, Request.ForOrder(0));
        Assert.Equal(22UL, pages.GetZoneStats()[0].FreePages); // min 2 + protection 20 against Normal requests
        Assert.True(pages.TryAllocate(Request.ForOrder(0).InZone(ZoneKind.Dma32), out _));
    }

    [Fact]
    public void A_node_the_layout_does_not_have_is_refused_when_used()
    {
        var pages = new PageAllocator(TwoNodes());
        ArgumentException e = Assert.Throws<ArgumentException>(() => pages.Allocate(Request.ForOrder(0).OnNode(2)));
        Assert.Contains("node 2", e.Message, StringComparison.Ordinal);
        Assert.Contains("nodes 0, 1", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => pages.TryAllocate(Request.ForOrder(0).OnNode(5), out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => Request.ForOrder(0).OnNode(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Request.ForOrder(0).OnNode(MachineLayout.MaxNode + 1));
    }

    [Fact]
    public void A_request_s_node_is_part_of_its_value()
    {
        Request r = Request.ForOrder(1).OnNode(1);
        Assert.Equal(1, r.Node);
        Assert.Null(Request.ForOrder(1).Node);
        Assert.NotEqual(Request.ForOrder(1), r);
        Assert.NotEqual(Request.ForOrder(1).OnNode(0), r);
        Assert.Equal(Request.ForOrder(1).OnNode(1), r);
        Assert.Equal(Request.ForOrder(1).OnNode(1).GetHashCode(), r.GetHashCode());
        Assert.Equal("order-1, node 1", r.ToString());
    }

    public static TheoryData<string, string> BadLayouts => new()
    {
        { "kinds falling within a node", "within node 0, rising kinds" },
        { "nodes decreasing", "expected node numbers non-decreasing" },
        { "node out of range", "expected a node number from 0 to 1023" },
        { "distances not square", "NodeDistances row 1 has 1 entries; expected a square matrix of 2" },
        { "distances missing a node", "NodeDistances has 1 rows; expected one per node up to node 1" },
        { "diagonal not smallest", "NodeDistances[0][1] is 5; expected a non-negative distance no smaller than node 0's distance to itself (10)" },
        { "protection too short", "has a Protection of 2 entries; expected at least 3" },
        { "watermarks without protection", "sets Watermarks without Protection; expected both" },
        { "protection without watermarks", "sets Protection without Watermarks; expected both" },
        { "given marks with watermarks off", "MachineLayout.Watermarks is disabled" },
    };

    [Theory]
    [MemberData(nameof(BadLayouts))]
    public void Bad_node_layouts_are_rejected_naming_the_setting(string what, string message)
    {
        MachineLayout good = TwoNodes(WatermarkSettings.Kernel);
        ZoneLimit n0 = good.Zones[2], n1 = good.Zones[3];
        MachineLayout layout = what switch
        {
            "kinds falling within a node" => good with { Zones = [good.Zones[0], good.Zones[1], n0, new(ZoneKind.Dma32, ulong.MaxValue)] },
            "nodes decreasing" => good with { Zones = [good.Zones[0] with { Node = 1 }, good.Zones[1], n0, n1] },
            "node out of range" => good with { Zones = [good.Zones[0], good.Zones[1], n0, n1 with { Node = 1024 }] },
            "distances not square" => good with { NodeDistances = [[10, 20], [20]] },
            "distances missing a node" => good with { NodeDistances = [[10]] },
            "diagonal not smallest" => good with { NodeDistances = [[10, 5], [20, 10]] },
            "protection too short" => good with { Zones = [good.Zones[0], good.Zones[1], n0, n1 with { Watermarks = new Watermarks(1, 2, 3, 4), Protection = [0, 0] }] },
            "watermarks without protection" => good with { Zones = [good.Zones[0], good.Zones[1], n0, n1 with { Watermarks = new Watermarks(1, 2, 3, 4) }] },
            "protection without watermarks" => good with { Zones = [good.Zones[0], good.Zones[1], n0, n1 with { Protection = [0, 0, 0] }] },
            _ => good with { Watermarks = WatermarkSettings.None, Zones = [good.Zones[0], good.Zones[1], n0, n1 with { Watermarks = new Watermarks(1, 2, 3, 4), Protection = [0, 0, 0] }] },
        };
        ArgumentException e = Assert.Throws<ArgumentException>(() => new PageAllocator(layout));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.Equal(what.StartsWith("dist", StringComparison.Ordinal) || what.StartsWith("diag", StringComparison.Ordinal) ? "NodeDistances" : "Zones", e.ParamName);
    }

    private sealed record Op(int Kind, int Order, int Node, int Zone, int Limit, int Mobility, int Pick);

    private static readonly Gen<Op> s_op =
        from kind in Gen.Int[0, 5]
        from order in Gen.Int[0, 3]
        from node in Gen.Int[0, 2]
        from zone in Gen.Int[0, 3]
        from limit in Gen.Int[0, 3]
        from mobility in Gen.Int[0, 2]
        from pick in Gen.Int[0, 1000]
        select new Op(kind, order, node, zone, limit, mobility, pick);

    [Fact]
    public void Random_operations_on_two_nodes_keep_every_invariant()
    {
        Gen.Select(Gen.Bool, Gen.Bool, Gen.Bool, s_op.Array[1, 120]).Sample((watermarks, caches, grouping, ops) =>
        {
            MachineLayout layout = TwoNodes(watermarks ? new WatermarkSettings { MinFreeKbytes = 16 } : WatermarkSettings.None) with
            {
                MaxOrder = 3,
                PerCpuCaches = caches,
                Mobility = grouping ? new MobilitySettings { GroupByMobility = true, PageblockOrder = 2, NoFragment = true } : MobilitySettings.None,
            };
            var pages = new PageAllocator(layout);
            var live = new List<Block>();
            foreach (Op op in ops)
            {
                if (op.Kind < 4 || live.Count == 0)
                {
                    Request r = Request.ForOrder(op.Order).WithMobility(op.Mobility switch { 0 => MigrateType.Unmovable, 1 => MigrateType.Movable, _ => MigrateType.Reclaimable });
                    r = op.Node < 2 ? r.OnNode(op.Node) : r;
                    r = op.Zone < 3 ? r.InZone((ZoneKind)op.Zone) : r;
                    r = op.Limit switch { 0 => r.Below((100 * Page) - 1), 1 => r.Below((160 * Page) - 1), _ => r };
                    if (pages.TryAllocate(r, out Block b))
                    {
                        Assert.True(b.Address + (b.PageCount * Page) - 1 <= (r.MaxAddress ?? ulong.MaxValue));
                        live.Add(b);
                    }
                }
                else
                {
                    int i = op.Pick % live.Count;
                    pages.Free(live[i]);
                    live.RemoveAt(i);
                }

                pages.Validate();
            }

            foreach (Block b in live)
            {
                pages.Free(b);
            }

            pages.DrainCaches();
            pages.Validate();
            Assert.Equal(192UL, pages.FreePages);
        }, iter: 150);
    }
}
