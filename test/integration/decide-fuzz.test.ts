import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { decideBody, makeApp } from '../helpers/app';

const KNOWN_AGENTS = new Set([
  'agt-7f3a',
  'agt-research-1',
  'agt-lab-1',
  'agt-break-glass',
  'agt-disabled',
  'agt-orphan',
  'agt-expired',
  'agt-retired',
]);

interface Case {
  contentType: string | null;
  payload: string;
}

const field = fc.constantFrom(
  'tenant',
  'flow',
  'agent_id',
  'blueprint_id',
  'resource',
  'scopes',
  'requested_ttl_seconds',
  'user',
  'client',
  'context',
);

/** A valid body with one to three mutations: drop, retype, add, or swap in another agent. */
const mutated = fc
  .record({
    base: fc.record(
      {
        agent_id: fc.oneof(
          { arbitrary: fc.constantFrom(...KNOWN_AGENTS), weight: 3 },
          { arbitrary: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._@:-]{0,20}$/), weight: 1 },
        ),
        flow: fc.constantFrom('autonomous', 'autonomous', 'on_behalf_of', 'agent_user'),
        resource: fc.constantFrom('api://payments', 'api://invoices', 'api://docs', 'api://hr'),
        scopes: fc.uniqueArray(
          fc.constantFrom('payments.read', 'payments.write', 'invoices.read', 'docs.read'),
          {
            minLength: 1,
            maxLength: 3,
          },
        ),
        client: fc.record(
          {
            ip: fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom('198.51.100.7', '2001:db8:1::1')),
            country: fc.constantFrom('NL', 'US', 'KP'),
          },
          { requiredKeys: [] },
        ),
        user: fc.record(
          {
            id: fc.constantFrom('u-1', 'u-risky', 'u-42'),
            amr: fc.subarray(['pwd', 'mfa', 'fido']),
            risk: fc.constantFrom('none', 'low', 'medium', 'high'),
            device: fc.record(
              { platform: fc.constantFrom('windows', 'linux', 'iOS'), compliant: fc.boolean() },
              { requiredKeys: [] },
            ),
          },
          { requiredKeys: ['id'] },
        ),
      },
      { requiredKeys: ['agent_id'] },
    ),
    mutations: fc.array(
      fc.oneof(
        fc.record({ kind: fc.constant('drop' as const), field }),
        fc.record({ kind: fc.constant('set' as const), field, value: fc.jsonValue({ maxDepth: 3 }) }),
        fc.record({
          kind: fc.constant('add' as const),
          field: fc.string({ maxLength: 12 }),
          value: fc.jsonValue({ maxDepth: 2 }),
        }),
      ),
      { maxLength: 2 },
    ),
  })
  .map(({ base, mutations }): Case => {
    const body: Record<string, unknown> = decideBody(base);
    for (const m of mutations) {
      // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- the field is the mutation
      if (m.kind === 'drop') delete body[m.field];
      else body[m.field] = m.value;
    }
    return { contentType: 'application/json', payload: JSON.stringify(body) };
  });

const randomJson = fc
  .jsonValue({ maxDepth: 4 })
  .map((v): Case => ({ contentType: 'application/json', payload: JSON.stringify(v) }));
const garbage = fc
  .string({ maxLength: 200 })
  .map((s): Case => ({ contentType: 'application/json', payload: s }));
const wrongType = fc
  .tuple(
    fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/xml', null),
    fc.string({ minLength: 1, maxLength: 50 }),
  )
  .map(([contentType, payload]): Case => ({ contentType, payload }));
const oversized = fc.integer({ min: 65 * 1024, max: 80 * 1024 }).map((n): Case => ({
  contentType: 'application/json',
  payload: JSON.stringify(decideBody({ context: { pad: 'x'.repeat(n) } })),
}));

describe('property: hostile bodies at POST /v1/decide', () => {
  let server: Server;
  let url: string;

  beforeAll(async () => {
    const { api } = await makeApp();
    server = createServer(api);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/decide`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });

  it('answers 200/400/413/415 only, and never allows an unknown agent (10,000 bodies)', async () => {
    const statuses = new Map<number, number>();
    let allows = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          { arbitrary: mutated, weight: 120 },
          { arbitrary: randomJson, weight: 40 },
          { arbitrary: garbage, weight: 20 },
          { arbitrary: wrongType, weight: 20 },
          { arbitrary: oversized, weight: 1 },
        ),
        async ({ contentType, payload }) => {
          const headers: Record<string, string> = {};
          if (contentType !== null) headers['content-type'] = contentType;
          const res = await fetch(url, { method: 'POST', headers, body: payload });
          const text = await res.text();
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          expect([200, 400, 413, 415]).toContain(res.status);
          const body = JSON.parse(text) as { decision?: string; error?: { code: string } };
          if (res.status === 200) {
            expect(['allow', 'deny']).toContain(body.decision);
            const sent = JSON.parse(payload) as { agent_id?: unknown };
            if (body.decision === 'allow') {
              allows++;
              expect(KNOWN_AGENTS.has(sent.agent_id as string)).toBe(true);
            }
          } else {
            expect(typeof body.error?.code).toBe('string');
          }
        },
      ),
      { numRuns: 10_000, seed: Number(process.env['FUZZ_SEED'] ?? Date.now() % 2 ** 31) },
    );
    // The generators must reach both decisions and every error class, or the property proves little.
    for (const status of [200, 400, 415]) expect(statuses.get(status) ?? 0).toBeGreaterThan(50);
    expect(allows).toBeGreaterThan(50);
    expect(statuses.get(413) ?? 0).toBeGreaterThan(0);
  }, 240_000);
});
