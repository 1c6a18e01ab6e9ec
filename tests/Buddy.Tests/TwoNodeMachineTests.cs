using Buddy.Kernel;
using Buddy.Simulation.Policies;
using Buddy.Simulation.Replay;

namespace Buddy.Tests;

/// <summary>
/// A two-node machine from a zoneinfo built by hand in the shape of the two-node-2020 texts (node 0:
/// DMA, DMA32 with the PCI hole, Normal; node 1: Normal; distances 10/21): its layout, its kernel
/// texts per node, node-local placement with fallback, and the kernel placement across nodes.
/// </summary>
public sealed class TwoNodeMachineTests
{
    private const ulong Node1Start = 0x180000; // pfn: 6 GiB

    private static TracedMachine Machine() => new(ZoneInfo.LoadLayout(TestData.Path("two-node-built.zoneinfo")))
    {
        NodeDistances = NodeDistances.Load(TestData.Path("two-node-built.node-distance")),
    };

    [Fact]
    public void The_layout_has_both_nodes_and_the_allocator_prints_buddyinfo_per_node_as_linux_does()
    {
        MachineLayout layout = Machine().Layout(4 * 1024);
        Assert.Equal([0, 0, 0, 1], layout.Zones.Select(z => z.Node));
        Assert.Equal(21, layout.Distance(0, 1));
        var pages = new PageAllocator(layout);
        pages.Validate();
        string text = pages.GetBuddyInfo().ToString();
        string[] lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["Node 0, zone      DMA", "Node 0, zone    DMA32", "Node 0, zone   Normal", "Node 1, zone   Normal"], lines.Select(l => l[..21]));
        Assert.Equal(text, BuddyInfo.Parse(text).ToString()); // the kernel's format, byte for byte
        string unusable = FragmentationIndex.UnusableText(pages.GetBuddyInfo());
        Assert.StartsWith("Node 1, zone   Normal 0.000", unusable.Split('\n', StringSplitOptions.RemoveEmptyEntries)[3], StringComparison.Ordinal);
        Assert.Equal([3840UL, 766677UL, 512000UL, 516096UL], pages.GetZoneStats().Select(z => z.ManagedPages));
    }

    [Fact]
    public void A_request_on_node_1_is_served_there_and_node_0_requests_stay_local()
    {
        Policy zoned = PolicyCatalog.Create("zoned", Machine().Layout(4 * 1024));
        Assert.True(zoned.TryAllocate(new PolicyRequest(0) { Node = 1 }, out PolicyBlock remote, out _));
        Assert.True(remote.Block.Pfn >= Node1Start);
        Assert.True(zoned.TryAllocate(new PolicyRequest(0) { Node = 0 }, out PolicyBlock local, out _));
        Assert.True(local.Block.Pfn < Node1Start);
    }

    [Fact]
    public void The_kernel_placement_follows_pfns_on_both_nodes()
    {
        string path = Path.Combine(Path.GetTempPath(), $"two-node-{Guid.NewGuid():N}.trace");
        File.WriteAllText(path,
            "            bash-1     [000] .....     1.000001: mm_page_alloc: page=0000000012345678 pfn=0x180200 order=2 migratetype=0 gfp_flags=GFP_KERNEL\n"
            + "            bash-1     [000] .....     1.000002: mm_page_alloc: page=0000000012345679 pfn=0x100000 order=0 migratetype=0 gfp_flags=GFP_KERNEL\n");
        try
        {
            ReplayResult r = TraceReplay.Run(path, new ReplayOptions { Traced = Machine(), KernelPlacement = true, Policies = ["zoned"], Node = 1 });
            Assert.Equal(0, r.Policies[0].AllocFailures);
            string[] lines = r.Policies[0].BuddyInfo.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Contains("Node 1, zone   Normal", lines[3], StringComparison.Ordinal);
            Assert.Equal(0, r.Policies[1].AllocFailures);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
