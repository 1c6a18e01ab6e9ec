// Mimalloc: Microsoft's mimalloc, the native baseline beside NativeMemory.AlignedAlloc, called
// through P/Invoke from Debian's shared library (libmimalloc2.0, which bench/setup.sh installs).
// No mimalloc source is in this repository. Without the library, its benchmarks fail with a
// message that says how to install it, and the others still run.
using System.Runtime.InteropServices;
using Buddy.Bench;

namespace Buddy.Benchmarks;

/// <summary>mi_malloc_aligned and mi_free from the system's libmimalloc.</summary>
internal static unsafe partial class Mimalloc
{
    private const string Library = "libmimalloc.so.2";

    /// <summary>Whether the library can be loaded.</summary>
    public static bool IsAvailable { get; } = NativeLibrary.TryLoad(Library, out _);

    /// <summary>Throws a message that says how to install mimalloc, when it is missing.</summary>
    public static void EnsureAvailable()
    {
        if (!IsAvailable)
        {
            throw new InvalidOperationException($"{Library} is not installed: run bench/setup.sh (Debian's libmimalloc2.0) to measure mimalloc.");
        }
    }

    /// <summary>Allocates <paramref name="size"/> bytes aligned to <paramref name="alignment"/>.</summary>
    [LibraryImport(Library, EntryPoint = "mi_malloc_aligned")]
    public static partial void* MallocAligned(nuint size, nuint alignment);

    /// <summary>Frees a block from <see cref="MallocAligned"/>.</summary>
    [LibraryImport(Library, EntryPoint = "mi_free")]
    public static partial void Free(void* block);

    /// <summary><paramref name="count"/> 4 KiB allocate+free pairs aligned to 4 KiB.</summary>
    public static void Pairs(int count)
    {
        for (int i = 0; i < count; i++)
        {
            Free(MallocAligned(4096, 4096));
        }
    }

    /// <summary>The random mixed workload (Workloads.MixedNative's steps) with natural alignment through mimalloc.</summary>
    public static void Mixed(nint[] slots, ref ulong x, int steps)
    {
        for (int i = 0; i < steps; i++)
        {
            ref nint slot = ref slots[(int)(Workloads.Next(ref x) & (Workloads.Slots - 1))];
            if (slot != 0)
            {
                Free((void*)slot);
                slot = 0;
            }
            else
            {
                nuint size = (nuint)4096 << Workloads.OrderOf(Workloads.Next(ref x));
                slot = (nint)MallocAligned(size, size);
            }
        }
    }

    /// <summary>Frees what the mixed workload holds.</summary>
    public static void FreeAll(nint[] slots)
    {
        for (int i = 0; i < slots.Length; i++)
        {
            if (slots[i] != 0)
            {
                Free((void*)slots[i]);
                slots[i] = 0;
            }
        }
    }
}
