// `buddy frag [PATH] [--index unusable|extfrag]`: the kernel's fragmentation indices of a buddyinfo.
using System.CommandLine;
using Buddy.Kernel;

namespace Buddy.Tool.Commands;

/// <summary>Prints what the kernel would print in debugfs extfrag/unusable_index and extfrag_index.</summary>
internal static class FragCommand
{
    public static Command Create(TextWriter stdout)
    {
        var path = new Argument<string>("PATH")
        {
            Description = "A /proc/buddyinfo text (default: this machine's /proc/buddyinfo).",
            Arity = ArgumentArity.ZeroOrOne,
            DefaultValueFactory = _ => "/proc/buddyinfo",
        }.AcceptInputFile();
        var index = new Option<string?>("--index")
        {
            Description = "Print only one file's text, exactly: 'unusable' (unusable_index) or 'extfrag' (extfrag_index).",
        };
        index.AcceptOnlyFromAmong("unusable", "extfrag");

        var command = new Command("frag", "Compute the kernel's unusable free space index and fragmentation index (mm/vmstat.c, Linux 6.18) from a buddyinfo text.")
        {
            path,
            index,
        };
        command.SetAction(parse =>
        {
            string file = parse.GetValue(path)!;
            BuddyInfo info = BuddyInfo.Load(file);
            switch (parse.GetValue(index))
            {
                case "unusable":
                    stdout.Write(FragmentationIndex.UnusableText(info));
                    break;
                case "extfrag":
                    stdout.Write(FragmentationIndex.ExtfragText(info));
                    break;
                default:
                    stdout.WriteLine("# /sys/kernel/debug/extfrag/unusable_index");
                    stdout.Write(FragmentationIndex.UnusableText(info));
                    stdout.WriteLine("# /sys/kernel/debug/extfrag/extfrag_index");
                    stdout.Write(FragmentationIndex.ExtfragText(info));
                    break;
            }

            return 0;
        });
        return command;
    }
}
