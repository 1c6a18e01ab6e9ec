// PngWriter: a minimal PNG encoder and decoder (8-bit RGB, no interlacing) — enough to write maps
// without a native imaging library and to read back what this tool and a browser write — and an
// animated PNG (APNG) encoder with a checking decoder, for `buddy map --frames`.
//
// APNG invariants (what EncodeAnimated writes, what DecodeAnimated checks): acTL comes before the
// first IDAT and counts the fcTL chunks; frame 0's fcTL precedes the IDAT, so the default image is
// frame 1 for viewers without APNG; every frame covers the whole canvas at (0, 0); fcTL and fdAT
// share one sequence numbered from 0 without gaps; every chunk's CRC is right.
using System.Buffers.Binary;
using System.IO.Compression;

namespace Buddy.Tool.Rendering;

/// <summary>Writes and reads 8-bit RGB PNG images.</summary>
internal static class PngWriter
{
    private static readonly byte[] s_signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];
    private static readonly uint[] s_crcTable = BuildCrcTable();

    // The signature and the IHDR chunk of an 8-bit truecolor image.
    private static MemoryStream Begin(int width, int height)
    {
        var output = new MemoryStream();
        output.Write(s_signature);
        Span<byte> header = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header[4..], height);
        header[8] = 8;  // bit depth
        header[9] = 2;  // truecolor
        WriteChunk(output, "IHDR", header);
        return output;
    }

    /// <summary>Encodes <paramref name="rgb"/> (width × height × 3 bytes, row by row).</summary>
    public static byte[] Encode(int width, int height, ReadOnlySpan<byte> rgb)
    {
        using MemoryStream output = Begin(width, height);
        WriteChunk(output, "IDAT", Compress(width, height, rgb));
        WriteChunk(output, "IEND", []);
        return output.ToArray();
    }

    /// <summary>
    /// Encodes an animated PNG of <paramref name="rgbFrames"/> (each width × height × 3 bytes), each
    /// shown <paramref name="delayMs"/> milliseconds, looping forever; the first frame is also the
    /// default image.
    /// </summary>
    /// <exception cref="ArgumentException">No frame, or a frame of another size.</exception>
    public static byte[] EncodeAnimated(int width, int height, IReadOnlyList<byte[]> rgbFrames, int delayMs)
    {
        ArgumentNullException.ThrowIfNull(rgbFrames);
        ArgumentOutOfRangeException.ThrowIfNegative(delayMs);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(delayMs, ushort.MaxValue);
        if (rgbFrames.Count == 0)
        {
            throw new ArgumentException("An animation needs at least one frame.", nameof(rgbFrames));
        }

        if (rgbFrames.FirstOrDefault(f => f.Length != width * height * 3) is { } wrong)
        {
            throw new ArgumentException($"Frame {rgbFrames.ToList().IndexOf(wrong) + 1} holds {wrong.Length} bytes; a {width}×{height} RGB frame holds {width * height * 3}.", nameof(rgbFrames));
        }

        using MemoryStream output = Begin(width, height);
        Span<byte> control = stackalloc byte[8];
        BinaryPrimitives.WriteInt32BigEndian(control, rgbFrames.Count);
        BinaryPrimitives.WriteInt32BigEndian(control[4..], 0); // plays: 0, forever
        WriteChunk(output, "acTL", control);
        int sequence = 0;
        Span<byte> frame = stackalloc byte[26];
        for (int f = 0; f < rgbFrames.Count; f++)
        {
            BinaryPrimitives.WriteInt32BigEndian(frame, sequence++);
            BinaryPrimitives.WriteInt32BigEndian(frame[4..], width);
            BinaryPrimitives.WriteInt32BigEndian(frame[8..], height);
            BinaryPrimitives.WriteInt32BigEndian(frame[12..], 0); // x offset
            BinaryPrimitives.WriteInt32BigEndian(frame[16..], 0); // y offset
            BinaryPrimitives.WriteUInt16BigEndian(frame[20..], (ushort)delayMs);
            BinaryPrimitives.WriteUInt16BigEndian(frame[22..], 1000); // delay in 1/1000 s
            frame[24] = 0; // dispose: none (the next frame covers the canvas)
            frame[25] = 0; // blend: source (replace)
            WriteChunk(output, "fcTL", frame);
            byte[] data = Compress(width, height, rgbFrames[f]);
            if (f == 0)
            {
                WriteChunk(output, "IDAT", data);
            }
            else
            {
                byte[] fdat = new byte[4 + data.Length];
                BinaryPrimitives.WriteInt32BigEndian(fdat, sequence++);
                data.CopyTo(fdat, 4);
                WriteChunk(output, "fdAT", fdat);
            }
        }

        WriteChunk(output, "IEND", []);
        return output.ToArray();
    }

    /// <summary>
    /// Decodes an animated PNG as <see cref="EncodeAnimated"/> writes it, checking every chunk's CRC,
    /// the sequence numbers, that acTL counts the frames and that every frame covers the canvas; returns
    /// the canvas size, each frame's RGB bytes, and each frame's delay in milliseconds.
    /// </summary>
    /// <exception cref="InvalidDataException">Not such an APNG (the problem named).</exception>
    public static (int Width, int Height, IReadOnlyList<byte[]> Frames, IReadOnlyList<int> DelaysMs) DecodeAnimated(ReadOnlySpan<byte> png)
    {
        if (png.Length < 8 || !png[..8].SequenceEqual(s_signature))
        {
            throw new InvalidDataException("not a PNG file (signature).");
        }

        byte[]? ihdr = null;
        int declared = -1, sequence = 0;
        bool ended = false;
        var delays = new List<int>();
        var frameData = new List<MemoryStream>();
        try
        {
            for (int at = 8; !ended;)
            {
                if (at + 12 > png.Length)
                {
                    throw new InvalidDataException($"truncated at byte {at}: no IEND.");
                }

                int length = BinaryPrimitives.ReadInt32BigEndian(png[at..]);
                if (length < 0 || at + 12 + length > png.Length)
                {
                    throw new InvalidDataException($"the chunk at byte {at} runs past the end.");
                }

                string type = System.Text.Encoding.ASCII.GetString(png.Slice(at + 4, 4));
                ReadOnlySpan<byte> data = png.Slice(at + 8, length);
                uint crc = Crc(data, Crc(png.Slice(at + 4, 4), 0xFFFFFFFF)) ^ 0xFFFFFFFF;
                if (crc != BinaryPrimitives.ReadUInt32BigEndian(png[(at + 8 + length)..]))
                {
                    throw new InvalidDataException($"the {type} chunk at byte {at} has a wrong CRC.");
                }

                int width = ihdr is null ? 0 : BinaryPrimitives.ReadInt32BigEndian(ihdr), height = ihdr is null ? 0 : BinaryPrimitives.ReadInt32BigEndian(ihdr.AsSpan(4));
                switch (type)
                {
                    case "IHDR":
                        ihdr = data.ToArray();
                        break;
                    case "acTL":
                        declared = BinaryPrimitives.ReadInt32BigEndian(data);
                        break;
                    case "fcTL":
                        CheckSequence(data, ref sequence, type);
                        if (BinaryPrimitives.ReadInt32BigEndian(data[4..]) != width || BinaryPrimitives.ReadInt32BigEndian(data[8..]) != height
                            || BinaryPrimitives.ReadInt32BigEndian(data[12..]) != 0 || BinaryPrimitives.ReadInt32BigEndian(data[16..]) != 0)
                        {
                            throw new InvalidDataException($"frame {frameData.Count + 1} does not cover the {width}×{height} canvas.");
                        }

                        int den = BinaryPrimitives.ReadUInt16BigEndian(data[22..]);
                        delays.Add(BinaryPrimitives.ReadUInt16BigEndian(data[20..]) * 1000 / (den == 0 ? 100 : den));
                        frameData.Add(new MemoryStream());
                        break;
                    case "IDAT":
                        if (declared < 0 || frameData.Count != 1)
                        {
                            throw new InvalidDataException("the default image is not frame 1 (acTL and fcTL must come before IDAT).");
                        }

                        frameData[0].Write(data);
                        break;
                    case "fdAT":
                        CheckSequence(data, ref sequence, type);
                        if (frameData.Count < 2)
                        {
                            throw new InvalidDataException("fdAT before a second fcTL.");
                        }

                        frameData[^1].Write(data[4..]);
                        break;
                    case "IEND":
                        ended = true;
                        break;
                    default:
                        break;
                }

                at += 12 + length;
            }

            if (ihdr is null || declared != frameData.Count)
            {
                throw new InvalidDataException($"acTL declares {declared} frames; {frameData.Count} fcTL chunks follow.");
            }

            // Each frame is decoded as a PNG of its own: the file's IHDR and the frame's data as IDAT.
            var frames = new List<byte[]>();
            foreach (MemoryStream data in frameData)
            {
                using var single = new MemoryStream();
                single.Write(s_signature);
                WriteChunk(single, "IHDR", ihdr);
                WriteChunk(single, "IDAT", data.ToArray());
                WriteChunk(single, "IEND", []);
                frames.Add(Decode(single.ToArray()).Rgb);
            }

            return (BinaryPrimitives.ReadInt32BigEndian(ihdr), BinaryPrimitives.ReadInt32BigEndian(ihdr.AsSpan(4)), frames, delays);
        }
        finally
        {
            frameData.ForEach(d => d.Dispose());
        }
    }

    private static void CheckSequence(ReadOnlySpan<byte> data, ref int sequence, string type)
    {
        int got = BinaryPrimitives.ReadInt32BigEndian(data);
        if (got != sequence)
        {
            throw new InvalidDataException($"{type} has sequence number {got}; expected {sequence}.");
        }

        sequence++;
    }

    // The zlib stream of an image's rows, each with filter type 0 (none).
    private static byte[] Compress(int width, int height, ReadOnlySpan<byte> rgb)
    {
        using var raw = new MemoryStream();
        using (var z = new ZLibStream(raw, CompressionLevel.Optimal, leaveOpen: true))
        {
            for (int y = 0; y < height; y++)
            {
                z.WriteByte(0); // filter: none
                z.Write(rgb.Slice(y * width * 3, width * 3));
            }
        }

        return raw.ToArray();
    }

    /// <summary>Decodes an 8-bit RGB or RGBA PNG into RGB bytes.</summary>
    /// <exception cref="InvalidDataException">Not a PNG this decoder reads.</exception>
    public static (int Width, int Height, byte[] Rgb) Decode(ReadOnlySpan<byte> png)
    {
        if (png.Length < 8 || !png[..8].SequenceEqual(s_signature))
        {
            throw new InvalidDataException("not a PNG file (signature).");
        }

        int width = 0, height = 0, channels = 0;
        using var idat = new MemoryStream();
        for (int at = 8; at + 12 <= png.Length;)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(png[at..]);
            string type = System.Text.Encoding.ASCII.GetString(png.Slice(at + 4, 4));
            ReadOnlySpan<byte> data = png.Slice(at + 8, length);
            if (type == "IHDR")
            {
                width = BinaryPrimitives.ReadInt32BigEndian(data);
                height = BinaryPrimitives.ReadInt32BigEndian(data[4..]);
                channels = data[9] switch { 2 => 3, 6 => 4, _ => throw new InvalidDataException($"color type {data[9]} is not supported.") };
                if (data[8] != 8 || data[12] != 0)
                {
                    throw new InvalidDataException("only 8-bit, non-interlaced PNGs are supported.");
                }
            }
            else if (type == "IDAT")
            {
                idat.Write(data);
            }

            at += 12 + length;
        }

        idat.Position = 0;
        using var z = new ZLibStream(idat, CompressionMode.Decompress);
        int stride = width * channels;
        var previous = new byte[stride];
        var current = new byte[stride];
        var rgb = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
        {
            int filter = z.ReadByte();
            z.ReadExactly(current);
            for (int i = 0; i < stride; i++)
            {
                int left = i >= channels ? current[i - channels] : 0, up = previous[i], upLeft = i >= channels ? previous[i - channels] : 0;
                current[i] = (byte)(current[i] + filter switch
                {
                    0 => 0,
                    1 => left,
                    2 => up,
                    3 => (left + up) / 2,
                    4 => Paeth(left, up, upLeft),
                    _ => throw new InvalidDataException($"filter {filter} is not a PNG filter."),
                });
            }

            for (int x = 0; x < width; x++)
            {
                current.AsSpan(x * channels, 3).CopyTo(rgb.AsSpan(((y * width) + x) * 3));
            }

            (previous, current) = (current, previous);
        }

        return (width, height, rgb);
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    private static void WriteChunk(Stream output, string type, ReadOnlySpan<byte> data)
    {
        Span<byte> head = stackalloc byte[8];
        BinaryPrimitives.WriteInt32BigEndian(head, data.Length);
        System.Text.Encoding.ASCII.GetBytes(type, head[4..]);
        output.Write(head);
        output.Write(data);
        uint crc = Crc(head[4..], 0xFFFFFFFF);
        crc = Crc(data, crc) ^ 0xFFFFFFFF;
        Span<byte> tail = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(tail, crc);
        output.Write(tail);
    }

    private static uint Crc(ReadOnlySpan<byte> data, uint crc)
    {
        foreach (byte b in data)
        {
            crc = s_crcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return crc;
    }

    private static uint[] BuildCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            }

            table[n] = c;
        }

        return table;
    }
}
