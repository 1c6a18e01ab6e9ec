// `buddy metadata [--memory SIZE] [--page-size SIZE] [--thread-caches]`: the allocator's metadata
// per page, measured idle, half used in large blocks, and at its worst (every other page free).
using System.CommandLine;
using Buddy.Allocation;
using Buddy.Pages;

namespace Buddy.Tool.Commands;

/// <summary>Measures bytes of allocator metadata per page in three states.</summary>
internal static class MetadataCommand
{
    public static Command Create(TextWriter stdout)
    {
        var memory = new Option<string>("--memory") { Description = "Memory size, e.g. 1GiB.", DefaultValueFactory = _ => "1GiB" };
        var pageSize = new Option<string>("--page-size") { Description = "Page size, e.g. 4KiB.", DefaultValueFactory = _ => "4KiB" };
        var caches = new Option<bool>("--thread-caches") { Description = "Measure with thread caches (MachineLayout.PerCpuCaches), whose per-thread stacks add to the allocation stamps." };
        var command = new Command("metadata", "Measure the allocator's metadata bytes per page: idle, half allocated, and worst case.")
        {
            memory, pageSize, caches,
        };
        command.SetAction(parse =>
        {
            ulong size = Output.ParseSize(parse.GetValue(memory)!, "--memory");
            ulong page = Output.ParsePageSize(parse.GetValue(pageSize)!, "--page-size");
            MachineLayout layout = MachineLayout.Flat(size) with { PageSize = page, PerCpuCaches = parse.GetValue(caches) };
            SimulationBudget.Check("--memory", size, [layout]);
            var pages = new PageAllocator(layout);
            stdout.WriteLine($"{Units.FormatSize(size)} of {Units.FormatSize(page)} pages ({pages.TotalPages} pages), max order {pages.MaxOrder}{(layout.PerCpuCaches ? ", thread caches" : "")}");
            Report(stdout, "idle", pages);

            var blocks = new List<Block>();
            while (pages.FreePages > pages.TotalPages / 2 && pages.TryAllocate(Request.ForOrder(pages.MaxOrder), out Block big))
            {
                blocks.Add(big);
            }

            Report(stdout, "half allocated in max-order blocks", pages);
            blocks.ForEach(pages.Free);
            if (pages.TotalPages > 1UL << 24)
            {
                stdout.WriteLine("  worst case: skipped above 16,777,216 pages (it allocates every page one by one)");
                return 0;
            }

            var all = new List<Block>();
            while (pages.TryAllocate(Request.ForOrder(0), out Block b))
            {
                all.Add(b);
            }

            for (int i = 0; i < all.Count; i += 2)
            {
                pages.Free(all[i]);
            }

            Report(stdout, "worst case: every other page free", pages);
            return 0;
        });
        return command;
    }

    private static void Report(TextWriter o, string state, PageAllocator pages) =>
        o.WriteLine($"  {state,-38} {pages.MetadataBytes,12:N0} bytes  {(double)pages.MetadataBytes / pages.TotalPages,6:F3} bytes/page");
}
