// KernelLimits: the largest values any Linux kernel can print in the texts Buddy reads, so that the
// readers refuse a file no machine could have produced instead of computing a wrong answer from it.
// Each bound is derived from the kernel's own definitions; docs/dump-format.md and the readers'
// messages quote them.
//
// - Pages are at least 4 KiB on every architecture Linux supports: PAGE_SHIFT >= 12.
// - Physical addresses are below 2^52: x86-64 with 5-level paging and arm64 with 52-bit PAs
//   (MAX_PHYSMEM_BITS = 52) are the largest. So no page frame number reaches 2^40 (4 KiB pages),
//   and no zone holds 2^40 pages or more.
// - include/linux/mmzone.h refuses to build when MAX_PAGE_ORDER + PAGE_SHIFT > SECTION_SIZE_BITS,
//   and no architecture defines SECTION_SIZE_BITS above 34 (32-bit ARM Keystone). So a buddy
//   block is at most 2^34 bytes, MAX_PAGE_ORDER is at most 22 (34 - 12), and /proc/buddyinfo
//   prints at most NR_PAGE_ORDERS = MAX_PAGE_ORDER + 1 = 23 order columns. (Kernels in use print
//   11 to 14; CONFIG_ARCH_FORCE_MAX_ORDER defaults are 10 to 16.)
namespace Buddy.Kernel;

/// <summary>Bounds no Linux machine exceeds, used to refuse impossible input files.</summary>
public static class KernelLimits
{
    /// <summary>log2 of the smallest page size Linux supports (4 KiB).</summary>
    public const int MinPageShift = 12;

    /// <summary>log2 of the physical address space's upper bound (MAX_PHYSMEM_BITS of x86-64 5-level paging and arm64 LPA).</summary>
    public const int MaxPhysicalAddressBits = 52;

    /// <summary>log2 of the largest buddy block in bytes: the largest SECTION_SIZE_BITS of any architecture.</summary>
    public const int MaxBlockShift = 34;

    /// <summary>The largest MAX_PAGE_ORDER any kernel can have (<see cref="MaxBlockShift"/> - <see cref="MinPageShift"/>).</summary>
    public const int MaxPageOrder = MaxBlockShift - MinPageShift;

    /// <summary>The most order columns /proc/buddyinfo can print (NR_PAGE_ORDERS = MAX_PAGE_ORDER + 1).</summary>
    public const int MaxOrderColumns = MaxPageOrder + 1;

    /// <summary>The most pages any machine (and so any zone) can have: 2^52 bytes of 4 KiB pages.</summary>
    public const ulong MaxPages = 1UL << (MaxPhysicalAddressBits - MinPageShift);

    /// <summary>The largest order of a block of <paramref name="pageSize"/>-byte pages that any kernel's buddy allocator can hold.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="pageSize"/> is not a power of two.</exception>
    public static int MaxOrderFor(ulong pageSize)
    {
        if (!ulong.IsPow2(pageSize))
        {
            throw new ArgumentOutOfRangeException(nameof(pageSize), pageSize, "a page size is a power of two");
        }

        return Math.Max(0, MaxBlockShift - (int)ulong.Log2(pageSize));
    }

    /// <summary>One past the largest page frame number of <paramref name="pageSize"/>-byte pages below the 2^52 physical address limit.</summary>
    public static ulong EndPfnFor(ulong pageSize)
    {
        _ = MaxOrderFor(pageSize); // validates the page size
        return (1UL << MaxPhysicalAddressBits) / pageSize;
    }
}
