import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decideBody } from '../helpers/app';
import { PdpProcess, SERVER } from '../helpers/pdp-process';
import { RedisProcess } from '../helpers/redis-server';

describe('the real service process', () => {
  it('starts on the embedded default (no REDIS_URL) and answers the README request', async () => {
    const pdp = await PdpProcess.start();
    try {
      expect(pdp.output).toMatch(/IN-MEMORY store/);
      const res = await pdp.post('/v1/decide', decideBody({ client: { ip: '203.0.113.7', country: 'NL' } }));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        decision: 'allow',
        grant: { audience: 'api://payments', scopes: ['payments.read'], ttl_seconds: 900 },
      });
      const policies = (await (await fetch(pdp.adminUrl('/v1/policies'))).json()) as {
        tenants: Record<string, { policies: unknown[] }>;
      };
      expect(policies.tenants['default']!.policies.length).toBeGreaterThanOrEqual(8);
    } finally {
      expect(await pdp.stop()).toBe(0);
    }
  });

  it('decides against a real Redis and sees signals written through its API', async () => {
    const redis = await RedisProcess.start();
    const pdp = await PdpProcess.start({ REDIS_URL: redis.url, PDP_WORKERS: '1' });
    try {
      const bp = {
        enabled: true,
        permissions: { 'api://payments': ['payments.read'] },
        max_ttl_seconds: 1200,
      };
      expect((await pdp.post('/v1/tenants/acme/blueprints/bp-1', bp, 'PUT')).status).toBe(200);
      const agent = { blueprint_id: 'bp-1', enabled: true, sponsors: ['u-1'] };
      expect((await pdp.post('/v1/tenants/acme/agents/agt-1', agent, 'PUT')).status).toBe(200);
      const body = {
        tenant: 'acme',
        flow: 'autonomous',
        agent_id: 'agt-1',
        resource: 'api://payments',
        scopes: ['payments.read'],
      };
      expect((await pdp.post('/v1/decide', body)).body).toMatchObject({
        decision: 'allow',
        grant: { ttl_seconds: 1200 },
      });
      expect(
        (await pdp.post('/v1/tenants/acme/agents/agt-1', { ...agent, enabled: false }, 'PUT')).status,
      ).toBe(200);
      const denied = await pdp.post('/v1/decide', body);
      expect(denied.body.reasons.map((r: { code: string }) => r.code)).toEqual(['agent_disabled']);
    } finally {
      expect(await pdp.stop()).toBe(0);
      await redis.stop();
    }
  });

  it('writes one decision-log record per decision and flushes them on SIGTERM', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'pdp-declog-')), 'decisions.log');
    const pdp = await PdpProcess.start({ PDP_DECISION_LOG: `file:${file}` });
    const ids: string[] = [];
    try {
      for (const agent of ['agt-7f3a', 'agt-disabled', 'agt-nobody']) {
        ids.push((await pdp.post('/v1/decide', decideBody({ agent_id: agent }))).body.decision_id as string);
      }
      await pdp.post('/v1/whatif', decideBody()); // not a decision: not logged
    } finally {
      expect(await pdp.stop()).toBe(0);
    }
    const records = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, any>);
    expect(records.map((r) => r['decision_id'])).toEqual(ids);
    expect(records.map((r) => r['result'].decision)).toEqual(['allow', 'deny', 'deny']);
    expect(records[0]).toMatchObject({
      endpoint: 'decide',
      tenant: 'default',
      caller: 'anonymous',
      revision: expect.any(String),
    });
    expect(records[0]!['input'].request.agent_id).toBe('agt-7f3a');
    expect(records[1]!['reasons'][0].code).toBe('agent_disabled');
  });

  it('refuses a bad configuration with one line naming the variable', () => {
    const run = spawnSync(process.execPath, [SERVER], {
      env: { PATH: process.env['PATH'] ?? '', PDP_HOST: '0.0.0.0' },
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr.trim().split('\n')).toEqual([
      'agent-pdp: invalid configuration: PDP_HOST: refusing to bind 0.0.0.0 with no caller authentication; set PDP_API_KEYS or bind 127.0.0.1',
    ]);
  });
});
