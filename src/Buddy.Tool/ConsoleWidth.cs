// ConsoleWidth: how wide the tool's tables and prose are. On a terminal Spectre.Console reads the
// terminal's width; written to a file or a pipe, the tool uses $COLUMNS when it is set (so
// `COLUMNS=80 buddy replay > out.txt` gives what an 80-column terminal shows) and 200 otherwise (no
// wrapping at 80 for a log); a writer that states its width (FixedWidthWriter, for tests) gets it.
namespace Buddy.Tool;

/// <summary>The width of the console the tool writes to when it is not a terminal.</summary>
internal static class ConsoleWidth
{
    /// <summary>The width for a file or a pipe when $COLUMNS is not set.</summary>
    public const int Redirected = 200;

    /// <summary>The narrowest width honoured (Spectre.Console cannot draw a table in less).</summary>
    public const int Narrowest = 20;

    /// <summary>The width to render <paramref name="stdout"/> at when it is not a terminal.</summary>
    public static int For(TextWriter stdout) =>
        stdout is FixedWidthWriter writer ? writer.Width
        : int.TryParse(Environment.GetEnvironmentVariable("COLUMNS"), out int columns) && columns >= Narrowest ? columns
        : Redirected;
}

/// <summary>A string writer that stands for a console of <paramref name="width"/> columns.</summary>
internal sealed class FixedWidthWriter(int width) : StringWriter(System.Globalization.CultureInfo.InvariantCulture)
{
    /// <summary>The console's width in columns.</summary>
    public int Width { get; } = width;
}
