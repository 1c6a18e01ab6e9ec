using System.Text.Json;
using Buddy.Tool;
using Buddy.Simulation.Policies;
using Buddy.Tool.Commands;

namespace Buddy.Tests;

public sealed class SimulationCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("buddy-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Stdout, string Stderr) Run(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        int code = Cli.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void Highalloc_prints_the_counters_the_json_holds_for_the_same_run()
    {
        string json = Path.Combine(_dir, "h.json");
        (int code, string stdout, string stderr) = Run("scenario", "highalloc", "--steps", "40000", "--atomic-share", "2", "--watermark-boost-factor", "30000", "--json", json);
        Assert.True(code == 0, stderr);
        Assert.Contains("2% of allocations are order-3 unmovable GFP_ATOMIC requests", stdout, StringComparison.Ordinal);
        Assert.Contains("vm sysctls: watermark_boost_factor 30000, compaction_proactiveness 20, defrag_mode 0, extfrag_threshold 500.", stdout, StringComparison.Ordinal);
        string[] lines = stdout.Split('\n');

        // A row of the counters table: the label, then one value per policy in the JSON's order.
        string[] Row(string label) =>
            [.. lines.Single(l => l.StartsWith($"│ {label} ", StringComparison.Ordinal)).Split('│', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Skip(1)];
        static string N(long v) => v.ToString("N0", System.Globalization.CultureInfo.InvariantCulture);

        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement[] policies = [.. doc.RootElement.GetProperty("policies").EnumerateArray()];
        Assert.Equal(["zoned", "zoned+mobility", "zoned+mobility+compaction", "linux-6.18"], policies.Select(p => p.GetProperty("name").GetString()));
        for (int i = 0; i < policies.Length; i++)
        {
            JsonElement p = policies[i], end = p.GetProperty("mobilityAtEnd");
            Assert.Equal(N(end.GetProperty("fallbackEvents").GetInt64()), Row("fallbacks")[i]);
            Assert.Equal(N(end.GetProperty("fragmentingEvents").GetInt64()), Row("  fragmenting")[i]);
            Assert.Equal(N(end.GetProperty("watermarkBoosts").GetInt64()), Row("watermark boosts")[i]);
            foreach (string counter in new[] { "compact_stall", "compact_success", "compact_fail", "compact_daemon_wake" })
            {
                Assert.Equal(N(end.GetProperty("vmEvents").GetProperty(counter).GetInt64()), Row(counter)[i]);
            }

            Assert.Equal(N(end.GetProperty("highAtomicReservations").GetInt64()), Row("highatomic reserved")[i]);
            Assert.Equal(N(end.GetProperty("reservedHighAtomicPages").GetInt64()), Row("highatomic pages")[i]);
            long requests = p.GetProperty("atomicRequests").GetInt64();
            Assert.True(requests > 0);
            Assert.Equal($"{N(p.GetProperty("atomicFailures").GetInt64())}/{N(requests)}", Row("atomic failed")[i]);
            Assert.True(p.GetProperty("metrics").GetProperty("mobility").TryGetProperty("fragmentingEvents", out _));
        }
    }

    [Fact]
    public void Replay_without_a_trace_replays_the_bundled_one_and_writes_camelCase_json()
    {
        string json = Path.Combine(_dir, "r.json");
        (int code, string stdout, string stderr) = Run("replay", "--memory", "2GiB", "--json", json);
        Assert.True(code == 0, stderr);
        Assert.Contains("212,325 allocations", stdout, StringComparison.Ordinal);
        foreach (string policy in new[] { "linux-1.2", "reserved-pool", "linux-1.3.4", "zoned", "zoned+mobility", "zoned+mobility+compaction" })
        {
            Assert.Contains(policy, stdout, StringComparison.Ordinal);
        }

        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement trace = doc.RootElement.GetProperty("trace");
        Assert.Equal(364_164, trace.GetProperty("lines").GetInt64());
        Assert.Equal(212_325, trace.GetProperty("allocs").GetInt64());
        Assert.Equal(151_839, trace.GetProperty("frees").GetInt64());
        foreach (string name in new[] { "events", "failedAllocs", "unmatchedFrees", "skipped", "partialFrees" })
        {
            Assert.True(trace.TryGetProperty(name, out _), $"trace.{name} missing");
        }

        JsonElement policies = doc.RootElement.GetProperty("policies");
        Assert.Equal(PolicyCatalog.Names.Count, policies.GetArrayLength());
        foreach (JsonElement p in policies.EnumerateArray())
        {
            foreach (string name in new[] { "name", "allocFailures", "peakPagesInUse", "eventsPerSecond", "buddyInfo", "failuresByOrder", "failuresByZone", "meanPagesInUse", "internalFragmentation", "finalUnusableIndex", "samples" })
            {
                Assert.True(p.TryGetProperty(name, out _), $"policies[].{name} missing");
            }

            Assert.StartsWith("Node 0, zone", p.GetProperty("buddyInfo").GetString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Replay_errors_name_the_file_line_and_field()
    {
        string bad = Path.Combine(_dir, "bad.trace");
        File.WriteAllText(bad, "  a-1 [000] ..... 1.0: mm_page_alloc: page=00000000aaaaaaaa pfn=0x10 order=0 migratetype=1 gfp_flags=GFP_KERNEL\n  a-1 [000] ..... 2.0: mm_page_free: page=00000000aaaaaaaa pfn=0xZZ order=0\n");
        (int code, _, string stderr) = Run("replay", bad, "--memory", "64MiB");
        Assert.Equal(2, code);
        Assert.Contains($"{bad}:2:", stderr, StringComparison.Ordinal);
        Assert.Contains("pfn", stderr, StringComparison.Ordinal);

        (code, string stdout, stderr) = Run("replay", bad, "--memory", "64MiB", "--skip-bad-lines");
        Assert.True(code == 0, stderr);
        Assert.Contains("1 bad lines skipped", stdout, StringComparison.Ordinal);

        Assert.Equal(2, Run("replay", Path.Combine(_dir, "missing.trace")).Code);
        Assert.Equal(2, Run("replay", "--policy", "slab").Code);
        Assert.Equal(2, Run("replay", "--memory", "lots").Code);
    }

    [Fact]
    public void Scenario_isa_dma_1995_prints_each_policy_and_knuth_prints_its_fragmentation()
    {
        string json = Path.Combine(_dir, "isa.json");
        (int code, string stdout, string stderr) = Run("scenario", "isa-dma-1995", "--seed", "3", "--rounds", "5", "--json", json);
        Assert.True(code == 0, stderr);
        Assert.Contains("64/128 KiB", stdout, StringComparison.Ordinal);
        Assert.Contains("retry", stdout, StringComparison.Ordinal);
        using (JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json)))
        {
            Assert.Equal(PolicyCatalog.Names.Count, doc.RootElement.GetProperty("policies").GetArrayLength());
            Assert.Equal(3, doc.RootElement.GetProperty("seed").GetInt32());
        }

        (code, stdout, stderr) = Run("scenario", "knuth", "--ticks", "20000");
        Assert.True(code == 0, stderr);
        Assert.Contains("internal fragmentation", stdout, StringComparison.Ordinal);

        Assert.Equal(2, Run("scenario", "knuth", "--policy", "zoned").Code);
        Assert.Equal(2, Run("scenario", "tetris").Code);
        Assert.Equal(2, Run("scenario", "knuth", "--sizes", "S9").Code);
    }

    [Fact]
    public void Capture_without_tracefs_says_what_is_missing()
    {
        (int code, _, string stderr) = Run("capture", "--out", Path.Combine(_dir, "t.trace"), "--seconds", "1", "--tracefs", Path.Combine(_dir, "no-tracefs"));
        Assert.Equal(2, code);
        Assert.Contains("tracefs", stderr, StringComparison.Ordinal);
        Assert.Contains("events/kmem/mm_page_alloc/enable", stderr, StringComparison.Ordinal);
        Assert.Equal(2, Run("capture", "--out", Path.Combine(_dir, "t.trace")).Code); // neither --seconds nor a command
    }

    [Fact]
    public void Capture_records_a_live_trace_that_replays()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && Environment.IsPrivilegedProcess && (File.Exists("/sys/kernel/tracing/events/kmem/mm_page_alloc/enable") || Directory.Exists("/sys/kernel/tracing")),
            "needs root and tracefs (a Linux machine where the test runs as root)");
        string file = Path.Combine(_dir, "live.trace.gz");
        (int code, string stdout, string stderr) = Run("capture", "--out", file, "--", "sh", "-c", "head -c 8000000 /dev/urandom > /dev/null; ls -R /usr/lib > /dev/null");
        Assert.True(code == 0, stderr);
        Assert.Contains("allocations", stdout, StringComparison.Ordinal);
        using (var reader = Tracing.FtraceReader.Open(file))
        {
            while (reader.TryRead(out _))
            {
            }

            Assert.True(reader.Stats.Allocs > 0, "the capture holds no allocation");
        }

        (code, stdout, stderr) = Run("replay", file, "--policy", "zoned");
        Assert.True(code == 0, stderr);
    }

    [Fact]
    public void A_memory_size_that_is_rounded_up_is_said_to_be()
    {
        (int code, string stdout, string stderr) = Run("replay", "--memory", "1MiB", "--policy", "zoned");
        Assert.True(code == 0, stderr);
        Assert.Contains("Note: --memory 1 MiB was rounded up to 4 MiB: a machine is a whole number of max-order blocks (4 MiB).", stdout, StringComparison.Ordinal);
        (code, stdout, stderr) = Run("replay", "--memory", "8MiB", "--policy", "zoned");
        Assert.True(code == 0, stderr);
        Assert.DoesNotContain("rounded", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Capture_of_a_command_exits_with_the_commands_code()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && Environment.IsPrivilegedProcess && (File.Exists("/sys/kernel/tracing/events/kmem/mm_page_alloc/enable") || Directory.Exists("/sys/kernel/tracing")),
            "needs root and tracefs (a Linux machine where the test runs as root)");
        string file = Path.Combine(_dir, "failed.trace.gz");
        (int code, string stdout, string stderr) = Run("capture", "--out", file, "--", "sh", "-c", "ls / > /dev/null; exit 3");
        Assert.True(code == 3, $"exit code {code}: {stderr}");
        Assert.Contains("exited with code 3", stdout, StringComparison.Ordinal);
        Assert.True(File.Exists(file), "the trace of a failed command is kept");
    }

    [Theory]
    [InlineData(true, false, "permission denied: tracefs is mounted at /sys/kernel/tracing, but only root can read it")]
    [InlineData(false, false, "tracefs is not mounted at /sys/kernel/tracing, and mounting it needs root")]
    [InlineData(true, true, "tracefs is mounted at /sys/kernel/tracing but /p does not exist")]
    [InlineData(false, true, null)]
    public void Capture_tells_permission_denied_from_not_mounted(bool mounted, bool root, string? expected)
    {
        string? why = CaptureCommand.WhyUnavailable("/sys/kernel/tracing", "/p", mounted, root);
        if (expected is null)
        {
            Assert.Null(why);
        }
        else
        {
            Assert.StartsWith(expected, why, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Bench_prints_every_workload_side_by_side_and_writes_json()
    {
        string json = Path.Combine(_dir, "bench.json");
        (int code, string stdout, string stderr) = Run("bench", "--quick", "--json", json);
        Assert.True(code == 0, stderr);
        Assert.DoesNotContain("warming up", stdout + stderr, StringComparison.Ordinal); // progress goes to a terminal's stderr only
        Assert.DoesNotContain("round 1 of", stdout + stderr, StringComparison.Ordinal);
        foreach (string who in new[] { "ArrayPool", "NativeMemory.AlignedAlloc", "reference buddy", "without thread caches", "Targets (issue 5)", "Targets (issue 12)", "Below(12 MiB)", "30-bit DMA mask", "Huge space: ",
                     "Targets (issue 13)", "64 KiB rent+return pair", "through a Pipe", "Allocated on the GC heap (issue 13)", "Resident memory (issue 13)" })
        {
            Assert.Contains(who, stdout, StringComparison.Ordinal);
        }

        // One line per issue-12 and issue-13 target, each measured (or, for the huge space, said not to be) and judged.
        string[] targets = [.. stdout.Split('\n').Where(l => l.TrimStart().StartsWith("target ", StringComparison.Ordinal))];
        Assert.Equal(13, targets.Length);
        Assert.All(targets, t => Assert.Matches(": (measured .+|not measured .+): (met|not met)\r?$", t));
        Assert.Contains(targets, t => t.Contains("target BuddyMemoryPool 4 KiB pair ≤ 1.0× MemoryPool<byte>.Shared's", StringComparison.Ordinal));
        Assert.Contains(targets, t => t.Contains("target 0 B allocated per rent", StringComparison.Ordinal));
        Assert.Contains(targets, t => t.Contains("target pipe throughput ≥ the default pool's", StringComparison.Ordinal));

        // The burst's resident memory: the arena's give-back is either called or said to be missing.
        Assert.Matches("BuddyMemoryPool \\(arena with thread caches\\): before .+ MiB, after the burst .+(give-back: not available|after give-back \\(NativeArena\\.GiveBack)", stdout);

        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        var rows = doc.RootElement.EnumerateArray().ToList();
        Assert.Contains(rows, r => r.GetProperty("workload").GetString() == "random mixed step" && r.GetProperty("implementation").GetString() == "Buddy");
        Assert.Contains(rows, r => r.GetProperty("workload").GetString() == "random mixed step" && r.GetProperty("implementation").GetString() == "Buddy without thread caches");
        Assert.All(rows, r => Assert.True(r.GetProperty("nsPerOp").GetDouble() > 0));
    }

    [Fact]
    public void Replay_passes_the_vm_sysctls_to_linux_618_and_says_so()
    {
        // At 420 MiB the bundled trace makes linux-6.18 claim parts of pageblocks, each claim
        // attempt boosting the watermarks (boost_watermark) and kcompactd waking after kswapd;
        // with vm.watermark_boost_factor 0 and vm.compaction_proactiveness 0 neither happens.
        string json = Path.Combine(_dir, "sysctl.json"), plain = Path.Combine(_dir, "plain.json");
        (int code, string stdout, string stderr) = Run("replay", "--memory", "420MiB", "--policy", "linux-6.18", "--watermark-boost-factor", "0", "--compaction-proactiveness", "0", "--json", json);
        Assert.True(code == 0, stderr);
        Assert.Contains("vm sysctls: watermark_boost_factor 0, compaction_proactiveness 0, defrag_mode 0, extfrag_threshold 500.", stdout, StringComparison.Ordinal);
        (code, stdout, stderr) = Run("replay", "--memory", "420MiB", "--policy", "linux-6.18", "--json", plain);
        Assert.True(code == 0, stderr);
        Assert.DoesNotContain("vm sysctls:", stdout, StringComparison.Ordinal);
        using JsonDocument off = JsonDocument.Parse(File.ReadAllText(json)), on = JsonDocument.Parse(File.ReadAllText(plain));
        JsonElement offStats = off.RootElement.GetProperty("policies")[0].GetProperty("mobility"), onStats = on.RootElement.GetProperty("policies")[0].GetProperty("mobility");
        Assert.Equal(0, offStats.GetProperty("watermarkBoosts").GetInt64());
        Assert.Equal(0, offStats.GetProperty("kcompactdWakes").GetInt64());
        Assert.True(onStats.GetProperty("watermarkBoosts").GetInt64() > 0);
        Assert.True(onStats.GetProperty("kcompactdWakes").GetInt64() > 0);
    }
}
