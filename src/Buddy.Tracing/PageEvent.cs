// PageEvent: one page allocation or free from a trace, decoded into the library's vocabulary.
namespace Buddy.Tracing;

/// <summary>Whether a trace event allocated or freed pages.</summary>
public enum PageEventKind : byte
{
    /// <summary>kmem:mm_page_alloc with a page.</summary>
    Alloc,

    /// <summary>kmem:mm_page_free.</summary>
    Free,
}

/// <summary>A page allocation or free read from a trace.</summary>
/// <param name="Kind">Allocation or free.</param>
/// <param name="Pfn">The first page frame number.</param>
/// <param name="Order">The block's order (2^order pages).</param>
/// <param name="Mobility">The allocation's migrate type (frees: <see cref="MigrateType.Unmovable"/>, the trace does not say).</param>
/// <param name="Zone">The highest zone the allocation's gfp flags allow (frees: Normal).</param>
/// <param name="Priority">The watermark priority the gfp flags ask for (GFP_ATOMIC, __GFP_HIGH).</param>
/// <param name="Line">The 1-based line number in the trace.</param>
public readonly record struct PageEvent(PageEventKind Kind, ulong Pfn, int Order, MigrateType Mobility, ZoneKind Zone, AllocationPriority Priority, long Line);
