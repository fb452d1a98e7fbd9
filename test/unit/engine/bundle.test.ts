import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readBundle, untar } from '../../../src/engine/bundle';
import { BUNDLE } from '../../helpers/app';

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
});
