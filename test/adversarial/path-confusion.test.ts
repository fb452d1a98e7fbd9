/**
 * Path confusion through a real gateway: the shipped examples/gateways/nginx.conf on Debian's NGINX,
 * the built PDP behind it, and an upstream that records the request-target it received, byte for
 * byte. Requests go over raw TCP, so nothing on the client side resolves `..`, `\` or `%2e`.
 *
 * The oracle does not trust the classifier: a request may reach the upstream only if every way an
 * upstream might read the path it received (raw, decoded, WHATWG-resolved, RFC 3986-resolved,
 * backslash-as-slash and slash-merging, servlet `;params` stripped, decoded twice, NFKC) lands on a
 * route that the token's scopes allow.
 */
import { once } from 'node:events';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { classifyRequestPath } from '../../src/http/request-path';
import { EXAMPLE_DATA } from '../helpers/app';
import { NginxGateway } from '../helpers/nginx';
import { PdpProcess } from '../helpers/pdp-process';
import { freePort } from '../helpers/redis-server';
import { TestIssuer } from '../helpers/tokens';

// --- the tenant's routes, and a model of them for the oracle ------------------------------------

interface Route {
  id: string;
  path: string;
  methods?: string[];
  resource?: string;
  scopes?: string[];
  public?: boolean;
  allow_non_canonical_path?: boolean;
}

/** The example routes plus an admin area no test token may enter and a route that opts in. */
const EXTRA_ROUTES: Route[] = [
  { id: 'admin', methods: ['GET'], path: '/admin/**', resource: 'api://docs', scopes: ['docs.admin'] },
  {
    id: 'legacy',
    methods: ['GET'],
    path: '/legacy/**',
    resource: 'api://docs',
    scopes: ['docs.read'],
    allow_non_canonical_path: true,
  },
];

function globRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    if (glob.startsWith('**', i)) {
      re += '.*';
      i++;
    } else if (glob[i] === '*') re += '[^/]*';
    else re += glob[i]!.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

type TokenName = 'docs' | 'payments' | 'invoices' | 'none';

/** The routes each token may use (directory: agt-research-1 holds docs.read, agt-7f3a payments/invoices). */
const ALLOWED: Record<TokenName, Set<string>> = {
  docs: new Set(['health', 'docs', 'legacy']),
  payments: new Set(['health', 'payments-read']),
  invoices: new Set(['health', 'invoices']),
  none: new Set(['health']),
};

// --- how upstreams read a path ---------------------------------------------------------------------

