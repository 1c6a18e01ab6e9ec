using System.Text.Json;
using Buddy.Kernel;
using Buddy.Simulation.Metrics;
using Buddy.Simulation.Replay;
using Buddy.Tool;
using Buddy.Tool.Commands;
using static Buddy.Units;

namespace Buddy.Tests;

/// <summary>The bundled capture (Linux 6.18, this machine) replayed once on its real layout and start state; shared by the tests below.</summary>
public sealed class BundleReplayFixture : IDisposable
{
    public BundleReplayFixture()
    {
        Bundle = TraceBundle.Open(TestData.Path("live-6.18.bundle.tar.gz"));
        Machine = TracedMachineOf(Bundle);
        Result = TraceReplay.Run(Bundle.TracePath, new ReplayOptions { Traced = Machine, KernelPlacement = true, Policies = ["linux-1.2", "zoned", "zoned+mobility", "linux-6.18"] });
    }

    public TraceBundle Bundle { get; }

    public TracedMachine Machine { get; }

    public ReplayResult Result { get; }

    public static TracedMachine TracedMachineOf(TraceBundle bundle) => new(bundle.Before.ZoneInfo)
    {
        SystemRam = bundle.Before.IoMem?.SystemRam,
        StartPageTypes = bundle.Before.PageTypeInfo?.Zones,
        EndBuddyInfo = bundle.After.BuddyInfo,
    };

    public void Dispose() => Bundle.Dispose();
}

public sealed class TracedMachineTests(BundleReplayFixture fixture) : IClassFixture<BundleReplayFixture>
{
    private static (int Code, string Stdout, string Stderr) Run(params string[] args) => CliRunner.Run(args);

    [Fact]
    public void The_layout_manages_exactly_what_zoneinfo_says_and_never_hands_out_a_hole()
    {
        var pages = new PageAllocator(fixture.Machine.Layout(4 * KiB));
        pages.Validate();
        foreach (ZoneInfoZone z in fixture.Bundle.Before.ZoneInfo.Where(z => z.PresentPages > 0))
        {
            Assert.Equal(z.ManagedPages, pages.GetZoneStats().Single(s => s.Name == z.Name).ManagedPages);
        }

        // Every DMA page handed out lies in System RAM (the BIOS hole 0x9f000..0x100000 never does).
        var ram = fixture.Bundle.Before.IoMem!.SystemRam;
        int taken = 0;
        while (pages.TryAllocate(Request.ForOrder(0).InZone(ZoneKind.Dma).WithPriority(AllocationPriority.NoWatermarks), out Block b) && b.Address < 16 * MiB)
        {
            Assert.Contains(ram, r => b.Address >= r.Start && b.EndAddress <= r.End);
            Assert.False(b.Address is >= 0x9f000 and < 0x100000);
            taken++;
        }

        Assert.Equal((int)fixture.Bundle.Before.ZoneInfo.Single(z => z.Name == "DMA").ManagedPages, taken);
    }

    [Fact]
    public void Without_iomem_the_holes_are_inferred_at_each_zone_top_which_for_DMA32_is_where_iomem_puts_them()
    {
        MachineLayout exact = fixture.Machine.Layout(4 * KiB);
        MachineLayout inferred = (fixture.Machine with { SystemRam = null }).Layout(4 * KiB);
        AddressRange pciHole = new(0xc0000000, 4 * GiB);
        Assert.Contains(exact.Reserved, r => r.Start <= pciHole.Start && r.End >= pciHole.End);
        Assert.Contains(inferred.Reserved, r => r.Start <= pciHole.Start && r.End >= pciHole.End);
        Assert.Contains(fixture.Machine.Inferred, n => n.Contains("boot reservations", StringComparison.Ordinal));
        Assert.Contains((fixture.Machine with { SystemRam = null }).Inferred, n => n.Contains("no /proc/iomem", StringComparison.Ordinal));
    }

    [Fact]
    public void The_kernel_placement_follows_every_allocation_and_ends_near_the_after_snapshot()
    {
        ReplayResult r = fixture.Result;
        PolicyResult kernel = r.Policies[0];
        Assert.Equal("kernel", kernel.Name);
        Assert.Equal(r.Trace.Allocs, kernel.Requests);
        Assert.Equal(0, kernel.AllocFailures);
        Assert.Equal(0, r.Trace.UnmatchedFrees); // every free of a page allocated before the capture found it allocated

        // The start state equals the snapshot where the trace leaves nothing on per-CPU lists.
        Assert.All(r.Start!.Zones.Where(z => z.Zone is "DMA" or "DMA32"), z => Assert.Equal(z.SnapshotFreeBlocks, z.RebuiltFreeBlocks));
        Assert.All(r.EndCheck!.Where(z => z.Zone is "DMA" or "DMA32"), z => Assert.Equal(z.SnapshotFreeBlocks, z.RebuiltFreeBlocks));
        ZoneFreeCheck normal = r.EndCheck!.Single(z => z.Zone == "Normal");
        Assert.True(KernelDistance.FreeShape(normal.RebuiltFreeBlocks, normal.SnapshotFreeBlocks) < 0.01);
    }

