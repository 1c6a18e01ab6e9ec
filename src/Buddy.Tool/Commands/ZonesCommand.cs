// `buddy zones`: zone watermarks and protection as /proc/zoneinfo shows them, from managed pages
// and the vm sysctls, with the kernel's formulas (Linux 6.18 mm/page_alloc.c).
using System.CommandLine;
using System.Globalization;
using Buddy.Kernel;

namespace Buddy.Tool.Commands;

/// <summary>Computes min, low, high, promo and the protection array per zone.</summary>
internal static class ZonesCommand
{
    public static Command Create(TextWriter stdout)
    {
        var managed = new Option<string?>("--managed")
        {
            Description = "Managed pages per zone, e.g. DMA=3840,DMA32=772915,Normal=3997696 (zones: DMA, DMA32, Normal, Movable, Device; missing ones are empty).",
        };
        var zoneinfo = new Option<string?>("--zoneinfo")
        {
            Description = "Take the managed pages from a /proc/zoneinfo text instead (e.g. /proc/zoneinfo).",
        }.AcceptInputFile();
        var minFree = new Option<ulong?>("--min-free-kbytes")
        {
            Description = "vm.min_free_kbytes (default: the kernel's int_sqrt(lowmem_kbytes * 16), clamped to 128..262144).",
        };
        var thp = new Option<bool>("--thp")
        {
            Description = "Without --min-free-kbytes: raise the default as khugepaged does when transparent huge pages are enabled.",
        };
        var scale = new Option<ulong>("--watermark-scale-factor")
        {
            Description = "vm.watermark_scale_factor, 1..3000.",
            DefaultValueFactory = _ => KernelWatermarks.DefaultScaleFactor,
        };
        var ratio = new Option<string>("--lowmem-reserve-ratio")
        {
            Description = "vm.lowmem_reserve_ratio: one number per zone, as /proc/sys/vm/lowmem_reserve_ratio prints them.",
            DefaultValueFactory = _ => "256 256 32 0 0",
        };
        var pageSize = new Option<ulong>("--page-size")
        {
            Description = "The page size in bytes.",
            DefaultValueFactory = _ => 4096,
        };

        var command = new Command("zones", "Print each zone's watermarks and protection (lowmem_reserve) exactly as /proc/zoneinfo shows them.")
        {
            managed, zoneinfo, minFree, thp, scale, ratio, pageSize,
        };
        command.SetAction(parse =>
        {
            ulong page = parse.GetValue(pageSize);
            if (page < 512 || (page & (page - 1)) != 0)
            {
                throw new UserInputException($"--page-size {page}: expected a power of two of at least 512.");
            }

            WatermarkZone[] zones = ReadZones(parse.GetValue(managed), parse.GetValue(zoneinfo));
            ulong factor = parse.GetValue(scale);
            if (factor is < 1 or > 3000)
            {
                throw new UserInputException($"--watermark-scale-factor {factor}: expected 1..3000 (the sysctl's range).");
            }

            ulong[] ratios = ParseRatios(parse.GetValue(ratio)!, zones.Length);
            ulong minFreeKbytes = parse.GetValue(minFree)
                ?? (parse.GetValue(thp) ? KernelWatermarks.ThpMinFreeKbytes(zones, page, scaleFactor: factor) : KernelWatermarks.DefaultMinFreeKbytes(zones, page));
            stdout.Write(ZoneInfo.Format(KernelWatermarks.Compute(zones, page, minFreeKbytes, factor, ratios)));
            return 0;
        });
        return command;
    }

    private static WatermarkZone[] ReadZones(string? managed, string? zoneinfoPath)
    {
        if ((managed is null) == (zoneinfoPath is null))
        {
            throw new UserInputException("give the managed pages with either --managed DMA=N,DMA32=N,Normal=N or --zoneinfo PATH.");
        }

        var pages = new ulong[ZoneInfo.X86ZoneNames.Count];
        if (managed is not null)
        {
            foreach (string item in managed.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                string[] kv = item.Split('=', StringSplitOptions.TrimEntries);
                int index = kv.Length == 2 ? IndexOfZone(kv[0]) : -1;
                if (index < 0 || !ulong.TryParse(kv[1], NumberStyles.None, CultureInfo.InvariantCulture, out pages[index]))
                {
                    throw new UserInputException($"--managed: '{item}' is not ZONE=PAGES with ZONE one of {string.Join(", ", ZoneInfo.X86ZoneNames)} and PAGES a whole number.");
                }
            }
        }
        else
        {
            IReadOnlyList<ZoneInfoZone> parsed = ZoneInfo.Load(zoneinfoPath!);
            if (!parsed.Any(z => z.Node == 0))
            {
                throw new UserInputException($"--zoneinfo {zoneinfoPath}: no zone of node 0; expected a /proc/zoneinfo text with 'Node 0, zone <name>' sections.");
            }

            foreach (ZoneInfoZone z in parsed.Where(z => z.Node == 0))
            {
                int index = IndexOfZone(z.Name);
                if (index < 0)
                {
                    throw new UserInputException($"--zoneinfo {zoneinfoPath}: zone '{z.Name}' is not one of {string.Join(", ", ZoneInfo.X86ZoneNames)}.");
                }

                pages[index] = z.ManagedPages;
            }
        }

        return [.. ZoneInfo.X86ZoneNames.Select((name, i) => new WatermarkZone(name, pages[i], IsHighOrMovable: name == "Movable"))];
    }

    private static ulong[] ParseRatios(string text, int zones)
    {
        string[] parts = text.Split([' ', '\t', ','], StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != zones)
        {
            throw new UserInputException($"--lowmem-reserve-ratio '{text}': expected {zones} numbers, one per zone ({string.Join(", ", ZoneInfo.X86ZoneNames)}).");
        }

        var ratios = new ulong[zones];
        for (int i = 0; i < zones; i++)
        {
            // The sysctl handler turns every value below 1 into 0.
            if (!long.TryParse(parts[i], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value))
            {
                throw new UserInputException($"--lowmem-reserve-ratio: '{parts[i]}' is not a whole number.");
            }

            ratios[i] = value < 1 ? 0 : (ulong)value;
        }

        return ratios;
    }

    private static int IndexOfZone(string name)
    {
        for (int i = 0; i < ZoneInfo.X86ZoneNames.Count; i++)
        {
            if (string.Equals(ZoneInfo.X86ZoneNames[i], name, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        return -1;
    }
}
