import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FileSink } from '../../../src/audit/file-sink';
import { PartialWriteError } from '../../../src/audit/sink';

const line = (i: number): string => JSON.stringify({ decision_id: `d-${String(i).padStart(4, '0')}` });

async function lines(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8');
  return text === '' ? [] : text.slice(0, -1).split('\n');
}

describe('FileSink', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'pdp-file-sink-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('appends JSON lines, creating the directory', async () => {
    const file = path.join(dir, 'nested/decisions.jsonl');
    const sink = new FileSink(file);
    await sink.write([line(1), line(2)]);
    await sink.write([line(3)]);
    await sink.close();
    expect(await lines(file)).toEqual([line(1), line(2), line(3)]);
  });

  it('rotates at maxBytes on a line boundary, oldest in the highest suffix', async () => {
    const file = path.join(dir, 'd.jsonl');
    const size = Buffer.byteLength(line(0)) + 1; // 21 bytes
    const sink = new FileSink(file, { maxBytes: size * 4 + 5, maxFiles: 10 });
    const all = Array.from({ length: 30 }, (_, i) => line(i));
    await sink.write(all.slice(0, 7)); // crosses the limit inside the batch
    await sink.write(all.slice(7, 30));
    await sink.close();
    const names = (await readdir(dir)).sort();
    expect(names).toEqual(['d.jsonl', ...Array.from({ length: 7 }, (_, i) => `d.jsonl.${i + 1}`)].sort());
    const ordered: string[] = [];
    for (let k = 7; k >= 1; k--) ordered.push(...(await lines(`${file}.${k}`)));
    ordered.push(...(await lines(file)));
    expect(ordered).toEqual(all);
    for (const name of names)
      expect((await stat(path.join(dir, name))).size).toBeLessThanOrEqual(size * 4 + 5);
  });

  it('keeps only maxFiles rotated files', async () => {
    const file = path.join(dir, 'd.jsonl');
    const sink = new FileSink(file, { maxBytes: 50, maxFiles: 2 });
    for (let i = 0; i < 20; i++) await sink.write([line(i)]);
    await sink.close();
    expect((await readdir(dir)).sort()).toEqual(['d.jsonl', 'd.jsonl.1', 'd.jsonl.2']);
    expect([...(await lines(`${file}.2`)), ...(await lines(`${file}.1`)), ...(await lines(file))]).toEqual(
      Array.from({ length: 6 }, (_, i) => line(14 + i)),
    );
  });

  it('with maxFiles 0, starts the file over', async () => {
    const file = path.join(dir, 'd.jsonl');
    const sink = new FileSink(file, { maxBytes: 50, maxFiles: 0 });
    for (let i = 0; i < 5; i++) await sink.write([line(i)]);
    await sink.close();
    expect(await readdir(dir)).toEqual(['d.jsonl']);
    expect(await lines(file)).toEqual([line(4)]);
  });

  it('writes a line longer than maxBytes alone, whole', async () => {
    const file = path.join(dir, 'd.jsonl');
    const big = JSON.stringify({ decision_id: 'big', pad: 'x'.repeat(200) });
    const sink = new FileSink(file, { maxBytes: 64, maxFiles: 5 });
    await sink.write([line(1), big, line(2)]);
    await sink.close();
    expect(await lines(`${file}.2`)).toEqual([line(1)]);
    expect(await lines(`${file}.1`)).toEqual([big]);
    expect(await lines(file)).toEqual([line(2)]);
  });

  it('counts what the file already holds when it reopens it', async () => {
    const file = path.join(dir, 'd.jsonl');
    await writeFile(file, `${line(0)}\n${line(1)}\n`);
    const sink = new FileSink(file, { maxBytes: 50, maxFiles: 3 });
    await sink.write([line(2)]);
    await sink.close();
    expect(await lines(`${file}.1`)).toEqual([line(0), line(1)]);
    expect(await lines(file)).toEqual([line(2)]);
  });

  it('serializes concurrent writes: batches never interleave', async () => {
    const file = path.join(dir, 'd.jsonl');
    const sink = new FileSink(file, { maxBytes: 200, maxFiles: 50 });
    const batches = Array.from({ length: 10 }, (_, b) =>
      Array.from({ length: 7 }, (_, i) => line(b * 7 + i)),
    );
    await Promise.all(batches.map((batch) => sink.write(batch)));
    await sink.close();
    const names = (await readdir(dir)).filter((n) => n !== 'd.jsonl');
    const ordered: string[] = [];
    for (let k = names.length; k >= 1; k--) ordered.push(...(await lines(`${file}.${k}`)));
    ordered.push(...(await lines(file)));
    expect(ordered).toEqual(batches.flat());
  });

  it('does not rename a path another process has already rotated', async () => {
    const file = path.join(dir, 'd.jsonl');
    const sink = new FileSink(file, { maxBytes: 50, maxFiles: 3 });
    await sink.write([line(0), line(1)]);
    // The other writer's rotation: our open file moves away and a fresh one takes its name.
    await rename(file, `${file}.1`);
    await writeFile(file, `${line(100)}\n`);
    await sink.write([line(2)]);
    await sink.close();
    expect(await lines(`${file}.1`)).toEqual([line(0), line(1)]);
    expect(await lines(file)).toEqual([line(100), line(2)]);
    expect(await readdir(dir)).toHaveLength(2);
  });

  it('reports the lines a failed rotation left unwritten, and loses none', async () => {
    const file = path.join(dir, 'd.jsonl');
    // A non-empty directory where the rotated file should go makes the rename fail.
    await mkdir(`${file}.1/blocker`, { recursive: true });
    const sink = new FileSink(file, { maxBytes: 50, maxFiles: 1 });
    const err = await sink.write([line(0), line(1), line(2), line(3)]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PartialWriteError);
    expect((err as PartialWriteError).unwritten).toEqual([line(2), line(3)]);
    await rm(`${file}.1`, { recursive: true });
    await sink.write([...(err as PartialWriteError).unwritten]);
    await sink.close();
    expect([...(await lines(`${file}.1`)), ...(await lines(file))]).toEqual([0, 1, 2, 3].map(line));
  });

  it('refuses writes after close', async () => {
    const sink = new FileSink(path.join(dir, 'd.jsonl'));
    await sink.close();
    await expect(sink.write([line(0)])).rejects.toThrow(/closed/);
  });
});
