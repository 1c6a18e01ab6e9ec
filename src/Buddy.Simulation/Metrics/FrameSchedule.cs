// FrameSchedule: when a run takes its map frames — `count` moments evenly spaced over a run of
// `total` events or steps, the last at the end: after round(k * total / count) for k = 1..count.
//
// Invariants: Steps is non-decreasing, holds exactly count entries (none when count is 0), every
// entry is in [1, total] (a run shorter than count repeats a step: that moment is kept twice), and
// the last entry is total. MaxFrames bounds how many dumps a run keeps per policy.
namespace Buddy.Simulation.Metrics;

/// <summary>The steps at which a run keeps a <see cref="MapFrame"/>.</summary>
internal static class FrameSchedule
{
    /// <summary>The most frames a run keeps per policy (each is a whole allocator dump).</summary>
    public const int MaxFrames = Replay.ReplayOptions.MaxFrames;

    /// <summary>Throws when <paramref name="count"/> is not a frame count a run accepts (0, none, to <see cref="MaxFrames"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is below 0 or above <see cref="MaxFrames"/>.</exception>
    public static void Validate(int count, string name)
    {
        if (count is < 0 or > MaxFrames)
        {
            throw new ArgumentOutOfRangeException(name, count, $"{name} must be from 0 (no frames) to {MaxFrames}: the moments of the run kept per policy for pictures.");
        }
    }

    /// <summary>The steps, oldest first, at which <paramref name="count"/> frames of a run of <paramref name="total"/> steps are taken.</summary>
    public static long[] Steps(long total, int count)
    {
        if (count <= 0 || total <= 0)
        {
            return [];
        }

        var steps = new long[count];
        for (int k = 1; k <= count; k++)
        {
            steps[k - 1] = Math.Max(1, ((total * k) + (count / 2)) / count); // total < 2^56, so no overflow
        }

        return steps;
    }

    /// <summary>Whether the frame <paramref name="next"/> of <paramref name="steps"/> is due once <paramref name="step"/> steps are done.</summary>
    public static bool IsDue(long[] steps, int next, long step) => next < steps.Length && steps[next] <= step;
}
