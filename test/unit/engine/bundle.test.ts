import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { readBundleFiles, untar } from '../../../src/engine/bundle';
import { BUNDLE } from '../../helpers/app';
import { readBundle, writeTar } from './opa-fixture';

describe('readBundle', () => {
  it('reads policy.wasm, data and manifest from the opa build tarball', async () => {
    const bundle = await readBundle(BUNDLE);
    expect(bundle.wasm.subarray(0, 4)).toEqual(Buffer.from([0x00, 0x61, 0x73, 0x6d]));
    expect(bundle.manifest.revision).toMatch(/^[0-9a-f]{12}$/);
    expect(bundle.data).toEqual(expect.any(Object));
  });

  it('reads the same bundle from an extracted directory', async () => {
    const files = await untar(await readFile(BUNDLE));
    const dir = await mkdtemp(path.join(tmpdir(), 'pdp-bundle-'));
    for (const [name, bytes] of files) {
      await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      await writeFile(path.join(dir, name), bytes);
    }
    const fromDir = await readBundle(dir);
    const fromTar = await readBundle(BUNDLE);
    expect(fromDir.wasm.equals(fromTar.wasm)).toBe(true);
    expect(fromDir.manifest.revision).toBe(fromTar.manifest.revision);
  });

  it.each([
    ['a missing path', () => Promise.resolve('/nonexistent/bundle.tar.gz'), /no such bundle/],
    [
      'a file that is not an archive',
      async () => {
        const file = path.join(await mkdtemp(path.join(tmpdir(), 'pdp-bundle-')), 'b.tar.gz');
        await writeFile(file, 'not a tarball');
        return file;
      },
      /not a readable bundle archive/,
    ],
    [
      'a directory without policy.wasm',
      async () => mkdtemp(path.join(tmpdir(), 'pdp-bundle-')),
      /no policy\.wasm/,
    ],
    [
      'a data.json that is not an object',
      async () => {
        const dir = await mkdtemp(path.join(tmpdir(), 'pdp-bundle-'));
        await writeFile(path.join(dir, 'policy.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d]));
        await writeFile(path.join(dir, 'data.json'), '[1]');
        return dir;
      },
      /data\.json is not a JSON object/,
    ],
  ])('refuses %s as bundle_invalid', async (_name, make, message) => {
    await expect(readBundle(await make())).rejects.toMatchObject({
      code: 'bundle_invalid',
      message: expect.stringMatching(message),
    });
  });

  it('reads every file of a directory when asked (for signatures), skipping Kubernetes ..data links', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pdp-bundle-'));
    await mkdir(path.join(dir, 'policies/agent'), { recursive: true });
    await mkdir(path.join(dir, '..2026_11_27'));
    await writeFile(path.join(dir, 'policy.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d]));
    await writeFile(path.join(dir, 'policies/agent/a.rego'), 'package agent');
    await writeFile(path.join(dir, '..2026_11_27/policy.wasm'), 'old');
    expect([...(await readBundleFiles(dir, { allFiles: true })).keys()]).toEqual([
      'policies/agent/a.rego',
      'policy.wasm',
    ]);
    expect([...(await readBundleFiles(dir)).keys()]).toEqual(['policy.wasm']);
  });

  it('refuses an archive with two entries for one file', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pdp-bundle-'));
    const once = await readFile(
      await writeTar(new Map([['data.json', Buffer.from('{}')]]), path.join(dir, 'a.tar.gz')),
    );
    const tar = gunzipSync(once);
    const entry = tar.subarray(0, 1024); // header + one data block
    const file = path.join(dir, 'dup.tar.gz');
    await writeFile(file, gzipSync(Buffer.concat([entry, entry, Buffer.alloc(1024)])));
    await expect(readBundle(file)).rejects.toMatchObject({
      code: 'bundle_invalid',
      message: expect.stringContaining('two entries for data.json'),
    });
  });
});
