// Raster: a white RGB picture to paint rectangles and bitmap-font text on, then encode as PNG.
// Invariants: Pixels holds Width × Height pixels of three bytes, row by row; every drawing call
// clips to the picture, so callers may draw partly outside it.
namespace Buddy.Tool.Rendering;

/// <summary>A picture of packed RGB pixels, white until painted.</summary>
internal sealed class Raster
{
    /// <summary>A white picture of <paramref name="width"/> × <paramref name="height"/> pixels.</summary>
    public Raster(int width, int height)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        Width = width;
        Height = height;
        Pixels = new byte[checked(width * height * 3)];
        Pixels.AsSpan().Fill(0xFF);
    }

    /// <summary>Pixels a row.</summary>
    public int Width { get; }

    /// <summary>Rows.</summary>
    public int Height { get; }

    /// <summary>The pixels, row by row, R, G, B.</summary>
    public byte[] Pixels { get; }

    /// <summary>Paints the rectangle at (<paramref name="x0"/>, <paramref name="y0"/>) of <paramref name="w"/> × <paramref name="h"/>.</summary>
    public void Fill(int x0, int y0, int w, int h, Rgb color)
    {
        for (int y = Math.Max(0, y0); y < Math.Min(y0 + h, Height); y++)
        {
            for (int x = Math.Max(0, x0); x < Math.Min(x0 + w, Width); x++)
            {
                int i = ((y * Width) + x) * 3;
                Pixels[i] = color.R;
                Pixels[i + 1] = color.G;
                Pixels[i + 2] = color.B;
            }
        }
    }

    /// <summary>Writes <paramref name="text"/> with its top-left corner at (<paramref name="x"/>, <paramref name="y"/>).</summary>
    public void Text(int x, int y, string text, Rgb color, int scale = 2) => BitmapFont.DrawText(Pixels, Width, x, y, text, color, scale);

    /// <summary>The picture as PNG.</summary>
    public byte[] ToPng() => PngWriter.Encode(Width, Height, Pixels);
}
