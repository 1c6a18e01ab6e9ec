// Machines: the simulated machines the replay and the scenarios run on.
namespace Buddy.Simulation;

/// <summary>Machine layouts for simulations.</summary>
public static class Machines
{
    /// <summary>
    /// An x86-64 machine of <paramref name="size"/> bytes (rounded up to whole max-order blocks):
    /// DMA, DMA32 and Normal zones, kernel watermarks, page 0 reserved as the BIOS keeps it.
    /// </summary>
    public static MachineLayout X86(ulong size, ulong pageSize = 4 * Units.KiB, int maxOrder = MachineLayout.DefaultMaxOrder)
    {
        ulong block = pageSize << maxOrder;
        ulong rounded = (size + block - 1) / block * block;
        return new MachineLayout { Size = rounded, PageSize = pageSize, MaxOrder = maxOrder }.Reserve(0, pageSize);
    }

    /// <summary>The 1995 PC: 32 MiB of 4 KiB pages, the ISA hole 640 KiB..1 MiB and a 1 MiB kernel image reserved.</summary>
    public static MachineLayout Isa1995() =>
        new MachineLayout { Size = 32 * Units.MiB }.Reserve(640 * Units.KiB, 1 * Units.MiB).Reserve(1 * Units.MiB, 2 * Units.MiB);
}
