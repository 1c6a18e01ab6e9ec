// ResolvedRequest: what a request resolves to before the allocator's lock — its pages and order,
// the order the search starts at (the alignment's, when above the block's own), the first pfn it
// may not reach, and whether it keeps only its first Pages of the block (alloc_pages_exact).
//
// Invariants: Order <= SearchOrder <= the allocator's max order; Pages <= 2^Order, and Exact only
// when Pages < 2^Order. A request that is invalid for the allocator (an order above its maximum,
// an exact movable block, a node the layout does not have) throws; one that no memory could ever satisfy (a block larger than its
// boundary, an alignment above the largest block) fails, saying why.
using static System.FormattableString;

namespace Buddy;

/// <summary>A request in one allocator's units: pages, orders and the pfn limit.</summary>
internal readonly record struct ResolvedRequest(ulong Pages, int Order, int SearchOrder, ulong LimitPfn, bool Exact)
{
    /// <summary>Resolves <paramref name="request"/> for an allocator of pages of 2^<paramref name="pageShift"/> bytes and orders up to <paramref name="maxOrder"/>; false (with a reason when <paramref name="explain"/>) when it can never be served.</summary>
    /// <exception cref="ArgumentException">The request is invalid for this allocator.</exception>
    public static bool TryResolve(in Request request, int pageShift, int maxOrder, Zonelist zonelist, bool explain, out ResolvedRequest resolved, out AllocationFailure? failure)
    {
        resolved = default;
        failure = null;
        if (request.IsExact && request.Mobility == MigrateType.Movable)
        {
            throw new ArgumentException("A movable request cannot be exact: a movable block moves whole.", nameof(request));
        }

        if (!zonelist.HasNode(request.NodePlusOne))
        {
            throw new ArgumentException(Invariant($"The request prefers node {request.Node} but this allocator's layout has nodes {string.Join(", ", zonelist.Nodes)}."), nameof(request));
        }

        ulong pages = request.PagesAt(pageShift);
        int order = PageMath.OrderForPages(pages);
        if (order > maxOrder)
        {
            throw new ArgumentOutOfRangeException(nameof(request), request,
                Invariant($"The request needs an order-{order} block but this allocator's maximum order is {maxOrder} ({Units.FormatSize((1UL << maxOrder) << pageShift)})."));
        }

        // Boundary: a naturally aligned block never crosses a power of two at least its size.
        ulong blockBytes = (1UL << order) << pageShift;
        if (request.Boundary != 0 && blockBytes > request.Boundary)
        {
            failure = explain ? AllocationFailure.Unsatisfiable(request, Invariant($"an order-{order} block of {Units.FormatSize(blockBytes)} is larger than the boundary {Units.FormatSize(request.Boundary)}")) : null;
            return false;
        }

        // Alignment above the block's own size: search from the alignment's order (see design.md).
        int searchOrder = order;
        if (request.Alignment > blockBytes)
        {
            searchOrder = PageMath.Log2(request.Alignment) - pageShift;
            if (searchOrder > maxOrder)
            {
                failure = explain ? AllocationFailure.Unsatisfiable(request, Invariant($"alignment {Units.FormatSize(request.Alignment)} is above the largest block, order {maxOrder}")) : null;
                return false;
            }
        }

        resolved = new ResolvedRequest(pages, order, searchOrder, zonelist.LimitPfn(request.HasLimit, request.RawMaxAddress), request.IsExact && pages != 1UL << order);
        return true;
    }
}
