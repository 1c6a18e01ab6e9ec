// PageOwnerMap: which live trace allocation holds each page frame, for a replay. Memory grows with
// the page frames a trace touches, not with the highest one: frames are kept in chunks of 2^16,
// allocated on first write, so one far-away pfn costs one chunk (256 KiB), never an array up to it.
// Invariants: a frame in a chunk never written reads 0 (no owner); frames are below
// TraceReplay.MaxPfn, so the chunk index fits the top-level array.
namespace Buddy.Simulation.Replay;

/// <summary>A sparse map from page frame to owner id (0: none).</summary>
internal sealed class PageOwnerMap
{
    private const int ChunkShift = 16;
    private const int ChunkSize = 1 << ChunkShift;
    private readonly int[]?[] _chunks = new int[]?[(int)(TraceReplay.MaxPfn >> ChunkShift)];

    /// <summary>The owner of <paramref name="pfn"/>, or 0.</summary>
    public int this[ulong pfn] => _chunks[pfn >> ChunkShift] is { } chunk ? chunk[pfn & (ChunkSize - 1)] : 0;

    /// <summary>Sets the owner of <paramref name="count"/> frames from <paramref name="start"/> to <paramref name="owner"/> (0 clears).</summary>
    public void Fill(ulong start, ulong count, int owner)
    {
        ulong end = start + count;
        for (ulong p = start; p < end;)
        {
            ulong chunkEnd = Math.Min(end, ((p >> ChunkShift) + 1) << ChunkShift);
            int[]? chunk = _chunks[p >> ChunkShift];
            if (chunk is null && owner != 0)
            {
                chunk = _chunks[p >> ChunkShift] = new int[ChunkSize];
            }

            chunk?.AsSpan((int)(p & (ChunkSize - 1)), (int)(chunkEnd - p)).Fill(owner);
            p = chunkEnd;
        }
    }
}
