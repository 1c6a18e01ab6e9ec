// The entry point of `buddy`: hands the arguments to Cli with the process's console.
namespace Buddy.Tool;

internal static class Program
{
    private static int Main(string[] args) => Cli.Run(args, Console.Out, Console.Error);
}
