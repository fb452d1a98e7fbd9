import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { EXAMPLE_DIRECTORY } from '../helpers/app';
import { PdpProcess } from '../helpers/pdp-process';
import {
  errorShapeProblem,
  httpExchange,
  parseResponses,
  rawExchange,
  type Exchange,
  type WireResponse,
} from '../helpers/raw-http';
import { RedisProcess } from '../helpers/redis-server';
import { AUDIENCES, TestIssuer } from '../helpers/tokens';

/**
 * The hostile-input corpus for the request channel: every endpoint of the API port and the admin
 * port of a real PDP process (two workers behind the cluster primary, a real redis-server), fed
 * bodies and headers built systematically as endpoint × field × hostile value. For every answer:
 * no 5xx; every error in the JSON error shape with a stable code (the gateway's deny answers in
 * theirs); never an allow for a request built from one that is denied; no success without a
 * credential except on the public endpoints. Afterwards the process is up, no worker restarted,
 * nothing was logged at error level, the decision log is well-formed, and a normal decision answers
 * exactly as it did before the corpus (Object.prototype unpolluted in the workers).
 */

const ROOT_KEY = 'corpus-root-key-0123456789';
const ROOT_HASH = createHash('sha256').update(ROOT_KEY).digest('hex');
const CORP = { ip: '198.51.100.7', country: 'NL' };

// ---------------------------------------------------------------------------------------------
// Hostile values. Each is raw JSON text (or bytes): most cannot be built as a JS value at all.

function deepObject(depth: number): string {
  return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}
