// `buddy metadata [--memory SIZE] [--page-size SIZE] [--max-order N] [--thread-caches]`: the
// allocator's metadata per page, measured idle, after 100,000 random allocations, half used in
// large blocks, and at its worst (every other page free). The last two allocate in proportion to
// the size, so they are skipped (saying so) on spaces where that would take too long; the first two
// run on any size Validate accepts, up to 2^62 bytes.
using System.CommandLine;
using Buddy.Bench;

namespace Buddy.Tool.Commands;


/// <summary>Measures bytes of allocator metadata per page in three states.</summary>
internal static class MetadataCommand
{
    public static Command Create(TextWriter stdout)
    {
        var memory = new Option<string>("--memory") { Description = "Memory size, e.g. 1GiB.", DefaultValueFactory = _ => "1GiB" };
        var pageSize = new Option<string>("--page-size") { Description = "Page size, e.g. 4KiB.", DefaultValueFactory = _ => "4KiB" };
        var caches = new Option<bool>("--thread-caches") { Description = "Measure with thread caches (MachineLayout.PerCpuCaches), whose per-thread stacks add to the allocation stamps." };
        var maxOrder = new Option<int>("--max-order") { Description = "The largest block order.", DefaultValueFactory = _ => MachineLayout.DefaultMaxOrder };
        var command = new Command("metadata", "Measure the allocator's metadata bytes per page: idle, after 100,000 random allocations, half allocated, and worst case.")
        {
            memory, pageSize, maxOrder, caches,
        };
        command.SetAction(parse =>
        {
            ulong size = Output.ParseSize(parse.GetValue(memory)!, "--memory");
            ulong page = Output.ParsePageSize(parse.GetValue(pageSize)!, "--page-size");
            MachineLayout layout = MachineLayout.Flat(size) with { PageSize = page, MaxOrder = parse.GetValue(maxOrder), PerCpuCaches = parse.GetValue(caches) };
            try
            {
                layout.Validate();
            }
            catch (ArgumentException e)
            {
                throw new UserInputException($"--memory, --page-size, --max-order: {ErrorReport.WithoutParameter(e)}", e);
            }

            var pages = new PageAllocator(layout);
            stdout.WriteLine($"{Units.FormatSize(size)} of {Units.FormatSize(page)} pages ({pages.TotalPages} pages), max order {pages.MaxOrder}{(layout.PerCpuCaches ? ", thread caches" : "")}");
            Report(stdout, "idle", pages);

            var fresh = new PageAllocator(layout);
            int made = 0;
            ulong x = Workloads.Seed;
            while (made < 100_000 && RandomAllocation(fresh, ref x))
            {
                made++;
            }

            Report(stdout, $"{made:N0} random allocations (orders 0-6)", fresh);
            stdout.WriteLine($"  {"",-38} {fresh.MetadataBytes / Math.Max(1, made),12:N0} bytes per allocation");
            if (pages.TotalPages >> pages.MaxOrder > 1UL << 20)
            {
                stdout.WriteLine("  half allocated and worst case: skipped above 2^20 max-order blocks (they allocate in proportion to the size)");
                return 0;
            }

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

    // An allocation of a random order 0..6 (as the benchmarks' mixed workload draws them), if it fits.
    private static bool RandomAllocation(PageAllocator pages, ref ulong x) =>
        pages.TryAllocate(Request.ForOrder(Math.Min(Workloads.OrderOf(Workloads.Next(ref x)), pages.MaxOrder)), out _);

    private static void Report(TextWriter o, string state, PageAllocator pages) =>
        o.WriteLine($"  {state,-38} {pages.MetadataBytes,12:N0} bytes  {(double)pages.MetadataBytes / pages.TotalPages,6:F3} bytes/page");
}
