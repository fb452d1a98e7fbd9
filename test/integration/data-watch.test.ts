import fsPromises from 'node:fs/promises';
import { cp, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EXAMPLE_DATA, makeEngine } from '../helpers/app';
import type { PolicyEngine } from '../../src/engine/policy-engine';

const EXAMPLE_TENANT = path.join(EXAMPLE_DATA, 'default');
const DOC = 'conditional-access/ca-block-high-risk-agents.json';

async function until<T>(probe: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Rewrites a CA document with a new display name: a change of content, same file, same size class. */
async function edit(file: string, suffix: string): Promise<void> {
  const doc = JSON.parse(await readFile(file, 'utf8')) as { displayName: string };
  await writeFile(file, JSON.stringify({ ...doc, displayName: `${doc.displayName} ${suffix}` }));
}

const nextRevision = (engine: PolicyEngine, before: string, timeoutMs: number): Promise<string> =>
  until(() => {
    const now = engine.current?.revision;
    return now !== undefined && now !== before ? now : undefined;
  }, timeoutMs);

describe('watching the data directory', () => {
  let dir: string;
  let stop: (() => void) | null = null;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'pdp-watch-'));
  });
  afterEach(async () => {
    stop?.();
    stop = null;
    jest.restoreAllMocks();
    await rm(dir, { recursive: true, force: true });
  });

  const tenants = async (root: string, count: number): Promise<void> => {
    await mkdir(root, { recursive: true });
    for (let i = 0; i < count; i++) {
      await cp(EXAMPLE_TENANT, path.join(root, `t-${String(i).padStart(3, '0')}`), { recursive: true });
    }
  };

  it('stats only the roots between full passes while idle (issue 8: every file every 2 s)', async () => {
    await tenants(dir, 40); // 40 tenants: over 600 files and directories
    const engine = await makeEngine({ dataDir: dir });
    const stat = jest.spyOn(fsPromises, 'stat');
    stop = engine.watch(0.1, 3600);
    // Setting the watches, and the one full check after, stat the tree: counted from when the
    // stats go quiet (a busy machine takes longer than a fixed wait would allow).
    for (let settled = 0, last = -1; settled < 2;) {
      await new Promise((r) => setTimeout(r, 250));
      settled = stat.mock.calls.length - last < 30 ? settled + 1 : 0;
      last = stat.mock.calls.length;
    }
    stat.mockClear();
    await new Promise((r) => setTimeout(r, 1000));
    // Ten root checks a second cost a few stats each; one pass over the tree would cost over 600.
    expect(stat.mock.calls.length).toBeLessThan(100);
  });

  it.each([
    ['a network filesystem (NFS): events can be missed', 0x6969, true],
    ['a local filesystem (ext4) with every directory watched', 0xef53, false],
  ])('runs the full pass on %s: %s', async (_name, type, passes) => {
    await tenants(dir, 20); // 200 files
    const engine = await makeEngine({ dataDir: dir });
    jest
      .spyOn(fsPromises, 'statfs')
      .mockResolvedValue({ type } as Awaited<ReturnType<typeof fsPromises.statfs>>);
    stop = engine.watch(0, 0.2);
    const stat = jest.spyOn(fsPromises, 'stat');
    if (passes) {
      await new Promise((r) => setTimeout(r, 150));
    } else {
      // Setting the watches stats each directory once: counted only once those stats go quiet (a
      // busy machine takes longer than a fixed wait would allow).
      for (let settled = 0, last = -1; settled < 2;) {
        await new Promise((r) => setTimeout(r, 250));
        settled = stat.mock.calls.length - last < 10 ? settled + 1 : 0;
        last = stat.mock.calls.length;
      }
    }
    stat.mockClear();
    await new Promise((r) => setTimeout(r, 1100));
    if (passes) expect(stat.mock.calls.length).toBeGreaterThan(400);
    else expect(stat.mock.calls.length).toBeLessThan(20);
  });

  it('takes an edit through fs.watch alone within a couple of seconds (no polling at all)', async () => {
    await tenants(dir, 3);
    const engine = await makeEngine({ dataDir: dir });
    stop = engine.watch(0, 0);
    await new Promise((r) => setTimeout(r, 200)); // the watches are set up asynchronously
    const before = engine.current!.revision;
    await edit(path.join(dir, 't-001', DOC), 'edited');
    await nextRevision(engine, before, 2500);
    expect(engine.current!.tenants['t-001']!.policies.map((p) => p.displayName)).toContainEqual(
      expect.stringMatching(/ edited$/),
    );
  });

  it('watches a tenant directory created after start, and edits inside it', async () => {
    await tenants(dir, 1);
    const engine = await makeEngine({ dataDir: dir });
    stop = engine.watch(0, 0);
    await new Promise((r) => setTimeout(r, 200));
    const before = engine.current!.revision;
    await cp(EXAMPLE_TENANT, path.join(dir, 'late'), { recursive: true });
    const added = await nextRevision(engine, before, 2500);
    expect(Object.keys(engine.current!.tenants)).toContain('late');
    await edit(path.join(dir, 'late', DOC), 'late edit');
    await nextRevision(engine, added, 2500);
  });

  it('keeps watching a data directory removed and made again with the same content (inode reused)', async () => {
    const root = path.join(dir, 'data');
    await tenants(root, 1);
    const engine = await makeEngine({ dataDir: root });
    stop = engine.watch(0.1, 0);
    await new Promise((r) => setTimeout(r, 200));
    const before = engine.current!.revision;
    // A deploy that replaces the directory: the same revision, so no swap re-syncs the watches.
    await rm(root, { recursive: true });
    await tenants(root, 1);
    await new Promise((r) => setTimeout(r, 500));
    expect(engine.current!.revision).toBe(before);
    await edit(path.join(root, 't-000', DOC), 'after replace');
    await nextRevision(engine, before, 2500);
  });

  it('follows a Kubernetes ConfigMap update (the ..data symlink swap)', async () => {
    // The kubelet's layout: files in ..<timestamp>/, ..data -> it, each top-level name -> ..data/name.
    const v1 = path.join(dir, '..2026_01_01_00_00_00.1');
    await cp(EXAMPLE_TENANT, path.join(v1, 'default'), { recursive: true });
    await symlink(path.basename(v1), path.join(dir, '..data'));
    await symlink('..data/default', path.join(dir, 'default'));
    const engine = await makeEngine({ dataDir: dir });
    expect(Object.keys(engine.current!.tenants)).toEqual(['default']);
    stop = engine.watch(0, 0);
    await new Promise((r) => setTimeout(r, 200));
    const before = engine.current!.revision;

    const v2 = path.join(dir, '..2026_01_01_00_01_00.2');
    await cp(EXAMPLE_TENANT, path.join(v2, 'default'), { recursive: true });
    await edit(path.join(v2, 'default', DOC), 'v2');
    await symlink(path.basename(v2), path.join(dir, '..data_tmp'));
    await rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
    await rm(v1, { recursive: true });

    await nextRevision(engine, before, 2500);
    expect(engine.current!.tenants['default']!.policies.map((p) => p.displayName)).toContainEqual(
      expect.stringMatching(/ v2$/),
    );
    expect(Object.keys(engine.current!.tenants)).toEqual(['default']);
  });

  it('sees a symlink swapped above the data directory with the cheap roots check', async () => {
    // git-sync style: PDP_DATA_DIR is a link; the swap touches nothing the watches are on.
    await tenants(path.join(dir, 'a'), 1);
    await tenants(path.join(dir, 'b'), 2);
    const link = path.join(dir, 'current');
    await symlink('a', link);
    const engine = await makeEngine({ dataDir: link });
    stop = engine.watch(0.2, 0);
    const before = engine.current!.revision;
    await symlink('b', path.join(dir, 'next'));
    await rename(path.join(dir, 'next'), link);
    await nextRevision(engine, before, 2500);
    expect(Object.keys(engine.current!.tenants)).toEqual(['t-000', 't-001']);
  });

  it('finds an in-place edit no event reported only with the full pass', async () => {
    await tenants(dir, 2);
    const engine = await makeEngine({ dataDir: dir });
    const before = engine.current!.revision;
    await edit(path.join(dir, 't-000', DOC), 'quiet');
    await engine.reloadIfChanged('roots');
    expect(engine.current!.revision).toBe(before);
    await engine.reloadIfChanged('files');
    expect(engine.current!.revision).not.toBe(before);
  });
});
