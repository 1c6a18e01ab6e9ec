// `buddy demo`: the 1995 ISA DMA story in a few lines of the library — memory use past 16 MiB,
// then DMA buffers that must lie below 16 MiB and not cross 64 KiB or 128 KiB.
using System.CommandLine;
using static Buddy.Units;

namespace Buddy.Tool.Commands;

/// <summary>A short, deterministic demonstration of zones, constraints and the kernel texts.</summary>
internal static class DemoCommand
{
    public static Command Create(TextWriter stdout)
    {
        var command = new Command("demo", "A 1995 PC with 32 MiB: fill memory past 16 MiB, then ask for ISA DMA buffers.");
        command.SetAction(_ =>
        {
            Run(stdout);
            return 0;
        });
        return command;
    }

    internal static void Run(TextWriter o)
    {
        // A 1995 PC: 32 MiB, the ISA hole 640 KiB..1 MiB and a 1 MiB kernel image reserved.
        MachineLayout layout = MachineLayout.X86(32 * MiB).Reserve(640 * KiB, 1 * MiB).Reserve(1 * MiB, 2 * MiB);
        var pages = new PageAllocator(layout);
        o.WriteLine($"A {FormatSize(layout.Size)} machine, {pages.TotalPages} pages of {FormatSize(pages.PageSize)}, {pages.ReservedPages} reserved.");
        foreach (ZoneStats z in pages.GetZoneStats())
        {
            o.WriteLine($"  zone {z.Name,-6} pfn 0x{z.StartPfn:x}..0x{z.EndPfn:x}, managed {z.ManagedPages} pages");
            o.WriteLine($"    watermarks min {z.Watermarks.Min} low {z.Watermarks.Low} high {z.Watermarks.High}, protection ({string.Join(", ", z.Protection)})");
        }

        // Processes and page cache push memory use past 16 MiB. Ordinary requests name no zone, so
        // the zonelist serves them from DMA32 first and only then from DMA.
        var held = new List<Block>();
        for (ulong used = 0; used < 20 * MiB; used += pages.PageSize)
        {
            held.Add(pages.Allocate(Request.ForOrder(0)));
        }

        ulong low = (ulong)held.Count(b => b.Address < 16 * MiB);
        o.WriteLine($"\nOrdinary requests now hold {held.Count} pages (20 MiB); {low} of them had to come");
        o.WriteLine("from below 16 MiB. A driver loads and asks for ISA DMA buffers; the allocator");
        o.WriteLine("searches below the limit instead of hoping:");
        Show(o, pages, Request.ForBytes(64 * KiB).InZone(ZoneKind.Dma).NotCrossing(64 * KiB), "8-bit channel, 64 KiB not crossing 64 KiB");
        Show(o, pages, Request.ForBytes(128 * KiB).InZone(ZoneKind.Dma).NotCrossing(128 * KiB), "16-bit channel, 128 KiB not crossing 128 KiB");
        Show(o, pages, Request.ForBytes(20 * KiB).InZone(ZoneKind.Dma).Exact(), "20 KiB exact (5 pages kept, 3 given back)");
        Show(o, pages, Request.ForBytes(24 * KiB).WithDmaMask(24).AlignedTo(64 * KiB), "24 KiB under a 24-bit mask, 64 KiB aligned");
        Show(o, pages, Request.ForOrder(7).Below(1 * MiB - 1), "512 KiB below 1 MiB (the ISA hole is reserved)");
        Show(o, pages, Request.ForBytes(256 * KiB).NotCrossing(64 * KiB), "256 KiB not crossing 64 KiB");

        o.WriteLine("\n/proc/buddyinfo of this machine now:");
        Kernel.BuddyInfo info = pages.GetBuddyInfo();
        o.Write(info.ToString());
        o.WriteLine("and its unusable free space index (debugfs extfrag/unusable_index):");
        o.Write(Kernel.FragmentationIndex.UnusableText(info));
        pages.Validate();
    }

    private static void Show(TextWriter o, PageAllocator pages, Request request, string what)
    {
        if (pages.TryAllocate(request, out Block block, out AllocationFailure? failure))
        {
            o.WriteLine($"  {what}:");
            o.WriteLine($"    {block}");
        }
        else
        {
            o.WriteLine($"  {what}:");
            WriteWrapped(o, $"FAILED, {failure.Reason}: {failure.Message}", "    ");
        }
    }

    // Prose in 80 columns: words moved whole to the next line, each line indented.
    private static void WriteWrapped(TextWriter o, string text, string indent, int width = 80)
    {
        var line = new System.Text.StringBuilder(indent);
        foreach (string word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.Length > indent.Length && line.Length + 1 + word.Length > width)
            {
                o.WriteLine(line.ToString());
                line.Clear().Append(indent);
            }

            line.Append(line.Length > indent.Length ? " " : "").Append(word);
        }

        o.WriteLine(line.ToString());
    }
}
