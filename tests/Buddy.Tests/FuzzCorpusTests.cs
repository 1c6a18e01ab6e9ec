// FuzzCorpusTests: replays each AFL++ target's seed corpus and saved crashers — fuzz/corpus and
// fuzz/crashers through FtraceReader, fuzz/corpus-buddyinfo and fuzz/crashers-buddyinfo through
// BuddyInfo.Parse, fuzz/corpus-dump and fuzz/crashers-dump through AllocatorDump.Parse — so that
// CI, which has no AFL++, still checks that no input the fuzzers have seen lets anything but the
// reader's documented exception escape, and that what a reader accepts prints and reads back the
// same. See docs/fuzzing.md.
using System.Text;
using Buddy.Diagnostics;
using Buddy.Kernel;
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

    /// <summary>Every buddyinfo corpus and crasher file, relative to the repository root.</summary>
    public static TheoryData<string> BuddyInfoInputs() => Relative("corpus-buddyinfo", "crashers-buddyinfo");

    /// <summary>Every dump corpus and crasher file, relative to the repository root.</summary>
    public static TheoryData<string> DumpInputs() => Relative("corpus-dump", "crashers-dump");

    [Theory]
    [InlineData("corpus-buddyinfo", "crashers-buddyinfo")]
    [InlineData("corpus-dump", "crashers-dump")]
    public void Each_new_target_has_a_seed_corpus_and_a_crashers_folder(string corpus, string crashers)
    {
        string[] files = [.. InputFiles(Path.Combine(RepoPaths.Root, "fuzz", corpus))];
        Assert.True(files.Length >= MinimumCorpus, $"fuzz/{corpus} has {files.Length} files, expected at least {MinimumCorpus}");
        Assert.True(File.Exists(Path.Combine(RepoPaths.Root, "fuzz", crashers, "README.md")), $"fuzz/{crashers}/README.md is missing");
    }

    [Theory]
    [MemberData(nameof(BuddyInfoInputs))]
    public void Replaying_a_buddyinfo_input_throws_nothing_but_format_exception_and_accepted_text_round_trips(string relativePath)
    {
        string text = new UTF8Encoding(false).GetString(File.ReadAllBytes(Path.Combine(RepoPaths.Root, relativePath)));
        BuddyInfo info;
        try
        {
            info = BuddyInfo.Parse(text, relativePath);
        }
        catch (FormatException e)
        {
            Assert.StartsWith(relativePath + ":", e.Message, StringComparison.Ordinal);
            return;
        }

        BuddyInfo again = BuddyInfo.Parse(info.ToString(), "printed");
        Assert.Equal(info.Zones.Select(z => z.FreeBlockCounts), again.Zones.Select(z => z.FreeBlockCounts));
        Assert.NotEmpty(FragmentationIndex.UnusableText(info));
        Assert.NotEmpty(FragmentationIndex.ExtfragText(info));
    }

    [Theory]
    [MemberData(nameof(DumpInputs))]
    public void Replaying_a_dump_input_throws_nothing_but_format_exception_and_accepted_dumps_round_trip(string relativePath)
    {
        string json = new UTF8Encoding(false).GetString(File.ReadAllBytes(Path.Combine(RepoPaths.Root, relativePath)));
        AllocatorDump dump;
        try
        {
            dump = AllocatorDump.Parse(json, relativePath);
        }
        catch (FormatException e)
        {
            Assert.StartsWith(relativePath + ": ", e.Message, StringComparison.Ordinal);
            return;
        }

        Assert.Equal(dump.ToJson(), AllocatorDump.Parse(dump.ToJson(), "printed").ToJson());
    }

    private static TheoryData<string> Relative(string corpus, string crashers)
    {
        var data = new TheoryData<string>();
        foreach (string file in InputFiles(Path.Combine(RepoPaths.Root, "fuzz", corpus)).Concat(InputFiles(Path.Combine(RepoPaths.Root, "fuzz", crashers))))
        {
            data.Add(Path.GetRelativePath(RepoPaths.Root, file));
        }

        return data;
    }

    private static IEnumerable<string> InputFiles(string dir) =>
        Directory.Exists(dir)
            ? Directory.EnumerateFiles(dir)
                .Where(f => !Path.GetFileName(f).Equals("README.md", StringComparison.OrdinalIgnoreCase) && !Path.GetFileName(f).StartsWith('.'))
                .Order(StringComparer.Ordinal)
            : [];
}
