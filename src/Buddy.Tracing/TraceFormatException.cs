// TraceFormatException: a trace that cannot be read, with where and what.
namespace Buddy.Tracing;

/// <summary>A trace line or stream that is not what the reader expects; names the source, line and field.</summary>
public sealed class TraceFormatException : FormatException
{
    /// <summary>Creates the exception for <paramref name="sourceName"/> at <paramref name="line"/> (0: the stream as a whole).</summary>
    public TraceFormatException(string sourceName, long line, string? field, string message, Exception? innerException = null)
        : base(Compose(sourceName, line, field, message), innerException)
    {
        SourceName = sourceName;
        Line = line;
        Field = field;
    }

    /// <summary>Creates the exception.</summary>
    public TraceFormatException()
        : this("trace", 0, null, "the trace could not be read")
    {
    }

    /// <summary>Creates the exception.</summary>
    public TraceFormatException(string message)
        : this("trace", 0, null, message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public TraceFormatException(string message, Exception innerException)
        : this("trace", 0, null, message, innerException)
    {
    }

    /// <summary>The file or stream name.</summary>
    public string SourceName { get; }

    /// <summary>The 1-based line number, or 0 when the stream as a whole is at fault.</summary>
    public long Line { get; }

    /// <summary>The field at fault (pfn, order, ...), or null for the line's shape.</summary>
    public string? Field { get; }

    private static string Compose(string source, long line, string? field, string message) =>
        (line > 0 ? $"{source}:{line}: " : $"{source}: ") + (field is null ? message : $"field '{field}': {message}");
}
