// FuzzCorpusTests: replays the AFL++ seed corpus (fuzz/corpus) and every saved crasher
// (fuzz/crashers) through FtraceReader, so that CI, which has no AFL++, still checks that no input
// the fuzzer has seen can make anything but TraceFormatException escape. See docs/fuzzing.md.
using Buddy.Tracing;

namespace Buddy.Tests;

public sealed class FuzzCorpusTests
{
    private const int MinimumCorpus = 10;

    private static string CorpusDir => Path.Combine(RepoPaths.Root, "fuzz", "corpus");

    private static string CrashersDir => Path.Combine(RepoPaths.Root, "fuzz", "crashers");

    /// <summary>Every corpus and crasher file, relative to the repository root (crashers' README excluded).</summary>
    public static TheoryData<string> Inputs()
    {
        var data = new TheoryData<string>();
        foreach (string file in InputFiles(CorpusDir).Concat(InputFiles(CrashersDir)))
        {
            data.Add(Path.GetRelativePath(RepoPaths.Root, file));
        }

        return data;
    }

    [Fact]
    public void The_seed_corpus_exists_and_is_not_empty()
    {
        Assert.True(Directory.Exists(CorpusDir), $"the fuzz seed corpus {CorpusDir} is missing");
        string[] files = [.. InputFiles(CorpusDir)];
        Assert.True(files.Length >= MinimumCorpus, $"the fuzz seed corpus {CorpusDir} has {files.Length} files, expected at least {MinimumCorpus}");
        Assert.All(files, f => Assert.True(new FileInfo(f).Length > 0, $"{f} is empty"));
        Assert.True(Directory.Exists(CrashersDir), $"{CrashersDir} is missing (it holds at least its README.md)");
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Replaying_an_input_throws_nothing_but_trace_format_exception(string relativePath)
    {
        string path = Path.Combine(RepoPaths.Root, relativePath);
        byte[] bytes = File.ReadAllBytes(path);

        foreach (FtraceOptions options in new[] { new FtraceOptions(), new FtraceOptions { SkipBadLines = true } })
        {
            Exception? thrown = Record.Exception(() =>
            {
                using var reader = new FtraceReader(new MemoryStream(bytes, writable: false), relativePath, options);
                while (reader.TryRead(out PageEvent e))
                {
                    Assert.InRange(e.Order, 0, Buddy.Kernel.KernelLimits.MaxPageOrder);
                    Assert.True(e.Line >= 1 && e.Line <= reader.Stats.Lines, $"event line {e.Line} outside 1..{reader.Stats.Lines}");
                }

                TraceStats s = reader.Stats;
                long sorted = s.Allocs + s.Frees + s.FailedAllocs + s.SkippedEvents;
                Assert.InRange(s.Events, sorted, sorted + s.BadLines); // a skipped bad line may have had an event name
                Assert.InRange(s.HeaderLines + s.BadLines + sorted, 0, s.Lines);
            });

            if (thrown is not null and not TraceFormatException)
            {
                Assert.Fail($"{relativePath} (SkipBadLines={options.SkipBadLines}) let {thrown.GetType().FullName} escape: {thrown}");
            }

            if (thrown is TraceFormatException e)
            {
                Assert.Equal(relativePath, e.SourceName);
            }
        }
    }

    private static IEnumerable<string> InputFiles(string dir) =>
        Directory.Exists(dir)
            ? Directory.EnumerateFiles(dir)
                .Where(f => !Path.GetFileName(f).Equals("README.md", StringComparison.OrdinalIgnoreCase) && !Path.GetFileName(f).StartsWith('.'))
                .Order(StringComparer.Ordinal)
            : [];
}