/** Decodes %XX escapes that are valid, leaves the rest; bytes → UTF-8 with replacement. */
function lenientDecode(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const m = /^%([0-9A-Fa-f]{2})/.exec(s.slice(i, i + 3));
    if (m !== null) {
      bytes.push(parseInt(m[1]!, 16));
      i += 2;
    } else {
      const c = s.charCodeAt(i);
      if (c < 0x80) bytes.push(c);
      else for (const b of Buffer.from(String.fromCharCode(c), 'utf8')) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** RFC 3986 §5.2.4 remove_dot_segments. */
function resolveDots(p: string): string {
  const out: string[] = [];
  const segments = p.split('/').slice(1);
  for (const seg of segments) {
    if (seg === '..') out.pop();
    else if (seg !== '.') out.push(seg);
  }
  const last = segments.at(-1);
  return '/' + out.join('/') + (last === '.' || last === '..' ? '/' : '');
}

/** Absolute-form (`http://h/x`) reduced to origin-form, as NGINX does for $request_uri and upstream. */
function originForm(target: string): string {
  const abs = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]*(.*)$/s.exec(target);
  return abs === null ? target : abs[1] || '/';
}

/** The path part of what the upstream received: query dropped. */
function pathPart(target: string): string {
  const p = originForm(target);
  const q = p.indexOf('?');
  return q === -1 ? p : p.slice(0, q);
}

function readings(target: string): string[] {
  const p = pathPart(target);
  const withFragmentCut = p.split('#')[0]!;
  const slashy = (s: string) => resolveDots(s.replace(/\\/g, '/').replace(/\/{2,}/g, '/'));
  const out = [
    p, // taken literally
    lenientDecode(p), // decoded, not resolved
    resolveDots(lenientDecode(p)), // decoded, then resolved
    lenientDecode(resolveDots(p)), // resolved, then decoded
    slashy(lenientDecode(p)), // NGINX's $uri, Windows servers: \ is /, slashes merged
    slashy(lenientDecode(withFragmentCut)),
    slashy(lenientDecode(p.replace(/;[^/]*/g, ''))), // servlet containers
    slashy(lenientDecode(lenientDecode(p))), // decoded twice
    slashy(lenientDecode(p).normalize('NFKC')), // best-fit / NFKC lookalikes
  ];
  try {
    out.push(lenientDecode(new URL(p, 'http://upstream.invalid').pathname)); // WHATWG
  } catch {
    out.push('\u0000unparseable');
  }
  return out;
}

function firstRoute(routes: Route[], p: string): Route | undefined {
  return routes.find(
    (r) => (r.methods === undefined || r.methods.includes('GET')) && globRegExp(r.path).test(p),
  );
}

/** May this token reach the upstream with this target, however the upstream reads it? */
function oracleAllows(routes: Route[], target: string, token: TokenName): boolean {
  return readings(target).every((p) => {
    const route = firstRoute(routes, p);
    return route !== undefined && ALLOWED[token].has(route.id);
  });
}

// --- the corpus ---------------------------------------------------------------------------------------

/** Ambiguous constructs, each in its spellings (case, encoding). */
const CONSTRUCTS: Record<string, string[]> = {
  empty_segment: [''],
  dot_segment: ['.', '..', '%2e', '%2E', '%2e%2e', '%2E%2E', '%2e%2E', '.%2e', '%2E.'],
  backslash: ['\\', '%5c', '%5C', '..\\'],
  encoded_slash: ['%2f', '%2F', '..%2f', '%2F..%2F'],
  encoded_dot: ['x%2ey', 'X%2EY'],
  encoded_percent: ['%25', '%252e%252e', '%252F', '%255c'],
  control_character: ['%00', '%0a', '%0D', '%09', '%7f', '%c2%85', '\u0001', '\t', '\u007f', '\u0000'],
  invalid_percent: ['%zz', '%4', '%', '%g0', '%%30', '%u002e'],
  invalid_utf8: ['%c0%af', '%C0%AE', '%c0%ae%c0%ae', '%e0%80%af', '%ed%a0%80', '%ff', '%c3'],
  raw_character: [' ', '"', '<', '>', '^', '`', '{', '|', '}', '[', ']', '\u00c3\u00a9', '\u00ff'],
  fragment: ['#', '#/../admin'],
  path_parameter: [';', ';x=1', ';jsessionid=1', '%3b', '%3B', '..;'],
  encoded_unreserved: ['%61', '%41', '%7e', '%7E', '%2d', '%30'],
  lookalike: ['%ef%bc%8f', '%EF%BC%8E%EF%BC%8E', '%e2%80%a4%e2%80%a4', '%ef%bc%bc'],
};

const BASES = [
  ['docs', 'a', 'b'],
  ['payments', '1', '2'],
  ['invoices', '7'],
  ['admin', 'docs', 'x'],
];

/** Where a construct goes in a base path. */
const POSITIONS: Record<string, (b: string[], c: string) => string> = {
  'new first segment': (b, c) => `/${c}/${b.join('/')}`,
  'new second segment': (b, c) => `/${b[0]}/${c}/${b.slice(1).join('/')}`,
  'replaces the second segment': (b, c) => `/${b[0]}/${c}/${b.slice(2).join('/')}`,
  'end of the first segment': (b, c) => `/${b[0]}${c}/${b.slice(1).join('/')}`,
  'start of the first segment': (b, c) => `/${c}${b.join('/')}`,
  'last segment': (b, c) => `/${b.join('/')}/${c}`,
};

/** Spellings of `..` for explicit traversals between routes. */
const DOT_DOT = [
  '..',
  '%2e%2e',
  '%2E%2E',
  '.%2e',
  '%2e.',
  '%252e%252e',
  '%c0%ae%c0%ae',
  '..;',
  '%ef%bc%8e%ef%bc%8e',
];
const SEPARATORS = ['/', '%2f', '%2F', '\\', '%5c', '%5C'];

function traversals(): string[] {
  const out: string[] = [];
  const pairs = [
    ['payments', 'docs'],
    ['admin', 'docs'],
    ['docs', 'admin'],
    ['docs', 'payments'],
    ['invoices', 'docs'],
  ];
  for (const [from, to] of pairs) {
    for (const dd of DOT_DOT) {
      out.push(`/${from}/${dd}/${to}/x`);
      out.push(`/${from}/x/${dd}/${dd}/${to}/x`);
    }
    for (const sep of SEPARATORS.slice(1)) out.push(`/${from}${sep}..${sep}${to}/x`);
    out.push(`//${from}/${to}/x`, `/\\${from}/${to}/x`, `/${from}//../${to}/x`, `/${from};/../${to}/x`);
    out.push(`/${from}/x#/../../${to}/x`, `http://${from}/${to}/x`, `HTTP://127.0.0.1/${from}/../${to}/x`);
  }
  return out;
}

/** Canonical paths: each must be judged exactly as the oracle judges it (most are allowed for someone). */
const CONTROLS = [
  '/docs/x',
  '/docs/a/b',
  '/docs/',
  '/docs/a/b/',
  '/docs/a%20b',
  '/docs/caf%C3%A9',
  '/docs/caf%c3%a9',
  '/docs/%E2%9C%93',
  '/docs/%3F%23',
  '/docs/x?next=/../../admin',
  '/docs/x?a=%2e%2e&b=//',
  '/docs/..x',
  '/docs/x..',
  '/docs/...',
  '/docs/.well-known',
  '/docs/a.b',
  '/docs/~user',
  "/docs/!$&'()*+,=:@",
  '/payments/42',
  '/payments/1/2',
  '/payments/',
  '/payments/a%20b?x=1',
  '/invoices/7',
  '/invoices/',
  '/invoices/7/lines',
  '/healthz',
  '/healthz/',
  '/admin/docs/x',
  '/nowhere',
  '/',
];

interface Variant {
  target: string;
  family: string;
}

function corpus(): Variant[] {
  const out = new Map<string, Variant>();
  for (const [family, spellings] of Object.entries(CONSTRUCTS))
    for (const c of spellings)
      for (const place of Object.values(POSITIONS))
        for (const base of BASES) {
          const target = place(base, c);
          // Whitespace ending the target is request-line framing, not part of the path; an empty
          // construct in some places gives the plain base back (a control, not a variant).
          if (/[ \t]$/.test(target) || (c === '' && !target.includes('//'))) continue;
          if (!out.has(target)) out.set(target, { target, family });
        }
  for (const target of traversals()) if (!out.has(target)) out.set(target, { target, family: 'traversal' });
  return [...out.values()];
}

// --- raw HTTP over TCP --------------------------------------------------------------------------------

/** Sends one request line exactly as given (latin1: one char, one byte); resolves the status (0: no answer). */
function send(
  port: number,
  target: string,
  id: string,
  token: string | undefined,
  extraHeaders = '',
): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.setTimeout(10_000, () => socket.destroy());
    socket.on('close', () => {
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(Buffer.concat(chunks).toString('latin1'));
      resolve(m === null ? 0 : Number(m[1]));
    });
    const auth = token === undefined ? '' : `Authorization: Bearer ${token}\r\n`;
    // write, not end: NGINX drops a proxied request whose client half-closes ("prematurely closed").
    socket.write(
      Buffer.from(
        `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Corpus-Id: ${id}\r\n${auth}${extraHeaders}Connection: close\r\n\r\n`,
        'latin1',
      ),
    );
  });
}

