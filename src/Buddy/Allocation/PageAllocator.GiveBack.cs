// PageAllocator (give-back): the one question a native arena asks before it returns a chunk of
// memory to the operating system — does the range lie wholly in free blocks of at least an order?
// Asked under the allocator's lock, which the arena then keeps while it advises the chunk, so no
// block of the range can be handed out until the advice is done. A block in a thread cache counts
// as allocated here (it is not on a free list), so a cached block's chunk is never given back.
using System.Diagnostics;

namespace Buddy;

public sealed partial class PageAllocator
{
    /// <summary>
    /// Whether every page of [<paramref name="address"/>, <paramref name="address"/> + <paramref name="bytes"/>)
    /// lies in a free block of order <paramref name="minOrder"/> or more. Lock held (<see cref="SyncRoot"/>).
    /// </summary>
    /// <remarks>O(max order) per free block the range spans.</remarks>
    internal bool IsFreeInBlocksOf(ulong address, ulong bytes, int minOrder)
    {
        Debug.Assert(_lock.IsHeldByCurrentThread);
        ulong pfn = address >> _pageShift;
        ulong end = (address + bytes + PageSize - 1) >> _pageShift;
        while (pfn < end)
        {
            Zone? zone = _zonelist.ZoneOf(pfn);
            if (zone is null)
            {
                return false;
            }

            (ulong start, int order, bool free) = zone.FindUnit(pfn);
            if (!free || order < minOrder)
            {
                return false;
            }

            pfn = start + (1UL << order);
        }

        return true;
    }
}
