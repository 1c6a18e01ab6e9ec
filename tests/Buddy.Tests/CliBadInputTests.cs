// CliBadInputTests: a table of bad inputs across every `buddy` command — directories, empty and
// binary files, unwritable outputs, sizes no machine can simulate, unknown names, malformed
// buddyinfo, zoneinfo, traces and dumps — each ending in exactly one line on stderr, naming what
// was wrong and where, with exit code 2 (1 for the unexpected), and never a stack trace. Most run
// in-process through Cli.Run; a few run `buddy` as a real process to prove the process-wide
// handlers (no path reaches the runtime's unhandled-exception printer).
using System.Diagnostics;
using System.Globalization;
using Buddy.Tool;
using Buddy.Tool.Commands;

namespace Buddy.Tests;

public sealed class CliBadInputTests : IClassFixture<CliBadInputTests.Files>
{
    private readonly Files _files;

    public CliBadInputTests(Files files) => _files = files;

    // Command line (placeholders in braces are files of the fixture), exit code, text the line must hold.
    public static TheoryData<string, int, string> BadInputs => new()
    {
        { "frag {dir}", 2, "cannot read '{dir}': it is a directory" },
        { "frag {empty}", 2, "cannot read '{empty}': the file is empty" },
        { "frag {random}", 2, "{random}:1" },
        { "frag {missing}", 2, "cannot read '{missing}': no such file" },
        { "frag {empty} --index bogus", 2, "bogus" },
        { "zones --zoneinfo {dir}", 2, "--zoneinfo: cannot read '{dir}': it is a directory" },
        { "zones --zoneinfo {notzoneinfo}", 2, "{notzoneinfo}" },
        { "zones --zoneinfo {empty}", 2, "--zoneinfo: cannot read '{empty}': the file is empty" },
        { "zones --managed Normal=x", 2, "--managed: 'Normal=x'" },
        { "zones --managed DMA=1 --watermark-scale-factor 0", 2, "--watermark-scale-factor 0" },
        { "metadata --max-order 49", 2, "--memory, --page-size, --max-order: MaxOrder must be from 0 to 48, not 49." },
        { "metadata --memory -5MiB", 2, "--memory: '-5MiB' is not a size" },
        { "metadata --memory 99999999999999999999TiB", 2, "--memory: '99999999999999999999TiB' is not a whole number of bytes below 2^64" },
        { "metadata --page-size 3", 2, "--page-size 3: expected a power of two" },
        { "replay {dir}", 2, "cannot read '{dir}': it is a directory" },
        { "replay {empty}", 2, "cannot read '{empty}': the file is empty" },
        { "replay {random} --memory 64MiB", 2, "{random}:1" },
        { "replay --memory 1024TiB", 2, "--memory 1 PiB: the 7 allocators (one per policy) on this machine would need up to" },
        { "replay --memory 1024TiB --policy zoned", 2, "--memory 1 PiB: the allocator on this machine would need up to" },
        { "replay --memory lots", 2, "--memory: 'lots' is not a size" },
        { "replay --policy slab", 2, "'slab'" },
        { "replay {pfn44} --memory 64MiB", 2, "pfn" },
        { "replay --json {dir}", 2, "--json: cannot write '{dir}': it is a directory" },
        { "replay --json {nodir}/r.json", 2, "--json: cannot write '{nodir}/r.json': directory '{nodir}' does not exist" },
        { "replay --dump-dir {empty}/dumps", 2, "--dump-dir: cannot write into '{empty}/dumps': '{empty}' is a file" },
        { "replay --sample-every 0", 2, "--sample-every" },
        { "scenario tetris", 2, "'tetris'" },
        { "scenario knuth --json {nodir}/k.json", 2, "--json: cannot write" },
        { "scenario knuth --ticks 0", 2, "--ticks" },
        { "scenario isa-dma-1995 --dma-pool 64TiB", 2, "DMA pool" },
        { "map --from {dir} --out {new}.png", 2, "--from: cannot read '{dir}': it is a directory" },
        { "map --from {random} --out {new}.png", 2, "{random}" },
        { "map --from {emptyjson} --out {new}.svg", 2, "{emptyjson}" },
        { "map --out {new}.gif", 2, "--out {new}.gif: expected a name ending in .png or .svg" },
        { "map --scenario isa-dma-1995 --out {nodir}/m.png", 2, "--out: cannot write" },
        { "report --out {dir}", 2, "--out: cannot write '{dir}': it is a directory" },
        { "report {empty} --out {new}.html", 2, "cannot read '{empty}': the file is empty" },
        { "capture --out {nodir}/t.gz --seconds 1", 2, "--out: cannot write '{nodir}/t.gz'" },
        { "scenario highalloc --seed abc", 2, "--seed: 'abc' is not a whole number (see 'buddy scenario --help')." },
        { "replay --watermark-boost-factor 10000001", 2, "--watermark-boost-factor 10000001: expected 0..10000000 (the sysctl's range) (see 'buddy replay --help')." },
        { "replay --compaction-proactiveness -5", 2, "--compaction-proactiveness -5: expected 0..100 (the sysctl's range) (see 'buddy replay --help')." },
        { "replay --extfrag-threshold 1001", 2, "--extfrag-threshold 1001: expected 0..1000" },
        { "scenario highalloc --watermark-boost-factor 10000001", 2, "--watermark-boost-factor 10000001: expected 0..10000000 (the sysctl's range) (see 'buddy scenario --help')." },
        { "scenario highalloc --watermark-boost-factor -1", 2, "--watermark-boost-factor -1: expected 0..10000000" },
        { "scenario highalloc --watermark-boost-factor 99999999999", 2, "--watermark-boost-factor 99999999999: expected 0..10000000" },
        { "scenario highalloc --compaction-proactiveness 101", 2, "--compaction-proactiveness 101: expected 0..100 (the sysctl's range)" },
        { "scenario isa-dma-1995 --compaction-proactiveness x", 2, "--compaction-proactiveness: 'x' is not a whole number" },
        { "scenario highalloc --extfrag-threshold 1001", 2, "--extfrag-threshold 1001: expected 0..1000 (the sysctl's range)" },
        { "scenario highalloc --defrag-mode maybe", 2, "Unrecognized command or argument 'maybe'" }, // a flag takes no value
        { "scenario knuth --defrag-mode", 2, "knuth runs on one buddy memory without the kernel's rules; the vm sysctl options do not apply to it." },
        { "scenario highalloc --atomic-share 101", 2, "--atomic-share 101: expected a percentage, 0..100." },
        { "scenario highalloc --atomic-share -1", 2, "--atomic-share -1: expected a percentage, 0..100." },
        { "scenario highalloc --fill-target 0", 2, "--fill-target 0: expected a percentage above 0, at most 100." },
        { "replay --sample-every 1.5", 2, "--sample-every: '1.5' is not a whole number" },
        { "metadata --memory 0", 2, "multiple of the page size (4096 bytes), not 0." }, // the line ends there: no " (Parameter 'Size')"
        { "bench --json {nodir}/b.json", 2, "--json: cannot write '{nodir}/b.json'" },
        { "frob", 2, "'frob'" },
        { "internal-fault command", 1, "internal error (InvalidOperationException: internal-fault: an unexpected failure in a command." },
    };

