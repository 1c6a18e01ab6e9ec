// NativeArena.Checked: the checked mode's bookkeeping (ArenaOptions.Checked): every returned page
// poisoned and checked on the next rent, the stack trace of each rent and of each first return,
// live rentals listed for leak reports, and stale movable handles refused.
using System.Globalization;

namespace Buddy.Memory;

public sealed partial class NativeArena
{
    /// <summary>The rentals not given back: in the checked mode every one with the stack trace of its rent; otherwise the movable ones (with an empty trace). A rental below a page has an empty <see cref="Block"/>.</summary>
    public IReadOnlyList<LiveRental> GetLiveRentals()
    {
        List<LiveRental> live = [];
        if (_checked)
        {
            foreach (Rental rental in _rentals.All())
            {
                if (rental.IsRented && rental.RentedAt is { } rentedAt)
                {
                    live.Add(new LiveRental(rental.Block, rentedAt));
                }
            }
        }

        lock (_movableLock)
        {
            live.AddRange(_movable.Select(kv => new LiveRental(kv.Key.Current, kv.Value)));
        }

        return live;
    }

    /// <summary>Checked mode: throws when rentals were not given back, naming each with its rent's stack trace.</summary>
    /// <exception cref="InvalidOperationException">Some rentals leaked.</exception>
    public void ThrowIfLeaked() => ThrowIfLeakedAs("were not returned");

    /// <summary>Checked mode: records the stack trace of <paramref name="memory"/>'s first return.</summary>
    internal void NoteReturn(ArenaMemory memory) => _returnedAt.AddOrUpdate(memory, Environment.StackTrace);

    /// <summary>
    /// Checked mode: a Dispose of <paramref name="memory"/>, which no longer holds its rental. It is a
    /// second return when a first was noted; otherwise the sweep reclaimed the rental of an owner
    /// unreachable but for a finalizer that now disposes it (counted and reported as abandoned).
    /// </summary>
    internal void DoubleReturn(ArenaMemory memory)
    {
        if (_returnedAt.TryGetValue(memory, out string? at))
        {
            throw new InvalidOperationException($"Double return: the arena memory {memory} was returned twice; the first return was at:\n{at}");
        }
    }

    // Checked mode: a chunk turning resident again was given back, so its pages read zeros, not the
    // poison; forget their flags (under the commit lock, before any rent in the chunk can check them).
    private void ForgetPoison(ulong address, ulong bytes)
    {
        lock (_checkLock)
        {
            ulong first = (address - BaseAddress) / Pages.PageSize;
            ulong count = (bytes + Pages.PageSize - 1) / Pages.PageSize;
            _poisoned.AsSpan((int)first, (int)count).Clear();
        }
    }

    private void ThrowIfNotRented(MovableBlock block)
    {
        lock (_movableLock)
        {
            if (!_movable.ContainsKey(block))
            {
                throw new ArgumentException($"The movable block {block} is not a live rental of this arena: it was returned, or rented elsewhere.", nameof(block));
            }
        }
    }

    private void ThrowIfLeakedAs(string what)
    {
        IReadOnlyList<LiveRental> live = GetLiveRentals();
        if (_checked && live.Count > 0)
        {
            throw new InvalidOperationException($"{live.Count} arena rental(s) {what}:\n" + string.Join("\n", live.Select(l => $"{l.Block}, rented at:\n{l.RentedAt}")));
        }
    }

    // Checked mode: the poisoned pages of a fresh block must still hold the poison.
    private unsafe void CheckPoison(Block block)
    {
        lock (_checkLock)
        {
            ulong first = (block.Address - BaseAddress) / Pages.PageSize;
            for (ulong p = 0; p < block.PageCount; p++)
            {
                if (!_poisoned[first + p])
                {
                    continue;
                }

                _poisoned[first + p] = false;
                var page = new ReadOnlySpan<byte>((void*)(block.Address + (p * Pages.PageSize)), (int)Pages.PageSize);
                int changed = page.IndexOfAnyExcept(Poison);
                if (changed >= 0)
                {
                    ulong address = block.Address + (p * Pages.PageSize) + (ulong)changed;
                    Pages.Free(block);
                    throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                        $"Write after free: the byte at 0x{address:x} was changed after its block was returned (it holds 0x{page[changed]:x2}, not the poison 0x{Poison:x2})."));
                }
            }
        }
    }
}
