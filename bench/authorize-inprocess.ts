/**
 * In-process cost of /v1/authorize's decision (token verification, signals, WASM gateway
 * entrypoint) for a cached token vs first-seen tokens. No HTTP. Prints median and p99.
 *   node dist/bench/authorize-inprocess.js [iterations]
 */
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { createApp } from '../src/app';
import { exampleServices } from './lib/example';

const ISSUER = 'https://login.bench.example/v2.0';

function stats(samples: number[]): string {
  samples.sort((a, b) => a - b);
  const at = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))] ?? NaN;
  return `median ${at(0.5).toFixed(1)} µs   p99 ${at(0.99).toFixed(1)} µs`;
}

async function main(): Promise<void> {
  const iterations = Number(process.argv[2] ?? 5000);
  const alg = process.env['ALG'] ?? 'ES256';
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg };
  let id = 0;
  const services = await exampleServices(
    {
      tokenCacheMaxEntries: 100_000,
      trustedIssuers: [
        {
          issuer: ISSUER,
          jwks: { keys: [jwk] },
          audiences: ['api://payments'],
          tenant: 'default',
          algorithms: [alg],
        },
      ],
    },
    { newId: () => String(id++) },
  );
  const { gateway } = createApp(services);
  const mint = (jti: number) =>
    new SignJWT({
      azp: 'agt-7f3a',
      idtyp: 'app',
      xms_act_fct: '11',
      roles: ['payments.read'],
      jti: String(jti),
    })
      .setProtectedHeader({ alg, kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience('api://payments')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(privateKey);
  const original = {
    method: 'GET',
    path: '/payments/42',
    pathProblem: null,
    host: 'api.example.com',
    clientIp: '198.51.100.7',
  };

  const cachedToken = await mint(0);
  const first = await gateway.authorize('default', original, cachedToken);
  if (first.status !== 200) throw new Error(`expected an allow, got ${JSON.stringify(first)}`);
  const cached: number[] = [];
  for (let i = 0; i < iterations + 500; i++) {
    const t0 = process.hrtime.bigint();
    await gateway.authorize('default', original, cachedToken);
    if (i >= 500) cached.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  const fresh = await Promise.all(Array.from({ length: iterations }, (_, i) => mint(i + 1)));
  const firstSeen: number[] = [];
  for (const token of fresh) {
    const t0 = process.hrtime.bigint();
    await gateway.authorize('default', original, token);
    firstSeen.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  console.log(`authorize (in-process, ${alg}, ${iterations} runs, node ${process.version})`);
  console.log(`  cached token       ${stats(cached)}`);
  console.log(`  first-seen token   ${stats(firstSeen)}`);
}

void main();