function deepArray(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

const HOSTILE_VALUES: readonly (readonly [label: string, json: string])[] = [
  ['object nested 10,000 deep', deepObject(10_000)],
  ['array nested 10,000 deep', deepArray(10_000)],
  ['object nested 40 deep', deepObject(40)],
  ['string of 60,000 characters', JSON.stringify('x'.repeat(60_000))],
  ['string of 70,000 characters (over the body limit)', JSON.stringify('y'.repeat(70_000))],
  ['array of 10,000 items', `[${new Array(10_000).fill('0').join(',')}]`],
  ['object of 5,000 members', `{${Array.from({ length: 5000 }, (_, i) => `"k${i}":0`).join(',')}}`],
  ['__proto__ member', '{"__proto__":{"polluted":"yes","enabled":true,"decision":"allow"}}'],
  ['constructor.prototype member', '{"constructor":{"prototype":{"polluted":"yes"}}}'],
  ['prototype member', '{"prototype":{"polluted":"yes"}}'],
  ['"__proto__" string', '"__proto__"'],
  ['"constructor" string', '"constructor"'],
  ['"toString" string', '"toString"'],
  ['"hasOwnProperty" string', '"hasOwnProperty"'],
  ['1e400', '1e400'],
  ['-1e400', '-1e400'],
  ['-0', '-0'],
  ['1e-400', '1e-400'],
  ['2^53 + 1', '9007199254740993'],
  ['30-digit integer', '123456789012345678901234567890'],
  ['NaN (not JSON)', 'NaN'],
  ['Infinity (not JSON)', 'Infinity'],
  ['0x10 (not JSON)', '0x10'],
  ['leading zero (not JSON)', '01'],
  ['"NaN" string', '"NaN"'],
  ['"1e400" string', '"1e400"'],
  ['leap second', '"2026-12-31T23:59:60Z"'],
  ['leap second at a wrong time', '"2026-06-30T12:59:60Z"'],
  ['leap second with offset and fraction', '"2027-01-01T00:59:60.999999999+01:00"'],
  ['leap second before the epoch', '"1969-12-31T23:59:60Z"'],
  ['year 0000', '"0000-01-01T00:00:00Z"'],
  ['February 30', '"2026-02-30T00:00:00Z"'],
  ['lone surrogate escape', '"\\ud800"'],
  ['NUL escape', '"a\\u0000b"'],
  ['CRLF escape', '"a\\r\\nSet-Cookie: x=1"'],
  ['RTL override', '"\\u202eexe.txt"'],
  ['path traversal', '"../../../../etc/passwd"'],
  ['empty string', '""'],
  ['null', 'null'],
  ['true', 'true'],
  ['empty array', '[]'],
  ['empty object', '{}'],
];

/** Byte sequences that are not UTF-8. */
const INVALID_UTF8: readonly (readonly [label: string, bytes: number[]])[] = [
  ['0xff', [0xff]],
  ['overlong /', [0xc0, 0xaf]],
  ['UTF-8-encoded surrogate', [0xed, 0xa0, 0x80]],
  ['truncated sequence', [0xe2, 0x82]],
  ['5-byte sequence', [0xf8, 0x88, 0x80, 0x80, 0x80]],
];

const RESERVED_KEYS: readonly (readonly [label: string, member: string])[] = [
  ['__proto__', '"__proto__":{"polluted":"yes","enabled":true}'],
  ['constructor', '"constructor":{"prototype":{"polluted":"yes"}}'],
  ['prototype', '"prototype":{"polluted":"yes"}'],
];

// ---------------------------------------------------------------------------------------------
// Endpoints with JSON bodies, each with a valid body. The decision endpoints' bodies are DENIED
// (a disabled agent, or a scope the blueprint does not permit): no mutation may turn one into an
// allow.

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface BodyEndpoint {
  name: string;
  method: string;
  path: string;
  body: Json;
  /** A decision endpoint whose body is denied: any allow in an answer is a finding. */
  denied: boolean;
}

const DENIED_DECIDE: Json = {
  tenant: 'default',
  flow: 'on_behalf_of',
  agent_id: 'agt-disabled',
  blueprint_id: 'bp-invoice',
  resource: 'api://payments',
  scopes: ['payments.read'],
  requested_ttl_seconds: 600,
  user: {
    id: 'u-42',
    amr: ['pwd', 'mfa'],
    risk: 'low',
    device: { id: 'd-1', platform: 'windows', compliant: true },
  },
  client: { ...CORP, sign_in_risk: 'none' },
  context: { purpose: 'corpus', nested: { k: 'v', list: [1, { x: true }] } },
};
const UNPERMITTED_DECIDE: Json = {
  ...(DENIED_DECIDE as Record<string, Json>),
  agent_id: 'agt-7f3a',
  scopes: ['payments.admin'],
};
const EVALUATION = (agent: string, action: string): Json => ({
  subject: { type: 'agent', id: agent, properties: { department: 'finance' } },
  resource: { type: 'api', id: 'api://payments', properties: { owner: 'payments' } },
  action: { name: action, properties: { method: 'GET' } },
  context: {
    tenant: 'default',
    flow: 'autonomous',
    client: CORP,
    requested_ttl_seconds: 600,
    blueprint_id: 'bp-invoice',
    extra: { k: 'v' },
  },
});

const BODY_ENDPOINTS: readonly BodyEndpoint[] = [
  { name: 'decide (disabled agent)', method: 'POST', path: '/v1/decide', body: DENIED_DECIDE, denied: true },
  {
    name: 'decide (unpermitted scope)',
    method: 'POST',
    path: '/v1/decide',
    body: UNPERMITTED_DECIDE,
    denied: true,
  },
  {
    name: 'decide/batch',
    method: 'POST',
    path: '/v1/decide/batch',
    body: { requests: [DENIED_DECIDE, UNPERMITTED_DECIDE] },
    denied: true,
  },
  {
    name: 'whatif',
    method: 'POST',
    path: '/v1/whatif',
    body: {
      ...(DENIED_DECIDE as Record<string, Json>),
      overrides: { agent_risk: 'none', user_risk: 'none', sign_in_risk: 'none', now: '2026-11-27T12:00:00Z' },
      policy_ids: ['ca-block-high-risk-agents'],
    },
    denied: true,
  },
  {
    name: 'AuthZEN evaluation (disabled agent)',
    method: 'POST',
    path: '/access/v1/evaluation',
    body: EVALUATION('agt-disabled', 'payments.read'),
    denied: true,
  },
  {
    name: 'AuthZEN evaluation (unpermitted scope)',
    method: 'POST',
    path: '/access/v1/evaluation',
    body: EVALUATION('agt-7f3a', 'payments.admin'),
    denied: true,
  },
  {
    name: 'AuthZEN evaluations',
    method: 'POST',
    path: '/access/v1/evaluations',
    body: {
      subject: { type: 'agent', id: 'agt-disabled' },
      resource: { type: 'api', id: 'api://payments' },
      context: { client: CORP, extra: { k: 'v' } },
      evaluations: [
        { action: { name: 'payments.read' } },
        { subject: { id: 'agt-7f3a' }, action: { name: 'payments.admin' }, context: { client: CORP } },
      ],
      options: { evaluations_semantic: 'execute_all' },
    },
    denied: true,
  },
  {
    name: 'PUT blueprint',
    method: 'PUT',
    path: '/v1/tenants/corpus/blueprints/bp-c',
    body: {
      display_name: 'Corpus',
      enabled: true,
      permissions: { 'api://payments': ['payments.read'] },
      max_ttl_seconds: 600,
      attributes: { tier: 'lab', nested: { k: 'v' } },
    },
    denied: false,
  },
  {
    name: 'PUT agent',
    method: 'PUT',
    path: '/v1/tenants/corpus/agents/agt-c',
    body: {
      blueprint_id: 'bp-c',
      display_name: 'Corpus agent',
      enabled: true,
      sponsors: ['u-1', 'u-2'],
      attributes: { tier: 'lab', nested: { k: 'v' } },
      expires_at: '2030-01-01T00:00:00Z',
    },
    denied: false,
  },
  {
    name: 'PUT agent risk',
    method: 'PUT',
    path: '/v1/tenants/corpus/signals/agents/agt-c/risk',
    body: { level: 'low', state: 'atRisk', detections: ['leakedCredentials', { type: 'x', at: 1 }] },
    denied: false,
  },
  {
    name: 'PUT user risk',
    method: 'PUT',
    path: '/v1/tenants/corpus/signals/users/u-c/risk',
    body: { level: 'low', state: 'atRisk' },
    denied: false,
  },
  {
    name: 'POST revocation',
    method: 'POST',
    path: '/v1/tenants/corpus/signals/agents/agt-c/revocation',
    body: { reason: 'corpus' },
    denied: false,
  },
];

// ---------------------------------------------------------------------------------------------
// Building bodies: a placeholder is put where the hostile text goes, the valid body serialised,
// and the placeholder's JSON replaced by the raw text.

const VALUE_MARK = '\u0001value\u0001';
const KEY_MARK = '\u0001key\u0001';
type Segment = string | number;

/** Every node of a JSON value with its path (the root is []). */
function nodes(value: Json): { path: Segment[]; value: Json }[] {
  const out: { path: Segment[]; value: Json }[] = [];
  const stack: { path: Segment[]; value: Json }[] = [{ path: [], value }];
  for (let n = stack.pop(); n !== undefined; n = stack.pop()) {
    out.push(n);
    const v = n.value;
    if (Array.isArray(v)) v.forEach((c, i) => stack.push({ path: [...n.path, i], value: c }));
    else if (v !== null && typeof v === 'object') {
      for (const [k, c] of Object.entries(v)) stack.push({ path: [...n.path, k], value: c });
    }
  }
  return out;
}

function pointer(p: Segment[]): string {
  return p.map((s) => `/${String(s)}`).join('');
}

/** A copy with the value at `path` replaced by what `replace` makes of it. */
function withAt(value: Json, p: Segment[], replace: (old: Json) => Json): Json {
  if (p.length === 0) return replace(value);
  const [head, ...rest] = p;
  if (Array.isArray(value)) return value.map((c, i) => (i === head ? withAt(c, rest, replace) : c));
  const obj = value as Record<string, Json>;
  return Object.fromEntries(
    Object.entries(obj).map(([k, c]) => [k, k === head ? withAt(c, rest, replace) : c]),
  );
}

function splice(value: Json, mark: string, raw: string | Buffer): Buffer {
  const text = JSON.stringify(value);
  const at = text.indexOf(JSON.stringify(mark));
  if (at < 0) throw new Error('mark not found');
  return Buffer.concat([
    Buffer.from(text.slice(0, at)),
    typeof raw === 'string' ? Buffer.from(raw) : raw,
    Buffer.from(text.slice(at + JSON.stringify(mark).length)),
  ]);
}

/** The body with `raw` in place of the value at `path`. */
function bodyWithValue(body: Json, p: Segment[], raw: string | Buffer): Buffer {
  return splice(
    withAt(body, p, () => VALUE_MARK),
    VALUE_MARK,
    raw,
  );
}

/** The object at `path` with one more member, `member` (raw `"name":value` text), first or last. */
function bodyWithMember(body: Json, p: Segment[], member: string, first: boolean): Buffer {
  const marked = withAt(body, p, (old) => {
    const entries = Object.entries(old as Record<string, Json>);
    const mark: [string, Json] = [KEY_MARK, 0];
    return Object.fromEntries(first ? [mark, ...entries] : [...entries, mark]);
  });
  const text = JSON.stringify(marked);
  const needle = `${JSON.stringify(KEY_MARK)}:0`;
  const at = text.indexOf(needle);
  return Buffer.from(text.slice(0, at) + member + text.slice(at + needle.length));
}

// ---------------------------------------------------------------------------------------------
// The corpus: cases, and what every answer must satisfy.

interface Case {
  channel: string;
  label: string;
  port: 'api' | 'admin';
  /** Sent through node:http (keep-alive) or as raw bytes on a fresh socket. */
  exchange: Exchange | { raw: (string | Buffer)[] };
  denied?: boolean;
  gateway?: boolean;
  /** Sent without a credential: only the public endpoints may answer 2xx. */
  anonymous?: boolean;
  method: string;
  path: string;
}

const PUBLIC = new Set([
  'GET /healthz',
  'GET /readyz',
  'GET /metrics',
  'GET /.well-known/authzen-configuration',
]);

function isAllow(body: unknown): boolean {
  const b = body as Record<string, unknown> | null;
  if (b === null || typeof b !== 'object') return false;
  if (b['decision'] === 'allow' || b['decision'] === true) return true;
  const results = (b['results'] ?? b['evaluations']) as unknown[] | undefined;
  return Array.isArray(results) && results.some((r) => isAllow(r));
}

/** The gateway's own deny answers (401 invalid token, 403) are decisions, not errors. */
function isGatewayDeny(res: WireResponse): boolean {
  try {
    const b = JSON.parse(res.body) as { decision?: unknown; reasons?: { code?: unknown }[] };
    return (
      b.decision === 'deny' &&
      Array.isArray(b.reasons) &&
      b.reasons.every((r) => typeof r.code === 'string' && /^[a-z][a-z0-9_]*$/.test(r.code))
    );
  } catch {
    return false;
  }
}

function problemOf(c: Case, res: WireResponse): string | null {
  if (res.status >= 500 || res.status < 100) return `status ${res.status}`;
  const head = c.method.toUpperCase() === 'HEAD';
  if (res.status >= 400 && !head) {
    const shape = errorShapeProblem(res);
    if (shape !== null && !(c.gateway === true && isGatewayDeny(res))) return `error shape: ${shape}`;
  }
  if (res.status >= 200 && res.status < 300) {
    if (c.gateway === true) return 'the gateway allowed a hostile request';
    if (c.anonymous === true && !PUBLIC.has(`${head ? 'GET' : c.method} ${c.path.split('?')[0]}`)) {
      return 'success without a credential';
    }
    // Every decision is JSON; a public endpoint's other answers (metrics) need not be.
    if (c.denied === true && !head && /^application\/json/.test(res.headers.get('content-type') ?? '')) {
      if (isAllow(JSON.parse(res.body))) return 'allow';
    }
  }
  return null;
}

function bodyCases(): Case[] {
  const cases: Case[] = [];
  const headers = { 'content-type': 'application/json', 'x-api-key': ROOT_KEY };
  for (const ep of BODY_ENDPOINTS) {
    const base = { port: 'api' as const, denied: ep.denied, method: ep.method, path: ep.path };
    const send = (body: Buffer, extra: Record<string, string> = {}): Exchange => ({
      method: ep.method,
      path: ep.path,
      headers: { ...headers, ...extra },
      body,
    });
    const all = nodes(ep.body);
    for (const node of all) {
      for (const [label, raw] of HOSTILE_VALUES) {
        cases.push({
          ...base,
          channel: 'body: field × hostile value',
          label: `${ep.name} ${pointer(node.path) || '(body)'} = ${label}`,
          exchange: send(bodyWithValue(ep.body, node.path, raw)),
        });
      }
      if (typeof node.value === 'string') {
        for (const [label, bytes] of INVALID_UTF8) {
          const raw = Buffer.concat([Buffer.from('"a'), Buffer.from(bytes), Buffer.from('b"')]);
          cases.push({
            ...base,
            channel: 'body: invalid UTF-8 in a string',
            label: `${ep.name} ${pointer(node.path)} = invalid UTF-8 ${label}`,
            exchange: send(bodyWithValue(ep.body, node.path, raw)),
          });
        }
      }
      if (node.value !== null && typeof node.value === 'object' && !Array.isArray(node.value)) {
        for (const [label, member] of RESERVED_KEYS) {
          for (const first of [true, false]) {
            cases.push({
              ...base,
              channel: 'body: reserved member names',
              label: `${ep.name} ${pointer(node.path) || '(body)'} + ${label} (${first ? 'first' : 'last'})`,
              exchange: send(bodyWithMember(ep.body, node.path, member, first)),
            });
          }
        }
        for (const key of Object.keys(node.value)) {
          for (const first of [true, false]) {
            cases.push({
              ...base,
              channel: 'body: duplicate member names',
              label: `${ep.name} ${pointer([...node.path, key])} twice (${first ? 'hostile first' : 'hostile last'})`,
              exchange: send(bodyWithMember(ep.body, node.path, `${JSON.stringify(key)}:"agt-7f3a"`, first)),
            });
          }
        }
      }
    }
    const valid = Buffer.from(JSON.stringify(ep.body));
    const contentTypes: [string, Record<string, string>, Buffer][] = [
      ['text/plain', { 'content-type': 'text/plain' }, valid],
      ['form', { 'content-type': 'application/x-www-form-urlencoded' }, Buffer.from('agent_id=agt-7f3a')],
      ['multipart', { 'content-type': 'multipart/form-data; boundary=x' }, valid],
      ['xml', { 'content-type': 'application/xml' }, Buffer.from('<a/>')],
      ['json, latin1', { 'content-type': 'application/json; charset=latin1' }, valid],
      [
        'json, utf-16le',
        { 'content-type': 'application/json; charset=utf-16le' },
        Buffer.from(JSON.stringify(ep.body), 'utf16le'),
      ],
      ['json, utf-32', { 'content-type': 'application/json; charset=utf-32' }, valid],
      ['json, unknown charset', { 'content-type': 'application/json; charset=x-nope' }, valid],
      ['json with a BOM', {}, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), valid])],
      ['problem+json', { 'content-type': 'application/problem+json' }, valid],
      ['gzip', { 'content-encoding': 'gzip' }, gzipSync(valid)],
      ['gzip bomb (10 MB of zeros)', { 'content-encoding': 'gzip' }, gzipSync(Buffer.alloc(10_000_000))],
      ['unknown content encoding', { 'content-encoding': 'x-nope' }, valid],
      ['truncated JSON', {}, valid.subarray(0, valid.length - 1)],
      ['two JSON texts', {}, Buffer.concat([valid, valid])],
      ['empty body', {}, Buffer.alloc(0)],
      ['bare string', {}, Buffer.from('"x"')],
    ];
    for (const [label, extra, body] of contentTypes) {
      cases.push({
        ...base,
        channel: 'body: content types, charsets, encodings',
        label: `${ep.name}: ${label}`,
        exchange: send(body, extra),
      });
    }
    const over = 70_000;
    cases.push({
      ...base,
      channel: 'framing: Expect, chunked, Content-Length',
      label: `${ep.name}: Expect: 100-continue over the limit`,
      exchange: {
        raw: [
          `${ep.method} ${ep.path} HTTP/1.1\r\nHost: pdp\r\nX-API-Key: ${ROOT_KEY}\r\nContent-Type: application/json\r\n` +
            `Content-Length: ${over}\r\nExpect: 100-continue\r\n\r\n`,
        ],
      },
    });
    cases.push({
      ...base,
      channel: 'framing: Expect, chunked, Content-Length',
      label: `${ep.name}: chunked body over the limit`,
      exchange: {
        raw: [
          `${ep.method} ${ep.path} HTTP/1.1\r\nHost: pdp\r\nX-API-Key: ${ROOT_KEY}\r\nContent-Type: application/json\r\n` +
            `Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
            `${over.toString(16)}\r\n"${'z'.repeat(over - 2)}"\r\n0\r\n\r\n`,
        ],
      },
    });
    cases.push({
      ...base,
      channel: 'framing: Expect, chunked, Content-Length',
      label: `${ep.name}: Content-Length smaller than the body sent`,
      exchange: {
        raw: [
          `${ep.method} ${ep.path} HTTP/1.1\r\nHost: pdp\r\nX-API-Key: ${ROOT_KEY}\r\nContent-Type: application/json\r\n` +
            `Content-Length: 2\r\n\r\n{}GET /v1/policies HTTP/1.1\r\nHost: pdp\r\nConnection: close\r\n\r\n`,
        ],
      },
    });
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Headers, on the gateway route and everywhere else.

const HOSTILE_HEADER_VALUES: readonly (readonly [label: string, value: string])[] = [
  ['empty', ''],
  ['8,000 characters', 'h'.repeat(8000)],
  ['200,000 characters (over the header limit)', 'H'.repeat(200_000)],
  ['NUL', 'a\u0000b'],
  ['DEL', 'a\u007fb'],
  ['latin-1 bytes', '\u00ff\u00fe\u00e9'],
  ['bare CR', 'a\rb'],
  ['obs-fold', 'a\r\n b'],
  ['percent-encoded NUL', '/docs/%00'],
  ['invalid percent-encoding', '/docs/%zz/%'],
  ['encoded dot segments to admin', '/docs/%2e%2e/%2e%2e/admin'],
  ['network-path reference', '//admin/x'],
  ['backslash', '/\\admin/x'],
  ['absolute URL', 'http://evil.example/admin'],
  ['asterisk', '*'],
  ['traversal', '../../../etc/passwd'],
  ['path parameter', '/admin;jsessionid=1'],
  ['request line', 'GET /admin HTTP/1.1'],
  ['__proto__', '__proto__'],
  ['constructor', 'constructor'],
  ['JSON', '{"tenant":"default"}'],
  ['many commas', ','.repeat(5000)],
  ['IPv6 with zone', 'fe80::1%eth0'],
  ['UTF-8 bytes as latin-1', Buffer.from('/docs/é', 'utf8').toString('latin1')],
];

const GATEWAY_HEADERS = [
  'x-pdp-tenant',
  'x-original-uri',
  'x-original-method',
  'x-forwarded-uri',
  'x-forwarded-method',
  'x-forwarded-host',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-real-ip',
  'host',
  'authorization',
  'x-api-key',
  'content-type',
  'x-request-id',
];

function rawRequest(method: string, target: string, headers: [string, string][], body = ''): string {
  const lines = headers.map(([k, v]) => `${k}: ${v}`);
  const length = body === '' ? [] : [`Content-Length: ${Buffer.byteLength(body)}`];
  return `${method} ${target} HTTP/1.1\r\n${[...lines, ...length, 'Connection: close'].join('\r\n')}\r\n\r\n${body}`;
}

/**
 * The gateway asks the header corpus starts from, both denied: the token is for api://payments
 * (payments.read), the path is /docs/x.
 */
function gatewayBaselines(token: string): [dialect: string, target: string, headers: [string, string][]][] {
  return [
    [
      'envoy',
      '/v1/authorize/docs/x',
      [
        ['Host', 'pdp'],
        ['X-API-Key', ROOT_KEY],
        ['Authorization', `Bearer ${token}`],
        ['X-Forwarded-For', CORP.ip],
      ],
    ],
    [
      'nginx',
      '/v1/authorize',
      [
        ['Host', 'pdp'],
        ['X-API-Key', ROOT_KEY],
        ['Authorization', `Bearer ${token}`],
        ['X-Original-Method', 'GET'],
        ['X-Original-URI', '/docs/x'],
        ['X-Forwarded-For', CORP.ip],
      ],
    ],
  ];
}

function headerCases(token: string): Case[] {
  const cases: Case[] = [];
  for (const [dialect, target, headers] of gatewayBaselines(token)) {
    for (const name of GATEWAY_HEADERS) {
      for (const [label, value] of HOSTILE_HEADER_VALUES) {
        const replaced = headers.filter(([k]) => k.toLowerCase() !== name);
        for (const twice of [false, true]) {
          if (twice && label !== 'network-path reference' && label !== '__proto__') continue;
          const extra: [string, string][] = twice
            ? [
                [name, value],
                [name, '/docs/x'],
              ]
            : [[name, value]];
          cases.push({
            channel: 'headers: gateway (authorize) × header × hostile value',
            label: `${dialect} ${name}${twice ? ' (twice)' : ''} = ${label}`,
            port: 'api',
            gateway: true,
            method: 'GET',
            path: target,
            exchange: { raw: [Buffer.from(rawRequest('GET', target, [...replaced, ...extra]), 'latin1')] },
          });
        }
      }
    }
  }
  // The same hostile values in headers of the other endpoints.
  const others: [string, string, string][] = [
    ['POST', '/v1/decide', JSON.stringify(DENIED_DECIDE)],
    ['POST', '/access/v1/evaluation', JSON.stringify(EVALUATION('agt-disabled', 'payments.read'))],
    ['GET', '/.well-known/authzen-configuration', ''],
    ['GET', '/v1/tenants/default/agents/agt-7f3a', ''],
  ];
  for (const [method, target, body] of others) {
    for (const name of [
      'host',
      'x-api-key',
      'authorization',
      'content-type',
      'x-forwarded-host',
      'x-request-id',
    ]) {
      for (const [label, value] of HOSTILE_HEADER_VALUES) {
        const base: [string, string][] = [
          ['Host', 'pdp'],
          ['X-API-Key', ROOT_KEY],
          ['Content-Type', 'application/json'],
        ];
        const headers = base.filter(([k]) => k.toLowerCase() !== name);
        cases.push({
          channel: 'headers: other endpoints × header × hostile value',
          label: `${method} ${target} ${name} = ${label}`,
          port: 'api',
          denied: true,
          method,
          path: target,
          exchange: {
            raw: [Buffer.from(rawRequest(method, target, [...headers, [name, value]], body), 'latin1')],
          },
        });
      }
    }
  }
  // Header blocks that break the framing.
  const framing: [string, string][] = [
    [
      '10,000 small headers',
      rawRequest(
        'GET',
        '/healthz',
        Array.from({ length: 10_000 }, (_, i) => [`X-H${i}`, 'v']),
      ),
    ],
    ['a header name with a space', 'GET /v1/decide HTTP/1.1\r\nHost: pdp\r\nX Bad: 1\r\n\r\n'],
    ['a header line without a colon', 'GET /v1/decide HTTP/1.1\r\nHost: pdp\r\nnocolon\r\n\r\n'],
    ['LF-only line ends', 'GET /healthz HTTP/1.1\nHost: pdp\n\n'],
    ['HTTP/1.0 without Host', 'GET /healthz HTTP/1.0\r\n\r\n'],
    ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
    ['HTTP/9.9', 'GET /healthz HTTP/9.9\r\nHost: pdp\r\n\r\n'],
    [
      'Content-Length and Transfer-Encoding',
      'POST /v1/decide HTTP/1.1\r\nHost: pdp\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
    ['negative Content-Length', 'POST /v1/decide HTTP/1.1\r\nHost: pdp\r\nContent-Length: -1\r\n\r\n'],
    [
      'huge Content-Length',
      'POST /v1/decide HTTP/1.1\r\nHost: pdp\r\nContent-Length: 99999999999999999999\r\n\r\n',
    ],
    [
      'chunk size not hex',
      'POST /v1/decide HTTP/1.1\r\nHost: pdp\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    ],
    [
      'chunk extension of 100,000 bytes',
      `POST /v1/decide HTTP/1.1\r\nHost: pdp\r\nTransfer-Encoding: chunked\r\n\r\n2;${'e'.repeat(100_000)}\r\n{}\r\n0\r\n\r\n`,
    ],
    [
      'Expect: teapot',
      rawRequest('GET', '/healthz', [
        ['Host', 'pdp'],
        ['Expect', 'teapot'],
      ]),
    ],
    [
      'Upgrade: websocket',
      rawRequest('GET', '/v1/decide', [
        ['Host', 'pdp'],
        ['Connection', 'Upgrade'],
        ['Upgrade', 'websocket'],
      ]),
    ],
    [
      'Upgrade: h2c',
      rawRequest('GET', '/healthz', [
        ['Host', 'pdp'],
        ['Connection', 'Upgrade, HTTP2-Settings'],
        ['Upgrade', 'h2c'],
        ['HTTP2-Settings', 'AAMAAABkAARAAAAAAAIAAAAA'],
      ]),
    ],
    [
      'request target of 100,000 characters',
      rawRequest('GET', `/v1/tenants/default/agents/${'a'.repeat(100_000)}`, [['Host', 'pdp']]),
    ],
  ];
  for (const port of ['api', 'admin'] as const) {
    for (const [label, raw] of framing) {
      cases.push({
        channel: 'framing: malformed and oversized header blocks',
        label: `${port}: ${label}`,
        port,
        anonymous: true,
        method: 'GET',
        path: '/healthz',
        exchange: { raw: [raw] },
      });
    }
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Every method on every path, without a credential; and hostile path and query values.

const API_PATHS = [
  '/v1/decide',
  '/v1/decide/batch',
  '/v1/whatif',
  '/v1/authorize',
  '/v1/authorize/payments/1',
  '/access/v1/evaluation',
  '/access/v1/evaluations',
  '/access/v1/search/action',
  '/access/v1/search/resource',
  '/access/v1/search/subject',
  '/.well-known/authzen-configuration',
  '/v1/tenants/default/blueprints/bp-invoice',
  '/v1/tenants/default/agents/agt-7f3a',
  '/v1/tenants/default/signals/agents/agt-7f3a/risk',
  '/v1/tenants/default/signals/users/u-42/risk',
  '/v1/tenants/default/signals/agents/agt-7f3a/revocation',
  '/no/such/path',
  '*',
  'http://evil.example/v1/decide',
];
const ADMIN_PATHS = ['/healthz', '/readyz', '/metrics', '/v1/policies', '/no/such/path', '*'];
const METHODS = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
  'TRACE',
  'CONNECT',
  'PROPFIND',
  'QUERY',
  'BREW',
  'get',
];

function methodCases(): Case[] {
  const cases: Case[] = [];
  for (const [port, paths] of [
    ['api', API_PATHS],
    ['admin', ADMIN_PATHS],
  ] as const) {
    for (const p of paths) {
      for (const method of METHODS) {
        const body = ['POST', 'PUT', 'PATCH'].includes(method) ? JSON.stringify(DENIED_DECIDE) : '';
        const headers: [string, string][] = [['Host', 'pdp']];
        if (body !== '') headers.push(['Content-Type', 'application/json']);
        cases.push({
          channel: 'methods: every method on every path, no credential',
          label: `${port} ${method} ${p}`,
          port,
          anonymous: true,
          denied: true,
          method,
          path: p,
          exchange: { raw: [rawRequest(method, p, headers, body)] },
        });
      }
    }
  }
  return cases;
}

const HOSTILE_SEGMENTS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  '%2e%2e',
  '%2F',
  '%00',
  '%ff',
  '%zz',
  '..',
  'a'.repeat(5000),
  '%E2%80%AE',
  'default%00',
  ' ',
];

function pathCases(): Case[] {
  const cases: Case[] = [];
  const routes: [string, (t: string, id: string) => string][] = [
    ['blueprints', (t, id) => `/v1/tenants/${t}/blueprints/${id}`],
    ['agents', (t, id) => `/v1/tenants/${t}/agents/${id}`],
    ['agent risk', (t, id) => `/v1/tenants/${t}/signals/agents/${id}/risk`],
    ['user risk', (t, id) => `/v1/tenants/${t}/signals/users/${id}/risk`],
    ['revocation', (t, id) => `/v1/tenants/${t}/signals/agents/${id}/revocation`],
    ['agent users', (t, id) => `/v1/tenants/${t}/agent-users/${id}`],
    ['resources', (t, id) => `/v1/tenants/${t}/resources/${id}`],
    ['agent user risk', (t, id) => `/v1/tenants/${t}/signals/agent-users/${id}/risk`],
  ];
  const bodies: Record<string, Json> = {
    blueprints: { enabled: true, permissions: {} },
    agents: { blueprint_id: 'bp-invoice', enabled: true, sponsors: ['u-1'] },
    'agent risk': { level: 'low' },
    'user risk': { level: 'low' },
    revocation: { reason: 'corpus' },
    'agent users': { agent_id: 'agt-lab-1', enabled: true },
    resources: { identifier_uris: ['api://corpus'], custom_security_attributes: { S: { A: 'v' } } },
    'agent user risk': { level: 'low' },
  };
  for (const [name, route] of routes) {
    for (const segment of HOSTILE_SEGMENTS) {
      for (const [where, target] of [
        ['tenant', route(segment, 'x-1')],
        ['id', route('corpus', segment)],
      ] as const) {
        for (const method of name === 'revocation' ? ['GET', 'POST', 'DELETE'] : ['GET', 'PUT', 'DELETE']) {
          const body = method === 'GET' || method === 'DELETE' ? '' : JSON.stringify(bodies[name]);
          cases.push({
            channel: 'paths: hostile tenant and id segments',
            label: `${method} ${name} ${where} = ${segment.slice(0, 20)}`,
            port: 'api',
            method,
            path: target,
            exchange: {
              raw: [
                rawRequest(
                  method,
                  target,
                  [
                    ['Host', 'pdp'],
                    ['X-API-Key', ROOT_KEY],
                    ['Content-Type', 'application/json'],
                  ],
                  body,
                ),
              ],
            },
          });
        }
      }
    }
  }
  const queries = [
    '?__proto__[polluted]=yes',
    '?constructor[prototype][polluted]=yes',
    '?a=%ff',
    `?${'q'.repeat(20_000)}`,
    '?tenant=other&tenant=x',
  ];
  for (const q of queries) {
    for (const [method, target, body] of [
      ['POST', '/v1/decide', JSON.stringify(DENIED_DECIDE)],
      ['GET', '/v1/tenants/default/agents/agt-7f3a', ''],
      ['GET', '/.well-known/authzen-configuration', ''],
    ] as const) {
      cases.push({
        channel: 'paths: hostile query strings',
        label: `${method} ${target}${q.slice(0, 30)}`,
        port: 'api',
        denied: true,
        method,
        path: target,
        exchange: {
          raw: [
            rawRequest(
              method,
              target + q,
              [
                ['Host', 'pdp'],
                ['X-API-Key', ROOT_KEY],
                ['Content-Type', 'application/json'],
              ],
              body,
            ),
          ],
        },
      });
    }
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------

async function runAll(
  pdp: PdpProcess,
  cases: Case[],
  concurrency: number,
): Promise<{ problems: string[]; statuses: Map<number, number> }> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const problems: string[] = [];
  const statuses = new Map<number, number>();
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < cases.length; i = next++) {
      const c = cases[i]!;
      const port = c.port === 'api' ? pdp.port : pdp.adminPort;
      let responses: WireResponse[];
      try {
        responses =
          'raw' in c.exchange
            ? parseResponses(await rawExchange(port, c.exchange.raw, { idleMs: 2000 })).filter(
                (r) => r.status >= 200,
              )
            : [await httpExchange(port, c.exchange, agent)];
      } catch (err) {
        problems.push(`${c.channel} | ${c.label}: no answer (${(err as Error).message})`);
        continue;
      }
      if (responses.length === 0) {
        problems.push(`${c.channel} | ${c.label}: no HTTP answer`);
        continue;
      }
      for (const res of responses) {
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const problem = problemOf(c, res);
        if (problem !== null)
          problems.push(`${c.channel} | ${c.label}: ${problem} (${res.status} ${res.body.slice(0, 120)})`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  return { problems, statuses };
}

/** The answer to a normal decision, without what changes from one decision to the next. */
async function normalDecisions(pdp: PdpProcess): Promise<unknown> {
  const ask = async (body: Json) => {
    const res = await httpExchange(pdp.port, {
      method: 'POST',
      path: '/v1/decide',
      headers: { 'content-type': 'application/json', 'x-api-key': ROOT_KEY },
      body: JSON.stringify(body),
    });
    const out = JSON.parse(res.body) as Record<string, unknown>;
    return {
      status: res.status,
      decision: out['decision'],
      grant: out['grant'],
      reasons: out['reasons'],
      policies: out['policies'],
      signals: out['signals'],
    };
  };
  const allow = {
    tenant: 'default',
    flow: 'autonomous',
    agent_id: 'agt-7f3a',
    resource: 'api://payments',
    scopes: ['payments.read', 'payments.write'],
    client: { ip: '203.0.113.7', country: 'NL' },
  };
  return {
    allow: await ask(allow),
    disabled: await ask(DENIED_DECIDE),
    unknown: await ask({ ...allow, agent_id: 'agt-nobody' }),
  };
}

describe('hostile-input corpus: request bodies and headers on every endpoint of a real process', () => {
  let redis: RedisProcess;
  let pdp: PdpProcess;
  let issuer: TestIssuer;
  let decisionLog: string;

  beforeAll(async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pdp-corpus-'));
    issuer = await TestIssuer.create();
    const jwks = path.join(dir, 'jwks.json');
    writeFileSync(jwks, JSON.stringify(issuer.jwks));
    decisionLog = path.join(dir, 'decisions.log');
    redis = await RedisProcess.start();
    pdp = await PdpProcess.start({
      REDIS_URL: redis.url,
      PDP_WORKERS: '2',
      PDP_API_KEYS: `corpus:${ROOT_HASH}:decide|authorize|admin|author`,
      PDP_TRUSTED_ISSUERS: JSON.stringify([
        {
          issuer: issuer.issuer,
          jwks_file: jwks,
          audiences: AUDIENCES,
          tenant: 'default',
          algorithms: ['RS256', 'ES256'],
        },
      ]),
      PDP_DECISION_LOG: `file:${decisionLog}`,
      // Thousands of refused requests name the example agent: behaviour detections would (rightly)
      // raise its risk, and the baseline allow this corpus is checked against would change.
      PDP_DETECTIONS: 'false',
      LOG_LEVEL: 'warn',
    });
    // The example directory, through the API, into Redis.
    const seed = JSON.parse(readFileSync(EXAMPLE_DIRECTORY, 'utf8')) as {
      tenants: Record<string, Record<string, Record<string, Json>>>;
    };
    const routes: Record<string, (id: string) => string> = {
      blueprints: (id) => `blueprints/${id}`,
      agents: (id) => `agents/${id}`,
      agent_users: (id) => `agent-users/${id}`,
      resources: (id) => `resources/${id}`,
      agent_risk: (id) => `signals/agents/${id}/risk`,
      user_risk: (id) => `signals/users/${id}/risk`,
    };
    for (const [tenant, sections] of Object.entries(seed.tenants)) {
      for (const [section, records] of Object.entries(sections)) {
        for (const [id, body] of Object.entries(records)) {
          const res = await httpExchange(pdp.port, {
            method: 'PUT',
            path: `/v1/tenants/${tenant}/${routes[section]!(id)}`,
            headers: { 'content-type': 'application/json', 'x-api-key': ROOT_KEY },
            body: JSON.stringify(body),
          });
          expect(res.status).toBe(200);
        }
      }
    }
  }, 60_000);

  afterAll(async () => {
    await pdp.stop();
    await redis.stop();
  });

  it('answers every hostile request without a 5xx, in the JSON error shape, never allowing; the process stays whole', async () => {
    const before = await normalDecisions(pdp);
    expect(before).toMatchObject({
      allow: { status: 200, decision: 'allow', grant: { scopes: ['payments.read'], ttl_seconds: 900 } },
      disabled: { status: 200, decision: 'deny' },
      unknown: { status: 200, decision: 'deny', reasons: [{ code: 'agent_not_found' }] },
    });
    const token = await issuer.token();
    // The unmutated requests answer as the corpus assumes: valid, and denied where it says so.
    for (const ep of BODY_ENDPOINTS) {
      const res = await httpExchange(pdp.port, {
        method: ep.method,
        path: ep.path,
        headers: { 'content-type': 'application/json', 'x-api-key': ROOT_KEY },
        body: JSON.stringify(ep.body),
      });
      expect([ep.name, res.status]).toEqual([
        ep.name,
        ep.method === 'POST' && ep.path.endsWith('/revocation') ? 201 : 200,
      ]);
      if (ep.denied) expect([ep.name, isAllow(JSON.parse(res.body))]).toEqual([ep.name, false]);
    }
    for (const [dialect, target, headers] of gatewayBaselines(token)) {
      const res = parseResponses(await rawExchange(pdp.port, [rawRequest('GET', target, headers)]));
      expect([dialect, res.map((r) => r.status)]).toEqual([dialect, [403]]);
      expect(JSON.parse(res[0]!.body).reasons.map((r: { code: string }) => r.code)).toContain(
        'audience_mismatch',
      );
    }
    const cases = [...bodyCases(), ...headerCases(token), ...methodCases(), ...pathCases()];
    const byChannel = new Map<string, number>();
    for (const c of cases) byChannel.set(c.channel, (byChannel.get(c.channel) ?? 0) + 1);

    const started = Date.now();
    const { problems, statuses } = await runAll(pdp, cases, 6);
    const seconds = (Date.now() - started) / 1000;

    const lines = [
      `hostile-input corpus (request channel): ${cases.length} requests in ${seconds.toFixed(1)} s`,
      ...[...byChannel].map(([channel, n]) => `  ${String(n).padStart(6)}  ${channel}`),
      `  statuses: ${[...statuses]
        .sort(([a], [b]) => a - b)
        .map(([s, n]) => `${s}×${n}`)
        .join(' ')}`,
      `  findings: ${problems.length}`,
    ];
    console.log(lines.join('\n'));
    if (problems.length > 0) console.log(problems.slice(0, 300).join('\n'));
    expect(problems.slice(0, 25)).toEqual([]);

    // The process is whole: up, no worker restarted, nothing logged at error level.
    expect(pdp.child.exitCode).toBeNull();
    const metrics = await httpExchange(pdp.adminPort, { method: 'GET', path: '/metrics' });
    expect(metrics.body).toMatch(/^pdp_worker_restarts_total 0$/m);
    const errors = pdp.output
      .split('\n')
      .filter((l) => /"level":(50|60)/.test(l))
      .slice(0, 5);
    expect(errors).toEqual([]);
    // Object.prototype unpolluted: the same normal decisions answer exactly as before.
    expect(await normalDecisions(pdp)).toEqual(before);
    const agent = await httpExchange(pdp.port, {
      method: 'GET',
      path: '/v1/tenants/default/agents/agt-7f3a',
      headers: { 'x-api-key': ROOT_KEY },
    });
    expect(agent.status).toBe(200);
    expect(agent.body).not.toMatch(/polluted/);
    // Every decision-log record written is one JSON line.
    await pdp.stop();
    // One decision-log file per worker (the file sink appends the worker id).
    const records = readdirSync(path.dirname(decisionLog))
      .filter((f) => f.startsWith(`${path.basename(decisionLog)}.`))
      .flatMap((f) =>
        readFileSync(path.join(path.dirname(decisionLog), f), 'utf8')
          .trim()
          .split('\n'),
      );
    expect(records.length).toBeGreaterThan(1000);
    const malformed = records.filter((l) => {
      try {
        JSON.parse(l);
        return false;
      } catch {
        return true;
      }
    });
    expect(malformed).toEqual([]);
  }, 600_000);
});
