// BitmapFont: a hand-drawn 5×9 pixel font for printable ASCII (32..126) and the code that draws it
// into a packed RGB buffer, so PNG maps carry words without any font file or native library.
// Invariants: every glyph is 5 columns wide and 9 rows tall (rows 0..6 above the baseline, 7..8
// for descenders); a character advances 6 columns (one blank column between glyphs); characters
// outside 32..126 draw as '?'; everything is scaled by whole pixels (no smoothing), so the same
// text at the same place always sets the same pixels; drawing clips to the buffer.
namespace Buddy.Tool.Rendering;

/// <summary>A 24-bit colour.</summary>
internal readonly record struct Rgb(byte R, byte G, byte B)
{
    /// <summary>Black.</summary>
    public static Rgb Black => new(0, 0, 0);

    /// <summary>A CSS hex colour, "#rrggbb".</summary>
    public static Rgb Parse(string hex)
    {
        ArgumentNullException.ThrowIfNull(hex);
        return new(Convert.ToByte(hex[1..3], 16), Convert.ToByte(hex[3..5], 16), Convert.ToByte(hex[5..7], 16));
    }
}

/// <summary>Draws text with a built-in 5×9 bitmap font.</summary>
internal static class BitmapFont
{
    /// <summary>Columns of a glyph.</summary>
    public const int GlyphWidth = 5;

    /// <summary>Rows of a glyph (7 above the baseline, 2 below).</summary>
    public const int GlyphHeight = 9;

    /// <summary>Columns a character advances (its glyph and one blank column).</summary>
    public const int Advance = GlyphWidth + 1;

    // One entry per character from ' ' (32) to '~' (126): its rows from the top, '#' inked, '.'
    // blank, separated by spaces; rows left out at the end are blank (the descender rows).
    private static readonly string[] s_glyphs =
    [
        "..... ..... ..... ..... ..... ..... .....", // ' '
        "..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..", // !
        ".#.#. .#.#. .#.#. ..... ..... ..... .....", // "
        ".#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.", // #
        "..#.. .#### #.#.. .###. ..#.# ####. ..#..", // $
        "##... ##..# ...#. ..#.. .#... #..## ...##", // %
        ".##.. #..#. #.#.. .#... #.#.# #..#. .##.#", // &
        "..#.. ..#.. .#... ..... ..... ..... .....", // '
        "...#. ..#.. .#... .#... .#... .#... .#... ..#.. ...#.", // (
        ".#... ..#.. ...#. ...#. ...#. ...#. ...#. ..#.. .#...", // )
        "..... ..#.. #.#.# .###. #.#.# ..#.. .....", // *
        "..... ..#.. ..#.. ##### ..#.. ..#.. .....", // +
        "..... ..... ..... ..... ..... .##.. ..#.. .#...", // ,
        "..... ..... ..... ##### ..... ..... .....", // -
        "..... ..... ..... ..... ..... .##.. .##..", // .
        "..... ....# ...#. ..#.. .#... #.... .....", // /
        ".##.. #..#. #..#. #..#. #..#. #..#. .##..", // 0
        "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.", // 1
        ".###. #...# ....# ...#. ..#.. .#... #####", // 2
        "##### ...#. ..#.. ...#. ....# #...# .###.", // 3
        "...#. ..##. .#.#. #..#. ##### ...#. ...#.", // 4
        "##### #.... ####. ....# ....# #...# .###.", // 5
        "..##. .#... #.... ####. #...# #...# .###.", // 6
        "##### ....# ...#. ..#.. .#... .#... .#...", // 7
        ".###. #...# #...# .###. #...# #...# .###.", // 8
        ".###. #...# #...# .#### ....# ...#. .##..", // 9
        "..... .##.. .##.. ..... .##.. .##.. .....", // :
        "..... .##.. .##.. ..... .##.. .##.. ..#.. .#...", // ;
        "...#. ..#.. .#... #.... .#... ..#.. ...#.", // <
        "..... ..... ##### ..... ##### ..... .....", // =
        ".#... ..#.. ...#. ....# ...#. ..#.. .#...", // >
        ".###. #...# ....# ...#. ..#.. ..... ..#..", // ?
        ".###. #...# #.### #.#.# #.### #.... .###.", // @
        ".###. #...# #...# ##### #...# #...# #...#", // A
        "####. #...# #...# ####. #...# #...# ####.", // B
        ".###. #...# #.... #.... #.... #...# .###.", // C
        "###.. #..#. #...# #...# #...# #..#. ###..", // D
        "##### #.... #.... ####. #.... #.... #####", // E
        "##### #.... #.... ####. #.... #.... #....", // F
        ".###. #...# #.... #.### #...# #...# .####", // G
        "#...# #...# #...# ##### #...# #...# #...#", // H
        ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.", // I
        "..### ...#. ...#. ...#. ...#. #..#. .##..", // J
        "#...# #..#. #.#.. ##... #.#.. #..#. #...#", // K
        "#.... #.... #.... #.... #.... #.... #####", // L
        "#...# ##.## #.#.# #.#.# #...# #...# #...#", // M
        "#...# #...# ##..# #.#.# #..## #...# #...#", // N
        ".###. #...# #...# #...# #...# #...# .###.", // O
        "####. #...# #...# ####. #.... #.... #....", // P
        ".###. #...# #...# #...# #.#.# #..#. .##.#", // Q
        "####. #...# #...# ####. #.#.. #..#. #...#", // R
        ".###. #...# #.... .###. ....# #...# .###.", // S
        "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..", // T
        "#...# #...# #...# #...# #...# #...# .###.", // U
        "#...# #...# #...# #...# #...# .#.#. ..#..", // V
        "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.", // W
        "#...# #...# .#.#. ..#.. .#.#. #...# #...#", // X
        "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..", // Y
        "##### ....# ...#. ..#.. .#... #.... #####", // Z
        ".###. .#... .#... .#... .#... .#... .###.", // [
        "..... #.... .#... ..#.. ...#. ....# .....", // \
        ".###. ...#. ...#. ...#. ...#. ...#. .###.", // ]
        "..#.. .#.#. #...# ..... ..... ..... .....", // ^
        "..... ..... ..... ..... ..... ..... ..... #####", // _
        ".#... ..#.. ...#. ..... ..... ..... .....", // `
        "..... ..... .###. ....# .#### #...# .####", // a
        "#.... #.... ####. #...# #...# #...# ####.", // b
        "..... ..... .###. #.... #.... #...# .###.", // c
        "....# ....# .#### #...# #...# #...# .####", // d
        "..... ..... .###. #...# ##### #.... .###.", // e
        "..##. .#..# .#... ###.. .#... .#... .#...", // f
        "..... ..... .#### #...# #...# #...# .#### ....# .###.", // g
        "#.... #.... #.##. ##..# #...# #...# #...#", // h
        "..#.. ..... .##.. ..#.. ..#.. ..#.. #####", // i
        "...#. ..... ..##. ...#. ...#. ...#. ...#. #..#. .##..", // j
        "#.... #.... #..#. #.#.. ##... #.#.. #..#.", // k
        ".##.. ..#.. ..#.. ..#.. ..#.. ..#.. #####", // l
        "..... ..... ####. #.#.# #.#.# #.#.# #.#.#", // m
        "..... ..... ####. #...# #...# #...# #...#", // n
        "..... ..... .###. #...# #...# #...# .###.", // o
        "..... ..... ####. #...# #...# #...# ####. #.... #....", // p
        "..... ..... .#### #...# #...# #...# .#### ....# ....#", // q
        "..... ..... #.##. ##..# #.... #.... #....", // r
        "..... ..... .#### #.... .###. ....# ####.", // s
        ".#... .#... ###.. .#... .#... .#..# ..##.", // t
        "..... ..... #...# #...# #...# #...# .####", // u
        "..... ..... #...# #...# #...# .#.#. ..#..", // v
        "..... ..... #...# #...# #.#.# #.#.# .#.#.", // w
        "..... ..... #...# .#.#. ..#.. .#.#. #...#", // x
        "..... ..... #...# #...# #...# #...# .#### ....# .###.", // y
        "..... ..... ##### ...#. ..#.. .#... #####", // z
        "...#. ..#.. ..#.. .#... ..#.. ..#.. ...#.", // {
        "..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..", // |
        ".#... ..#.. ..#.. ...#. ..#.. ..#.. .#...", // }
        "..... ..... .#... #.#.# ...#. ..... .....", // ~
    ];

