// AllocFlags: the kernel's ALLOC_* flags that change where a block may come from (Linux 6.18
// mm/internal.h), as one pass of the zone walk carries them. Watermark levels and priorities have
// their own types (WatermarkKind, AllocationPriority).
namespace Buddy;

/// <summary>How one pass of the allocation may take memory of other migrate types.</summary>
[Flags]
internal enum AllocFlags
{
    /// <summary>The plain rules: own type, then claim, then steal.</summary>
    None = 0,

    /// <summary>ALLOC_NOFRAGMENT: take other types' memory only as whole pageblocks; never steal.</summary>
    NoFragment = 1,

    /// <summary>ALLOC_HIGHATOMIC: a high-order atomic request; MIGRATE_HIGHATOMIC blocks first, and a success reserves its pageblock.</summary>
    HighAtomic = 2,

    /// <summary>ALLOC_NON_BLOCK / ALLOC_OOM: when everything else fails, MIGRATE_HIGHATOMIC blocks too.</summary>
    NonBlock = 4,

    /// <summary>
    /// With ALLOC_NOFRAGMENT on several nodes: the walk stops at the first zone of a node other than
    /// the preferred zone's (get_page_from_freelist then retries without ALLOC_NOFRAGMENT, preferring
    /// to mix types on the local node over using a remote one).
    /// </summary>
    LocalNode = 8,
}
