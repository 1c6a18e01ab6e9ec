// Buddy.BuddyInfo.Fuzz: an AFL++ target (SharpFuzz) for BuddyInfo.Parse. Each input is a whole
// file, decoded as UTF-8 the way BuddyInfo.Load decodes it (bytes that are not UTF-8 become U+FFFD,
// which the parser refuses). The parser may fail only with FormatException; a text it accepts must
// print, parse back to the same counts and give fragmentation indices without any exception.
// Anything else escaping is a crash that AFL++ saves (docs/fuzzing.md; crashers go to
// fuzz/crashers-buddyinfo/ and tests/Buddy.Tests/FuzzCorpusTests.cs replays them).
using System.Text;
using Buddy;
using Buddy.Kernel;
using SharpFuzz;

Fuzzer.OutOfProcess.Run(stream =>
{
    using var input = new MemoryStream();
    stream.CopyTo(input);
    BuddyInfoFuzz.Check(input.ToArray());
});

/// <summary>The target's one check, shared with the corpus replay test's expectations.</summary>
internal static class BuddyInfoFuzz
{
    public static void Check(byte[] bytes)
    {
        BuddyInfo info;
        try
        {
            info = BuddyInfo.Parse(new UTF8Encoding(false).GetString(bytes), "fuzz-input");
        }
        catch (FormatException)
        {
            return; // the documented failure for a malformed file: not a crash
        }

        BuddyInfo again = BuddyInfo.Parse(info.ToString(), "printed");
        for (int z = 0; z < info.Zones.Count; z++)
        {
            if (!info.Zones[z].FreeBlockCounts.SequenceEqual(again.Zones[z].FreeBlockCounts))
            {
                throw new InvalidOperationException($"zone {z} does not survive print and parse");
            }
        }

        _ = FragmentationIndex.UnusableText(info);
        _ = FragmentationIndex.ExtfragText(info);
    }
}
