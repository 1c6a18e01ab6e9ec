// PageMap: an allocator dump turned into a grid of cells, one page or a fixed group of pages per
// cell, each with the state most of its pages are in. Everything a picture of memory needs.
using System.Globalization;
using Buddy.Diagnostics;

namespace Buddy.Tool.Rendering;

/// <summary>What a page (or a cell of pages) is.</summary>
internal enum PageState : byte
{
    /// <summary>Not managed (outside every zone).</summary>
    None,

    /// <summary>In a free block.</summary>
    Free,

    /// <summary>Allocated, unmovable.</summary>
    Unmovable,

    /// <summary>Allocated, movable.</summary>
    Movable,

    /// <summary>Allocated, reclaimable.</summary>
    Reclaimable,

    /// <summary>Reserved at boot.</summary>
    Reserved,

    /// <summary>In a thread cache.</summary>
    Cached,
}

/// <summary>A dump as cells: <see cref="Columns"/> per row, <see cref="PagesPerCell"/> pages each.</summary>
internal sealed class PageMap
{
    /// <summary>Cells are aggregated once a map would have more than this many.</summary>
    public const int MaxCells = 1 << 18;

    /// <summary>The colors of the states, as CSS hex.</summary>
    public static readonly IReadOnlyDictionary<PageState, string> Colors = new Dictionary<PageState, string>
    {
        [PageState.None] = "#ffffff",
        [PageState.Free] = "#e6efe9",
        [PageState.Unmovable] = "#c62828",
        [PageState.Movable] = "#1565c0",
        [PageState.Reclaimable] = "#f9a825",
        [PageState.Reserved] = "#37474f",
        [PageState.Cached] = "#8e24aa",
    };

    private PageMap(AllocatorDump dump, PageState[] cells, ulong pagesPerCell, int columns)
    {
        Dump = dump;
        Cells = cells;
        PagesPerCell = pagesPerCell;
        Columns = columns;
    }

    /// <summary>The dump drawn.</summary>
    public AllocatorDump Dump { get; }

    /// <summary>The cells, row by row.</summary>
    public PageState[] Cells { get; }

    /// <summary>Pages per cell.</summary>
    public ulong PagesPerCell { get; }

    /// <summary>Cells per row.</summary>
    public int Columns { get; }

    /// <summary>Rows.</summary>
    public int Rows => (Cells.Length + Columns - 1) / Columns;

    /// <summary>Builds the cells: every page's state, then the majority state per group of pages.</summary>
    /// <exception cref="ArgumentException">The dump spans more pages than can be drawn (2^30).</exception>
    public static PageMap From(AllocatorDump dump, int columns = 512)
    {
        ArgumentNullException.ThrowIfNull(dump);
        ulong pages = dump.EndPfn - dump.FirstPfn;
        if (pages > 1UL << 30)
        {
            throw new ArgumentException($"The dump spans {pages} pages; maps draw at most 2^30.", nameof(dump));
        }

        ulong perCell = Math.Max(1, (pages + MaxCells - 1) / MaxCells);
        ulong cellCount = (pages + perCell - 1) / perCell;
        var counts = new int[cellCount * 7];
        void Mark(ulong pfn, ulong n, PageState state)
        {
            for (ulong p = pfn; p < pfn + n; p++)
            {
                counts[(((p - dump.FirstPfn) / perCell) * 7) + (ulong)state]++;
            }
        }

        foreach (DumpRun r in dump.Free)
        {
            Mark(r.Pfn, r.Pages, PageState.Free);
        }

        foreach (DumpRun r in dump.Allocated)
        {
            Mark(r.Pfn, r.Pages, r.Mobility switch
            {
                MigrateType.Movable => PageState.Movable,
                MigrateType.Reclaimable => PageState.Reclaimable,
                _ => PageState.Unmovable,
            });
        }

        foreach (DumpRun r in dump.Reserved)
        {
            Mark(r.Pfn, r.Pages, PageState.Reserved);
        }

        foreach (DumpRun r in dump.Cached)
        {
            Mark(r.Pfn, r.Pages, PageState.Cached);
        }

        var cells = new PageState[cellCount];
        for (ulong c = 0; c < cellCount; c++)
        {
            int best = 0;
            for (int s = 1; s < 7; s++)
            {
                if (counts[(c * 7) + (ulong)s] > counts[(c * 7) + (ulong)best])
                {
                    best = s;
                }
            }

            cells[c] = (PageState)best;
        }

        return new PageMap(dump, cells, perCell, (int)Math.Min((ulong)columns, cellCount));
    }

    /// <summary>Bytes a cell spans.</summary>
    public ulong CellBytes => PagesPerCell * Dump.PageSize;

    /// <summary>Bytes a row spans.</summary>
    public ulong RowBytes => CellBytes * (ulong)Columns;

    /// <summary>The cell index of page frame <paramref name="pfn"/>.</summary>
    public long CellOf(ulong pfn) => (long)((pfn - Dump.FirstPfn) / PagesPerCell);

    /// <summary>The physical address row <paramref name="row"/> starts at.</summary>
    public ulong AddressOfRow(int row) => (Dump.FirstPfn * Dump.PageSize) + ((ulong)row * RowBytes);

    /// <summary>What a cell is, for the note under a map: "one cell = 25 pages (100 KiB)".</summary>
    public string CellNote => string.Create(CultureInfo.InvariantCulture, $"one cell = {PagesPerCell} page{(PagesPerCell == 1 ? "" : "s")} ({Units.FormatSize(CellBytes)})");

    /// <summary>
    /// The rows an address axis labels, at least <paramref name="minRows"/> apart: every N rows, N
    /// the smallest power of two that far, starting at the first row whose address is a multiple of
    /// N rows' bytes (so labels are round: "0", "512 MiB", "1 GiB"), or at row 0 when none is.
    /// </summary>
    public IReadOnlyList<(int Row, string Label)> AddressTicks(int minRows)
    {
        int step = 1;
        while (step < minRows)
        {
            step *= 2;
        }

        ulong stepBytes = (ulong)step * RowBytes;
        int first = 0;
        while (first < step && first < Rows && AddressOfRow(first) % stepBytes != 0)
        {
            first++;
        }

        if (first == step || first == Rows)
        {
            first = 0;
        }

        var ticks = new List<(int, string)>();
        for (int row = first; row < Rows; row += step)
        {
            ticks.Add((row, AddressLabel(AddressOfRow(row))));
        }

        return ticks;
    }

    /// <summary>An address as an axis says it: "0", "64 KiB", "512 MiB", "1 GiB".</summary>
    public static string AddressLabel(ulong bytes) => bytes == 0 ? "0" : Units.FormatSize(bytes);
}
