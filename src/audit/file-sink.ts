import { mkdir, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { PartialWriteError, errorCode, type DecisionLogSink } from './sink';

export interface FileSinkOptions {
  /** Rotate before a write would take the file past this size. Default 100 MiB. */
  maxBytes?: number;
  /** Rotated files kept as `<path>.1` (newest) … `<path>.<maxFiles>`; 0 keeps none. Default 5. */
  maxFiles?: number;
}

function isNotFound(err: unknown): boolean {
  return errorCode(err) === 'ENOENT';
}

/**
 * Appends JSON lines (O_APPEND, so concurrent appenders never overwrite each other) with size-based
 * rotation. Writes and rotations run one after another: a batch is split at a line boundary when it
 * crosses `maxBytes`, the first part written and flushed before the rename, so no line is lost or
 * torn by a rotation. Each process should write its own path (the server suffixes it per worker);
 * when another process has already rotated the shared path, this one reopens instead of renaming.
 */
export class FileSink implements DecisionLogSink {
  readonly path: string;
  private readonly maxBytes: number;
  private readonly maxFiles: number;
  private handle: FileHandle | null = null;
  private size = 0;
  private identity = { dev: 0, ino: 0 };
  /** Rotated files known to exist (probed at the first rotation), so a rotation renames only those. */
  private rotated: number | null = null;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(file: string, opts: FileSinkOptions = {}) {
    this.path = path.resolve(file);
    this.maxBytes = opts.maxBytes ?? 100 * 1024 * 1024;
    this.maxFiles = opts.maxFiles ?? 5;
    if (!Number.isInteger(this.maxBytes) || this.maxBytes < 1) {
      throw new RangeError('maxBytes must be a positive integer');
    }
    if (!Number.isInteger(this.maxFiles) || this.maxFiles < 0) {
      throw new RangeError('maxFiles must be a non-negative integer');
    }
  }

  write(lines: string[]): Promise<void> {
    const run = this.queue.then(() => this.append(lines));
    this.queue = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    const handle = this.handle;
    this.handle = null;
    await handle?.close();
  }

  private async append(lines: readonly string[]): Promise<void> {
    if (this.closed) throw new Error('decision log file sink is closed');
    let i = 0;
    try {
      while (i < lines.length) {
        const handle = await this.current();
        // Whole lines that fit; an empty file takes at least one, however long.
        let j = i;
        let bytes = 0;
        while (j < lines.length) {
          const size = Buffer.byteLength(lines[j] ?? '') + 1;
          if (this.size + bytes + size > this.maxBytes && this.size + bytes > 0) break;
          bytes += size;
          j++;
        }
        if (j === i) {
          await this.rotate();
          continue;
        }
        await writeAll(handle, Buffer.from(lines.slice(i, j).join('\n') + '\n'));
        this.size += bytes;
        i = j;
      }
    } catch (err) {
      if (i === 0) throw err;
      throw new PartialWriteError(`decision log file write failed after ${i} lines`, lines.slice(i), {
        cause: err,
      });
    }
  }

  private async current(): Promise<FileHandle> {
    if (this.handle !== null) return this.handle;
    await mkdir(path.dirname(this.path), { recursive: true });
    const handle = await open(this.path, 'a');
    try {
      const st = await handle.stat();
      this.size = st.size;
      this.identity = { dev: st.dev, ino: st.ino };
    } catch (err) {
      await handle.close();
      throw err;
    }
    this.handle = handle;
    return handle;
  }

  private async rotate(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    await handle?.close();
    const st = await stat(this.path).catch((err: unknown) => {
      if (isNotFound(err)) return null;
      throw err;
    });
    // Someone else rotated (or removed) the path since we opened it: our lines are in their file.
    if (st === null || st.dev !== this.identity.dev || st.ino !== this.identity.ino) return;
    if (this.maxFiles === 0) {
      await unlink(this.path);
      return;
    }
    const rotated = this.rotated ?? (await this.countRotated());
    for (let k = Math.min(rotated, this.maxFiles - 1); k >= 1; k--) {
      await rename(`${this.path}.${k}`, `${this.path}.${k + 1}`).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    }
    await rename(this.path, `${this.path}.1`);
    this.rotated = Math.min(rotated + 1, this.maxFiles);
  }

  private async countRotated(): Promise<number> {
    let k = 0;
    while (k < this.maxFiles) {
      const found = await stat(`${this.path}.${k + 1}`).then(
        () => true,
        (err: unknown) => {
          if (isNotFound(err)) return false;
          throw err;
        },
      );
      if (!found) break;
      k++;
    }
    return k;
  }
}

async function writeAll(handle: FileHandle, buf: Buffer): Promise<void> {
  let offset = 0;
  while (offset < buf.length) {
    const { bytesWritten } = await handle.write(buf, offset, buf.length - offset);
    offset += bytesWritten;
  }
}
