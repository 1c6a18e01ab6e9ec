// TracedMachineOptions: how a command learns the traced machine — a capture bundle given as the
// trace (its before/ and after/ snapshots), or the /proc texts one by one (--zoneinfo, --iomem,
// --pagetypeinfo, --buddyinfo), a file given on the command line taking the place of the bundle's.
// Every file is parsed before anything runs; a bad one is one line naming the option, the file and
// the line (the readers' FormatException), never a stack trace.
using System.CommandLine;
using Buddy.Simulation.Replay;

namespace Buddy.Tool.Commands;

/// <summary>The options that describe the traced machine, and the <see cref="TracedMachine"/> they make.</summary>
internal sealed class TracedMachineOptions
{
    public Option<string?> ZoneInfo { get; } = new Option<string?>("--zoneinfo")
    {
        Description = "The traced machine's /proc/zoneinfo: replay on its real layout (nodes, zones, holes, boot reservations, watermarks) with the kernel's own placement beside the policies (default: a capture bundle's before/zoneinfo).",
    }.AcceptInputFile();

    public Option<string?> IoMem { get; } = new Option<string?>("--iomem")
    {
        Description = "Its /proc/iomem read as root: holes exactly where its System RAM is not (default: the bundle's; without one, holes are placed at each zone's top).",
    }.AcceptInputFile();

    public Option<string?> PageTypeInfo { get; } = new Option<string?>("--pagetypeinfo")
    {
        Description = "Its /proc/pagetypeinfo read just before tracing: every policy starts from that state (default: the bundle's before/pagetypeinfo).",
    }.AcceptInputFile();

    public Option<string?> BuddyInfo { get; } = new Option<string?>("--buddyinfo")
    {
        Description = "Its /proc/buddyinfo read just after tracing: the kernel placement's end state is compared with it (default: the bundle's after/buddyinfo).",
    }.AcceptInputFile();

    /// <summary>The four, to add to a command.</summary>
    public IEnumerable<Option> All => [ZoneInfo, IoMem, PageTypeInfo, BuddyInfo];

    /// <summary>
    /// The traced machine from <paramref name="bundle"/> (may be null) and the files given; null when
    /// neither a bundle nor --zoneinfo says what the machine was (the others need one of them).
    /// </summary>
    /// <exception cref="UserInputException">--iomem, --pagetypeinfo or --buddyinfo without a machine.</exception>
    public TracedMachine? Read(ParseResult parse, TraceBundle? bundle)
    {
        string? zoneinfo = parse.GetValue(ZoneInfo);
        if (zoneinfo is null && bundle is null)
        {
            string? stray = new[] { IoMem, PageTypeInfo, BuddyInfo }.Where(o => parse.GetValue(o) is not null).Select(o => o.Name).FirstOrDefault();
            return stray is null ? null : throw new UserInputException($"{stray} describes the traced machine, which needs --zoneinfo FILE (or a capture bundle as the trace).");
        }

        MachineSnapshot? before = bundle?.Before;
        return new TracedMachine(zoneinfo is null ? before!.ZoneInfo : Kernel.ZoneInfo.LoadLayout(zoneinfo))
        {
            SystemRam = parse.GetValue(IoMem) is { } iomem ? Kernel.IoMem.Load(iomem).SystemRam : before?.IoMem?.SystemRam,
            NodeDistances = zoneinfo is null ? before?.NodeDistances : null,
            StartPageTypes = parse.GetValue(PageTypeInfo) is { } types ? Kernel.PageTypeInfo.Load(types).Zones : before?.PageTypeInfo?.Zones,
            EndBuddyInfo = parse.GetValue(BuddyInfo) is { } buddy ? Kernel.BuddyInfo.Load(buddy) : bundle?.After.BuddyInfo,
        };
    }
}
