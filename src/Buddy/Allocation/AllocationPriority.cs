// AllocationPriority: how far a request may dip below a zone's min watermark.
namespace Buddy;

/// <summary>How deep into the watermark reserves a request may go (the kernel's ALLOC_* flags).</summary>
public enum AllocationPriority
{
    /// <summary>An ordinary request: must leave free pages above min + lowmem reserve.</summary>
    Normal = 0,

    /// <summary>__GFP_HIGH (ALLOC_MIN_RESERVE): may use half of the min reserve.</summary>
    High = 1,

    /// <summary>GFP_ATOMIC (ALLOC_MIN_RESERVE | ALLOC_NON_BLOCK): half of min, then a quarter of the rest.</summary>
    Atomic = 2,

    /// <summary>ALLOC_NO_WATERMARKS (memory reclaim itself): ignores watermarks and the lowmem reserve.</summary>
    NoWatermarks = 3,
}
