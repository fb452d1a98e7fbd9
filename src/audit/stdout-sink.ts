import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { DecisionLogSink } from './sink';

/**
 * Linux PIPE_BUF: a write to a pipe of at most this many bytes is atomic, so when cluster workers
 * share one stdout pipe, lines of up to this size never interleave with another process's output.
 */
export const PIPE_ATOMIC_BYTES = 4096;

export interface StreamSinkOptions {
  /** Default process.stdout. */
  stream?: Writable;
  /** End the stream on close (never for process.stdout). Default false. */
  end?: boolean;
  /** Whole lines are grouped into writes of at most this many bytes (a longer line goes alone). */
  chunkBytes?: number;
}

/** Groups whole lines, newline-terminated, into chunks of at most `limit` bytes. */
export function chunkLines(lines: readonly string[], limit: number): string[] {
  const chunks: string[] = [];
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < lines.length; i++) {
    const size = Buffer.byteLength(lines[i] ?? '') + 1;
    if (i > start && bytes + size > limit) {
      chunks.push(lines.slice(start, i).join('\n') + '\n');
      start = i;
      bytes = 0;
    }
    bytes += size;
  }
  if (start < lines.length) chunks.push(lines.slice(start).join('\n') + '\n');
  return chunks;
}

/** JSON lines to a writable stream (stdout by default), waiting for 'drain' when it pushes back. */
export class StreamSink implements DecisionLogSink {
  private readonly stream: Writable;
  private readonly end: boolean;
  private readonly chunkBytes: number;
  private failure: Error | null = null;

  constructor(opts: StreamSinkOptions = {}) {
    this.stream = opts.stream ?? process.stdout;
    this.end = opts.end ?? false;
    this.chunkBytes = opts.chunkBytes ?? PIPE_ATOMIC_BYTES;
    if (!Number.isInteger(this.chunkBytes) || this.chunkBytes < 1) {
      throw new RangeError('chunkBytes must be a positive integer');
    }
    // A stream 'error' with no listener crashes the process; here it fails the batch instead.
    this.stream.on('error', (err: Error) => {
      this.failure = err;
    });
  }

  async write(lines: string[]): Promise<void> {
    if (lines.length === 0) return;
    const stream = this.stream;
    this.throwIfFailed();
    if (stream.destroyed || stream.writableEnded) throw new Error('decision log stream is closed');
    const chunks = chunkLines(lines, this.chunkBytes);
    let last: Promise<void> = Promise.resolve();
    for (const chunk of chunks) {
      // The callback of the last chunk reports any error of the batch (a failed stream errors every later write).
      const { done, callback } = completion();
      const ok = stream.write(chunk, callback);
      // Keeps an early rejection from surfacing as unhandled while later chunks are written.
      done.catch(() => undefined);
      last = done;
      if (!ok) await drained(stream);
      this.throwIfFailed();
    }
    await last;
  }

  private throwIfFailed(): void {
    if (this.failure !== null) throw this.failure;
  }

  async close(): Promise<void> {
    const stream = this.stream;
    if (!this.end || stream.destroyed || stream.writableFinished) return;
    const finished = once(stream, 'finish');
    stream.end();
    await finished;
  }
}

function completion(): { done: Promise<void>; callback: (err?: Error | null) => void } {
  let callback: (err?: Error | null) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    callback = (err) => {
      if (err) reject(err);
      else resolve();
    };
  });
  return { done, callback };
}

/** Resolves on 'drain', and also when the stream errors or closes (the write callback carries the error). */
function drained(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('error', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('error', done);
    stream.on('close', done);
  });
}
