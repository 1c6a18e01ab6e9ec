// AllocationFailure: why a request could not be served, with the numbers that show it.
using System.Globalization;
using System.Text;

namespace Buddy;

/// <summary>Why an allocation failed.</summary>
public enum FailureReason
{
    /// <summary>Not enough free pages in the zones the request may use.</summary>
    OutOfMemory = 1,

    /// <summary>Enough free pages, but no free block of the order needed: memory is fragmented.</summary>
    Fragmented = 2,

    /// <summary>Free blocks of the order exist in the allowed zones, but none lies below the address limit.</summary>
    AddressLimit = 3,

    /// <summary>A block would fit, but every zone that has one is at its watermark plus lowmem reserve.</summary>
    Watermark = 4,

    /// <summary>No block can ever satisfy the constraints (a size above its boundary, a limit below every zone, a zone the machine lacks).</summary>
    Unsatisfiable = 5,

    /// <summary>A block asked for at a named address (<see cref="PageAllocator.TryAllocateAt"/>) holds a page that is allocated or reserved.</summary>
    Occupied = 6,
}

/// <summary>A failed allocation: the reason, the request and each eligible zone's state at the time.</summary>
/// <remarks>Immutable. The message is built on first use, from numbers captured when the request failed.</remarks>
public sealed class AllocationFailure
{
    private readonly string _detail;
    private string? _message;

    internal AllocationFailure(FailureReason reason, Request request, string detail)
    {
        Reason = reason;
        Request = request;
        _detail = detail;
    }

    internal static AllocationFailure Unsatisfiable(Request request, string detail) => new(FailureReason.Unsatisfiable, request, detail);

    /// <summary>Why the request failed.</summary>
    public FailureReason Reason { get; }

    /// <summary>The request that failed.</summary>
    public Request Request { get; }

    /// <summary>A sentence that names the request, the reason and the zones' numbers.</summary>
    public string Message => _message ??= BuildMessage();

    /// <inheritdoc/>
    public override string ToString() => Message;

    private string BuildMessage()
    {
        string why = Reason switch
        {
            FailureReason.OutOfMemory => "not enough free memory",
            FailureReason.Fragmented => "free memory is fragmented: no free block large enough",
            FailureReason.AddressLimit => "no free block large enough below the address limit",
            FailureReason.Watermark => "the zones that have a block are at their watermark plus lowmem reserve",
            FailureReason.Unsatisfiable => "the constraints cannot be met",
            FailureReason.Occupied => "the block asked for is not free",
            _ => Reason.ToString(),
        };
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"Cannot allocate {Request}: {why}");
        if (_detail.Length > 0)
        {
            sb.Append(" (").Append(_detail).Append(')');
        }

        return sb.Append('.').ToString();
    }
}

/// <summary>Thrown by <see cref="PageAllocator.Allocate"/> when a request cannot be served.</summary>
public sealed class AllocationFailedException : Exception
{
    /// <summary>Creates the exception for <paramref name="failure"/>.</summary>
    public AllocationFailedException(AllocationFailure failure)
        : base((failure ?? throw new ArgumentNullException(nameof(failure))).Message)
    {
        Failure = failure;
    }

    /// <summary>Creates the exception with a message only.</summary>
    public AllocationFailedException()
        : base("The allocation failed.")
    {
        Failure = null;
    }

    /// <summary>Creates the exception with a message only.</summary>
    public AllocationFailedException(string message)
        : base(message)
    {
        Failure = null;
    }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    public AllocationFailedException(string message, Exception innerException)
        : base(message, innerException)
    {
        Failure = null;
    }

    /// <summary>The failure, when the allocator raised it.</summary>
    public AllocationFailure? Failure { get; }
}
