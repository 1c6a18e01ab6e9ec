// `buddy internal-fault WHERE` (hidden): throws an exception no command expects, so that tests can
// prove the last resorts in a real process — "command" inside a command (Cli.Run's handler),
// "thread" on a background thread and "task" in a faulted task nobody observes (LastResort's
// process-wide handlers). Never listed in help; it has no other use.
using System.CommandLine;

namespace Buddy.Tool.Commands;

/// <summary>A hidden command that fails on purpose, for the tests of the last-resort handlers.</summary>
internal static class FaultCommand
{
    private static readonly string[] s_places = ["command", "thread", "task"];

    public static Command Create()
    {
        var where = new Argument<string>("WHERE") { Description = "command, thread or task." };
        where.AcceptOnlyFromAmong(s_places);
        var command = new Command("internal-fault", "Fail on purpose (tests of the last-resort handlers).") { where };
        command.Hidden = true;
        command.SetAction(parse =>
        {
            switch (parse.GetValue(where))
            {
                case "thread":
                    var thread = new Thread(() => throw Fault("a background thread"));
                    thread.Start();
                    thread.Join();
                    break;
                case "task":
                    FaultUnobserved();
                    for (int i = 0; i < 3; i++)
                    {
                        GC.Collect();
                        GC.WaitForPendingFinalizers();
                    }

                    break;
                default:
                    throw Fault("a command");
            }

            return 0;
        });
        return command;
    }

    private static InvalidOperationException Fault(string where) =>
        new($"internal-fault: an unexpected failure in {where}.\nIts second line must not reach the terminal.");

    // Kept out of line so that no reference to the task survives on the stack when the GC runs.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void FaultUnobserved() => Task.Run(() => throw Fault("a task nobody observes")).ContinueWith(_ => { }, TaskScheduler.Default).Wait();
}
