import { Writable } from 'node:stream';
import { StreamSink, chunkLines } from '../../../src/audit/stdout-sink';

/** A slow consumer with a tiny buffer: every few writes it pushes back. */
class SlowStream extends Writable {
  chunks: string[] = [];
  drains = 0;
  constructor() {
    super({ highWaterMark: 256 });
    this.on('drain', () => this.drains++);
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    setTimeout(() => {
      this.chunks.push(chunk.toString());
      cb();
    }, 1);
  }
}

describe('chunkLines', () => {
  it('groups whole lines under the limit and lets a longer line go alone', () => {
    const long = 'x'.repeat(30);
    expect(chunkLines(['aaa', 'bbb', 'ccc', long, 'd'], 8)).toEqual([
      'aaa\nbbb\n',
      'ccc\n',
      `${long}\n`,
      'd\n',
    ]);
    expect(chunkLines([], 8)).toEqual([]);
    expect(chunkLines(['é'.repeat(3)], 7)).toEqual(['ééé\n']);
  });
});

describe('StreamSink', () => {
  it('writes one line per record and waits for drain when the stream pushes back', async () => {
    const stream = new SlowStream();
    const sink = new StreamSink({ stream, end: true, chunkBytes: 100 });
    const lines = Array.from({ length: 200 }, (_, i) => JSON.stringify({ decision_id: `d-${i}` }));
    let buffered = 0;
    const write = stream.write.bind(stream);
    stream.write = ((...args: Parameters<typeof write>) => {
      const ok = write(...args);
      buffered = Math.max(buffered, stream.writableLength);
      return ok;
    }) as typeof stream.write;
    await sink.write(lines);
    expect(stream.drains).toBeGreaterThan(0);
    // Backpressure honoured: never more than one chunk past the high-water mark.
    expect(buffered).toBeLessThanOrEqual(256 + 100);
    expect(stream.chunks.every((c) => Buffer.byteLength(c) <= 100 && c.endsWith('\n'))).toBe(true);
    expect(stream.chunks.join('').split('\n').slice(0, -1)).toEqual(lines);
    await sink.close();
    expect(stream.writableFinished).toBe(true);
  });

  it('fails the batch, instead of crashing the process, when the stream errors', async () => {
    const stream = new Writable({
      write(_chunk, _enc, cb) {
        cb(new Error('EPIPE'));
      },
    });
    const sink = new StreamSink({ stream });
    await expect(sink.write(['{"a":1}'])).rejects.toThrow('EPIPE');
    await expect(sink.write(['{"a":2}'])).rejects.toThrow('EPIPE');
  });

  it('does not end a stream it was not asked to end', async () => {
    const stream = new SlowStream();
    const sink = new StreamSink({ stream });
    await sink.write(['{}']);
    await sink.close();
    expect(stream.writableEnded).toBe(false);
  });
});