    [Fact]
    public void Every_policy_is_measured_against_the_kernel_and_grouping_comes_closest()
    {
        IReadOnlyList<PolicyResult> p = fixture.Result.Policies;
        Assert.All(p.Skip(1), x => Assert.NotNull(x.DistanceFromKernel));
        double Mean(string name) => p.Single(x => x.Name == name).DistanceFromKernel!.MeanBuddyInfo;
        Assert.True(Mean("zoned+mobility") < Mean("zoned"));
        Assert.True(Mean("zoned") < Mean("linux-1.2"));
        Assert.Equal(Mean("zoned+mobility"), Mean("linux-6.18")); // no fallback in this workload: 6.18's rules never act
    }

    [Fact]
    public void Buddy_replay_takes_the_bundle_and_prints_the_kernel_beside_the_policies()
    {
        string json = Path.Combine(Path.GetTempPath(), $"bundle-replay-{Guid.NewGuid():N}.json");
        try
        {
            (int code, string stdout, string stderr) = Run("replay", TestData.Path("live-6.18.bundle.tar.gz"), "--policy", "zoned", "--json", json);
            Assert.True(code == 0, stderr);
            Assert.Contains("Machine: the traced one", stdout, StringComparison.Ordinal);
            Assert.Contains("kernel: the traced kernel's own placement", stdout, StringComparison.Ordinal);
            Assert.Contains("How close each policy stayed to the kernel's own placement", stdout, StringComparison.Ordinal);
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
            JsonElement[] policies = [.. doc.RootElement.GetProperty("policies").EnumerateArray()];
            Assert.Equal(["kernel", "zoned"], policies.Select(x => x.GetProperty("name").GetString()));
            double mean = policies[1].GetProperty("distanceFromKernel").GetProperty("meanBuddyInfo").GetDouble();
            Assert.Contains(mean.ToString("F3", System.Globalization.CultureInfo.InvariantCulture), stdout, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(json);
        }
    }

    [Fact]
    public void Map_draws_the_kernel_placement_and_the_report_puts_it_beside_the_policies()
    {
        string dir = Directory.CreateTempSubdirectory("buddy-kernel-pictures-").FullName;
        try
        {
            string png = Path.Combine(dir, "kernel.png"), html = Path.Combine(dir, "report.html");
            (int code, string stdout, string stderr) = Run("map", "--trace", TestData.Path("live-6.18.bundle.tar.gz"), "--policy", "kernel", "--out", png);
            Assert.True(code == 0, stderr);
            Assert.Contains("Wrote", stdout, StringComparison.Ordinal);
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(png)[..4]);

            (code, _, stderr) = Run("report", TestData.Path("live-6.18.bundle.tar.gz"), "--policy", "zoned", "--out", html);
            Assert.True(code == 0, stderr);
            string text = File.ReadAllText(html);
            Assert.Contains("<th>kernel</th><th>zoned</th>", text, StringComparison.Ordinal);
            Assert.Contains("distance from the kernel: buddyinfo, mean / end", text, StringComparison.Ordinal);
            Assert.Contains("id=\"map-kernel\"", text, StringComparison.Ordinal);

            (code, _, stderr) = Run("map", "--policy", "kernel", "--out", png);
            Assert.Equal(2, code);
            Assert.Contains("needs the traced machine", stderr, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("--memory", "1GiB", "--memory sizes a simulated machine")]
    [InlineData("--pagetypeinfo", "PTI", "needs --zoneinfo FILE")]
    public void Conflicting_or_orphan_machine_options_are_one_line_errors(string option, string value, string expected)
    {
        string[] args = option == "--memory"
            ? ["replay", TestData.Path("live-6.18.bundle.tar.gz"), option, value]
            : ["replay", TestData.Path("linux-6.18-fragmenting-fallbacks.trace.gz"), option, TestData.Path("live-6.18.pagetypeinfo")];
        (int code, _, string stderr) = Run(args);
        Assert.Equal(2, code);
        Assert.Contains(expected, stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }
}
