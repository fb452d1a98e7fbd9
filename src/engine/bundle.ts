import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Parser, type ReadEntry } from 'tar';
import { PdpError } from '../errors';

/** What the engine needs from an OPA bundle built with `opa build -t wasm`. */
export interface Bundle {
  wasm: Buffer;
  data: Record<string, unknown>;
  manifest: { revision: string; [key: string]: unknown };
  source: string;
}

const MAX_BUNDLE_BYTES = 64 * 1024 * 1024;

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
        entry.on('end', () => files.set(normalise(entry.path), Buffer.concat(chunks)));
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

function parseJson(bytes: Buffer | undefined, name: string, source: string): Record<string, unknown> {
  if (bytes === undefined) return {};
  try {
    const value = JSON.parse(bytes.toString('utf8')) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
    return value as Record<string, unknown>;
  } catch (err) {
    throw new PdpError(
      'bundle_invalid',
      `${source}: ${name} is not a JSON object (${(err as Error).message})`,
    );
  }
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
  };
}

/** Loads a bundle from a directory (policy.wasm, data.json, .manifest) or a .tar.gz file. */
export async function readBundle(location: string): Promise<Bundle> {
  const info = await stat(location).catch(() => null);
  if (info === null) {
    throw new PdpError(
      'bundle_invalid',
      `${location}: no such bundle (run "npm run policies:build" or set PDP_BUNDLE)`,
    );
  }
  if (info.isDirectory()) {
    const files = new Map<string, Buffer>();
    for (const name of ['policy.wasm', 'data.json', '.manifest']) {
      const bytes = await readFile(path.join(location, name)).catch(() => undefined);
      if (bytes !== undefined) files.set(name, bytes);
    }
    return bundleFromFiles(files, location);
  }
  let files: Map<string, Buffer>;
  try {
    files = await untar(await readFile(location));
  } catch (err) {
    throw new PdpError(
      'bundle_invalid',
      `${location}: not a readable bundle archive (${(err as Error).message})`,
    );
  }
  return bundleFromFiles(files, location);
}
