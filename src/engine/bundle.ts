import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Parser, type ReadEntry } from 'tar';
import { PdpError } from '../errors';
import { JsonDocumentError, MAX_JSON_DEPTH, parseJsonBytes } from '../strict-json';

/** What the engine needs from an OPA bundle built with `opa build -t wasm`. */
export interface Bundle {
  wasm: Buffer;
  data: Record<string, unknown>;
  manifest: { revision: string; [key: string]: unknown };
  source: string;
  /** Every file the bundle was read from (names without a leading slash), for signature checks. */
  files?: ReadonlyMap<string, Buffer>;
}

export const MAX_BUNDLE_BYTES = 64 * 1024 * 1024;

function normalise(entryPath: string): string {
  return entryPath.replace(/^\.?\/+/, '');
}

/** Extracts every regular file of a (gzipped) tarball into memory; the npm SDK reads no tarballs. */
export async function untar(buffer: Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  let total = 0;
  await new Promise<void>((resolve, reject) => {
    const parser = new Parser({
      strict: true,
      onReadEntry: (entry: ReadEntry) => {
        if (entry.type !== 'File') {
          entry.resume();
          return;
        }
        const chunks: Buffer[] = [];
        entry.on('data', (chunk: Buffer) => {
          total += chunk.length;
          if (total > MAX_BUNDLE_BYTES) parser.abort(new Error('bundle larger than 64 MiB'));
          chunks.push(chunk);
        });
        entry.on('end', () => {
          const name = normalise(entry.path);
          // Two entries for one name would let what is checked differ from what is used.
          if (files.has(name)) parser.abort(new Error(`two entries for ${name}`));
          files.set(name, Buffer.concat(chunks));
        });
      },
    });
    parser.on('end', () => {
      resolve();
    });
    parser.on('abort', (err: Error) => {
      reject(err);
    });
    parser.on('error', (err: Error) => {
      reject(err);
    });
    parser.end(buffer);
  });
  return files;
}

/** data.json and .manifest: strict JSON (src/strict-json.ts), and an object at the top. */
function parseJson(bytes: Buffer | undefined, name: string, source: string): Record<string, unknown> {
  if (bytes === undefined) return {};
  let value: unknown;
  try {
    value = parseJsonBytes(bytes, { maxBytes: MAX_BUNDLE_BYTES, maxDepth: MAX_JSON_DEPTH });
  } catch (err) {
    if (!(err instanceof JsonDocumentError)) throw err;
    const at = err.pointer === '' ? '' : ` at ${err.pointer}`;
    throw new PdpError('bundle_invalid', `${source}: ${name}${at} ${err.message}`, [
      { file: `${source}#${name}`, pointer: err.pointer, message: err.message, keyword: 'json' },
    ]);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PdpError('bundle_invalid', `${source}: ${name} is not a JSON object`, [
      { file: `${source}#${name}`, pointer: '', message: 'must be an object', keyword: 'type' },
    ]);
  }
  return value as Record<string, unknown>;
}

export function bundleFromFiles(files: Map<string, Buffer>, source: string): Bundle {
  const wasm = files.get('policy.wasm');
  if (wasm === undefined) {
    throw new PdpError('bundle_invalid', `${source}: no policy.wasm (build with "opa build -t wasm")`);
  }
  const manifest = parseJson(files.get('.manifest'), '.manifest', source);
  const revision = typeof manifest['revision'] === 'string' ? manifest['revision'] : '';
  return {
    wasm,
    data: parseJson(files.get('data.json'), 'data.json', source),
    manifest: { ...manifest, revision },
    source,
    files,
  };
}

/**
 * Every regular file under a bundle directory, by relative path. Entries whose name starts with `..`
 * (Kubernetes' atomic-writer `..data` / `..<timestamp>` directories) are skipped; symlinks are followed.
 */
async function readDirectoryFiles(root: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  let total = 0;
  const visit = async (dir: string, prefix: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      if (name.startsWith('..')) continue;
      const full = path.join(dir, name);
      const info = await stat(full).catch(() => null);
      if (info === null) continue;
      if (info.isDirectory()) {
        await visit(full, `${prefix}${name}/`);
      } else if (info.isFile()) {
        total += info.size;
        if (total > MAX_BUNDLE_BYTES) throw new Error('bundle larger than 64 MiB');
        files.set(`${prefix}${name}`, await readFile(full));
      }
    }
  };
  await visit(root, '');
  return files;
}

/**
 * Reads the files of a bundle directory or .tar.gz. A directory yields policy.wasm, data.json and
 * .manifest, or, with `allFiles` (needed to check a signature), every file under it.
 */
export async function readBundleFiles(
  location: string,
  opts: { allFiles?: boolean } = {},
): Promise<Map<string, Buffer>> {
  const info = await stat(location).catch(() => null);
  if (info === null) {
    throw new PdpError(
      'bundle_invalid',
      `${location}: no such bundle (run "npm run policies:build" or set PDP_BUNDLE)`,
    );
  }
  if (info.isDirectory()) {
    if (opts.allFiles === true) {
      try {
        return await readDirectoryFiles(location);
      } catch (err) {
        throw new PdpError(
          'bundle_invalid',
          `${location}: not a readable bundle directory (${(err as Error).message})`,
        );
      }
    }
    const files = new Map<string, Buffer>();
    for (const name of ['policy.wasm', 'data.json', '.manifest']) {
      const bytes = await readFile(path.join(location, name)).catch(() => undefined);
      if (bytes !== undefined) files.set(name, bytes);
    }
    return files;
  }
  try {
    return await untar(await readFile(location));
  } catch (err) {
    throw new PdpError(
      'bundle_invalid',
      `${location}: not a readable bundle archive (${(err as Error).message})`,
    );
  }
}
