// CaptureTracepointsTests: which tracepoints `buddy capture` enables and how it puts them back,
// against a fake tracefs directory (no root needed): the two page events always, the kernel's
// fragmentation events where they exist, every switch restored to what it read, a missing required
// event refused before anything is written.
using Buddy.Tool;
using Buddy.Tool.Commands;

namespace Buddy.Tests;

public sealed class CaptureTracepointsTests : IDisposable
{
    private readonly string _tracefs = Directory.CreateTempSubdirectory("buddy-tracefs-").FullName;

    public void Dispose() => Directory.Delete(_tracefs, recursive: true);

    private string Switch(string e) => Path.Combine(_tracefs, "events", e, "enable");

    private void Add(string e, string state)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Switch(e))!);
        File.WriteAllText(Switch(e), state);
    }

    [Fact]
    public void Every_present_event_is_enabled_and_put_back_as_it_was()
    {
        Add("kmem/mm_page_alloc", "0\n");
        Add("kmem/mm_page_free", "1\n");
        Add("kmem/mm_page_alloc_extfrag", "0\n");
        Add("kmem/mm_page_alloc_zone_locked", "1*\n"); // soft-enabled: on
        Add("compaction/mm_compaction_begin", "0\n");
        Add("compaction/mm_compaction_end", "0\n");
        Add("kmem/mm_page_pcpu_drain", "0\n"); // not one of capture's

        CaptureTracepoints tracepoints = CaptureTracepoints.Find(_tracefs);
        Assert.Equal(
            ["kmem/mm_page_alloc", "kmem/mm_page_free", "kmem/mm_page_alloc_extfrag", "kmem/mm_page_alloc_zone_locked", "compaction/mm_compaction_begin", "compaction/mm_compaction_end"],
            tracepoints.Events);
        Assert.Empty(tracepoints.Missing);
        Assert.Equal("0\n", File.ReadAllText(Switch("kmem/mm_page_alloc"))); // finding writes nothing

        tracepoints.Enable();
        Assert.All(tracepoints.Events, e => Assert.Equal("1", File.ReadAllText(Switch(e))));
        Assert.Equal("0\n", File.ReadAllText(Switch("kmem/mm_page_pcpu_drain")));

        tracepoints.Restore();
        Assert.Equal(["0", "1", "0", "1", "0", "0"], tracepoints.Events.Select(e => File.ReadAllText(Switch(e))));
    }

    [Fact]
    public void Events_this_kernel_lacks_are_listed_as_missing_and_left_alone()
    {
        Add("kmem/mm_page_alloc", "0");
        Add("kmem/mm_page_free", "0");
        Add("kmem/mm_page_alloc_extfrag", "0"); // a kernel without CONFIG_COMPACTION: no compaction events

        CaptureTracepoints tracepoints = CaptureTracepoints.Find(_tracefs);
        tracepoints.Enable();

        Assert.Equal(["kmem/mm_page_alloc", "kmem/mm_page_free", "kmem/mm_page_alloc_extfrag"], tracepoints.Events);
        Assert.Equal(["kmem/mm_page_alloc_zone_locked", "compaction/mm_compaction_begin", "compaction/mm_compaction_end"], tracepoints.Missing);
        Assert.False(Directory.Exists(Path.Combine(_tracefs, "events", "compaction")));
    }

    [Fact]
    public void A_missing_page_event_is_refused_before_anything_is_written()
    {
        Add("kmem/mm_page_alloc", "0");
        Add("kmem/mm_page_alloc_extfrag", "0");

        var e = Assert.Throws<UserInputException>(() => CaptureTracepoints.Find(_tracefs));

        Assert.Contains(Switch("kmem/mm_page_free"), e.Message, StringComparison.Ordinal);
        Assert.Equal("0", File.ReadAllText(Switch("kmem/mm_page_alloc_extfrag")));
    }

    [Fact]
    public void Restore_puts_back_every_switch_it_can_and_then_reports_the_one_it_could_not()
    {
        Add("kmem/mm_page_alloc", "0");
        Add("kmem/mm_page_free", "0");
        Add("compaction/mm_compaction_end", "0");
        CaptureTracepoints tracepoints = CaptureTracepoints.Find(_tracefs);
        tracepoints.Enable();
        File.Delete(Switch("kmem/mm_page_free"));
        Directory.CreateDirectory(Switch("kmem/mm_page_free")); // a directory cannot be written as a file

        Assert.Throws<IOException>(tracepoints.Restore);

        Assert.Equal("0", File.ReadAllText(Switch("kmem/mm_page_alloc")));
        Assert.Equal("0", File.ReadAllText(Switch("compaction/mm_compaction_end")));
    }

    [Fact]
    public void The_capture_help_names_the_kernels_fragmentation_events()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();

        Assert.Equal(0, Cli.Run(["capture", "--help"], stdout, stderr));

        foreach (string e in new[] { "mm_page_alloc_extfrag", "mm_page_alloc_zone_locked", "mm_compaction_begin", "mm_compaction_end" })
        {
            Assert.Contains(e, stdout.ToString(), StringComparison.Ordinal);
        }
    }
}
