// KernelTunableOptions: the command-line options of Linux 6.18's anti-fragmentation sysctls
// (vm.watermark_boost_factor, vm.compaction_proactiveness, vm.defrag_mode, vm.extfrag_threshold),
// defined once so that every command running policies can take them. Each value is checked when
// the command line is parsed, against the sysctl's own range: a bad one is a parse error, one line
// naming the option and the range, before anything runs.
using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Buddy.Simulation.Policies;

namespace Buddy.Tool.Commands;

/// <summary>The four vm sysctl options and how they become <see cref="KernelTunables"/>.</summary>
internal sealed class KernelTunableOptions
{
    /// <summary>Creates the options with the kernel's defaults.</summary>
    public KernelTunableOptions()
    {
        KernelTunables defaults = KernelTunables.Defaults;
        WatermarkBoostFactor = Ranged("--watermark-boost-factor", 0, 10_000_000, defaults.WatermarkBoostFactor,
            "vm.watermark_boost_factor (linux-6.18): how far a fragmenting fallback boosts the watermarks, in 1/10,000ths of the high watermark; 0 turns boosting off.");
        CompactionProactiveness = Ranged("--compaction-proactiveness", 0, 100, defaults.CompactionProactiveness,
            "vm.compaction_proactiveness (linux-6.18): how hard kcompactd compacts in the background; 0 turns proactive compaction off.");
        DefragMode = new Option<bool>("--defrag-mode")
        {
            Description = "vm.defrag_mode (linux-6.18): never mix migrate types in a pageblock while reclaim and compaction can still help.",
        };
        ExtfragThreshold = Ranged("--extfrag-threshold", 0, 1000, defaults.ExtfragThreshold,
            "vm.extfrag_threshold (policies with compaction): compact only when the fragmentation index is above this.");
    }

    /// <summary>--watermark-boost-factor, 0..10000000.</summary>
    public Option<long> WatermarkBoostFactor { get; }

    /// <summary>--compaction-proactiveness, 0..100.</summary>
    public Option<long> CompactionProactiveness { get; }

    /// <summary>--defrag-mode.</summary>
    public Option<bool> DefragMode { get; }

    /// <summary>--extfrag-threshold, 0..1000.</summary>
    public Option<long> ExtfragThreshold { get; }

    /// <summary>The four, to add to a command.</summary>
    public IEnumerable<Option> All => [WatermarkBoostFactor, CompactionProactiveness, DefragMode, ExtfragThreshold];

    /// <summary>Whether the command line gave any of them.</summary>
    public bool AnyGiven(ParseResult parse) => All.Any(o => parse.GetResult(o) is { Implicit: false });

    /// <summary>The tunables the command line sets (the kernel's defaults for those it does not).</summary>
    public KernelTunables Read(ParseResult parse) => new()
    {
        WatermarkBoostFactor = (int)parse.GetValue(WatermarkBoostFactor),
        CompactionProactiveness = (int)parse.GetValue(CompactionProactiveness),
        DefragMode = parse.GetValue(DefragMode),
        ExtfragThreshold = (int)parse.GetValue(ExtfragThreshold),
    };

    /// <summary>"boost factor 15000, proactiveness 20, defrag_mode off, extfrag threshold 500".</summary>
    public static string Describe(KernelTunables tunables)
    {
        ArgumentNullException.ThrowIfNull(tunables);
        return string.Create(CultureInfo.InvariantCulture,
            $"watermark_boost_factor {tunables.WatermarkBoostFactor}, compaction_proactiveness {tunables.CompactionProactiveness}, defrag_mode {(tunables.DefragMode ? 1 : 0)}, extfrag_threshold {tunables.ExtfragThreshold}");
    }

    // An integer option with the sysctl's range, checked at parse time (a long, so that a value past
    // int's range is out of the sysctl's range rather than "not a whole number"; the range fits an int).
    private static Option<long> Ranged(string name, int least, int most, int fallback, string description)
    {
        var option = new Option<long>(name)
        {
            Description = string.Create(CultureInfo.InvariantCulture, $"{description} {least}..{most}."),
            DefaultValueFactory = _ => fallback,
        };
        option.Validators.Add(result => Check(result, name, least, most));
        return option;
    }

    private static void Check(OptionResult result, string name, int least, int most)
    {
        if (result.Implicit || result.Tokens.Count == 0)
        {
            return;
        }

        string token = result.Tokens[^1].Value;
        if (long.TryParse(token, NumberStyles.Integer, CultureInfo.InvariantCulture, out long value) && (value < least || value > most))
        {
            result.AddError(string.Create(CultureInfo.InvariantCulture, $"{name} {value}: expected {least}..{most} (the sysctl's range)"));
        }
    }
}
