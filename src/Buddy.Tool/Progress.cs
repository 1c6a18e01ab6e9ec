// Progress: what a command shows while it works for more than a moment — on stderr, and only when
// stderr is a terminal and the command writes to this process's console, so that nothing reaches a
// file, a pipe or a test's writer, and redirected stdout stays clean. A bar when the work knows how
// far it is, a spinner with a status line when it does not; both are cleared when the work ends.
using Spectre.Console;

namespace Buddy.Tool;

internal static class Progress
{
    /// <summary>Whether progress is shown for a command writing to <paramref name="stdout"/>.</summary>
    public static bool Shown(TextWriter stdout) =>
        ReferenceEquals(stdout, System.Console.Out) && !System.Console.IsErrorRedirected;

    /// <summary>Runs <paramref name="work"/> under a bar of the fraction (0..1) it reports; null when none is shown.</summary>
    public static T WithBar<T>(TextWriter stdout, string label, Func<Action<double>?, T> work)
    {
        if (!Shown(stdout))
        {
            return work(null);
        }

        T result = default!;
        Stderr().Progress().AutoClear(true).Start(ctx =>
        {
            ProgressTask task = ctx.AddTask(Markup.Escape(label), maxValue: 1.0);
            result = work(fraction => task.Value = Math.Clamp(fraction, 0, 1));
            task.Value = 1.0;
        });
        return result;
    }

    /// <summary>Runs <paramref name="work"/> under a spinner and a status line it may change; null when none is shown.</summary>
    public static T WithStatus<T>(TextWriter stdout, string label, Func<Action<string>?, T> work)
    {
        if (!Shown(stdout))
        {
            return work(null);
        }

        T result = default!;
        Stderr().Status().Start(Markup.Escape(label), ctx => result = work(status => ctx.Status(Markup.Escape(status))));
        return result;
    }

    private static IAnsiConsole Stderr() => AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(System.Console.Error) });
}
