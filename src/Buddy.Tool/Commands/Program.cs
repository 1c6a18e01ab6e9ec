// The entry point of `buddy`: installs the last-resort handlers, then hands the arguments to Cli
// with the process's console. It lives with the commands, the tool's top layer: Buddy.Tool itself
// holds what every command uses (output, errors, path checks) and uses none of them.
namespace Buddy.Tool.Commands;

internal static class Program
{
    private static int Main(string[] args)
    {
        LastResort.Install(Console.Error);
        return Cli.Run(args, Console.Out, Console.Error);
    }
}
