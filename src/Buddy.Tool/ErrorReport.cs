// ErrorReport: the one place where an exception that leaves a command becomes what the user sees:
// exactly one line on stderr, "buddy: <message>", and the exit code — 2 for input the user can
// fix (an option, a file, a size: UserInputException, the library's FormatException and
// ArgumentException, I/O and permission errors about a path), 1 for anything unexpected, whose
// line also asks to be reported.
// Invariants: a reported line holds no line break, no other control character and no stack
// trace, and is at most MaxMessageLength characters of message; writing a report never throws.
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;

namespace Buddy.Tool;

/// <summary>Classifies exceptions into exit codes and one-line messages.</summary>
internal static class ErrorReport
{
    /// <summary>Exit code for a usage or input error.</summary>
    public const int UsageError = 2;

    /// <summary>Exit code for a run that failed for a reason the user did not cause.</summary>
    public const int Failed = 1;

    /// <summary>The longest message printed; longer ones (a 1 GB line quoted back) are cut.</summary>
    public const int MaxMessageLength = 1000;

    /// <summary>Writes <paramref name="e"/>'s one line to <paramref name="stderr"/> and returns its exit code.</summary>
    public static int Write(Exception e, TextWriter stderr)
    {
        (int code, string line) = Classify(e);
        WriteLine(stderr, line);
        return code;
    }

    /// <summary>Writes one already formed line, swallowing a failure of the writer itself (a closed pipe).</summary>
    public static void WriteLine(TextWriter stderr, string line)
    {
        try
        {
            stderr.WriteLine(line);
            stderr.Flush();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // Nowhere left to report to; the exit code still tells.
        }
    }

    /// <summary>The exit code and the line for <paramref name="e"/>.</summary>
    public static (int Code, string Line) Classify(Exception e)
    {
        Exception cause = Unwrap(e);
        return IsUserInput(cause)
            ? (UsageError, "buddy: " + OneLine(cause is ArgumentException a ? WithoutParameter(a) : cause.Message))
            : (Failed, $"buddy: internal error ({cause.GetType().Name}: {OneLine(cause.Message)}); please report this, with the command line that caused it.");
    }

    // The message a user reads: an ArgumentException's text without the " (Parameter 'size')" that
    // .NET appends, since the user typed an option, not a parameter (the message names the option).
    public static string WithoutParameter(ArgumentException e) =>
        e.ParamName is { } name && e.Message.EndsWith($" (Parameter '{name}')", StringComparison.Ordinal)
            ? e.Message[..^$" (Parameter '{name}')".Length]
            : e.Message;

    /// <summary>Whether <paramref name="e"/> says the user's input was wrong rather than the tool.</summary>
    public static bool IsUserInput(Exception e) => e
        is UserInputException
        or FormatException                              // parsers: buddyinfo, zoneinfo, traces, dumps
        or JsonException
        or InvalidDataException                         // a corrupt gzip stream
        or IOException                                  // missing, unreadable or unwritable paths
        or UnauthorizedAccessException
        or (ArgumentException and not ArgumentNullException); // the library's validation of sizes and options

    /// <summary>Folds <paramref name="message"/> into one printable line.</summary>
    public static string OneLine(string message)
    {
        var line = new StringBuilder(Math.Min(message.Length, MaxMessageLength + 16));
        bool space = false;
        foreach (char c in message)
        {
            if (line.Length >= MaxMessageLength)
            {
                return line.Append(" …").ToString();
            }

            if (c is '\n' or '\r' or '\t' or ' ')
            {
                space = line.Length > 0;
                continue;
            }

            if (space)
            {
                line.Append(' ');
                space = false;
            }

            if (char.IsControl(c))
            {
                line.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
            }
            else
            {
                line.Append(c);
            }
        }

        return line.ToString();
    }

    private static Exception Unwrap(Exception e) => e switch
    {
        AggregateException { InnerExceptions.Count: 1 } a => Unwrap(a.InnerExceptions[0]),
        TargetInvocationException { InnerException: { } inner } => Unwrap(inner),
        _ => e,
    };
}
