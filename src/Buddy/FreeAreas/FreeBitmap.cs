// FreeBitmap: a set of indices in [0, Length) with O(levels) find-first and find-last.
//
// Invariants:
// - Leaf words live in chunks of 64 words (4,096 bits). A chunk exists only while at least one of
//   its bits is set; it is created by the first Set and dropped by the Clear that empties it, so an
//   idle bitmap (nothing set) costs only its summary levels.
// - Summary level 1 has one bit per leaf word (so one summary word per chunk); level L+1 has one
//   bit per word of level L. A summary bit is set exactly when the word it summarises is non-zero.
// - The top level is a single word.
using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Buddy.FreeAreas;

/// <summary>A hierarchical bitmap with lazily allocated leaves and find-first/find-last in O(log64 n).</summary>
/// <remarks>
/// Not thread-safe: the zone that owns it serialises access.
/// </remarks>
internal sealed class FreeBitmap
{
    private const int ChunkWords = 64;
    private const int ChunkShift = 12; // bits per chunk = 64 words × 64 bits

    private readonly ulong[]?[] _chunks;
    private readonly ulong[][] _summary; // _summary[0] is level 1 (bit per leaf word); last is one word
    private readonly ChunkReserve _reserve;
    private long _count;
    private int _liveChunks;

    /// <summary>Creates an empty bitmap of <paramref name="length"/> bits.</summary>
    public FreeBitmap(long length, ChunkReserve? reserve = null)
    {
        _reserve = reserve ?? new ChunkReserve(perOperation: 1);
        Debug.Assert(length > 0);
        Length = length;
        long leafWords = (length + 63) >> 6;
        long chunks = (leafWords + ChunkWords - 1) / ChunkWords;
        _chunks = new ulong[]?[chunks];
        var levels = new List<ulong[]>();
        long words = leafWords;
        do
        {
            words = (words + 63) >> 6;
            levels.Add(new ulong[words]);
        }
        while (words > 1);
        _summary = [.. levels];
    }

    /// <summary>The number of indices the bitmap can hold.</summary>
    public long Length { get; }

    /// <summary>The number of set bits.</summary>
    public long Count => _count;

    /// <summary>Bytes of memory held for this bitmap's words (leaves, summaries and chunk table).</summary>
    public long MetadataBytes
    {
        get
        {
            long bytes = (long)_chunks.Length * IntPtr.Size
                + ((long)_liveChunks * ChunkWords * sizeof(ulong));
            foreach (ulong[] level in _summary)
            {
                bytes += (long)level.Length * sizeof(ulong);
            }

            return bytes;
        }
    }

    /// <summary>Whether bit <paramref name="index"/> is set.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Test(long index)
    {
        Debug.Assert((ulong)index < (ulong)Length);
        ulong[]? chunk = _chunks[index >> ChunkShift];
        return chunk is not null && (chunk[(index >> 6) & (ChunkWords - 1)] & (1UL << (int)index)) != 0;
    }

    /// <summary>Sets bit <paramref name="index"/>, which must be clear.</summary>
    public void Set(long index)
    {
        Debug.Assert((ulong)index < (ulong)Length);
        long chunkIndex = index >> ChunkShift;
        ulong[] chunk = _chunks[chunkIndex] ?? NewChunk(chunkIndex);
        ref ulong word = ref chunk[(index >> 6) & (ChunkWords - 1)];
        ulong bit = 1UL << (int)index;
        Debug.Assert((word & bit) == 0, "bit already set");
        bool wasEmpty = word == 0;
        word |= bit;
        _count++;
        if (wasEmpty)
        {
            long w = index >> 6;
            for (int level = 0; level < _summary.Length; level++)
            {
                ref ulong s = ref _summary[level][w >> 6];
                bool summaryWasEmpty = s == 0;
                s |= 1UL << (int)w;
                if (!summaryWasEmpty)
                {
                    break;
                }

                w >>= 6;
            }
        }
    }

    /// <summary>Clears bit <paramref name="index"/>, which must be set.</summary>
    public void Clear(long index)
    {
        Debug.Assert((ulong)index < (ulong)Length);
        long chunkIndex = index >> ChunkShift;
        ulong[]? chunk = _chunks[chunkIndex];
        Debug.Assert(chunk is not null, "bit not set");
        ref ulong word = ref chunk[(index >> 6) & (ChunkWords - 1)];
        ulong bit = 1UL << (int)index;
        Debug.Assert((word & bit) != 0, "bit not set");
        word &= ~bit;
        _count--;
        if (word == 0)
        {
            long w = index >> 6;
            for (int level = 0; level < _summary.Length; level++)
            {
                ref ulong s = ref _summary[level][w >> 6];
                s &= ~(1UL << (int)w);
                if (level == 0 && s == 0)
                {
                    ReleaseChunk(chunkIndex);
                }

                if (s != 0)
                {
                    break;
                }

                w >>= 6;
            }
        }
    }

    /// <summary>The lowest set index, or -1 when the bitmap is empty.</summary>
    public long FindFirst()
    {
        long w = 0;
        for (int level = _summary.Length - 1; level >= 0; level--)
        {
            ulong s = _summary[level][w];
            if (s == 0)
            {
                Debug.Assert(level == _summary.Length - 1, "summary points at an empty word");
                return -1;
            }

            w = (w << 6) + BitOperations.TrailingZeroCount(s);
        }

        ulong leaf = _chunks[w >> 6]![w & (ChunkWords - 1)];
        Debug.Assert(leaf != 0);
        return (w << 6) + BitOperations.TrailingZeroCount(leaf);
    }