    // Run as a real `buddy` process: the process-wide handlers, a size that once exhausted the
    // machine, and a file that once ran the parser out of memory.
    public static TheoryData<string, int, string> InARealProcess => new()
    {
        { "internal-fault command", 1, "failure in a command. Its second line must not reach the terminal.); please report this" },
        { "internal-fault thread", 1, "failure in a background thread. Its second line must not reach the terminal.); please report this" },
        { "internal-fault task", 1, "failure in a task nobody observes. Its second line must not reach the terminal.); please report this" },
        { "metadata --max-order 49", 2, "--max-order" },
        { "replay {dir}", 2, "it is a directory" },
    };

    // Rows whose one line comes from the library's parsers, hardened in parallel (issue 11): the
    // buddyinfo column and line-length limits, the trace's pfn and order bounds naming the file,
    // AllocatorDump.Load's field checks. Run in-process except /dev/zero (a parser that reads it
    // whole runs out of memory, which belongs in a capped child process).
    public static TheoryData<string, int, string> AwaitingParserFixes => new()
    {
        { "frag {wide}", 2, "{wide}:1" },
        { "replay {pfn44}", 2, "{pfn44}:1" },
        { "replay {order63} --memory 64MiB", 2, "{order63}:1" },
        { "map --from {baddump} --out {new}.svg", 2, "{baddump}" },
        { "frag /dev/zero", 2, "/dev/zero" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void Bad_input_ends_in_one_line_naming_it_and_its_exit_code(string commandLine, int code, string expected)
    {
        using var stdout = new StringWriter(CultureInfo.InvariantCulture) { NewLine = "\n" };
        (int exit, string stderr) = RunInProcess(commandLine, stdout);

        AssertOneLineError(exit, stderr, code, _files.Resolve(expected));
        Assert.Equal("", stdout.ToString()); // refused before the command printed (or ran) anything
    }

    [Theory]
    [MemberData(nameof(InARealProcess))]
    public void In_a_real_process_nothing_reaches_the_runtimes_exception_printer(string commandLine, int code, string expected)
    {
        (int exit, string stdout, string stderr) = RunProcess(_files.Arguments(commandLine));

        AssertOneLineError(exit, stderr, code, _files.Resolve(expected));
        Assert.DoesNotContain("Unhandled exception", stdout + stderr, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(AwaitingParserFixes))]
    public void Malformed_files_the_parsers_refuse_end_in_one_line_naming_file_and_line(string commandLine, int code, string expected)
    {
        int exit;
        string stderr;
        if (commandLine.Contains("/dev/", StringComparison.Ordinal))
        {
            (exit, _, stderr) = RunProcess(_files.Arguments(commandLine));
        }
        else
        {
            (exit, stderr) = RunInProcess(commandLine);
        }

        AssertOneLineError(exit, stderr, code, _files.Resolve(expected));
    }

    [Fact]
    public void A_failed_run_leaves_an_existing_output_file_as_it_was_and_creates_no_new_one()
    {
        string existing = Path.Combine(_files.Dir, "existing.png");
        File.WriteAllText(existing, "the user's picture");
        string fresh = Path.Combine(_files.Dir, "fresh.svg");

        int first = Cli.Run(_files.Arguments("map --from {random} --out " + existing), TextWriter.Null, TextWriter.Null);
        int second = Cli.Run(_files.Arguments("map --from {random} --out " + fresh), TextWriter.Null, TextWriter.Null);

        Assert.Equal((2, 2), (first, second));
        Assert.Equal("the user's picture", File.ReadAllText(existing));
        Assert.False(File.Exists(fresh), "the write probe must not leave a file behind");
    }

    [Fact]
    public void A_multi_line_message_with_control_characters_is_folded_into_one_printable_line()
    {
        (int code, string line) = ErrorReport.Classify(new FormatException("t.trace:3: bad line\r\n\tfound '\u001b[31mred'\n"));

        Assert.Equal(2, code);
        Assert.Equal("buddy: t.trace:3: bad line found '\\x1b[31mred'", line);
    }

    [Fact]
    public void A_message_quoting_a_huge_line_is_cut_to_the_limit()
    {
        (_, string line) = ErrorReport.Classify(new FormatException("x:1: found '" + new string('z', 100_000) + "'"));

        Assert.Equal("buddy: ".Length + ErrorReport.MaxMessageLength + " …".Length, line.Length);
        Assert.EndsWith("zzz …", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(typeof(NullReferenceException), 1)]
    [InlineData(typeof(OutOfMemoryException), 1)]
    [InlineData(typeof(ArgumentNullException), 1)]
    [InlineData(typeof(ArgumentOutOfRangeException), 2)]
    [InlineData(typeof(DirectoryNotFoundException), 2)]
    [InlineData(typeof(UnauthorizedAccessException), 2)]
    [InlineData(typeof(InvalidDataException), 2)]
    public void Exceptions_are_classified_as_input_errors_or_as_unexpected(Type type, int code)
    {
        var e = (Exception)Activator.CreateInstance(type)!;

        (int exit, string line) = ErrorReport.Classify(new AggregateException(e));

        Assert.Equal(code, exit);
        Assert.Equal(code == 1, line.EndsWith("please report this, with the command line that caused it.", StringComparison.Ordinal));
    }

    private (int Exit, string Stderr) RunInProcess(string commandLine, TextWriter? stdout = null)
    {
        using var stderr = new StringWriter(CultureInfo.InvariantCulture) { NewLine = "\n" };
        int exit = Cli.Run(_files.Arguments(commandLine), stdout ?? TextWriter.Null, stderr);
        return (exit, stderr.ToString());
    }

    private static void AssertOneLineError(int exit, string stderr, int code, string expected)
    {
        Assert.True(exit == code, $"exit code {exit}, expected {code}; stderr: {stderr}");
        Assert.EndsWith("\n", stderr, StringComparison.Ordinal);
        string[] lines = stderr.TrimEnd('\n').Split('\n');
        Assert.DoesNotContain(lines, l => l.StartsWith("   at ", StringComparison.Ordinal));
        Assert.True(lines.Length == 1, $"expected one line on stderr, got {lines.Length}:\n{stderr}");
        Assert.StartsWith("buddy: ", lines[0], StringComparison.Ordinal);
        Assert.DoesNotContain('\r', lines[0]);
        Assert.Contains(expected, lines[0], StringComparison.Ordinal);
        Assert.DoesNotContain("(Parameter '", lines[0], StringComparison.Ordinal); // options, not .NET parameters
        Assert.DoesNotContain("System.", lines[0], StringComparison.Ordinal);        // nor .NET type names
    }

    // `dotnet Buddy.Tool.dll ARGS` from the test output directory, with the GC heap capped so that a
    // regression to "allocate until killed" fails this test instead of exhausting the machine.
    private static (int Exit, string Stdout, string Stderr) RunProcess(string[] args)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Buddy.Tool.dll"));
        foreach (string a in args)
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["DOTNET_GCHeapHardLimit"] = "0x40000000"; // 1 GiB
        using Process p = Process.Start(start)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(180_000))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"buddy {string.Join(' ', args)} did not finish within 3 minutes");
        }

        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>The bad files the table names, in a temporary directory.</summary>
    public sealed class Files : IDisposable
    {
        private readonly Dictionary<string, string> _paths;