/** An upstream that records each request-target as received (raw bytes, latin1), keyed by X-Corpus-Id. */
function recordingUpstream(received: Map<string, string>): Server {
  return createServer((socket: Socket) => {
    let head = Buffer.alloc(0);
    socket.on('data', (c: Buffer) => {
      head = Buffer.concat([head, c]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      const [line = '', ...headers] = head.subarray(0, end).toString('latin1').split('\r\n');
      // Method SP request-target SP version: the target may itself hold spaces if a gateway forwarded them.
      const target = line.slice(line.indexOf(' ') + 1, line.lastIndexOf(' '));
      const id = headers.find((h) => /^x-corpus-id:/i.test(h))?.replace(/^[^:]*:\s*/, '') ?? '?';
      received.set(id, target);
      socket.end(
        'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8\r\nConnection: close\r\n\r\nupstream',
      );
    });
    socket.on('error', () => undefined);
  });
}

async function pool<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

// --- the test -----------------------------------------------------------------------------------------

describe('path confusion through the shipped NGINX example, a recording upstream and the built PDP', () => {
  let pdp: PdpProcess;
  let nginx: NginxGateway;
  let upstream: Server;
  let routes: Route[];
  const received = new Map<string, string>();
  const tokens = new Map<TokenName, string | undefined>();

  beforeAll(async () => {
    const issuer = await TestIssuer.create();
    const dir = mkdtempSync(path.join(tmpdir(), 'pdp-paths-'));
    writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify(issuer.jwks));
    const data = path.join(dir, 'data');
    cpSync(EXAMPLE_DATA, data, { recursive: true });
    const file = path.join(data, 'default/gateway-routes.json');
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { routes: Route[] };
    doc.routes.push(...EXTRA_ROUTES);
    writeFileSync(file, JSON.stringify(doc));
    routes = doc.routes;

    const { jwks: _inline, ...trusted } = issuer.trusted();
    pdp = await PdpProcess.start({
      PDP_DATA_DIR: data,
      PDP_TRUSTED_ISSUERS: JSON.stringify([{ ...trusted, jwks_file: path.join(dir, 'jwks.json') }]),
      LOG_LEVEL: 'warn',
      PDP_DECISION_LOG: 'off',
    });
    const upstreamPort = await freePort();
    upstream = recordingUpstream(received);
    upstream.listen(upstreamPort, '127.0.0.1');
    await once(upstream, 'listening');
    nginx = await NginxGateway.start({ pdpPort: pdp.port, upstreamPort });

    const research = { azp: 'agt-research-1', xms_par_app_azp: 'bp-research' };
    tokens.set('docs', await issuer.token({ ...research, aud: 'api://docs', roles: ['docs.read'] }));
    tokens.set('payments', await issuer.token({ aud: 'api://payments', roles: ['payments.read'] }));
    tokens.set('invoices', await issuer.token({ aud: 'api://invoices', roles: ['invoices.read'] }));
    tokens.set('none', undefined);
  }, 60_000);

  afterAll(async () => {
    await nginx.stop();
    upstream.close();
    await pdp.stop();
  });

  let seq = 0;
  /** One request; allowed = the upstream was reached. */
  async function probe(target: string, token: TokenName, extraHeaders = '') {
    const id = String(++seq);
    const status = await send(nginx.port, target, id, tokens.get(token), extraHeaders);
    const got = received.get(id);
    return { target, token, status, allowed: got !== undefined, received: got };
  }

  it('the issue 8 bypasses are denied for a docs.read token, with path_not_canonical', async () => {
    for (const target of [
      '//admin/docs/x',
      '/payments/%2e%2e/docs/x',
      '/\\admin/docs/x',
      '//payments/docs/x',
    ]) {
      const r = await probe(target, 'docs');
      expect([target, r.status, r.allowed]).toEqual([target, 403, false]);
      // What the PDP said to NGINX's subrequest (the same headers NGINX sends).
      const direct = await fetch(pdp.url('/v1/authorize'), {
        headers: {
          'x-original-method': 'GET',
          'x-original-uri': target,
          authorization: `Bearer ${tokens.get('docs')!}`,
        },
      });
      expect(direct.status).toBe(403);
      const body = (await direct.json()) as { reasons: { code: string }[] };
      expect(body.reasons.map((x) => x.code)).toEqual(['path_not_canonical']);
    }
  });

  it('a client cannot choose the path the PDP judges with its own X-Original-URI or X-Forwarded-Uri', async () => {
    for (const header of ['X-Original-URI', 'X-Forwarded-Uri']) {
      const r = await probe('/admin/docs/x', 'docs', `${header}: /docs/x\r\n`);
      expect([header, r.status, r.allowed]).toEqual([header, 403, false]);
    }
  });

  it('a route that sets allow_non_canonical_path is matched on the raw path, which the upstream receives', async () => {
    const legacy = await probe('/legacy/a;v=1/b', 'docs');
    expect(legacy).toMatchObject({ status: 200, allowed: true, received: '/legacy/a;v=1/b' });
    expect((await probe('//legacy/x', 'docs')).allowed).toBe(false);
    expect((await probe('/legacy/a;v=1/b', 'payments')).allowed).toBe(false);
  });

  it('over 200 variants and the canonical controls: the upstream is reached only where every reading is allowed; zero disagreements', async () => {
    const variants = corpus();
    expect(variants.length).toBeGreaterThanOrEqual(200);
    const tokenFor: TokenName[] = ['docs', 'payments', 'invoices', 'none'];
    // Each ambiguous variant with two tokens in turn; each control with every token.
    const jobs = [
      ...variants.flatMap((v, i) => [
        { v, token: tokenFor[i % 4]! },
        { v, token: tokenFor[(i + 1) % 4]! },
      ]),
      ...CONTROLS.flatMap((target) =>
        tokenFor.map((token) => ({ v: { target, family: 'canonical control' }, token })),
      ),
    ];
    const results: (Awaited<ReturnType<typeof probe>> & { family: string })[] = [];
    await pool(jobs, 6, async ({ v, token }) => {
      results.push({ ...(await probe(v.target, token)), family: v.family });
    });

    // 1. Never an allow that some upstream reading would not allow (independent of the classifier).
    const unsafe = results.filter((r) => r.allowed && !oracleAllows(routes, r.received!, r.token));
    // 2. What NGINX forwarded is what the PDP judged ($request_uri, absolute-form reduced to
    //    origin-form): the two views never differ.
    const rewritten = results.filter((r) => r.allowed && r.received !== originForm(r.target));
    // 3. Exactly the specified verdicts: canonical and allowed by the routes, or a route that opts in.
    const expected = (r: (typeof results)[number]) => {
      const c = classifyRequestPath(originForm(r.target));
      if (c.problem === null) return oracleAllows(routes, r.target, r.token);
      const route = firstRoute(routes, c.path);
      return route?.allow_non_canonical_path === true && ALLOWED[r.token].has(route.id);
    };
    const unexpected = results.filter((r) => r.allowed !== expected(r));

    const byStatus = new Map<number, number>();
    for (const r of results) byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1);
    const allowed = results.filter((r) => r.allowed).length;
    const disagreements = unsafe.length + rewritten.length + unexpected.length;
    console.log(
      `path corpus: ${variants.length + CONTROLS.length} variants (${CONTROLS.length} canonical controls), ` +
        `${results.length} requests, ${allowed} allowed, ` +
        `${results.length - allowed} denied (status ${[...byStatus].map(([s, n]) => `${s}: ${n}`).join(', ')}), ` +
        `${disagreements} disagreements`,
    );
    expect(unsafe.map((r) => [r.token, r.target, r.received])).toEqual([]);
    expect(rewritten.map((r) => [r.target, r.received])).toEqual([]);
    expect(unexpected.map((r) => [r.token, r.target, r.status])).toEqual([]);
    // The controls are judged exactly as the routes say, so the corpus cannot pass by denying everything.
    const controls = results.filter((r) => r.family === 'canonical control');
    expect(controls.filter((r) => r.allowed !== oracleAllows(routes, r.target, r.token))).toEqual([]);
    expect(controls.filter((r) => r.allowed).length).toBeGreaterThanOrEqual(25);
    // Every family was exercised, and most variants reached the PDP (NGINX itself rejects some).
    expect(new Set(results.map((r) => r.family)).size).toBe(Object.keys(CONSTRUCTS).length + 2);
    expect(results.filter((r) => r.status === 403 || r.status === 401).length).toBeGreaterThan(
      results.length / 2,
    );
  }, 180_000);
});
