// UserInputException: a mistake in what the user gave the `buddy` command (an option, a file, a
// size). Cli.Run prints its message as one line, "buddy: <message>", and exits with 2.
namespace Buddy.Tool;

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
