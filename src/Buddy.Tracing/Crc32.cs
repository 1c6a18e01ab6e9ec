// Crc32: the CRC-32 of gzip (RFC 1952 section 8: reflected polynomial 0xEDB88320, initial value
// and final XOR all ones), computed eight bytes at a time ("slicing by 8": eight 256-entry tables,
// table k giving the CRC of a byte followed by k zero bytes, so the eight lookups of one 64-bit
// word are independent and combine by XOR). The BCL keeps its own CRC inside zlib and
// System.IO.Hashing is a package, which the library does not take, so the gzip reader checks
// member trailers with this; bytewise it cost the replay of the bundled trace about 5%, and
// slicing by 8 still 12% of the native tool's whole replay. Where the CPU has carry-less
// multiplication (x86 PCLMULQDQ), whole 16-byte blocks of a span of 64 bytes or more are folded
// instead: four 128-bit lanes folded 64 bytes at a time, then into one lane, then to 64 bits and a
// Barrett reduction to 32 (Intel, "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ
// Instruction", 2009; the constants are those of Linux's arch/x86/crypto/crc32-pclmul_asm.S for
// the reflected polynomial); the tail is sliced as before.
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Buddy.Tracing;

/// <summary>An incremental CRC-32 (gzip's); <see cref="Value"/> is the checksum of everything appended.</summary>
internal struct Crc32
{
    private static readonly uint[] Tables = BuildTables(); // 8 × 256: [k * 256 + b]
    private uint _register;
    private bool _started;

    /// <summary>The CRC-32 of the bytes appended so far (0 for none).</summary>
    public readonly uint Value => _started ? ~_register : 0;

    /// <summary>Appends <paramref name="data"/>.</summary>
    public void Append(ReadOnlySpan<byte> data)
    {
        if (!_started)
        {
            _register = uint.MaxValue;
            _started = true;
        }

        ref uint t = ref MemoryMarshal.GetArrayDataReference(Tables);
        uint crc = _register;
        if (Pclmulqdq.IsSupported && data.Length >= 64)
        {
            int blocks = data.Length & ~15;
            crc = Fold(data[..blocks], crc);
            data = data[blocks..];
        }

        while (data.Length >= 8)
        {
            ulong word = BinaryPrimitives.ReadUInt64LittleEndian(data) ^ crc;
            crc = At(ref t, 7, (byte)word) ^ At(ref t, 6, (byte)(word >> 8)) ^ At(ref t, 5, (byte)(word >> 16)) ^ At(ref t, 4, (byte)(word >> 24))
                ^ At(ref t, 3, (byte)(word >> 32)) ^ At(ref t, 2, (byte)(word >> 40)) ^ At(ref t, 1, (byte)(word >> 48)) ^ At(ref t, 0, (byte)(word >> 56));
            data = data[8..];
        }

        foreach (byte b in data)
        {
            crc = At(ref t, 0, (byte)(crc ^ b)) ^ (crc >> 8);
        }

        _register = crc;
    }

    // The register after data (a whole number of 16-byte blocks, at least 64 bytes) from crc.
    private static uint Fold(ReadOnlySpan<byte> data, uint crc)
    {
        Vector128<ulong> k1k2 = Vector128.Create(0x1_5444_2bd4UL, 0x1_c6e4_1596UL);
        Vector128<ulong> k3k4 = Vector128.Create(0x1_7519_97d0UL, 0x0_ccaa_009eUL);
        Vector128<ulong> k5 = Vector128.Create(0x1_63cd_6124UL, 0UL);
        Vector128<ulong> poly = Vector128.Create(0x1_db71_0641UL, 0x1_f701_1641UL);
        Vector128<ulong> low32 = Vector128.Create(uint.MaxValue, 0u, uint.MaxValue, 0u).AsUInt64();

        Vector128<ulong> x1 = Load(data, 0) ^ Vector128.CreateScalar(crc).AsUInt64();
        Vector128<ulong> x2 = Load(data, 16), x3 = Load(data, 32), x4 = Load(data, 48);
        int at = 64;
        for (; at + 64 <= data.Length; at += 64)
        {
            x1 = FoldInto(x1, k1k2, Load(data, at));
            x2 = FoldInto(x2, k1k2, Load(data, at + 16));
            x3 = FoldInto(x3, k1k2, Load(data, at + 32));
            x4 = FoldInto(x4, k1k2, Load(data, at + 48));
        }

        x1 = FoldInto(FoldInto(FoldInto(x1, k3k4, x2), k3k4, x3), k3k4, x4);
        for (; at < data.Length; at += 16)
        {
            x1 = FoldInto(x1, k3k4, Load(data, at));
        }

        // 128 bits to 64, then 64 to 32 by Barrett reduction.
        x1 = Sse2.ShiftRightLogical128BitLane(x1, 8) ^ Pclmulqdq.CarrylessMultiply(x1, k3k4, 0x10);
        x1 = Sse2.ShiftRightLogical128BitLane(x1, 4) ^ Pclmulqdq.CarrylessMultiply(x1 & low32, k5, 0x00);
        Vector128<ulong> t = Pclmulqdq.CarrylessMultiply(x1 & low32, poly, 0x10);
        t = Pclmulqdq.CarrylessMultiply(t & low32, poly, 0x00);
        return (x1 ^ t).AsUInt32().GetElement(1);
    }

    // x's two halves multiplied by k's and added to next: 128 bits folded forward over 16 bytes.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ulong> FoldInto(Vector128<ulong> x, Vector128<ulong> k, Vector128<ulong> next) =>
        Pclmulqdq.CarrylessMultiply(x, k, 0x00) ^ Pclmulqdq.CarrylessMultiply(x, k, 0x11) ^ next;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ulong> Load(ReadOnlySpan<byte> data, int at) =>
        Vector128.LoadUnsafe(ref MemoryMarshal.GetReference(data), (nuint)at).AsUInt64();

    // Table k, entry b; every index is below 8 × 256, so no bounds check is needed.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint At(ref uint tables, int k, byte b) => Unsafe.Add(ref tables, (k << 8) | b);

    private static uint[] BuildTables()
    {
        var tables = new uint[8 * 256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int bit = 0; bit < 8; bit++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            tables[n] = c;
        }

        for (int k = 1; k < 8; k++)
        {
            for (int n = 0; n < 256; n++)
            {
                uint previous = tables[((k - 1) << 8) | n];
                tables[(k << 8) | n] = tables[previous & 0xFF] ^ (previous >> 8);
            }
        }

        return tables;
    }
}
