// MapFramesTests: moments of a run kept for pictures (issue 18) — ReplayOptions.Frames on every
// replay path (sized and buffered, sized and read twice, --memory, the traced machine), the
// scenarios' frame counts, the APNG encoder and decoder, and `buddy map --frames`.
using Buddy.Diagnostics;
using Buddy.Simulation.Metrics;
using Buddy.Simulation.Replay;
using Buddy.Simulation.Scenarios;
using Buddy.Tool;
using Buddy.Tool.Commands;
using Buddy.Tool.Rendering;
using static Buddy.Units;

namespace Buddy.Tests;

public sealed class MapFramesTests : IDisposable
{
    private const string Sample = "linux-6.18-fragmenting-fallbacks.trace.gz";
    private static readonly string[] Policies = ["zoned", "linux-6.18"];
    private readonly string _dir = Directory.CreateTempSubdirectory("buddy-frames-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Path(string name) => TestData.Path(name);

    // The steps FrameSchedule promises: round(k * n / count), the last n.
    private static long[] Expected(long n, int count) => [.. Enumerable.Range(1, count).Select(k => Math.Max(1, ((n * k) + (count / 2)) / count))];

    [Fact]
    public void A_replay_keeps_four_frames_per_policy_at_even_steps_the_last_the_end_state()
    {
        ReplayResult plain = TraceReplay.Run(Path(Sample), new ReplayOptions { Policies = Policies, KeepDumps = true });
        ReplayResult framed = TraceReplay.Run(Path(Sample), new ReplayOptions { Policies = Policies, KeepDumps = true, Frames = 4 });
        long events = framed.Trace.Allocs + framed.Trace.Frees;
        Assert.True(events > 1000);
        Assert.Null(plain.Policies[0].Frames);
        foreach ((PolicyResult with, PolicyResult without) in framed.Policies.Zip(plain.Policies))
        {
            IReadOnlyList<MapFrame> frames = Assert.IsAssignableFrom<IReadOnlyList<MapFrame>>(with.Frames);
            Assert.Equal(Expected(events, 4), frames.Select(f => f.Step));
            Assert.Equal(events, frames[^1].Step);

            // The last frame is the state the replay ends in, as a run without frames dumps it; taking
            // frames changes nothing the replay reports.
            Assert.Equal(without.Dump!.ToJson(), frames[^1].Dump.ToJson());
            Assert.Equal(without.BuddyInfo, with.BuddyInfo);
            Assert.Equal(without.AllocFailures, with.AllocFailures);
            Assert.Equal(FreePagesByZone(with.BuddyInfo), FreePagesByZone(frames[^1].Dump));

            // The trace changes memory between the first quarter and the end.
            Assert.NotEqual(frames[0].Dump.ToJson(), frames[^1].Dump.ToJson());
            Assert.NotEqual(FreePages(frames[0].Dump), FreePages(frames[^1].Dump));
        }
    }

    [Fact]
    public void Every_replay_path_takes_the_same_frames_read_twice_or_with_memory_given()
    {
        var options = new ReplayOptions { Policies = ["zoned+mobility"], Frames = 3 };
        ReplayResult buffered = TraceReplay.Run(Path(Sample), options);
        ReplayResult reread = TraceReplay.Run(Path(Sample), options, null, maxBuffered: 100);
        ReplayResult memory = TraceReplay.Run(Path(Sample), options with { MemoryBytes = buffered.MemoryBytes });
        Assert.Equal(buffered.MemoryBytes, memory.MemoryBytes);
        string[] Frames(ReplayResult r) => [.. r.Policies[0].Frames!.Select(f => $"{f.Step}:{f.Dump.ToJson()}")];
        Assert.Equal(3, Frames(buffered).Length);
        Assert.Equal(Frames(buffered), Frames(reread));
        Assert.Equal(Frames(buffered), Frames(memory));
    }

    [Fact]
    public void The_traced_machine_replay_counts_its_events_in_its_first_read_and_ends_on_the_end_state()
    {
        using TraceBundle bundle = TraceBundle.Open(Path("live-6.18.bundle.tar.gz"));
        TracedMachine machine = BundleReplayFixture.TracedMachineOf(bundle);
        var options = new ReplayOptions { Traced = machine, KernelPlacement = true, Policies = ["zoned"], KeepDumps = true };
        ReplayResult plain = TraceReplay.Run(bundle.TracePath, options);
        ReplayResult framed = TraceReplay.Run(bundle.TracePath, options with { Frames = 2 });
        long events = framed.Trace.Allocs + framed.Trace.Frees;
        foreach ((PolicyResult with, PolicyResult without) in framed.Policies.Zip(plain.Policies))
        {
            Assert.Equal(Expected(events, 2), with.Frames!.Select(f => f.Step));
            Assert.Equal(without.Dump!.ToJson(), with.Frames![^1].Dump.ToJson());
        }
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(65)]
    public void A_frame_count_outside_0_to_64_is_refused_naming_the_option(int frames)
    {
        var replay = Assert.Throws<ArgumentOutOfRangeException>(() => TraceReplay.Run(Path(Sample), new ReplayOptions { Frames = frames }));
        Assert.Contains("ReplayOptions.Frames must be from 0 (no frames) to 64", replay.Message, StringComparison.Ordinal);
        var high = Assert.Throws<ArgumentOutOfRangeException>(() => HighAlloc.Run(new HighAllocOptions { Frames = frames }));
        Assert.Contains("HighAllocOptions.Frames", high.Message, StringComparison.Ordinal);
        var isa = Assert.Throws<ArgumentOutOfRangeException>(() => IsaDma1995.Run(new IsaDmaOptions { Frames = frames }));
        Assert.Contains("IsaDmaOptions.Frames", isa.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_highalloc_load_keeps_frames_the_last_its_end()
    {
        var options = new HighAllocOptions { Policies = ["zoned+mobility"], MemoryBytes = 64 * MiB, Steps = 30_000, FillSteps = 10_000, KeepDumps = true };
        PolicyResult plain = HighAlloc.Run(options)[0].Metrics;
        PolicyResult framed = HighAlloc.Run(options with { Frames = 3 })[0].Metrics;
        Assert.Equal([10_000L, 20_000, 30_000], framed.Frames!.Select(f => f.Step));
        Assert.Equal(plain.Dump!.ToJson(), framed.Frames![^1].Dump.ToJson());
        Assert.NotEqual(framed.Frames[0].Dump.ToJson(), framed.Frames[^1].Dump.ToJson());
    }

    [Fact]
    public void The_isa_dma_run_keeps_its_last_frame_after_the_drivers_last_unload()
    {
        var options = new IsaDmaOptions { Policies = ["zoned"], WarmupSteps = 4_000, DriverRounds = 5, KeepDumps = true };
        PolicyResult plain = IsaDma1995.Run(options)[0].Metrics;
        PolicyResult framed = IsaDma1995.Run(options with { Frames = 4 })[0].Metrics;
        Assert.Equal(Expected(8_000, 4), framed.Frames!.Select(f => f.Step));
        Assert.Equal(plain.Dump!.ToJson(), framed.Frames![^1].Dump.ToJson());
    }

    [Fact]
    public void Scenarios_run_for_pictures_keep_four_frames_unless_told()
    {
        DrawnScenario drawn = ScenarioCatalog.RunForPictures(ScenarioCatalog.IsaDma, 1, ["zoned"]);
        Assert.Equal(4, drawn.Policies[0].Frames!.Count);
        Assert.Null(ScenarioCatalog.RunForPictures(ScenarioCatalog.IsaDma, 1, ["zoned"], frames: 0).Policies[0].Frames);
    }

    [Fact]
    public void An_animated_png_reads_back_frame_by_frame_and_a_corrupt_chunk_is_refused()
    {
        const int W = 5, H = 3;
        byte[][] frames = [.. Enumerable.Range(0, 3).Select(f => Enumerable.Range(0, W * H * 3).Select(i => (byte)((i * 7) + (f * 50))).ToArray())];
        byte[] apng = PngWriter.EncodeAnimated(W, H, frames, 250);
        (int width, int height, IReadOnlyList<byte[]> back, IReadOnlyList<int> delays) = PngWriter.DecodeAnimated(apng);
        Assert.Equal((W, H), (width, height));
        Assert.Equal(frames, back);
        Assert.Equal([250, 250, 250], delays);
        Assert.Equal(frames[0], PngWriter.Decode(apng).Rgb); // a viewer without APNG shows the first frame

        byte[] corrupt = (byte[])apng.Clone();
        corrupt[^20] ^= 0xFF; // inside the last fdAT
        Assert.Contains("CRC", Assert.Throws<InvalidDataException>(() => PngWriter.DecodeAnimated(corrupt)).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => PngWriter.EncodeAnimated(W, H, [frames[0], new byte[3]], 250));
    }

    [Fact]
    public void Buddy_map_frames_writes_an_animated_png_whose_last_frame_is_the_map_of_the_end()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        string animated = System.IO.Path.Combine(_dir, "x.png"), still = System.IO.Path.Combine(_dir, "end.png");
        Assert.Equal(0, Cli.Run(["map", "--trace", Path(Sample), "--policy", "zoned", "--frames", "4", "--out", animated], stdout, stderr));
        Assert.Equal(0, Cli.Run(["map", "--trace", Path(Sample), "--policy", "zoned", "--out", still], stdout, stderr));
        Assert.Equal("", stderr.ToString());
        Assert.Contains("4 frames", stdout.ToString(), StringComparison.Ordinal);
        (int width, int height, IReadOnlyList<byte[]> frames, _) = PngWriter.DecodeAnimated(File.ReadAllBytes(animated));
        (int endWidth, int endHeight, byte[] end) = PngWriter.Decode(File.ReadAllBytes(still));
        Assert.Equal(4, frames.Count);
        Assert.Equal((endWidth, endHeight), (width, height));
        // Below the title (each frame names its step, the still map the trace): the same picture.
        int titleRows = 8 + (BitmapFont.GlyphHeight * 3) + 1; // the pad and a 3x line of text; the map and its axis start lower
        Assert.Equal(end.AsSpan(width * 3 * titleRows).ToArray(), frames[^1].AsSpan(width * 3 * titleRows).ToArray());
        Assert.NotEqual(frames[0], frames[^1]);
    }

    [Fact]
    public void Buddy_map_frames_of_a_scenario_draws_each_moment()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        string animated = System.IO.Path.Combine(_dir, "isa.png");
        Assert.Equal(0, Cli.Run(["map", "--scenario", "isa-dma-1995", "--policy", "zoned", "--frames", "2", "--out", animated], stdout, stderr));
        Assert.Equal(2, PngWriter.DecodeAnimated(File.ReadAllBytes(animated)).Frames.Count);
    }

    [Theory]
    [InlineData("--frames", "1")]
    [InlineData("--frames", "100")]
    [InlineData("--frames", "4", "--from")]
    [InlineData("--frames", "4", "--svg")]
    public void Buddy_map_refuses_bad_frames_in_one_line_with_exit_code_2(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        string dump = System.IO.Path.Combine(_dir, "d.json");
        File.WriteAllText(dump, "{}");
        List<string> line = ["map", args[0], args[1], "--out", System.IO.Path.Combine(_dir, args.Contains("--svg") ? "x.svg" : "x.png")];
        if (args.Contains("--from"))
        {
            line.AddRange(["--from", dump]);
        }

        Assert.Equal(2, Cli.Run([.. line], stdout, stderr));
        string[] lines = stderr.ToString().TrimEnd('\n').Split('\n');
        Assert.True(lines.Length == 1, $"expected one line on stderr, got:\n{stderr}");
        Assert.Contains("--frames", lines[0], StringComparison.Ordinal);
        Assert.False(File.Exists(System.IO.Path.Combine(_dir, "x.png")));
    }

    private static ulong FreePages(AllocatorDump dump) => dump.Free.Aggregate(0UL, (s, r) => s + r.Pages);

    // Free pages per zone, by name: what a dump lists as free, and what a buddyinfo counts.
    private static string[] FreePagesByZone(AllocatorDump dump) =>
        [.. dump.Zones.Select(z => $"{z.Name}: {dump.Free.Where(r => r.Pfn >= z.StartPfn && r.Pfn < z.EndPfn).Aggregate(0UL, (s, r) => s + r.Pages)}")];

    private static string[] FreePagesByZone(string buddyInfo) =>
        [.. Buddy.Kernel.BuddyInfo.Parse(buddyInfo, "buddyinfo").Zones.Select(z => $"{z.Name}: {z.FreeBlockCounts.Select((n, o) => (ulong)n << o).Aggregate(0UL, (s, p) => s + p)}")];
}
