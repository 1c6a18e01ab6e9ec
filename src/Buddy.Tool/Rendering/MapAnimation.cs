// MapAnimation: a policy's map at several moments of a run as one animated PNG (`buddy map
// --frames`). Each frame is drawn as `buddy map` draws one moment (MapRenderer.Png of PageMap.From
// with the default columns), so every frame of one allocator has the same geometry: its dumps share
// the first and end pfn, hence the cells a row and the rows.
//
// Invariants: the frames are drawn in the order given (oldest first); all are one size, or the
// animation is refused; the first is the APNG's default image.
using Buddy.Simulation.Metrics;

namespace Buddy.Tool.Rendering;

/// <summary>Animated maps.</summary>
internal static class MapAnimation
{
    /// <summary>How long each frame is shown, in milliseconds.</summary>
    public const int DelayMs = 1000;

    /// <summary>The APNG of <paramref name="frames"/>' maps, each titled by <paramref name="title"/> (keep titles narrower than the map: a wider title widens the picture), with the first frame's map (for its cells a row and pages a cell).</summary>
    /// <exception cref="ArgumentException">No frame, or frames of different sizes (dumps of different allocators).</exception>
    public static (byte[] Png, PageMap First) Png(IReadOnlyList<MapFrame> frames, Func<MapFrame, string>? title = null)
    {
        ArgumentNullException.ThrowIfNull(frames);
        if (frames.Count == 0)
        {
            throw new ArgumentException("An animated map needs at least one frame.", nameof(frames));
        }

        PageMap? first = null;
        int width = 0, height = 0;
        var pixels = new List<byte[]>(frames.Count);
        foreach (MapFrame frame in frames)
        {
            PageMap map = PageMap.From(frame.Dump);
            (int w, int h, byte[] rgb) = PngWriter.Decode(MapRenderer.Png(map, title: title?.Invoke(frame)));
            if (first is null)
            {
                (first, width, height) = (map, w, h);
            }
            else if (w != width || h != height)
            {
                throw new ArgumentException($"The frame after {frame.Step:N0} steps is drawn {w}×{h}, the first {width}×{height}: frames must be of one allocator.", nameof(frames));
            }

            pixels.Add(rgb);
        }

        return (PngWriter.EncodeAnimated(width, height, pixels, DelayMs), first!);
    }
}