        public Files()
        {
            Dir = Directory.CreateTempSubdirectory("buddy-bad-input-").FullName;
            _paths = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["dir"] = Directory.CreateDirectory(Path.Combine(Dir, "a-directory")).FullName,
                ["nodir"] = Path.Combine(Dir, "no-such-directory"),
                ["missing"] = Path.Combine(Dir, "no-such-file"),
                ["new"] = Path.Combine(Dir, "new-output"),
                ["empty"] = Write("empty", ""),
                ["random"] = Write("random.bin", RandomBytes(4096)),
                ["wide"] = Write("wide.buddyinfo", "Node 0, zone   Normal " + string.Join(' ', Enumerable.Repeat("1", 40)) + "\n"),
                ["notzoneinfo"] = Write("not.zoneinfo", "MemTotal:       16384 kB\nMemFree:         8192 kB\n"),
                ["pfn44"] = Write("pfn44.trace", Alloc("0x100000000000", 0)),
                ["order63"] = Write("order63.trace", Alloc("0x10", 63)),
                ["emptyjson"] = Write("empty.json", "{}"),
                ["baddump"] = Write("bad-format.json", "{\"format\": 5}"),
            };
        }

        /// <summary>The temporary directory.</summary>
        public string Dir { get; }

        /// <summary>The command line's arguments with their placeholders resolved.</summary>
        public string[] Arguments(string commandLine) => [.. commandLine.Split(' ').Select(Resolve)];

        /// <summary><paramref name="text"/> with every {name} replaced by its path.</summary>
        public string Resolve(string text) =>
            _paths.Aggregate(text, (t, kv) => t.Replace("{" + kv.Key + "}", kv.Value, StringComparison.Ordinal));

        public void Dispose() => Directory.Delete(Dir, recursive: true);

        private string Write(string name, string text) => Write(name, System.Text.Encoding.UTF8.GetBytes(text));

        private string Write(string name, byte[] bytes)
        {
            string path = Path.Combine(Dir, name);
            File.WriteAllBytes(path, bytes);
            return path;
        }

        private static byte[] RandomBytes(int count)
        {
            byte[] bytes = new byte[count];
            new Random(11).NextBytes(bytes);
            return bytes;
        }

        private static string Alloc(string pfn, int order) =>
            $"  a-1 [000] ..... 1.0: mm_page_alloc: page=00000000aaaaaaaa pfn={pfn} order={order} migratetype=1 gfp_flags=GFP_KERNEL\n";
    }
}
