// KernelEvidenceSampleTests: the real capture in Data/linux-6.18-fragmenting-fallbacks.trace.gz,
// replayed — its kernel evidence must equal what a separate count of the text finds (a regular
// expression per line, nothing of FtraceReader) — and `buddy replay` printing and writing that
// evidence, or nothing of it for a trace without those events.
using System.Globalization;
using System.IO.Compression;
using System.Text.Json;
using System.Text.RegularExpressions;
using Buddy.Simulation.Replay;
using Buddy.Tool.Commands;
using Buddy.Tracing;
using static Buddy.Tests.TraceTestData;

namespace Buddy.Tests;

public sealed partial class KernelEvidenceSampleTests : IDisposable
{
    private const string Sample = "linux-6.18-fragmenting-fallbacks.trace.gz";

    private readonly string _dir = Directory.CreateTempSubdirectory("buddy-evidence-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // "<task>-<pid> [<cpu>] <flags> <timestamp>: <event>: <fields>", the event and fields captured.
    [GeneratedRegex(@"\[\d+\]\s+\S+\s+\d+(?:\.\d+)?: (\w+): (.*)$")]
    private static partial Regex EventLine();

    [GeneratedRegex(@"(\w+)=(\S+?),?(?= |$)")]
    private static partial Regex KeyValue();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();

    // The sample's evidence counted from its text alone.
    private static KernelEvidence CountByText(string path)
    {
        long fallbacks = 0, fragmenting = 0, ownership = 0, zoneLocked = 0, refills = 0, runs = 0, sync = 0, ends = 0;
        var routes = new Dictionary<(MigrateType, MigrateType), long>();
        var orders = new SortedDictionary<int, long>();
        var outcomes = new Dictionary<string, long>(StringComparer.Ordinal);
        using var text = new StreamReader(new GZipStream(File.OpenRead(path), CompressionMode.Decompress));
        while (text.ReadLine() is { } line)
        {
            Match m = EventLine().Match(line);
            if (!m.Success)
            {
                continue;
            }

            Dictionary<string, string> f = KeyValue().Matches(m.Groups[2].Value).ToDictionary(kv => kv.Groups[1].Value, kv => kv.Groups[2].Value, StringComparer.Ordinal);
            int Int(string key) => int.Parse(f[key], CultureInfo.InvariantCulture);
            switch (m.Groups[1].Value)
            {
                case "mm_page_alloc_extfrag":
                    fallbacks++;
                    fragmenting += Int("fragmenting");
                    ownership += Int("change_ownership");
                    var route = ((MigrateType)Int("alloc_migratetype"), (MigrateType)Int("fallback_migratetype"));
                    routes[route] = routes.GetValueOrDefault(route) + 1;
                    orders[Int("alloc_order")] = orders.GetValueOrDefault(Int("alloc_order")) + 1;
                    break;
                case "mm_page_alloc_zone_locked":
                    zoneLocked++;
                    refills += Int("percpu_refill");
                    break;
                case "mm_compaction_begin":
                    runs++;
                    sync += f["mode"] == "sync" ? 1 : 0;
                    break;
                case "mm_compaction_end":
                    ends++;
                    outcomes[f["status"]] = outcomes.GetValueOrDefault(f["status"]) + 1;
                    break;
            }
        }

        return new KernelEvidence
        {
            Fallbacks = fallbacks,
            FragmentingFallbacks = fragmenting,
            OwnershipChanges = ownership,
            FallbacksByMigrateType = [.. routes.Select(r => new FallbackRoute(r.Key.Item1, r.Key.Item2, r.Value))],
            FallbacksByOrder = [.. Enumerable.Range(0, orders.Count == 0 ? 0 : orders.Keys.Max() + 1).Select(o => orders.GetValueOrDefault(o))],
            ZoneLockedAllocations = zoneLocked,
            PercpuRefills = refills,
            CompactionRuns = runs,
            SyncCompactionRuns = sync,
            AsyncCompactionRuns = runs - sync,
            CompactionEnds = ends,
            CompactionOutcomes = outcomes,
        };
    }

    [Fact]
    public void The_sample_holds_what_its_readme_says()
    {
        // Counted with: zcat tests/Buddy.Tests/Data/linux-6.18-fragmenting-fallbacks.trace.gz | grep -c ' <event>:'
        // (and grep -c 'fragmenting=1', 'percpu_refill=1', 'status=success'), as Data/README.md lists them.
        KernelEvidence byText = CountByText(TestData.Path(Sample));

        Assert.Equal((156L, 156L, 0L), (byText.Fallbacks, byText.FragmentingFallbacks, byText.OwnershipChanges));
        Assert.Equal((1205L, 1205L), (byText.ZoneLockedAllocations, byText.PercpuRefills));
        Assert.Equal((1L, 1L), (byText.CompactionRuns, byText.CompactionEnds));
        Assert.Equal(1, byText.CompactionOutcomes["success"]);
    }

    [Fact]
    public void Replaying_the_sample_reports_the_evidence_its_text_holds()
    {
        string path = TestData.Path(Sample);
        KernelEvidence expected = CountByText(path);

        ReplayResult result = TraceReplay.Run(path, new ReplayOptions { Policies = ["zoned"] });

        KernelEvidence actual = Assert.IsType<KernelEvidence>(result.KernelEvidence);
        Assert.Equal(
            (expected.Fallbacks, expected.FragmentingFallbacks, expected.OwnershipChanges, expected.ZoneLockedAllocations, expected.PercpuRefills),
            (actual.Fallbacks, actual.FragmentingFallbacks, actual.OwnershipChanges, actual.ZoneLockedAllocations, actual.PercpuRefills));
        Assert.Equal(
            (expected.CompactionRuns, expected.SyncCompactionRuns, expected.AsyncCompactionRuns, expected.CompactionEnds),
            (actual.CompactionRuns, actual.SyncCompactionRuns, actual.AsyncCompactionRuns, actual.CompactionEnds));
        Assert.Equal(expected.FallbacksByMigrateType.OrderByDescending(r => r.Count), actual.FallbacksByMigrateType);
        Assert.Equal(expected.FallbacksByOrder, actual.FallbacksByOrder);
        Assert.Equal(expected.CompactionOutcomes.OrderBy(o => o.Key, StringComparer.Ordinal), actual.CompactionOutcomes.OrderBy(o => o.Key, StringComparer.Ordinal));
        Assert.Equal(expected.Events, actual.Events);
        Assert.Equal(actual.Events, result.Trace.Skipped); // the sample's only other events are these four
    }

    [Fact]
    public void Buddy_replay_prints_the_kernels_record_and_writes_it_to_json()
    {
        string json = Path.Combine(_dir, "r.json");
        (int code, string stdout, string stderr) = Run("replay", TestData.Path(Sample), "--policy", "zoned", "--json", json);

        Assert.True(code == 0, stderr);
        string section = Spaces().Replace(stdout[stdout.IndexOf("What the traced kernel recorded", StringComparison.Ordinal)..], " "); // as wrapped to the console's width
        Assert.Contains("Fragmenting fallbacks: 156 of 156 fallbacks to another migrate type", section, StringComparison.Ordinal);
        Assert.Contains("pageblock ownership changes: 0; asked from taken: Unmovable from Movable 156.", section, StringComparison.Ordinal);
        Assert.Contains("Compaction runs: 1 (sync 0, async 1); ended: success 1.", section, StringComparison.Ordinal);
        Assert.Contains("Zone-locked allocations: 1,205 (per-cpu list refills 1,205).", section, StringComparison.Ordinal);

        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement evidence = doc.RootElement.GetProperty("kernelEvidence");
        Assert.Equal(156, evidence.GetProperty("fragmentingFallbacks").GetInt64());
        Assert.Equal(156, evidence.GetProperty("fallbacks").GetInt64());
        Assert.Equal(0, evidence.GetProperty("ownershipChanges").GetInt64());
        JsonElement route = Assert.Single(evidence.GetProperty("fallbacksByMigrateType").EnumerateArray());
        Assert.Equal(("Unmovable", "Movable", 156L), (route.GetProperty("allocMigrateType").GetString(), route.GetProperty("fallbackMigrateType").GetString(), route.GetProperty("count").GetInt64()));
        Assert.Equal(1, evidence.GetProperty("compactionOutcomes").GetProperty("success").GetInt64());
        Assert.Equal(1205, evidence.GetProperty("zoneLockedAllocations").GetInt64());
        Assert.Equal(1205, evidence.GetProperty("percpuRefills").GetInt64());
    }

    [Fact]
    public void A_trace_without_the_kernels_events_prints_no_section_and_writes_null()
    {
        string trace = Path.Combine(_dir, "plain.trace");
        File.WriteAllText(trace, AllocLine + "\n" + FreeLine + "\n");
        string json = Path.Combine(_dir, "plain.json");

        (int code, string stdout, string stderr) = Run("replay", trace, "--policy", "zoned", "--json", json);

        Assert.True(code == 0, stderr);
        Assert.DoesNotContain("What the traced kernel recorded", stdout, StringComparison.Ordinal);
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("kernelEvidence").ValueKind);
        Assert.Null(TraceReplay.Run(trace, new ReplayOptions { Policies = ["zoned"] }).KernelEvidence);
    }

    private static (int Code, string Stdout, string Stderr) Run(params string[] args)
    {
        using var stdout = new StringWriter(CultureInfo.InvariantCulture) { NewLine = "\n" };
        using var stderr = new StringWriter(CultureInfo.InvariantCulture) { NewLine = "\n" };
        int code = Cli.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
