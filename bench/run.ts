/**
 * The hot-path benchmark suite. Starts, on loopback: a redis-server, the real agent-pdp process
 * (warm cache, and a second one whose every decision misses the cache), a bare Express app and a
 * bare node:http server answering a constant decision (the floors), and the OPA server loaded with
 * the same Rego and data, queried with the same resolved input the PDP's engine sees. Runs each
 * HTTP target in alternating order for several rounds, takes ratios pair by pair within a round,
 * and reports min/median/max of those ratios — absolute req/s drift on a shared machine, ratios
 * measured side by side much less.
 *
 *   npm run bench            full run, writes bench/results/<date>.json
 *   npm run bench:guard      short run; fails when a ratio falls below bench/guard.json
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { buildInput } from '../src/decision/input';
import { createValidators } from '../src/decision/validators';
import { TenantDataCompiler } from '../src/engine/tenant-data';
import { MemoryStore } from '../src/store/memory-store';
import { seedStore } from '../src/store/seed';
import { printEngine, runEngineBench, type EngineFigure } from './engine';
import { load, type LoadFigure, type LoadTarget } from './lib/load';
import { Proc, freePort } from './lib/processes';
import { classifyRequestPath } from '../src/http/request-path';

const root = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../..' : '..');
const dist = path.join(root, 'dist');
const OPA = path.join(root, '.tools/bin/opa');
const ISSUER = 'https://login.bench.example/v2.0';

interface Settings {
  mode: 'full' | 'guard';
  rounds: number;
  duration_s: number;
  warmup_s: number;
  connections: number;
  pdp_workers: number;
  opa_gomaxprocs: number;
  equal_load_fraction: number;
}

function settingsFor(mode: 'full' | 'guard'): Settings {
  const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
  return mode === 'full'
    ? {
        mode,
        rounds: env('ROUNDS', 3),
        duration_s: env('DURATION', 6),
        warmup_s: env('WARMUP', 1),
        connections: env('CONNECTIONS', 50),
        pdp_workers: env('PDP_BENCH_WORKERS', 1),
        opa_gomaxprocs: env('OPA_GOMAXPROCS', 1),
        equal_load_fraction: 0.6,
      }
    : {
        mode,
        rounds: env('ROUNDS', 2),
        duration_s: env('DURATION', 2),
        warmup_s: env('WARMUP', 1),
        connections: env('CONNECTIONS', 50),
        pdp_workers: env('PDP_BENCH_WORKERS', 1),
        opa_gomaxprocs: env('OPA_GOMAXPROCS', 1),
        equal_load_fraction: 0.6,
      };
}

const RATIO_KEYS = [
  'decide_vs_opa_throughput',
  'decide_vs_opa_p99',
  'decide_vs_floor_throughput',
  'decide_vs_node_http_throughput',
  'authorize_cached_vs_opa_throughput',
  'authorize_cached_vs_floor_throughput',
  'decide_distinct_vs_floor_throughput',
  'decide_distinct_vs_node_http_throughput',
  'authorize_distinct_vs_floor_throughput',
  'authorize_mcp_vs_plain_throughput',
  'authorize_mcp_vs_plain_with_body_throughput',
  'decide_detections_vs_off_throughput',
] as const;
type RatioKey = (typeof RATIO_KEYS)[number];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
};

async function main(): Promise<void> {
  const mode = process.argv.includes('--guard') ? 'guard' : 'full';
  const settings = settingsFor(mode);
  const procs: Proc[] = [];
  const work = mkdtempSync(path.join(tmpdir(), 'pdp-bench-'));
  try {
    // --- keys, tokens, shared data -------------------------------------------------------
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'bench-1', alg: 'ES256', use: 'sig' }] };
    writeFileSync(path.join(work, 'jwks.json'), JSON.stringify(jwks));
    const mint = (jti: number) =>
      new SignJWT({
        azp: 'agt-7f3a',
        idtyp: 'app',
        xms_act_fct: '11',
        roles: ['payments.read'],
        jti: String(jti),
      })
        .setProtectedHeader({ alg: 'ES256', kid: 'bench-1', typ: 'JWT' })
        .setIssuer(ISSUER)
        .setAudience('api://payments')
        .setIssuedAt()
        .setExpirationTime('2h')
        .sign(privateKey);
    const cachedToken = await mint(0);
    const freshTokens = await Promise.all(
      Array.from({ length: mode === 'full' ? 40_000 : 8_000 }, (_, i) => mint(i + 1)),
    );
    let freshIndex = 0;

    const tenants = await new TenantDataCompiler().compile({}, path.join(root, 'policies/data'));
    // The PDPs' data: the example policies and routes, and one MCP route after them (the
    // 'authorize MCP tools/call' target), so both authorize targets run on one process.
    const pdpData = path.join(work, 'pdp-data');
    cpSync(path.join(root, 'policies/data'), pdpData, { recursive: true });
    const routesFile = path.join(pdpData, 'default/gateway-routes.json');
    const gatewayRoutes = JSON.parse(readFileSync(routesFile, 'utf8')) as { routes: object[] };
    gatewayRoutes.routes.push({
      id: 'bench-mcp',
      methods: ['POST'],
      path: '/mcp',
      resource: 'api://payments',
      mcp: {
        tools: {
          get_payment: {
            scopes: ['payments.read'],
            arguments: {
              type: 'object',
              required: ['payment_id', 'memo'],
              additionalProperties: false,
              properties: {
                payment_id: { type: 'string', pattern: '^PAY-[0-9]{1,10}$' },
                memo: { type: 'string', maxLength: 4096 },
                currency: { enum: ['EUR', 'USD'] },
              },
            },
          },
        },
      },
    });
    writeFileSync(routesFile, JSON.stringify(gatewayRoutes));
    // A tools/call of 2 KiB, as an MCP client posts it.
    const mcpCall = (memo: string) =>
      JSON.stringify({
        jsonrpc: '2.0',
        id: 42,
        method: 'tools/call',
        params: { name: 'get_payment', arguments: { payment_id: 'PAY-42', currency: 'EUR', memo } },
      });
    const mcpBody = mcpCall('m'.repeat(2048 - mcpCall('').length));
    const data = { pdp: { config: { default_ttl_seconds: 3600, max_ttl_seconds: 86400 } }, tenants };
    writeFileSync(path.join(work, 'data.json'), JSON.stringify(data));

    const decideBody = {
      tenant: 'default',
      flow: 'autonomous',
      agent_id: 'agt-7f3a',
      resource: 'api://payments',
      scopes: ['payments.read', 'payments.write'],
      requested_ttl_seconds: 3600,
      client: { ip: '203.0.113.7', country: 'NL' },
    } as const;
    // The input the PDP's engine builds for that body, for the OPA server.
    const mirror = new MemoryStore();
    await seedStore(mirror, path.join(root, 'examples/directory.json'), createValidators(), Date.now());
    const resolved = buildInput(
      { ...decideBody, scopes: [...decideBody.scopes], client: { ...decideBody.client } },
      await mirror.readSignals({ tenant: 'default', agentId: 'agt-7f3a' }),
      Date.now(),
    );
    const gatewayPath = classifyRequestPath('/payments/42');
    const gatewayInput = {
      ...resolved,
      request: {
        tenant: 'default',
        method: 'GET',
        // What the PDP's gateway service sends for this target (src/http/request-path.ts).
        path: gatewayPath.path,
        path_problem: gatewayPath.problem,
        client: { ip: '203.0.113.7' },
        flow: 'autonomous',
        agent_id: 'agt-7f3a',
      },
      jwt: cachedToken,
      jwks: JSON.stringify(jwks),
      issuer: ISSUER,
    };

    // --- processes ---------------------------------------------------------------------------
    const redisPort = await freePort();
    const redis = Proc.start('redis', 'redis-server', [
      '--port',
      String(redisPort),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
    ]);
    procs.push(redis);
    await new Promise((r) => setTimeout(r, 300));
    const redisUrl = `redis://127.0.0.1:${redisPort}`;

    const pdpEnv = (port: number, adminPort: number, extra: Record<string, string> = {}) => ({
      PDP_PORT: String(port),
      PDP_ADMIN_PORT: String(adminPort),
      REDIS_URL: redisUrl,
      PDP_WORKERS: String(settings.pdp_workers),
      LOG_LEVEL: 'warn',
      PDP_DECISION_LOG: 'off',
      PDP_DATA_DIR: pdpData,
      PDP_TRUSTED_ISSUERS: JSON.stringify([
        {
          issuer: ISSUER,
          jwks_file: path.join(work, 'jwks.json'),
          audiences: ['api://payments'],
          tenant: 'default',
          algorithms: ['ES256'],
        },
      ]),
      ...extra,
    });
    const ports = {
      pdp: await freePort(),
      pdpAdmin: await freePort(),
      cold: await freePort(),
      coldAdmin: await freePort(),
      quiet: await freePort(),
      quietAdmin: await freePort(),
      express: await freePort(),
      node: await freePort(),
      opa: await freePort(),
    };
    const pdp = Proc.start(
      'agent-pdp',
      process.execPath,
      [path.join(dist, 'src/server.js')],
      pdpEnv(ports.pdp, ports.pdpAdmin),
    );
    const cold = Proc.start(
      'agent-pdp (cache off)',
      process.execPath,
      [path.join(dist, 'src/server.js')],
      pdpEnv(ports.cold, ports.coldAdmin, { PDP_CACHE_TTL_MS: '0' }),
    );
    // The same PDP with behaviour detections off: what detecting costs the decide path.
    const quiet = Proc.start(
      'agent-pdp (detections off)',
      process.execPath,
      [path.join(dist, 'src/server.js')],
      pdpEnv(ports.quiet, ports.quietAdmin, { PDP_DETECTIONS: 'false' }),
    );
    const expressFloor = Proc.start('express floor', process.execPath, [
      path.join(dist, 'bench/peers/express-floor.js'),
      String(ports.express),
    ]);
    const nodeFloor = Proc.start('node:http floor', process.execPath, [
      path.join(dist, 'bench/peers/node-http-floor.js'),
      String(ports.node),
    ]);
    const opa = Proc.start(
      'opa',
      OPA,
      [
        'run',
        '--server',
        '--addr',
        `127.0.0.1:${ports.opa}`,
        '--log-level',
        'error',
        '--ignore',
        '*_test.rego',
        path.join(root, 'policies/agent'),
        path.join(root, 'policies/custom'),
        path.join(root, 'bench/opa/gateway_jwt.rego'),
        path.join(work, 'data.json'),
      ],
      { GOMAXPROCS: String(settings.opa_gomaxprocs) },
    );
    procs.push(pdp, cold, quiet, expressFloor, nodeFloor, opa);
    await pdp.ready(`http://127.0.0.1:${ports.pdpAdmin}/readyz`);
    await quiet.ready(`http://127.0.0.1:${ports.quietAdmin}/readyz`);
    await cold.ready(`http://127.0.0.1:${ports.coldAdmin}/readyz`);
    await opa.ready(`http://127.0.0.1:${ports.opa}/health`);
    const json = { 'content-type': 'application/json' };
    await expressFloor.ready(`http://127.0.0.1:${ports.express}/v1/decide`, 10_000, {
      method: 'POST',
      headers: json,
      body: '{}',
    });
    await nodeFloor.ready(`http://127.0.0.1:${ports.node}/v1/decide`, 10_000, {
      method: 'POST',
      headers: json,
      body: '{}',
    });

    // The shared directory, written through the PDP's own API.
    const directory = JSON.parse(readFileSync(path.join(root, 'examples/directory.json'), 'utf8')) as {
      tenants: Record<string, Record<string, Record<string, unknown>>>;
    };
    const routes: Record<string, string> = {
      blueprints: 'blueprints',
      agents: 'agents',
      agent_users: 'agent-users',
      resources: 'resources',
      agent_risk: 'signals/agents/{id}/risk',
      user_risk: 'signals/users/{id}/risk',
    };
    for (const [tenant, sections] of Object.entries(directory.tenants)) {
      for (const [section, records] of Object.entries(sections)) {
        for (const [id, record] of Object.entries(records)) {
          const route = (routes[section] ?? section).includes('{id}')
            ? (routes[section] ?? '').replace('{id}', id)
            : `${routes[section] ?? section}/${id}`;
          const res = await fetch(`http://127.0.0.1:${ports.pdp}/v1/tenants/${tenant}/${route}`, {
            method: 'PUT',
            headers: json,
            body: JSON.stringify(record),
          });
          if (!res.ok) throw new Error(`seeding ${route}: ${res.status}`);
        }
      }
    }

    // Sanity: both sides give the same answer before anything is timed.
    const pdpAnswer = (await (
      await fetch(`http://127.0.0.1:${ports.pdp}/v1/decide`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify(decideBody),
      })
    ).json()) as { decision: string; grant: unknown };
    // The instance without a cache must decide alike: a cheaper wrong answer would flatter it.
    const coldAnswer = (await (
      await fetch(`http://127.0.0.1:${ports.cold}/v1/decide`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify(decideBody),
      })
    ).json()) as { decision: string; grant: unknown; reasons: unknown; signals: unknown };
    const same = (a: object, b: object, key: string) =>
      JSON.stringify((a as Record<string, unknown>)[key]) ===
      JSON.stringify((b as Record<string, unknown>)[key]);
    if (!['decision', 'grant', 'reasons', 'signals'].every((k) => same(pdpAnswer, coldAnswer, k))) {
      throw new Error(
        `the cached and uncached PDPs disagree: ${JSON.stringify(pdpAnswer)} vs ${JSON.stringify(coldAnswer)}`,
      );
    }
    const opaAnswer = (await (
      await fetch(`http://127.0.0.1:${ports.opa}/v1/data/agent/decide/result`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ input: resolved }),
      })
    ).json()) as { result: { decision: string; grant: unknown } };
    if (
      pdpAnswer.decision !== opaAnswer.result.decision ||
      JSON.stringify(pdpAnswer.grant) !== JSON.stringify(opaAnswer.result.grant)
    ) {
      throw new Error(
        `PDP and OPA disagree: ${JSON.stringify(pdpAnswer)} vs ${JSON.stringify(opaAnswer.result)}`,
      );
    }
    const opaGateway = (await (
      await fetch(`http://127.0.0.1:${ports.opa}/v1/data/bench/gateway/result`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ input: gatewayInput }),
      })
    ).json()) as { result?: { status?: number } };
    if (opaGateway.result?.status !== 200)
      throw new Error(`OPA gateway peer does not allow: ${JSON.stringify(opaGateway)}`);

    // --- targets ---------------------------------------------------------------------------
    const authorizeHeaders = {
      'x-original-method': 'GET',
      'x-original-uri': '/payments/42',
      'x-forwarded-for': '203.0.113.7',
    };
    // Repeated requests within a second have identical policy inputs, which the engine answers from
    // its memo (EvaluationMemo); the "distinct" targets make every request's input new (another
    // client address, another path), so each one is evaluated.
    let distinct = 0;
    const decideBodyText = JSON.stringify(decideBody);
    const distinctIp = () => {
      distinct = (distinct + 1) % 65_536;
      return `10.${distinct >> 8}.${distinct & 255}.7`;
    };
    const targets: LoadTarget[] = [
      {
        name: 'decide (warm cache)',
        url: `http://127.0.0.1:${ports.pdp}/v1/decide`,
        method: 'POST',
        headers: json,
        body: JSON.stringify(decideBody),
      },
      {
        name: 'decide (warm cache, detections off)',
        url: `http://127.0.0.1:${ports.quiet}/v1/decide`,
        method: 'POST',
        headers: json,
        body: JSON.stringify(decideBody),
      },
      {
        name: 'opa: decide',
        url: `http://127.0.0.1:${ports.opa}/v1/data/agent/decide/result`,
        method: 'POST',
        headers: json,
        body: JSON.stringify({ input: resolved }),
      },
      {
        name: 'express floor',
        url: `http://127.0.0.1:${ports.express}/v1/decide`,
        method: 'POST',
        headers: json,
        body: JSON.stringify(decideBody),
      },
      {
        name: 'node:http floor',
        url: `http://127.0.0.1:${ports.node}/v1/decide`,
        method: 'POST',
        headers: json,
        body: JSON.stringify(decideBody),
      },
      {
        name: 'decide (distinct requests)',
        url: `http://127.0.0.1:${ports.pdp}/v1/decide`,
        method: 'POST',
        headers: json,
        body: decideBodyText,
        setupRequest: (req) => ({
          ...req,
          body: decideBodyText.replace('203.0.113.7', distinctIp()),
        }),
      },
      {
        name: 'decide (cache miss: MGET each)',
        url: `http://127.0.0.1:${ports.cold}/v1/decide`,
        method: 'POST',
        headers: json,
        body: JSON.stringify(decideBody),
      },
      {
        name: 'authorize (cached token)',
        url: `http://127.0.0.1:${ports.pdp}/v1/authorize`,
        method: 'GET',
        headers: { ...authorizeHeaders, authorization: `Bearer ${cachedToken}` },
      },
      {
        name: 'authorize MCP tools/call (2 KiB body)',
        url: `http://127.0.0.1:${ports.pdp}/v1/authorize`,
        method: 'POST',
        headers: {
          ...authorizeHeaders,
          'x-original-method': 'POST',
          'x-original-uri': '/mcp',
          'content-type': 'application/json',
          authorization: `Bearer ${cachedToken}`,
        },
        body: mcpBody,
      },
      {
        // The same 2 KiB body on a route without an MCP section (never read): what carrying the
        // body costs, apart from judging it.
        name: 'authorize (cached token, 2 KiB body not read)',
        url: `http://127.0.0.1:${ports.pdp}/v1/authorize`,
        method: 'POST',
        headers: {
          ...authorizeHeaders,
          'content-type': 'application/json',
          authorization: `Bearer ${cachedToken}`,
        },
        body: mcpBody,
      },
      {
        name: 'authorize (first-seen tokens)',
        url: `http://127.0.0.1:${ports.pdp}/v1/authorize`,
        method: 'GET',
        headers: authorizeHeaders,
        setupRequest: (req) => ({
          ...req,
          headers: {
            ...authorizeHeaders,
            authorization: `Bearer ${freshTokens[freshIndex++ % freshTokens.length] ?? cachedToken}`,
          },
        }),
      },
      {
        name: 'authorize (cached token, distinct paths)',
        url: `http://127.0.0.1:${ports.pdp}/v1/authorize`,
        method: 'GET',
        headers: authorizeHeaders,
        setupRequest: (req) => ({
          ...req,
          headers: {
            ...authorizeHeaders,
            'x-original-uri': `/payments/${(distinct = (distinct + 1) % 1_000_000)}`,
            authorization: `Bearer ${cachedToken}`,
          },
        }),
      },
      {
        name: 'opa: gateway + io.jwt.decode_verify',
        url: `http://127.0.0.1:${ports.opa}/v1/data/bench/gateway/result`,
        method: 'POST',
        headers: json,
        body: JSON.stringify({ input: gatewayInput }),
      },
      {
        name: 'decide batch of 50',
        url: `http://127.0.0.1:${ports.pdp}/v1/decide/batch`,
        method: 'POST',
        headers: json,
        body: JSON.stringify({ requests: Array.from({ length: 50 }, () => decideBody) }),
      },
    ];
    const byName = (figures: LoadFigure[], name: string): LoadFigure => {
      const f = figures.find((x) => x.name === name);
      if (f === undefined) throw new Error(`no figure for ${name}`);
      return f;
    };

    const rounds: {
      round: number;
      order: string[];
      figures: LoadFigure[];
      equal_load: LoadFigure[];
      ratios: Record<RatioKey, number>;
    }[] = [];
    for (let round = 0; round < settings.rounds; round++) {
      const order = round % 2 === 0 ? targets : [...targets].reverse();
      const figures: LoadFigure[] = [];
      for (const target of order) {
        const figure = await load(target, {
          connections: settings.connections,
          durationSeconds: settings.duration_s,
          warmupSeconds: settings.warmup_s,
        });
        if (figure.non2xx > 0 || figure.errors > 0) {
          throw new Error(
            `${target.name}: ${figure.non2xx} non-2xx and ${figure.errors} errors out of ${figure.requests}`,
          );
        }
        figures.push(figure);
        console.log(
          `  round ${round + 1} ${target.name.padEnd(38)} ${figure.rps.toFixed(0).padStart(7)} req/s  p99 ${figure.latency_p99_ms.toFixed(2)} ms`,
        );
      }
      // p99 at equal load: both at the same fixed rate, a fraction of the slower one's throughput.
      const pdpDecide = byName(figures, 'decide (warm cache)');
      const opaDecide = byName(figures, 'opa: decide');
      const rate = Math.floor(Math.min(pdpDecide.rps, opaDecide.rps) * settings.equal_load_fraction);
      const equalLoad: LoadFigure[] = [];
      const pair = [
        targets.find((t) => t.name === 'decide (warm cache)'),
        targets.find((t) => t.name === 'opa: decide'),
      ];
      for (const target of round % 2 === 0 ? pair : [...pair].reverse()) {
        if (target === undefined) continue;
        equalLoad.push(
          await load(
            { ...target, name: `${target.name} @ ${rate} req/s` },
            {
              connections: settings.connections,
              durationSeconds: settings.duration_s,
              warmupSeconds: 0,
              overallRate: rate,
            },
          ),
        );
      }
      const p99Of = (prefix: string) =>
        equalLoad.find((f) => f.name.startsWith(prefix))?.latency_p99_ms ?? NaN;
      rounds.push({
        round: round + 1,
        order: order.map((t) => t.name),
        figures,
        equal_load: equalLoad,
        ratios: {
          decide_vs_opa_throughput: pdpDecide.rps / opaDecide.rps,
          decide_vs_opa_p99: p99Of('decide (warm cache)') / p99Of('opa: decide'),
          decide_vs_floor_throughput: pdpDecide.rps / byName(figures, 'express floor').rps,
          decide_vs_node_http_throughput: pdpDecide.rps / byName(figures, 'node:http floor').rps,
          authorize_cached_vs_opa_throughput:
            byName(figures, 'authorize (cached token)').rps /
            byName(figures, 'opa: gateway + io.jwt.decode_verify').rps,
          authorize_cached_vs_floor_throughput:
            byName(figures, 'authorize (cached token)').rps / byName(figures, 'express floor').rps,
          decide_distinct_vs_floor_throughput:
            byName(figures, 'decide (distinct requests)').rps / byName(figures, 'express floor').rps,
          decide_distinct_vs_node_http_throughput:
            byName(figures, 'decide (distinct requests)').rps / byName(figures, 'node:http floor').rps,
          authorize_distinct_vs_floor_throughput:
            byName(figures, 'authorize (cached token, distinct paths)').rps /
            byName(figures, 'express floor').rps,
          authorize_mcp_vs_plain_throughput:
            byName(figures, 'authorize MCP tools/call (2 KiB body)').rps /
            byName(figures, 'authorize (cached token)').rps,
          authorize_mcp_vs_plain_with_body_throughput:
            byName(figures, 'authorize MCP tools/call (2 KiB body)').rps /
            byName(figures, 'authorize (cached token, 2 KiB body not read)').rps,
          // The PDP as configured by default (detections on) against the same with them off.
          decide_detections_vs_off_throughput:
            pdpDecide.rps / byName(figures, 'decide (warm cache, detections off)').rps,
        },
      });
    }

    // --- engine micro-benchmarks (while nothing else runs) -------------------------------------
    for (const p of procs) await p.stop();
    procs.length = 0;
    const engine: EngineFigure[] = await runEngineBench({ quick: mode === 'guard' });

    // --- report ------------------------------------------------------------------------------
    const spread = Object.fromEntries(
      RATIO_KEYS.map((k) => {
        const values = rounds.map((r) => r.ratios[k]);
        return [k, { min: Math.min(...values), median: median(values), max: Math.max(...values), values }];
      }),
    ) as Record<RatioKey, { min: number; median: number; max: number; values: number[] }>;
    const ratios = Object.fromEntries(RATIO_KEYS.map((k) => [k, spread[k].median])) as Record<
      RatioKey,
      number
    >;
    const medians = Object.fromEntries(
      targets.map((t) => {
        const fs = rounds.map((r) => byName(r.figures, t.name));
        return [
          t.name,
          {
            rps: median(fs.map((f) => f.rps)),
            latency_p50_ms: median(fs.map((f) => f.latency_p50_ms)),
            latency_p99_ms: median(fs.map((f) => f.latency_p99_ms)),
          },
        ];
      }),
    );
    const report = {
      date: new Date().toISOString(),
      node: process.version,
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      opa: execFileSync(OPA, ['version'], { encoding: 'utf8' }).split('\n')[0],
      settings,
      ratios,
      ratio_spread: spread,
      http_medians: medians,
      rounds,
      engine,
    };

    console.log('\nHTTP (median over rounds)');
    for (const [name, m] of Object.entries(medians)) {
      console.log(
        `  ${name.padEnd(40)} ${m.rps.toFixed(0).padStart(7)} req/s   p50 ${m.latency_p50_ms.toFixed(2).padStart(6)} ms   p99 ${m.latency_p99_ms.toFixed(2).padStart(6)} ms`,
      );
    }
    console.log('\nratios (min / median / max over rounds)');
    for (const k of RATIO_KEYS) {
      const s = spread[k];
      console.log(`  ${k.padEnd(38)} ${s.min.toFixed(2)} / ${s.median.toFixed(2)} / ${s.max.toFixed(2)}`);
    }
    printEngine(engine);

    const outDir = path.join(root, 'bench/results', mode === 'guard' ? 'tmp' : '');
    mkdirSync(outDir, { recursive: true });
    const file = path.join(outDir, `${report.date.slice(0, 10)}${mode === 'guard' ? '-guard' : ''}.json`);
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`\nwrote ${path.relative(root, file)}`);

    if (mode === 'guard') {
      const guard = JSON.parse(readFileSync(path.join(root, 'bench/guard.json'), 'utf8')) as {
        min_ratios: Partial<Record<RatioKey, number>>;
        max_ratios: Partial<Record<RatioKey, number>>;
        engine_p99_us_max: Record<string, number>;
        /** Per engine case: the most RSS after load (bytes) and latency ratio to one tenant alone. */
        engine_rss_bytes_max?: Record<string, number>;
        engine_ratio_to_one_tenant_max?: Record<string, number>;
      };
      const failures: string[] = [];
      for (const [k, min] of Object.entries(guard.min_ratios)) {
        if (!(ratios[k as RatioKey] >= min))
          failures.push(`${k} ${ratios[k as RatioKey].toFixed(2)} < ${min}`);
      }
      for (const [k, max] of Object.entries(guard.max_ratios)) {
        if (!(ratios[k as RatioKey] <= max))
          failures.push(`${k} ${ratios[k as RatioKey].toFixed(2)} > ${max}`);
      }
      for (const [name, max] of Object.entries(guard.engine_p99_us_max)) {
        const f = engine.find((e) => e.name === name);
        if (f === undefined || !(f.p99_us <= max))
          failures.push(`engine "${name}" p99 ${f?.p99_us.toFixed(1) ?? 'missing'} µs > ${max} µs`);
      }
      for (const [name, max] of Object.entries(guard.engine_rss_bytes_max ?? {})) {
        const rss = engine.find((e) => e.name === name)?.rss_after_load_bytes;
        if (rss === undefined || !(rss <= max))
          failures.push(`engine "${name}" RSS after load ${rss ?? 'missing'} B > ${max} B`);
      }
      for (const [name, max] of Object.entries(guard.engine_ratio_to_one_tenant_max ?? {})) {
        const ratio = engine.find((e) => e.name === name)?.ratio_to_one_tenant;
        if (ratio === undefined || !(ratio <= max))
          failures.push(`engine "${name}" ratio to one tenant ${ratio?.toFixed(2) ?? 'missing'} > ${max}`);
      }
      if (failures.length > 0) {
        console.error(`\nbench:guard FAILED\n  ${failures.join('\n  ')}`);
        process.exitCode = 1;
      } else {
        console.log('\nbench:guard passed');
      }
    }
  } finally {
    for (const p of procs) await p.stop().catch(() => undefined);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