    /// <summary>The highest set index, or -1 when the bitmap is empty.</summary>
    public long FindLast()
    {
        long w = 0;
        for (int level = _summary.Length - 1; level >= 0; level--)
        {
            ulong s = _summary[level][w];
            if (s == 0)
            {
                Debug.Assert(level == _summary.Length - 1, "summary points at an empty word");
                return -1;
            }

            w = (w << 6) + 63 - BitOperations.LeadingZeroCount(s);
        }

        ulong leaf = _chunks[w >> 6]![w & (ChunkWords - 1)];
        Debug.Assert(leaf != 0);
        return (w << 6) + 63 - BitOperations.LeadingZeroCount(leaf);
    }

    /// <summary>The highest set index below <paramref name="end"/>, or -1.</summary>
    public long FindLastBefore(long end)
    {
        if (end <= 0)
        {
            return -1;
        }

        if (end >= Length)
        {
            return FindLast();
        }

        long i = end - 1;
        long w = i >> 6;
        ulong[]? chunk = _chunks[w >> 6];
        ulong leaf = chunk is null ? 0 : chunk[w & (ChunkWords - 1)] & (ulong.MaxValue >> (63 - (int)(i & 63)));
        if (leaf != 0)
        {
            return (w << 6) + 63 - BitOperations.LeadingZeroCount(leaf);
        }

        // Climb the summaries for the highest non-empty entry before w, then descend to its leaf.
        long idx = w;
        int level = 0;
        while (true)
        {
            if (level >= _summary.Length)
            {
                return -1;
            }

            ulong s = _summary[level][idx >> 6] & ((1UL << (int)(idx & 63)) - 1);
            if (s != 0)
            {
                idx = ((idx >> 6) << 6) + 63 - BitOperations.LeadingZeroCount(s);
                break;
            }

            idx >>= 6;
            level++;
        }

        while (level > 0)
        {
            level--;
            idx = (idx << 6) + 63 - BitOperations.LeadingZeroCount(_summary[level][idx]);
        }

        ulong word = _chunks[idx >> 6]![idx & (ChunkWords - 1)];
        Debug.Assert(word != 0);
        return (idx << 6) + 63 - BitOperations.LeadingZeroCount(word);
    }

    /// <summary>Enumerates the set indices in ascending order (for validation and reports).</summary>
    public IEnumerable<long> EnumerateSet()
    {
        for (long c = 0; c < _chunks.Length; c++)
        {
            ulong[]? chunk = _chunks[c];
            if (chunk is null)
            {
                continue;
            }

            for (int i = 0; i < ChunkWords; i++)
            {
                ulong word = chunk[i];
                while (word != 0)
                {
                    int bit = BitOperations.TrailingZeroCount(word);
                    yield return (c << ChunkShift) + ((long)i << 6) + bit;
                    word &= word - 1;
                }
            }
        }
    }

    /// <summary>Checks that counts, chunks and every summary level agree with the leaves.</summary>
    public string? Validate()
    {
        long count = 0;
        int live = 0;
        for (long c = 0; c < _chunks.Length; c++)
        {
            ulong[]? chunk = _chunks[c];
            ulong expectSummary = 0;
            if (chunk is not null)
            {
                live++;
                for (int i = 0; i < ChunkWords; i++)
                {
                    count += BitOperations.PopCount(chunk[i]);
                    if (chunk[i] != 0)
                    {
                        expectSummary |= 1UL << i;
                    }
                }

                if (expectSummary == 0)
                {
                    return $"leaf chunk {c} is empty but still allocated";
                }
            }

            if (_summary[0][c] != expectSummary)
            {
                return $"summary word {c} of level 1 disagrees with its leaf chunk";
            }
        }

        for (int level = 1; level < _summary.Length; level++)
        {
            ulong[] below = _summary[level - 1];
            for (long w = 0; w < _summary[level].Length; w++)
            {
                ulong expect = 0;
                for (int i = 0; i < 64 && (w << 6) + i < below.Length; i++)
                {
                    if (below[(w << 6) + i] != 0)
                    {
                        expect |= 1UL << i;
                    }
                }

                if (_summary[level][w] != expect)
                {
                    return $"summary word {w} of level {level + 1} disagrees with level {level}";
                }
            }
        }

        if (count != _count)
        {
            return $"count {_count} but {count} bits are set";
        }

        return live != _liveChunks ? $"{_liveChunks} chunks counted but {live} allocated" : null;
    }

    private ulong[] NewChunk(long chunkIndex)
    {
        ulong[] chunk = _reserve.Take();
        _chunks[chunkIndex] = chunk;
        _liveChunks++;
        return chunk;
    }

    private void ReleaseChunk(long chunkIndex)
    {
        // The chunk's words are all zero here (its summary word just became zero), so it can be
        // kept as the spare without clearing: that spares the GC the common split/merge churn.
        _reserve.Give(_chunks[chunkIndex]!);
        _chunks[chunkIndex] = null;
        _liveChunks--;
    }
}
