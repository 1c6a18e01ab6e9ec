// LastResort: the process-wide handlers of `buddy`. An exception that escapes on any thread, or a
// faulted task nobody observed, ends the process with ErrorReport's one line and exit code, so
// that no path reaches the runtime's unhandled-exception printout (a stack trace) or its abort.
// Installed once, by Program, before anything runs.
namespace Buddy.Tool;

/// <summary>Turns exceptions that escape every command into one line and an exit code.</summary>
internal static class LastResort
{
    private static int s_installed;

    /// <summary>Installs the handlers (once) reporting to <paramref name="stderr"/>.</summary>
    public static void Install(TextWriter stderr)
    {
        if (Interlocked.Exchange(ref s_installed, 1) == 1)
        {
            return;
        }

        AppDomain.CurrentDomain.UnhandledException += (_, e) =>
            Exit(e.ExceptionObject as Exception ?? new InvalidOperationException($"a non-exception object was thrown: {e.ExceptionObject}"), stderr);
        TaskScheduler.UnobservedTaskException += (_, e) =>
        {
            e.SetObserved();
            Exit(e.Exception, stderr);
        };
    }

    // Ends the process here: returning would let the runtime print the exception and abort.
    private static void Exit(Exception e, TextWriter stderr) => Environment.Exit(ErrorReport.Write(e, stderr));
}
