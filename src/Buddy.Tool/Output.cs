// Output: how the tool writes — Spectre.Console tables on the given writer (plain text when it is
// not a terminal), progress only on an interactive terminal, and camelCase JSON files.
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Spectre.Console;

namespace Buddy.Tool;

/// <summary>Console and file output shared by the commands.</summary>
internal static class Output
{
    /// <summary>Whether <paramref name="stdout"/> is this process's console and a person is watching it.</summary>
    public static bool IsInteractive(TextWriter stdout) => ReferenceEquals(stdout, System.Console.Out) && !System.Console.IsOutputRedirected;

    /// <summary>A Spectre console over <paramref name="stdout"/>; no colors or control codes unless interactive.</summary>
    public static IAnsiConsole Console(TextWriter stdout)
    {
        bool interactive = IsInteractive(stdout);
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(stdout),
            Ansi = interactive ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = interactive ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = interactive ? InteractionSupport.Detect : InteractionSupport.No,
        });
        if (!interactive)
        {
            console.Profile.Width = ConsoleWidth.For(stdout); // a file or a pipe: $COLUMNS, else 200
        }

        return console;
    }

    /// <summary>Writes <paramref name="value"/> as JSON to <paramref name="path"/> (the conventions are <see cref="ToolJson"/>'s).</summary>
    public static void WriteJson<T>(string path, T value, JsonTypeInfo<T> type) =>
        WriteFile(path, System.Text.Encoding.UTF8.GetBytes(JsonSerializer.Serialize(value, type) + "\n"));

    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/>; a failure names the path.</summary>
    public static void WriteFile(string path, byte[] bytes) => WriteFile(path, p => File.WriteAllBytes(p, bytes));

    /// <summary>Runs <paramref name="write"/> on <paramref name="path"/>; a failure (a full disk, after PathChecks passed) names the path.</summary>
    public static void WriteFile(string path, Action<string> write)
    {
        try
        {
            write(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserInputException($"cannot write '{path}': {e.Message}", e);
        }
    }

    /// <summary>Parses a size option, or fails naming the option.</summary>
    public static ulong ParseSize(string text, string option) =>
        Units.TryParseSize(text, out ulong bytes, out string? error) ? bytes : throw new UserInputException($"{option}: {error}");

    /// <summary>Parses a page size option: a power of two of at least 512 bytes, or fails naming the option.</summary>
    public static ulong ParsePageSize(string text, string option)
    {
        ulong bytes = ParseSize(text, option);
        return bytes >= 512 && ulong.IsPow2(bytes) ? bytes : throw new UserInputException($"{option} {text}: expected a power of two of at least 512 bytes.");
    }
}
