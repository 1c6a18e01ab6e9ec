// AllocatorDump: an allocator's state as versioned JSON — zones and their pageblock types, free
// blocks, allocated blocks with mobility, cached blocks, reserved ranges — written by
// PageAllocator.Dump() and read back with every field checked, so that a map or report can be
// drawn from a file. Format "buddy-dump", version 1 (docs/dump-format.md).
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Buddy.Mobility;

namespace Buddy.Dumps;

/// <summary>One zone in a dump.</summary>
/// <param name="Name">The zone's name.</param>
/// <param name="StartPfn">The first page frame.</param>
/// <param name="EndPfn">One past the last.</param>
/// <param name="PageblockTypes">One letter per pageblock from the zone's first (U unmovable, M movable, R reclaimable); empty without grouping.</param>
public sealed record DumpZone(string Name, ulong StartPfn, ulong EndPfn, string PageblockTypes);

/// <summary>A run of pages in a dump: free, allocated, cached or reserved.</summary>
/// <param name="Pfn">The first page frame.</param>
/// <param name="Pages">The number of pages.</param>
/// <param name="Mobility">The mobility (allocated and free blocks; free blocks carry their pageblock's type).</param>
public sealed record DumpRun(ulong Pfn, ulong Pages, MigrateType Mobility = MigrateType.Unmovable);

/// <summary>An allocator's state, as written by <see cref="Allocation.PageAllocator.Dump"/>.</summary>
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

    /// <summary>Reads a dump file.</summary>
    /// <exception cref="FormatException">Not a dump of this version, truncated, or inconsistent; the message names the file and the problem.</exception>
    public static AllocatorDump Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses dump JSON; <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="FormatException">Not a dump of this version, truncated, or inconsistent.</exception>
    public static AllocatorDump Parse(string json, string source = "dump")
    {
        ArgumentNullException.ThrowIfNull(json);
        using (JsonDocument probe = ParseDocument(json, source))
        {
            JsonElement root = probe.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("format", out JsonElement format) || format.GetString() != FormatName)
            {
                throw new FormatException($"{source}: not a Buddy dump (expected \"format\": \"{FormatName}\").");
            }

            if (!root.TryGetProperty("version", out JsonElement version) || !version.TryGetInt32(out int v) || v != CurrentVersion)
            {
                throw new FormatException($"{source}: dump version {(root.TryGetProperty("version", out JsonElement raw) ? raw.ToString() : "(missing)")} cannot be read; this library reads version {CurrentVersion}.");
            }
        }

        AllocatorDump dump;
        try
        {
            dump = JsonSerializer.Deserialize(json, DumpJsonContext.Default.AllocatorDump) ?? throw new FormatException($"{source}: empty dump.");
        }
        catch (JsonException e)
        {
            throw new FormatException($"{source}: {e.Message}", e);
        }

        string? problem = dump.Check();
        return problem is null ? dump : throw new FormatException($"{source}: {problem}");
    }

    // Every run lies in memory, free blocks are naturally aligned powers of two within one zone,
    // and no page is in two runs.
    private string? Check()
    {
        if (PageSize < 512 || (PageSize & (PageSize - 1)) != 0 || MaxOrder is < 0 or > 48 || EndPfn <= FirstPfn)
        {
            return "pageSize, maxOrder, firstPfn or endPfn is out of range.";
        }

        var runs = new List<(ulong Start, ulong End, string What)>();
        foreach ((string name, IReadOnlyList<DumpRun> list) in new[] { ("reserved", Reserved), ("free", Free), ("allocated", Allocated), ("cached", Cached) })
        {
            for (int i = 0; i < list.Count; i++)
            {
                DumpRun r = list[i];
                string what = string.Create(CultureInfo.InvariantCulture, $"{name}[{i}] (pfn 0x{r.Pfn:x}, {r.Pages} pages)");
                if (r.Pages == 0 || r.Pfn < FirstPfn || r.Pfn + r.Pages > EndPfn || r.Pfn + r.Pages < r.Pfn)
                {
                    return $"{what} lies outside memory [0x{FirstPfn:x}, 0x{EndPfn:x}).";
                }

                if (name is "free" or "cached" && ((r.Pages & (r.Pages - 1)) != 0 || r.Pfn % r.Pages != 0))
                {
                    return $"{what} is not a naturally aligned power-of-two block.";
                }

                runs.Add((r.Pfn, r.Pfn + r.Pages, what));
            }
        }

        runs.Sort((a, b) => a.Start.CompareTo(b.Start));
        for (int i = 1; i < runs.Count; i++)
        {
            if (runs[i].Start < runs[i - 1].End)
            {
                return $"{runs[i].What} overlaps {runs[i - 1].What}.";
            }
        }

        ulong previous = FirstPfn;
        foreach (DumpZone z in Zones)
        {
            if (z.StartPfn < previous || z.EndPfn <= z.StartPfn || z.EndPfn > EndPfn)
            {
                return $"zone {z.Name} [0x{z.StartPfn:x}, 0x{z.EndPfn:x}) is out of order or outside memory.";
            }

            if (z.PageblockTypes.Any(c => c is not ('U' or 'M' or 'R')))
            {
                return $"zone {z.Name}: pageblock types may only be U, M or R.";
            }

            previous = z.EndPfn;
        }

        return null;
    }

    private static JsonDocument ParseDocument(string json, string source)
    {
        try
        {
            return JsonDocument.Parse(json);
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
