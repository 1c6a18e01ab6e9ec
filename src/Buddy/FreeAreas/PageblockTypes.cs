// PageblockTypes: the migrate type of every pageblock of a zone (a byte each), sparse, so that a
// huge zone whose pageblocks mostly keep the type they started with costs almost nothing: 2^41
// pageblocks (2^50 pages of 512-page pageblocks) cost 128 bytes while every type is the initial one.
//
// Types are kept in pages of 4,096 entries. A page exists only once one of its entries has been
// given a type other than the initial one (or EnsureWritable asked for it); every entry of a page
// that does not exist has the initial type. A map of at most 4,096 pages (2^24 pageblocks, every
// zone of a real machine) finds them in a directory indexed by page number; a larger one through
// an open-addressing table keyed by page number (Fibonacci hashing, linear probing, at most half
// full). Either way a read is two dependent loads. Every page has 4,096 entries (the last page's entries
// past Count are unused), so a spare fits any page.
//
// Spares: EnsureSpares(n) puts n empty pages in hand and grows the table for n more pages, so that
// the Sets of one allocator step (which retype at most the pageblocks of one max-order block, at
// most 2^12 entries when MachineLayout.Validate holds: two pages) allocate nothing.
//
// Invariants (checked by Validate): the table's length is a power of two, at least twice the number
// of pages; no empty slot lies between a page's home slot and the slot it sits in (so a lookup
// that meets an empty slot has seen every candidate); keys are distinct, below the number
// of pages Count needs, and each page has the length its key calls for; a page, once made, stays
// (a page back to all-initial is kept: Runs reports it as initial all the same).
//
// No allocation in the middle of an operation: EnsureWritable makes an entry's page (and the table
// room for it) in advance, may throw OutOfMemoryException and then changes nothing; Set on a page
// that does not exist, with a type other than the initial one, allocates the same way, calling
// Faults.BeforeMetadataAllocation before each allocation, so fault-injection tests see it.
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Buddy;

/// <summary>A sparse map from pageblock index (0..<see cref="Count"/>-1) to a migrate type (a byte); pages of entries are made on the first write of a non-initial type.</summary>
/// <remarks>Not thread-safe: the owning zone serialises access.</remarks>
internal sealed class PageblockTypes
{
    private const int PageShift = 12; // entries per page
    private const int PageSize = 1 << PageShift;
    private const int PageMask = PageSize - 1;
    private const int InitialSlots = 8;
    private const ulong Golden = 0x9E3779B97F4A7C15; // 2^64 / φ, for Fibonacci hashing
    private const int DirectPages = 4096; // up to this many pages, a directory instead of a table
    private readonly byte _initial;
    private readonly byte[]?[]? _direct; // the directory, for a map of at most DirectPages pages
    private readonly Stack<byte[]> _spares = new();
    private Entry[] _slots;
    private int _hashShift; // 64 - log2(_slots.Length)
    private long _pages;
    private long _pageBytes;

