// MigrateType: the kernel's mobility classes of pages (include/linux/mmzone.h, Linux 6.18).
namespace Buddy;

/// <summary>How a page can be moved, as the kernel's migrate types say; values are the kernel's.</summary>
public enum MigrateType
{
    /// <summary>MIGRATE_UNMOVABLE: kernel memory that stays where it is.</summary>
    Unmovable = 0,

    /// <summary>MIGRATE_MOVABLE: user memory and page cache that can be migrated.</summary>
    Movable = 1,

    /// <summary>MIGRATE_RECLAIMABLE: caches that can be dropped and rebuilt.</summary>
    Reclaimable = 2,

    /// <summary>MIGRATE_HIGHATOMIC: the reserve for high-order atomic requests.</summary>
    HighAtomic = 3,

    /// <summary>MIGRATE_CMA: contiguous-memory-allocator areas.</summary>
    Cma = 4,

    /// <summary>MIGRATE_ISOLATE: pageblocks taken out of use.</summary>
    Isolate = 5,
}
