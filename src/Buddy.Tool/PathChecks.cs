// PathChecks: every file or directory the user names is checked when the command line is parsed,
// before any command runs — by a validator attached to the option or argument that takes it, so
// a failed check is a parse error (one line, exit 2) and a long run never ends in "cannot write".
// - An input file exists, is not a directory and, when it can be seeked (a regular file, /proc
//   included), is not empty. Pipes and devices are not read ahead.
// - An output file's directory exists, the path is not a directory, and the file can be written:
//   an existing file is opened for writing without truncating it, a new one is created and
//   deleted at once. Nothing the user already had is changed.
// - An output directory is not a file, and a file can be created in it or in the nearest existing
//   directory above it.
using System.CommandLine;
using System.CommandLine.Parsing;

namespace Buddy.Tool;

/// <summary>Validators for the paths the commands read and write.</summary>
internal static class PathChecks
{
    /// <summary>Checks the option's value as a file to read.</summary>
    public static Option<T> AcceptInputFile<T>(this Option<T> option)
    {
        option.Validators.Add(result => Report(result, option.Name, InputFileProblem(result.GetValueOrDefault<T>() as string)));
        return option;
    }

    /// <summary>Checks the argument's value as a file to read.</summary>
    public static Argument<T> AcceptInputFile<T>(this Argument<T> argument)
    {
        argument.Validators.Add(result => Report(result, null, InputFileProblem(result.GetValueOrDefault<T>() as string)));
        return argument;
    }

    /// <summary>Checks the option's value as a file to write.</summary>
    public static Option<T> AcceptOutputFile<T>(this Option<T> option)
    {
        option.Validators.Add(result => Report(result, option.Name, OutputFileProblem(result.GetValueOrDefault<T>() as string)));
        return option;
    }

    /// <summary>Checks the option's value as a directory to write files into.</summary>
    public static Option<T> AcceptOutputDirectory<T>(this Option<T> option)
    {
        option.Validators.Add(result => Report(result, option.Name, OutputDirectoryProblem(result.GetValueOrDefault<T>() as string)));
        return option;
    }

    /// <summary>What is wrong with reading <paramref name="path"/>, or null.</summary>
    public static string? InputFileProblem(string? path)
    {
        if (path is null)
        {
            return null;
        }

        if (Directory.Exists(path))
        {
            return $"cannot read '{path}': it is a directory; expected a file";
        }

        if (!File.Exists(path))
        {
            return $"cannot read '{path}': no such file";
        }

        return Probe(path, "read", () =>
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
            return stream.CanSeek && stream.ReadByte() < 0 ? $"cannot read '{path}': the file is empty" : null;
        });
    }

    /// <summary>What is wrong with writing the file <paramref name="path"/>, or null.</summary>
    public static string? OutputFileProblem(string? path)
    {
        if (path is null)
        {
            return null;
        }

        if (path.Length == 0 || Directory.Exists(path) || Path.EndsInDirectorySeparator(path))
        {
            return $"cannot write '{path}': it is a directory; expected a file name";
        }

        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null && !Directory.Exists(directory))
        {
            return File.Exists(directory)
                ? $"cannot write '{path}': '{directory}' is a file, not a directory"
                : $"cannot write '{path}': directory '{directory}' does not exist";
        }

        return Probe(path, "write", () =>
        {
            using FileStream stream = File.Exists(path)
                ? new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 1)
                : new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose);
            return null;
        });
    }

    /// <summary>What is wrong with writing files into <paramref name="directory"/>, or null.</summary>
    public static string? OutputDirectoryProblem(string? directory)
    {
        if (directory is null)
        {
            return null;
        }

        string? existing = Path.GetFullPath(directory.Length == 0 ? "." : directory);
        while (existing is not null && !Directory.Exists(existing))
        {
            if (File.Exists(existing))
            {
                return $"cannot write into '{directory}': '{existing}' is a file, not a directory";
            }

            existing = Path.GetDirectoryName(existing);
        }

        string probe = Path.Combine(existing ?? ".", $".buddy-probe-{Environment.ProcessId}-{Guid.NewGuid():N}");
        return Probe(directory, "write into", () =>
        {
            using var stream = new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose);
            return null;
        });
    }

    // Runs a probe; an I/O or permission error is the problem it reports.
    private static string? Probe(string path, string verb, Func<string?> probe)
    {
        try
        {
            return probe();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"cannot {verb} '{path}': {ErrorReport.OneLine(e.Message)}";
        }
    }

    private static void Report(SymbolResult result, string? option, string? problem)
    {
        if (problem is not null)
        {
            result.AddError(option is null ? problem : $"{option}: {problem}");
        }
    }
}
