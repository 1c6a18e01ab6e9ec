// Cli: builds the `buddy` command tree and runs it against given writers, so tests can drive it.
// The single entry of every command: whatever goes wrong — a parse error, a failed path check, an
// exception from the library or the tool — ends as exactly one line on stderr and an exit code
// (ErrorReport: 2 for input the user can fix, 1 for anything unexpected). Nothing prints a stack trace.
using System.CommandLine;
using System.CommandLine.Help;
using System.Text.RegularExpressions;

namespace Buddy.Tool.Commands;

/// <summary>The <c>buddy</c> command line.</summary>
internal static class Cli
{
    /// <summary>Exit code for a usage or input error.</summary>
    public const int UsageError = ErrorReport.UsageError;

    /// <summary>Parses <paramref name="args"/> and runs the command; returns the exit code.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        try
        {
            ParseResult parsed = Root(stdout, args).Parse(args);
            if (parsed.Errors.Count > 0)
            {
                ErrorReport.WriteLine(stderr, ParseErrorLine(parsed));
                return UsageError;
            }

            return parsed.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
#pragma warning disable CA1031 // The entry's last resort: every exception becomes one line and an exit code.
        catch (Exception e)
#pragma warning restore CA1031
        {
            return ErrorReport.Write(e, stderr);
        }
    }

    // The root is a plain command named `buddy`, not a RootCommand: a RootCommand takes its name from
    // the executable (Buddy.Tool), and the usage lines would say that instead of the command users type.
    private static Command Root(TextWriter stdout, string[] args) =>
        new("buddy", "buddy — a zoned buddy page allocator with the kernel's DMA semantics, and tools to study it.")
        {
            new HelpOption(),
            new VersionOption(),
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
            FaultCommand.Create(),
        };

    // System.CommandLine names the .NET type it could not convert to ("Cannot parse argument 'abc' for
    // option '--seed' as expected type 'System.Int32'"); the user typed an option and wants to know
    // what it takes.
    internal static string InUsersTerms(string message)
    {
        Match m = Regex.Match(message, @"^Cannot parse argument '(?<value>.*)' for option '(?<option>[^']+)' as expected type '(?<type>[^']+)'");
        if (!m.Success)
        {
            return message;
        }

        string expected = m.Groups["type"].Value switch
        {
            "System.Int32" or "System.Int64" => "a whole number",
            "System.UInt32" or "System.UInt64" => "a whole number of 0 or more",
            "System.Double" or "System.Single" or "System.Decimal" => "a number",
            "System.Boolean" => "true or false",
            _ => "a value of the form --help shows",
        };
        return $"{m.Groups["option"].Value}: '{m.Groups["value"].Value}' is not {expected}";
    }

    // Every mistake the parser found, in one line, and where to look for usage.
    private static string ParseErrorLine(ParseResult parsed)
    {
        Command command = parsed.CommandResult.Command;
        string help = command.Parents.Any() is false ? "buddy --help" : $"buddy {command.Name} --help";
        if (command is { Action: null, Subcommands.Count: > 0 })
        {
            // `buddy` alone or `buddy frob`: the parser's "Required command was not provided" names
            // neither what was typed nor what exists, so say both.
            return $"buddy: {NoCommand(parsed.UnmatchedTokens)}; the commands are {string.Join(", ", command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name))} (see '{help}').";
        }

        string errors = string.Join("; ", parsed.Errors.Select(e => ErrorReport.OneLine(InUsersTerms(e.Message)).TrimEnd('.')));
        return $"buddy: {errors} (see '{help}').";
    }

    private static string NoCommand(IReadOnlyList<string> unmatched) => unmatched.Count switch
    {
        0 => "no command given",
        _ when unmatched[0].StartsWith('-') => $"unknown option '{ErrorReport.OneLine(unmatched[0])}' and no command given",
        _ => $"unknown command '{ErrorReport.OneLine(unmatched[0])}'",
    };
}
