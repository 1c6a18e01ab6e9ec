// Cli: builds the `buddy` command tree and runs it against given writers, so tests can drive it.
// Errors a user can act on (bad file, bad option) print "buddy: <message>" and exit 2.
using System.CommandLine;
using System.CommandLine.Parsing;
using Buddy.Tool.Commands;

namespace Buddy.Tool;

/// <summary>The <c>buddy</c> command line.</summary>
internal static class Cli
{
    /// <summary>Exit code for a usage or input error.</summary>
    public const int UsageError = 2;

    /// <summary>Parses <paramref name="args"/> and runs the command; returns the exit code.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var root = new RootCommand("buddy — a zoned buddy page allocator with the kernel's DMA semantics, and tools to study it.")
        {
            DemoCommand.Create(stdout),
            FragCommand.Create(stdout),
            ZonesCommand.Create(stdout),
            MetadataCommand.Create(stdout),
            ReplayCommand.Create(stdout),
            ScenarioCommand.Create(stdout),
            CaptureCommand.Create(stdout),
            BenchCommand.Create(stdout),
            MapCommand.CreateMap(stdout),
            MapCommand.CreateReport(stdout, args),
        };

        var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            // One line per mistake, in the same form as every other input error.
            foreach (ParseError error in parsed.Errors)
            {
                stderr.WriteLine($"buddy: {error.Message}");
            }

            stderr.WriteLine("Run 'buddy --help' or 'buddy <command> --help' for usage.");
            return UsageError;
        }

        try
        {
            return parsed.Invoke(config);
        }
        catch (UserInputException e)
        {
            stderr.WriteLine($"buddy: {e.Message}");
            return UsageError;
        }
    }
}

/// <summary>A mistake in the user's input: printed as one line, exit code 2.</summary>
internal sealed class UserInputException : Exception
{
    /// <summary>Creates the exception.</summary>
    public UserInputException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with its cause.</summary>
    public UserInputException(string message, Exception inner)
        : base(message, inner)
    {
    }

    /// <summary>Creates the exception.</summary>
    public UserInputException()
    {
    }
}
