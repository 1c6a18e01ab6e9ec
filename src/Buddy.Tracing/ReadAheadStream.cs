// ReadAheadStream: decodes ahead on a thread of its own, so that gzip decoding (inflate and the
// CRC-32 of every byte) runs beside the parser instead of before each of its reads: about a tenth
// of a whole replay, off the reading thread where a second core is free.
//
// Invariants:
// - The worker alone reads the inner stream, block after block in order; the reader takes the
//   blocks in the same order, so it sees exactly the bytes, and the exception, a plain read would:
//   a failure of the inner stream reaches the reader (rethrown with its own stack) once the bytes
//   before it are consumed, never earlier.
// - At most Depth blocks wait, so memory is bounded whatever the input's size.
// - Dispose stops the worker and waits for it before disposing the inner stream.
using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace Buddy.Tracing;

/// <summary>Reads <paramref name="inner"/> ahead on a worker thread, in blocks.</summary>
internal sealed class ReadAheadStream(Stream inner) : ReadOnlyStream
{
    private const int BlockSize = 256 * 1024, Depth = 4;
    private readonly BlockingCollection<Block> _blocks = new(Depth);
    private readonly CancellationTokenSource _stop = new();
    private Thread? _worker;
    private Block _current;
    private int _offset;
    private bool _ended;

    // Data[..Length] of the input, or Failure (then the input ends there), or the end (Length 0).
    private readonly record struct Block(byte[] Data, int Length, ExceptionDispatchInfo? Failure);

    public override int Read(Span<byte> buffer)
    {
        while (!buffer.IsEmpty && !_ended)
        {
            if (_offset < _current.Length)
            {
                int n = Math.Min(buffer.Length, _current.Length - _offset);
                _current.Data.AsSpan(_offset, n).CopyTo(buffer);
                _offset += n;
                return n;
            }

            if (_worker is null)
            {
                _worker = new Thread(Work) { IsBackground = true, Name = "trace read-ahead" };
                _worker.Start();
            }

            _current = _blocks.Take();
            _offset = 0;
            if (_current.Failure is { } failure)
            {
                _ended = true;
                failure.Throw();
            }

            _ended = _current.Length == 0;
        }

        return 0;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _stop.Cancel();
            _worker?.Join();
            inner.Dispose();
            _blocks.Dispose();
            _stop.Dispose();
        }

        base.Dispose(disposing);
    }

    private void Work()
    {
        byte[] data = [];
        int length = 0;
        try
        {
            while (true)
            {
                data = new byte[BlockSize];
                length = 0;
                while (length < data.Length)
                {
                    int n = inner.Read(data, length, data.Length - length);
                    if (n == 0)
                    {
                        break;
                    }

                    length += n;
                }

                _blocks.Add(new Block(data, length, null), _stop.Token);
                if (length == 0)
                {
                    return;
                }

                length = 0;
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // Disposed while the reader stopped reading.
        }
#pragma warning disable CA1031 // Every failure of the input is the reader's, in order: handed over, rethrown there.
        catch (Exception e)
#pragma warning restore CA1031
        {
            try
            {
                if (length > 0)
                {
                    _blocks.Add(new Block(data, length, null), _stop.Token); // what was read before the failure comes first
                }

                _blocks.Add(new Block([], 0, ExceptionDispatchInfo.Capture(e)), _stop.Token);
            }
            catch (OperationCanceledException)
            {
                // Disposed: nobody is left to tell.
            }
        }
    }
}
