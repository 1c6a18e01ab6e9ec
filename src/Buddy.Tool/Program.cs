// The entry point of `buddy`: installs the last-resort handlers, then hands the arguments to Cli
// with the process's console.
namespace Buddy.Tool;

internal static class Program
{
    private static int Main(string[] args)
    {
        LastResort.Install(Console.Error);
        return Cli.Run(args, Console.Out, Console.Error);
    }
}
