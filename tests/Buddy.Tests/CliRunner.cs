using Buddy.Tool.Commands;

namespace Buddy.Tests;

/// <summary>Runs the `buddy` command in process, as a user would, and returns its exit code and output.</summary>
internal static class CliRunner
{
    public static (int Code, string Stdout, string Stderr) Run(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        int code = Cli.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
