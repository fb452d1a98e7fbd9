import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { untar } from '../../src/engine/bundle';
import { BUNDLE, EXAMPLE_DATA, decideBody, makeApp, makeEngine, type TestApp } from '../helpers/app';

async function until<T>(probe: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('hot reload of Conditional Access documents', () => {
  let dir: string;
  let t: TestApp;
  let stop: () => void;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'pdp-reload-'));
    await cp(EXAMPLE_DATA, dir, { recursive: true });
    const engine = await makeEngine({ dataDir: dir });
    stop = engine.watch(0.2);
    t = await makeApp({ engine });
  });
  afterEach(async () => {
    stop();
    await rm(dir, { recursive: true, force: true });
  });

  const caFile = (id: string) => path.join(dir, 'default/conditional-access', `${id}.json`);
  const body = decideBody({ client: { ip: '198.51.100.7' } });

  it('rejects a broken document precisely, keeps deciding on the last good revision, and takes the fix without a restart', async () => {
    const good = t.engine.current!.revision;
    expect((await request(t.api).post('/v1/decide').send(body).expect(200)).body.decision).toBe('allow');

    // A block-everything policy with a misspelt condition: it must not load, and nothing must change.
    const broken = {
      id: 'ca-block-payments',
      displayName: 'Block payments',
      state: 'enabled',
      conditions: {
        clientApplications: { includeAgentIdServicePrincipals: ['All'] },
        applications: { includeApplications: ['api://payments'] },
        agentRiskLevel: ['none'],
      },
      grantControls: { builtInControls: ['block'] },
    };
    await writeFile(caFile('ca-block-payments'), JSON.stringify(broken));
    const error = await until(() => t.engine.lastError ?? undefined);
    expect(error.code).toBe('data_invalid');
    expect(error.details).toEqual([
      {
        file: caFile('ca-block-payments'),
        policy_id: 'ca-block-payments',
        pointer: '/conditions/agentRiskLevel',
        message: 'is not allowed',
        keyword: 'additionalProperties',
      },
    ]);
    expect(t.engine.current!.revision).toBe(good);
    const during = await request(t.api).post('/v1/decide').send(body).expect(200);
    expect(during.body).toMatchObject({ decision: 'allow', revision: good });
    const listing = await request(t.admin).get('/v1/policies').expect(200);
    expect(listing.body.revision).toBe(good);
    expect(listing.body.last_reload_error.details[0].pointer).toBe('/conditions/agentRiskLevel');

    const { agentRiskLevel: _drop, ...conditions } = broken.conditions;
    await writeFile(caFile('ca-block-payments'), JSON.stringify({ ...broken, conditions }));
    const next = await until(() =>
      t.engine.current!.revision !== good ? t.engine.current!.revision : undefined,
    );
    expect(t.engine.lastError).toBeNull();
    const after = await request(t.api).post('/v1/decide').send(body).expect(200);
    expect(after.body).toMatchObject({ decision: 'deny', revision: next });
    expect(after.body.reasons).toContainEqual(
      expect.objectContaining({ code: 'ca_block', policy_id: 'ca-block-payments' }),
    );
  });

  // Graph documents that are well-formed but must not load (DESIGN §4): each is refused with its
  // file, policy id and pointer while the last good revision keeps deciding.
  it.each<[string, Record<string, unknown>, string, string]>([
    [
      'a grant control other than block on an agent-identity policy',
      {
        conditions: {
          users: { includeUsers: ['None'] },
          clientApplications: { includeAgentIdServicePrincipals: ['All'] },
          applications: { includeApplications: ['All'] },
        },
        grantControls: { operator: 'OR', builtInControls: ['mfa'] },
      },
      '/grantControls/builtInControls/0',
      'agentIdentityControl',
    ],
    [
      'an enforced condition the PDP cannot evaluate',
      {
        conditions: {
          users: { includeUsers: ['All'] },
          applications: { includeApplications: ['All'] },
          insiderRiskLevels: 'elevated',
        },
        grantControls: { operator: 'OR', builtInControls: ['block'] },
      },
      '/conditions/insiderRiskLevels',
      'unsupportedCondition',
    ],
  ])('refuses %s while serving the last good revision', async (_name, doc, pointer, keyword) => {
    const good = t.engine.current!.revision;
    const id = '0d9c6a52-6f0e-4b8e-9a51-3c1f2e7d8b40';
    const file = path.join(dir, 'default/conditional-access', 'exported.json');
    await writeFile(file, JSON.stringify({ id, displayName: 'Exported', state: 'enabled', ...doc }));
    const error = await until(() => t.engine.lastError ?? undefined);
    expect(error.code).toBe('data_invalid');
    expect(error.details).toContainEqual(expect.objectContaining({ file, policy_id: id, pointer, keyword }));
    expect(t.engine.current!.revision).toBe(good);
    const during = await request(t.api).post('/v1/decide').send(body).expect(200);
    expect(during.body).toMatchObject({ decision: 'allow', revision: good });
  });

  it('drops a deleted document on the next reload', async () => {
    const before = t.engine.current!.revision;
    await rm(caFile('ca-payments-untrusted-read-only'));
    await until(() => (t.engine.current!.revision !== before ? true : undefined)).catch((e: unknown) => {
      throw new Error(String(e) + JSON.stringify(t.engine.lastError));
    });
    const out = await request(t.api)
      .post('/v1/decide')
      .send(decideBody({ client: { ip: '203.0.113.7' } }))
      .expect(200);
    expect(out.body.grant.scopes).toEqual(['payments.read', 'payments.write']);
  });
});

describe('hot reload of bundle data', () => {
  it('takes a data.json change outside tenants although the manifest revision stays the same', async () => {
    const files = await untar(await readFile(BUNDLE));
    const dir = await mkdtemp(path.join(tmpdir(), 'pdp-reload-bundle-'));
    try {
      await writeFile(path.join(dir, 'policy.wasm'), files.get('policy.wasm')!);
      await writeFile(path.join(dir, '.manifest'), files.get('.manifest')!);
      await writeFile(path.join(dir, 'data.json'), '{"custom":{"limit":1}}');
      const engine = await makeEngine({ bundle: dir, dataDir: null });
      const first = engine.current!;
      await writeFile(path.join(dir, 'data.json'), '{"custom":{"limit":2}}');
      const result = await engine.reload();
      expect(result.changed).toBe(true);
      expect(engine.current!.bundleRevision).toBe(first.bundleRevision);
      expect(engine.current!.dataRevision).not.toBe(first.dataRevision);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