    /// <summary>Creates a map of <paramref name="count"/> entries, all of type <paramref name="initial"/>.</summary>
    public PageblockTypes(long count, byte initial)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        Count = count;
        _initial = initial;
        _slots = new Entry[InitialSlots];
        _hashShift = 64 - BitOperations.Log2(InitialSlots);
        if (PagesFor(count) <= DirectPages)
        {
            _direct = new byte[]?[PagesFor(count)];
        }
    }

    /// <summary>Makes sure <paramref name="pages"/> pages can be made without allocating (pages in hand, room in the table); may throw <see cref="OutOfMemoryException"/>, with nothing else changed.</summary>
    public void EnsureSpares(int pages)
    {
        if (_spares.Count >= pages && (_direct is not null || (_pages + pages) * 2 <= _slots.Length))
        {
            return;
        }

        while (_direct is null && (_pages + pages) * 2 > _slots.Length)
        {
            Grow();
        }

        while (_spares.Count < pages)
        {
            Faults.BeforeMetadataAllocation();
            _spares.Push(new byte[PageSize]);
        }
    }

    /// <summary>The number of entries.</summary>
    public long Count { get; }

    /// <summary>Bytes held: the table and the pages.</summary>
    public long MetadataBytes => ((long)_slots.Length * Unsafe.SizeOf<Entry>()) + ((long)(_direct?.Length ?? 0) * IntPtr.Size) + _pageBytes + ((long)_spares.Count * PageSize);

    /// <summary>The type of entry <paramref name="index"/>.</summary>
    public byte this[long index]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            CheckIndex(index);
            byte[]? page = PageOf(index >> PageShift);
            return page is null ? _initial : page[index & PageMask];
        }
    }

    /// <summary>Gives entry <paramref name="index"/> type <paramref name="type"/>; may make its page (then, on <see cref="OutOfMemoryException"/>, nothing changes).</summary>
    public void Set(long index, byte type)
    {
        CheckIndex(index);
        byte[]? page = PageOf(index >> PageShift);
        if (page is null)
        {
            if (type == _initial)
            {
                return;
            }

            page = Materialise(index >> PageShift);
        }

        page[index & PageMask] = type;
    }

    /// <summary>Makes the page of entry <paramref name="index"/> now, so that a later <see cref="Set"/> there allocates nothing; may throw <see cref="OutOfMemoryException"/> (nothing changes).</summary>
    public void EnsureWritable(long index)
    {
        CheckIndex(index);
        if (PageOf(index >> PageShift) is null)
        {
            Materialise(index >> PageShift);
        }
    }

    /// <summary>Maximal runs of entries of equal type, in order; time O(p log p + 4,096 p) for p pages made, not O(<see cref="Count"/>).</summary>
    public IEnumerable<(long Start, long Count, byte Type)> Runs()
    {
        long start = 0, length = 0;
        byte type = _initial;
        foreach ((long s, long n, byte t) in Segments())
        {
            if (t != type && length > 0)
            {
                yield return (start, length, type);
                (start, length) = (s, 0);
            }

            type = t;
            length += n;
        }

        if (length > 0)
        {
            yield return (start, length, type);
        }
    }

    /// <summary>Checks the invariants (see the file comment); null when they hold, else what is wrong.</summary>
    public string? Validate()
    {
        if (!BitOperations.IsPow2(_slots.Length) || _hashShift != 64 - BitOperations.Log2((uint)_slots.Length) || _pages * 2 > _slots.Length)
        {
            return $"table of {_slots.Length} slots (shift {_hashShift}) for {_pages} pages";
        }

        long pages = 0, bytes = 0;
        foreach ((long key, byte[] page) in Pages())
        {
            if (key < 0 || key >= PagesFor(Count) || page.Length != PageSize || !ReferenceEquals(PageOf(key), page))
            {
                return $"page {key} (length {page.Length}) is out of range, of the wrong length, a duplicate or not reachable from its home slot";
            }

            pages++;
            bytes += page.Length;
        }

        return pages == _pages && bytes == _pageBytes ? null : $"{pages} pages of {bytes} bytes found, {_pages} of {_pageBytes} counted";
    }

    // The runs of the pages made, with the initial type between them, in order (not merged).
    private IEnumerable<(long Start, long Count, byte Type)> Segments()
    {
        long next = 0;
        foreach ((long key, byte[] page) in PagesInOrder())
        {
            long first = key << PageShift;
            if (first > next)
            {
                yield return (next, first - next, _initial);
            }

            int length = PageLength(key);
            for (int i = 0, j; i < length; i = j)
            {
                j = i + 1;
                while (j < length && page[j] == page[i])
                {
                    j++;
                }

                yield return (first + i, j - i, page[i]);
            }

            next = first + length;
        }

        if (Count > next)
        {
            yield return (next, Count - next, _initial);
        }
    }

    // The pages made, sorted by key.
    private List<(long Key, byte[] Page)> PagesInOrder()
    {
        var pages = new List<(long Key, byte[] Page)>(Pages());
        pages.Sort((a, b) => a.Key.CompareTo(b.Key));
        return pages;
    }

    // The pages made, in directory or table order.
    private IEnumerable<(long Key, byte[] Page)> Pages()
    {
        if (_direct is not null)
        {
            for (long key = 0; key < _direct.Length; key++)
            {
                if (_direct[key] is { } page)
                {
                    yield return (key, page);
                }
            }

            yield break;
        }

        foreach (Entry e in _slots)
        {
            if (e.Page is not null)
            {
                yield return (e.Key, e.Page);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void CheckIndex(long index)
    {
        if ((ulong)index >= (ulong)Count)
        {
            ThrowIndex(index);
        }
    }

    private static void ThrowIndex(long index) => throw new ArgumentOutOfRangeException(nameof(index), index, "Not a pageblock of this map.");

    // The page with `key`, or null: probes from its home slot to it or to an empty slot.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte[]? PageOf(long key)
    {
        if (_direct is { } direct)
        {
            return direct[key];
        }

        Entry[] slots = _slots;
        int mask = slots.Length - 1;
        for (int i = Home(key, _hashShift); ; i = (i + 1) & mask)
        {
            ref Entry e = ref slots[i];
            if (e.Page is null || e.Key == key)
            {
                return e.Page;
            }
        }
    }

    // Makes page `key` (all initial) and, when the table would pass half full, a table twice as
    // large; allocates both before changing anything.
    private byte[] Materialise(long key)
    {
        if (!_spares.TryPop(out byte[]? page))
        {
            Faults.BeforeMetadataAllocation();
            page = new byte[PageSize]; // the last page too (its entries past Count unused): spares fit any page
        }

        page.AsSpan().Fill(_initial);
        if (_direct is not null)
        {
            _direct[key] = page;
        }
        else
        {
            if ((_pages + 1) * 2 > _slots.Length)
            {
                Grow();
            }

            Insert(_slots, _hashShift, key, page);
        }

        _pages++;
        _pageBytes += page.Length;
        return page;
    }

    // Moves every page into a table twice as large.
    private void Grow()
    {
        Faults.BeforeMetadataAllocation();
        var slots = new Entry[_slots.Length * 2];
        int shift = _hashShift - 1;
        foreach (Entry e in _slots)
        {
            if (e.Page is not null)
            {
                Insert(slots, shift, e.Key, e.Page);
            }
        }

        (_slots, _hashShift) = (slots, shift);
    }

    // Puts `page` in the first empty slot from its home (the table has room and no page `key`).
    private static void Insert(Entry[] slots, int shift, long key, byte[] page)
    {
        int i = Home(key, shift);
        while (slots[i].Page is not null)
        {
            i = (i + 1) & (slots.Length - 1);
        }

        slots[i] = new Entry { Key = key, Page = page };
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Home(long key, int shift) => (int)(((ulong)key * Golden) >> shift);

    private static long PagesFor(long count) => (count + PageMask) >> PageShift;

    // Entries of page `key` that are in the map: all but in the last page.
    private int PageLength(long key) => (int)Math.Min(PageSize, Count - (key << PageShift));

    // A slot: a page and its key; empty while Page is null.
    private struct Entry
    {
        public long Key;
        public byte[]? Page;
    }
}
