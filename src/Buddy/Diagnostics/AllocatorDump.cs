// AllocatorDump: an allocator's state as versioned JSON — zones and their pageblock types, free
// blocks, allocated blocks with mobility, cached blocks, reserved ranges — written by
// AllocatorDumps.Dump() and read back with every field checked, so that a map or report can be
// drawn from a file. Format "buddy-dump", version 1 (docs/dump-format.md). Reading checks every
// field (DumpCheck): a dump that loads is a state the allocator could have been in.
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Buddy.Kernel;

namespace Buddy.Diagnostics;

/// <summary>One zone in a dump.</summary>
/// <param name="Name">The zone's name.</param>
/// <param name="StartPfn">The first page frame.</param>
/// <param name="EndPfn">One past the last.</param>
/// <param name="PageblockTypes">One letter per pageblock from the zone's first (U unmovable, M movable, R reclaimable, H highatomic); empty without grouping.</param>
public sealed record DumpZone(string Name, ulong StartPfn, ulong EndPfn, string PageblockTypes);

/// <summary>A run of pages in a dump: free, allocated, cached or reserved.</summary>
/// <param name="Pfn">The first page frame.</param>
/// <param name="Pages">The number of pages.</param>
/// <param name="Mobility">The mobility (allocated and free blocks; free blocks carry their pageblock's type).</param>
public sealed record DumpRun(ulong Pfn, ulong Pages, MigrateType Mobility = MigrateType.Unmovable);

/// <summary>An allocator's state, as written by <see cref="AllocatorDumps.Dump"/>.</summary>
public sealed record AllocatorDump
{
    /// <summary>The format name written in every dump.</summary>
    public const string FormatName = "buddy-dump";

    /// <summary>The version this library writes and reads.</summary>
    public const int CurrentVersion = 1;

    /// <summary>Always "buddy-dump".</summary>
    public string Format { get; init; } = FormatName;

    /// <summary>The format version.</summary>
    public int Version { get; init; } = CurrentVersion;

    /// <summary>The page size in bytes.</summary>
    public ulong PageSize { get; init; }

    /// <summary>The largest order.</summary>
    public int MaxOrder { get; init; }

    /// <summary>log2 of the pageblock size, or null without grouping by mobility.</summary>
    public int? PageblockOrder { get; init; }

    /// <summary>The first managed page frame.</summary>
    public ulong FirstPfn { get; init; }

    /// <summary>One past the last managed page frame.</summary>
    public ulong EndPfn { get; init; }

    /// <summary>The zones, lowest first.</summary>
    public IReadOnlyList<DumpZone> Zones { get; init; } = [];

    /// <summary>Reserved ranges.</summary>
    public IReadOnlyList<DumpRun> Reserved { get; init; } = [];

    /// <summary>Free blocks.</summary>
    public IReadOnlyList<DumpRun> Free { get; init; } = [];

    /// <summary>Allocated blocks (an exact allocation or a contiguous range is one run).</summary>
    public IReadOnlyList<DumpRun> Allocated { get; init; } = [];

    /// <summary>Blocks held in thread caches.</summary>
    public IReadOnlyList<DumpRun> Cached { get; init; } = [];

    /// <summary>The dump as JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, DumpJsonContext.Default.AllocatorDump);

    /// <summary>Writes the dump to <paramref name="path"/>.</summary>
    public void Save(string path) => File.WriteAllText(path, ToJson());

    /// <summary>The largest dump file read (256 MiB: millions of runs).</summary>
    public const long MaxBytes = 256L << 20;

    /// <summary>Reads a dump file.</summary>
    /// <exception cref="FormatException">Not a dump of this version, truncated, too large, or inconsistent; the message names the file and the JSON path of the field at fault.</exception>
    /// <exception cref="IOException">The file cannot be opened or is a directory.</exception>
    public static AllocatorDump Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using FileStream file = InputFile.OpenRead(path);
        var bytes = new MemoryStream();
        byte[] chunk = new byte[1 << 16];
        int n;
        while ((n = file.Read(chunk)) > 0)
        {
            if (bytes.Length + n > MaxBytes)
            {
                throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"{path}: longer than {MaxBytes:N0} bytes: not a Buddy dump."));
            }

            bytes.Write(chunk, 0, n);
        }

        return Parse(bytes.GetBuffer().AsSpan(0, (int)bytes.Length), path);
    }

    /// <summary>Parses dump JSON; <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="FormatException">Not a dump of this version, truncated, or inconsistent; the message names the JSON path of the field at fault.</exception>
    public static AllocatorDump Parse(string json, string source = "dump")
    {
        ArgumentNullException.ThrowIfNull(json);
        return Parse(System.Text.Encoding.UTF8.GetBytes(json), source);
    }

    private static AllocatorDump Parse(ReadOnlySpan<byte> utf8, string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        CheckFormatAndVersion(utf8, source);
        AllocatorDump? dump;
        try
        {
            dump = JsonSerializer.Deserialize(utf8, DumpJsonContext.Default.AllocatorDump);
        }
        catch (JsonException e)
        {
            throw new FormatException($"{source}: {e.Path ?? "$"}: {e.Message}", e);
        }

        if (dump is null)
        {
            throw new FormatException($"{source}: $: is null; expected a Buddy dump object.");
        }

        string? problem = DumpCheck.FirstProblem(dump);
        return problem is null ? dump : throw new FormatException($"{source}: {problem}");
    }

    // "format" must be the string "buddy-dump" and "version" the number 1, before anything else is read.
    private static void CheckFormatAndVersion(ReadOnlySpan<byte> utf8, string source)
    {
        using JsonDocument probe = ParseDocument(utf8, source);
        JsonElement root = probe.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"{source}: $: is a JSON {root.ValueKind.ToString().ToLowerInvariant()}; expected an object with \"format\": \"{FormatName}\".");
        }

        if (!root.TryGetProperty("format", out JsonElement format) || format.ValueKind != JsonValueKind.String || format.GetString() != FormatName)
        {
            throw new FormatException($"{source}: $.format: not a Buddy dump (expected \"format\": \"{FormatName}\", found {Shown(root, "format")}).");
        }

        if (!root.TryGetProperty("version", out JsonElement version) || version.ValueKind != JsonValueKind.Number || !version.TryGetInt32(out int v) || v != CurrentVersion)
        {
            throw new FormatException($"{source}: $.version: dump version {Shown(root, "version")} cannot be read; this library reads version {CurrentVersion}.");
        }
    }

    private static string Shown(JsonElement root, string name) =>
        root.TryGetProperty(name, out JsonElement value) ? (value.GetRawText() is { Length: <= 40 } raw ? raw : $"a JSON {value.ValueKind.ToString().ToLowerInvariant()}") : "(missing)";

    private static JsonDocument ParseDocument(ReadOnlySpan<byte> utf8, string source)
    {
        try
        {
            return JsonDocument.Parse(utf8.ToArray());
        }
        catch (JsonException e)
        {
            throw new FormatException($"{source}: not valid JSON (truncated or hand-edited?): {e.Message}", e);
        }
    }
}

/// <summary>The dump's JSON contract, generated at build time (trimming- and AOT-safe).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UseStringEnumConverter = true, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(AllocatorDump))]
internal sealed partial class DumpJsonContext : JsonSerializerContext;