    // Per character, per row, the inked columns as bits (bit 4 is the leftmost column).
    private static readonly byte[][] s_rows = [.. s_glyphs.Select(Rows)];

    /// <summary>The inked columns of <paramref name="c"/>'s rows, top to bottom (bit 4 leftmost).</summary>
    public static ReadOnlySpan<byte> Glyph(char c) => s_rows[c is >= ' ' and <= '~' ? c - ' ' : '?' - ' '];

    /// <summary>The size in pixels <paramref name="text"/> takes at <paramref name="scale"/>: its inked extent, no trailing gap.</summary>
    public static (int Width, int Height) MeasureText(string text, int scale = 2)
    {
        ArgumentNullException.ThrowIfNull(text);
        return (text.Length == 0 ? 0 : ((text.Length * Advance) - 1) * scale, GlyphHeight * scale);
    }

    /// <summary>
    /// Draws <paramref name="text"/> with its top-left corner at (<paramref name="x"/>, <paramref name="y"/>)
    /// into <paramref name="rgb"/>, rows of <paramref name="width"/> pixels of three bytes; pixels
    /// outside the buffer are skipped.
    /// </summary>
    public static void DrawText(Span<byte> rgb, int width, int x, int y, string text, Rgb color, int scale = 2)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(scale, 1);
        int height = rgb.Length / (width * 3);
        for (int k = 0; k < text.Length; k++)
        {
            ReadOnlySpan<byte> rows = Glyph(text[k]);
            int gx = x + (k * Advance * scale);
            for (int row = 0; row < GlyphHeight; row++)
            {
                for (int col = 0; col < GlyphWidth; col++)
                {
                    if ((rows[row] & (1 << (GlyphWidth - 1 - col))) == 0)
                    {
                        continue;
                    }

                    for (int py = y + (row * scale); py < y + ((row + 1) * scale); py++)
                    {
                        for (int px = gx + (col * scale); px < gx + ((col + 1) * scale); px++)
                        {
                            if (px >= 0 && px < width && py >= 0 && py < height)
                            {
                                int i = ((py * width) + px) * 3;
                                rgb[i] = color.R;
                                rgb[i + 1] = color.G;
                                rgb[i + 2] = color.B;
                            }
                        }
                    }
                }
            }
        }
    }

    private static byte[] Rows(string glyph)
    {
        string[] rows = glyph.Split(' ');
        var bits = new byte[GlyphHeight];
        for (int r = 0; r < rows.Length; r++)
        {
            for (int c = 0; c < GlyphWidth; c++)
            {
                if (rows[r][c] == '#')
                {
                    bits[r] |= (byte)(1 << (GlyphWidth - 1 - c));
                }
            }
        }

        return bits;
    }
}
