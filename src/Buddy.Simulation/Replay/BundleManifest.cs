// BundleManifest: bundle.json, the first member of a capture bundle (see TraceBundle): what was
// captured, on which kernel, when, how, and which snapshot files are absent and why. Written and read
// with the source-generated BundleJson (no reflection: the tool is Native AOT), camelCase names.
// Invariants of a manifest TraceBundle accepts: Format is FormatName, Version is CurrentVersion,
// TraceFile is a plain file name inside the bundle.
using System.Text.Json.Serialization;

namespace Buddy.Simulation.Replay;

/// <summary>The manifest of a capture bundle (its bundle.json).</summary>
public sealed record BundleManifest
{
    /// <summary>The value of <see cref="Format"/> in every capture bundle.</summary>
    public const string FormatName = "buddy-capture-bundle";

    /// <summary>The bundle layout version this library writes and reads.</summary>
    public const int CurrentVersion = 1;

    /// <summary>What the file is: <see cref="FormatName"/>.</summary>
    public string Format { get; init; } = FormatName;

    /// <summary>The layout version: <see cref="CurrentVersion"/>.</summary>
    public int Version { get; init; } = CurrentVersion;

    /// <summary>The traced kernel's release (/proc/sys/kernel/osrelease, as uname -r prints it).</summary>
    public string KernelRelease { get; init; } = "";

    /// <summary>The traced machine's page size in bytes.</summary>
    public int PageSize { get; init; }

    /// <summary>When the tracepoints were enabled (UTC).</summary>
    public DateTimeOffset StartUtc { get; init; }

    /// <summary>When they were disabled again (UTC).</summary>
    public DateTimeOffset EndUtc { get; init; }

    /// <summary>The command traced until it exited; null when the capture ran for <see cref="Seconds"/>.</summary>
    public IReadOnlyList<string>? Command { get; init; }

    /// <summary>How many seconds the capture ran; null when it traced <see cref="Command"/>.</summary>
    public int? Seconds { get; init; }

    /// <summary>What recorded the events: "tracefs" (trace_pipe text) or "perf" (perf script text).</summary>
    public string Recorder { get; init; } = "tracefs";

    /// <summary>The trace's file name in the bundle.</summary>
    public string TraceFile { get; init; } = "trace.txt.gz";

    /// <summary>Events the kernel dropped (ring buffer full), as the trace says; null if unknown.</summary>
    public long? LostEvents { get; init; }

    /// <summary>Snapshot files that are not in the bundle, by member name ("before/iomem"), with the reason.</summary>
    public IReadOnlyDictionary<string, string> Missing { get; init; } = new Dictionary<string, string>();
}

/// <summary>The source-generated serializer of <see cref="BundleManifest"/>.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(BundleManifest))]
internal sealed partial class BundleJson : JsonSerializerContext;
