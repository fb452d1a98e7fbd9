/**
 * Hostile input over every DATA channel: CA documents, named locations and gateway routes in the
 * data directory, the bundle's data.json (tenants.<t>.conditional_access and the rest), and
 * directory records, written through the API and straight into Redis.
 *
 * Every case ends one of two ways: rejected with a clear problem (file, policy id, JSON pointer)
 * while the last good revision keeps serving, or loaded with exactly its meaning. Never a crash,
 * never a 5xx on a decision, never an allow that should not be, and Object.prototype untouched.
 *
 * The corpus runs in-process against the engine (real WASM) and, for start-up and hot reload,
 * against the real service (two workers, a real redis-server).
 */
import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import request from 'supertest';
import { untar } from '../../src/engine/bundle';
import type { PolicyEngine } from '../../src/engine/policy-engine';
import { PdpError } from '../../src/errors';
import { INVALIDATION_CHANNEL, recordKey } from '../../src/store/keys';
import { MemoryStore } from '../../src/store/memory-store';
import type { RecordKind } from '../../src/store/types';
import { BUNDLE, TestClock, makeApp, makeEngine, redisStore, type TestApp } from '../helpers/app';
import { PdpProcess } from '../helpers/pdp-process';
import { RedisProcess } from '../helpers/redis-server';

// ---------------------------------------------------------------------------------------------
// Guards

const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype).sort();

/** Nothing added to Object.prototype, nothing enumerable inherited by a fresh object. */
function expectPrototypeClean(): void {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(PROTOTYPE_NAMES);
  const inherited: string[] = [];
  for (const key in {}) inherited.push(key);
  expect(inherited).toEqual([]);
  expect(Object.getPrototypeOf({})).toBe(Object.prototype);
}

/** Writes a file whole (write, then rename), so that a reload never reads half of it. */
async function put(file: string, data: string | Buffer): Promise<void> {
  const staging = path.join(path.dirname(file), '.staging');
  await writeFile(staging, data);
  await rename(staging, file);
}

// ---------------------------------------------------------------------------------------------
// The baseline: tenant acme, whose decisions the last good revision must keep answering

const TENANT = 'acme';
const CORP_IP = '198.51.100.7';
const OUTSIDE_IP = '203.0.113.9';

const BASE_POLICY = {
  id: 'ca-base',
  displayName: 'Block untrusted locations',
  state: 'enabled',
  conditions: {
    users: { includeUsers: ['All'] },
    applications: { includeApplications: ['All'] },
    locations: { includeLocations: ['All'], excludeLocations: ['AllTrusted'] },
  },
  grantControls: { builtInControls: ['block'] },
};
/** Graph's ipNamedLocation, as a plain list (a Graph collection {"value": [...]} loads too). */
const BASE_LOCATIONS = [
  { id: 'loc-corp', displayName: 'Corp', isTrusted: true, ipRanges: [{ cidrAddress: '198.51.100.0/24' }] },
];
const BASE_ROUTES = {
  default: 'deny',
  routes: [
    { id: 'health', path: '/healthz', methods: ['GET'], public: true },
    { id: 'pay', path: '/payments/**', resource: 'api://payments', scopes: ['payments.read'] },
  ],
};

async function writeBaseline(dir: string): Promise<void> {
  await mkdir(path.join(dir, TENANT, 'conditional-access'), { recursive: true });
  await writeFile(path.join(dir, TENANT, 'conditional-access/ca-base.json'), JSON.stringify(BASE_POLICY));
  await writeFile(path.join(dir, TENANT, 'named-locations.json'), JSON.stringify(BASE_LOCATIONS));
  await writeFile(path.join(dir, TENANT, 'gateway-routes.json'), JSON.stringify(BASE_ROUTES));
}

const decideBody = (ip: string, user = 'alice', agent = 'agt-1', tenant = TENANT) => ({
  tenant,
  flow: 'on_behalf_of',
  agent_id: agent,
  resource: 'api://payments',
  scopes: ['payments.read'],
  user: { id: user },
  client: { ip },
});

interface Answer {
  status: number;
  body: {
    decision?: string;
    reasons?: { code: string; policy_id: string | null }[];
    grant?: { scopes: string[] } | null;
    error?: { code: string; message: string };
  };
}

/** The two ways of asking: supertest in-process, fetch against the real service. */
interface Client {
  decide(body: object): Promise<Answer>;
  authorize(pathname: string): Promise<number>;
}

function inProcess(t: TestApp): Client {
  return {
    decide: async (body) => {
      const res = await request(t.api).post('/v1/decide').send(body);
      return { status: res.status, body: res.body as Answer['body'] };
    },
    authorize: async (pathname) =>
      (await request(t.api).get(`/v1/authorize${pathname}`).set('x-pdp-tenant', TENANT)).status,
  };
}

function viaProcess(pdp: PdpProcess): Client {
  return {
    decide: async (body) => pdp.post('/v1/decide', body),
    authorize: async (pathname) =>
      (
        await fetch(pdp.url(`/v1/authorize${pathname}`), {
          headers: { 'x-pdp-tenant': TENANT },
          signal: AbortSignal.timeout(5000),
        })
      ).status,
  };
}

const blockedBy = (a: Answer): string[] =>
  (a.body.reasons ?? []).filter((r) => r.code === 'ca_block').map((r) => r.policy_id ?? '');

/** What the baseline revision answers: allow from the trusted range, ca-base blocks elsewhere. */
async function expectBaseline(c: Client): Promise<void> {
  const inside = await c.decide(decideBody(CORP_IP));
  expect(inside.status).toBe(200);
  expect(inside.body.decision).toBe('allow');
  const outside = await c.decide(decideBody(OUTSIDE_IP));
  expect(outside.status).toBe(200);
  expect(outside.body.decision).toBe('deny');
  expect(blockedBy(outside)).toEqual(['ca-base']);
  expect(await c.authorize('/healthz')).toBe(200);
  // No route: denied by the default; a protected route without a token: challenged.
  expect(await c.authorize('/admin')).toBe(403);
  expect(await c.authorize('/payments/x')).toBe(401);
}

// ---------------------------------------------------------------------------------------------
// The corpus of data files

const DEEP = 10_000;
const MB = 1024 * 1024;

/** A CA document with every object level present, to hang hostile keys on. */
function fullDoc(id: string): Record<string, unknown> {
  return {
    id,
    displayName: id,
    state: 'enabled',
    conditions: {
      users: { includeUsers: ['u-nobody'] },
      applications: { includeApplications: ['All'] },
      clientApplications: {
        includeAgentIdServicePrincipals: ['agt-nobody'],
        agentIdServicePrincipalFilter: { mode: 'include', rule: 'displayName -eq "nobody"' },
      },
      locations: { includeLocations: ['All'] },
      platforms: { includePlatforms: ['all'] },
    },
    grantControls: { operator: 'OR', builtInControls: ['block'] },
    sessionControls: { signInFrequency: { isEnabled: true, type: 'hours', value: 1 } },
    agentControls: { allowedScopes: ['payments.read'] },
  };
}

const LEVELS = [
  '',
  '/conditions',
  '/conditions/users',
  '/conditions/applications',
  '/conditions/clientApplications',
  '/conditions/clientApplications/agentIdServicePrincipalFilter',
  '/conditions/locations',
  '/conditions/platforms',
  '/grantControls',
  '/sessionControls',
  '/sessionControls/signInFrequency',
  '/agentControls',
];

/** Defines `key` as an own property at `pointer` (defineProperty: "__proto__" stays a key). */
function withKey(doc: Record<string, unknown>, pointer: string, key: string, value: unknown): string {
  let target = doc;
  for (const token of pointer.split('/').slice(1)) target = target[token] as Record<string, unknown>;
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  return JSON.stringify(doc);
}

const block = (id: string, conditions: Record<string, unknown>) => ({
  id,
  displayName: id,
  state: 'enabled',
  conditions: {
    users: { includeUsers: ['All'] },
    applications: { includeApplications: ['All'] },
    ...conditions,
  },
  grantControls: { builtInControls: ['block'] },
});

/** A document whose bytes are spliced: `before` + raw + `after` around a valid prefix. */
const splice = (id: string, raw: Buffer): Buffer =>
  Buffer.concat([
    Buffer.from(
      `{"id":"${id}","state":"enabled","grantControls":{"builtInControls":["block"]},"displayName":"`,
    ),
    raw,
    Buffer.from('"}'),
  ]);

interface Rejection {
  /** Pointer of the problem, relative to the document; a RegExp where it is long. */
  pointer: string | RegExp;
  message: RegExp;
}

/** One CA document: its bytes, and how it must end. */
interface DocCase {
  name: string;
  id: string;
  text: string | Buffer;
  rejected?: Rejection;
  /** Checks the loaded document's meaning (the baseline is checked after it is removed). */
  accepted?: (c: Client) => Promise<void>;
  /** Whether the text can sit in a bundle's data.json array (not for empty or BOM-led bytes). */
  inBundle?: boolean;
}

const notAllowed = (pointer: string): Rejection => ({ pointer, message: /^is not allowed$/ });

const DOC_CASES: DocCase[] = [
  ...LEVELS.flatMap((level) =>
    ['__proto__', 'constructor', 'prototype'].map((key): DocCase => ({
      name: `"${key}" as a key at ${level === '' ? 'the root' : level}`,
      id: 'ca-key',
      text: withKey(fullDoc('ca-key'), level, key, { enabled: true, builtInControls: [] }),
      rejected: notAllowed(`${level}/${key}`),
    })),
  ),
  {
    name: '"__proto__" as the id (and the file name)',
    id: '__proto__',
    text: JSON.stringify(block('__proto__', {})),
    rejected: { pointer: '/id', message: /must match pattern/ },
  },
  {
    name: '"__proto__" as the state',
    id: 'ca-state',
    text: JSON.stringify({ ...block('ca-state', {}), state: '__proto__' }),
    rejected: { pointer: '/state', message: /must be one of/ },
  },
  {
    name: '"constructor" as a grant control',
    id: 'ca-control',
    text: JSON.stringify({ ...block('ca-control', {}), grantControls: { builtInControls: ['constructor'] } }),
    rejected: { pointer: '/grantControls/builtInControls/0', message: /must be one of/ },
  },
  {
    name: '"prototype" as a flow',
    id: 'ca-flow',
    text: JSON.stringify(block('ca-flow', { flows: ['prototype'] })),
    rejected: { pointer: '/conditions/flows/0', message: /must be one of/ },
  },
  {
    name: 'a filter operator named "constructor"',
    id: 'ca-op',
    text: JSON.stringify(
      block('ca-op', {
        clientApplications: {
          agentIdServicePrincipalFilter: { mode: 'include', rule: 'displayName constructor "x"' },
        },
      }),
    ),
    rejected: {
      pointer: '/conditions/clientApplications/agentIdServicePrincipalFilter/rule',
      message: /expected one of -eq/,
    },
  },
  {
    name: `objects nested ${DEEP} deep`,
    id: 'ca-deep',
    text: `{"id":"ca-deep","displayName":"d","state":"enabled","conditions":{"users":${'{"a":'.repeat(DEEP)}1${'}'.repeat(DEEP)}}}`,
    rejected: { pointer: /^\/conditions\/users(\/a)+$/, message: /nests deeper than 128 levels/ },
  },
  {
    name: `arrays nested ${DEEP} deep`,
    id: 'ca-deep-array',
    text: `{"id":"ca-deep-array","displayName":"d","state":"enabled","conditions":{"users":{"includeUsers":${'['.repeat(DEEP)}${']'.repeat(DEEP)}}}}`,
    rejected: { pointer: /^\/conditions\/users\/includeUsers(\/0)+$/, message: /nests deeper than 128/ },
  },
  {
    name: 'a 5 MB display name',
    id: 'ca-long-name',
    text: JSON.stringify({ ...block('ca-long-name', {}), displayName: 'x'.repeat(5 * MB) }),
    rejected: { pointer: '/displayName', message: /must NOT have more than 256 characters/ },
  },
  {
    name: 'a 17 MB file',
    id: 'ca-huge',
    text: JSON.stringify({ ...block('ca-huge', {}), description: 'x'.repeat(17 * MB) }),
    rejected: { pointer: '', message: /is larger than 16777216 bytes/ },
    inBundle: false,
  },
  {
    name: 'a repeated key ("id" twice)',
    id: 'ca-dup',
    text: '{"id":"ca-dup","id":"ca-dup","displayName":"d","state":"enabled"}',
    rejected: { pointer: '/id', message: /repeats the key "id"/ },
  },
  {
    name: 'a repeated key spelt with an escape ("state" / "st\\u0061te")',
    id: 'ca-dup-escape',
    text: '{"id":"ca-dup-escape","displayName":"d","state":"disabled","st\\u0061te":"enabled"}',
    rejected: { pointer: '/state', message: /repeats the key "state"/ },
  },
  {
    name: 'a repeated key that would widen the policy (excludeUsers twice)',
    id: 'ca-dup-nested',
    text: `{"id":"ca-dup-nested","displayName":"d","state":"enabled","conditions":{"users":{"includeUsers":["All"],"excludeUsers":["alice"],"excludeUsers":[]}},"grantControls":{"builtInControls":["block"]}}`,
    rejected: { pointer: '/conditions/users/excludeUsers', message: /repeats the key "excludeUsers"/ },
  },
  ...(
    [
      ['a stray byte 0xFF', [0xff]],
      ['a truncated sequence', [0xe2, 0x82]],
      ['an overlong encoding of "/"', [0xc0, 0xaf]],
      ['an encoded surrogate', [0xed, 0xa0, 0x80]],
    ] as const
  ).map(([what, bytes]): DocCase => ({
    name: `invalid UTF-8: ${what}`,
    id: 'ca-utf8',
    text: splice('ca-utf8', Buffer.from(bytes)),
    rejected: { pointer: '', message: /is not valid UTF-8/ },
  })),
  {
    name: 'a number beyond a double (1e400)',
    id: 'ca-big',
    text: '{"id":"ca-big","displayName":"d","state":"enabled","agentControls":{"maxTokenTtlSeconds":1e400}}',
    rejected: { pointer: '/agentControls/maxTokenTtlSeconds', message: /number 1e400 is out of range/ },
  },
  {
    name: 'a number below minus a double (-1e400)',
    id: 'ca-neg',
    text: '{"id":"ca-neg","displayName":"d","state":"enabled","agentControls":{"maxTokenTtlSeconds":-1e400}}',
    rejected: { pointer: '/agentControls/maxTokenTtlSeconds', message: /out of range/ },
  },
  {
    name: 'negative zero where a positive integer is required',
    id: 'ca-zero',
    text: '{"id":"ca-zero","displayName":"d","state":"enabled","agentControls":{"maxTokenTtlSeconds":-0}}',
    rejected: { pointer: '/agentControls/maxTokenTtlSeconds', message: /must be >= 1/ },
  },
  {
    name: 'a number that underflows to 0 (1e-400)',
    id: 'ca-tiny',
    text: '{"id":"ca-tiny","displayName":"d","state":"enabled","sessionControls":{"signInFrequency":{"isEnabled":true,"type":"hours","value":1e-400}}}',
    rejected: { pointer: '/sessionControls/signInFrequency/value', message: /must be >= 1/ },
  },
  {
    name: 'an empty file',
    id: 'ca-empty',
    text: '',
    rejected: { pointer: '', message: /^is empty$/ },
    inBundle: false,
  },
  {
    name: 'a file of white space',
    id: 'ca-blank',
    text: ' \n\t ',
    rejected: { pointer: '', message: /^is empty$/ },
    inBundle: false,
  },
  { name: 'JSON null', id: 'ca-null', text: 'null', rejected: { pointer: '', message: /must be object/ } },
  { name: 'an array', id: 'ca-array', text: '[]', rejected: { pointer: '', message: /must be object/ } },
  {
    name: 'a string',
    id: 'ca-string',
    text: '"ca-string"',
    rejected: { pointer: '', message: /must be object/ },
  },
  {
    name: 'an array where an object is expected (conditions)',
    id: 'ca-cond-array',
    text: JSON.stringify({ ...block('ca-cond-array', {}), conditions: [] }),
    rejected: { pointer: '/conditions', message: /must be object/ },
  },
  {
    name: 'truncated JSON',
    id: 'ca-cut',
    text: '{"id":"ca-cut","displayName":"d"',
    rejected: { pointer: '', message: /is not valid JSON/ },
  },
  {
    name: 'a leap second in a date (createdDateTime 2026-12-31T23:59:60Z, metadata)',
    id: 'ca-leap',
    text: JSON.stringify({
      ...block('ca-leap', { users: { includeUsers: ['u-blocked'] } }),
      createdDateTime: '2026-12-31T23:59:60Z',
    }),
    accepted: async (c) => {
      expect(blockedBy(await c.decide(decideBody(CORP_IP, 'u-blocked')))).toEqual(['ca-leap']);
      expect((await c.decide(decideBody(CORP_IP))).body.decision).toBe('allow');
    },
  },
  {
    name: 'a UTF-8 byte order mark before the document',
    id: 'ca-bom',
    text: Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from(JSON.stringify(block('ca-bom', { users: { includeUsers: ['u-blocked'] } }))),
    ]),
    accepted: async (c) => {
      expect(blockedBy(await c.decide(decideBody(CORP_IP, 'u-blocked')))).toEqual(['ca-bom']);
    },
    inBundle: false,
  },
  {
    name: 'a 5 MB user id in excludeUsers (loaded: only that user is excluded)',
    id: 'ca-long-user',
    text: JSON.stringify(
      block('ca-long-user', { users: { includeUsers: ['All'], excludeUsers: ['u'.repeat(5 * MB)] } }),
    ),
    accepted: async (c) => {
      expect(blockedBy(await c.decide(decideBody(CORP_IP)))).toEqual(['ca-long-user']);
    },
  },
  {
    name: 'Object.prototype names as user ids (loaded: exactly those users)',
    id: 'ca-proto-users',
    text: JSON.stringify(
      block('ca-proto-users', {
        users: {
          includeUsers: ['All'],
          excludeUsers: ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'],
        },
      }),
    ),
    accepted: async (c) => {
      expect(blockedBy(await c.decide(decideBody(CORP_IP)))).toEqual(['ca-proto-users']);
      for (const user of ['constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf']) {
        const a = await c.decide(decideBody(CORP_IP, user));
        expect(a.status).toBe(200);
        expect(a.body.decision).toBe('allow');
      }
    },
  },
];

/** Cases that are about files, not bytes. Each returns the path the problem must name. */
interface FileCase {
  name: string;
  write: (dir: string, outside: string) => Promise<string>;
  rejected?: Rejection;
  accepted?: (c: Client) => Promise<void>;
  /** Not a document at all: the revision stays what it was, without a problem. */
  ignored?: true;
}

const caFile = (dir: string, id: string) => path.join(dir, TENANT, 'conditional-access', `${id}.json`);
const tenantFile = (dir: string, name: string) => path.join(dir, TENANT, name);

const FILE_CASES: FileCase[] = [
  ...DOC_CASES.map((c): FileCase => ({
    name: `CA document: ${c.name}`,
    write: async (dir) => {
      await put(caFile(dir, c.id), c.text);
      return caFile(dir, c.id);
    },
    ...(c.rejected !== undefined && { rejected: c.rejected }),
    ...(c.accepted !== undefined && { accepted: c.accepted }),
  })),
  {
    name: 'CA document: a link to a valid document outside the data directory',
    write: async (dir, outside) => {
      await writeFile(path.join(outside, 'ca-link.json'), JSON.stringify(block('ca-link', {})));
      await symlink(path.join(outside, 'ca-link.json'), caFile(dir, 'ca-link'));
      return caFile(dir, 'ca-link');
    },
    rejected: { pointer: '', message: /links outside the data directory/ },
  },
  {
    name: 'CA document: a link to /etc/passwd',
    write: async (dir) => {
      await symlink('/etc/passwd', caFile(dir, 'ca-passwd'));
      return caFile(dir, 'ca-passwd');
    },
    rejected: { pointer: '', message: /^links outside the data directory$/ },
  },
  {
    name: 'a tenant directory linked from outside the data directory',
    write: async (dir, outside) => {
      await mkdir(path.join(outside, 'evil/conditional-access'), { recursive: true });
      await writeFile(
        path.join(outside, 'evil/conditional-access/ca-e.json'),
        JSON.stringify(block('ca-e', {})),
      );
      await symlink(path.join(outside, 'evil'), path.join(dir, 'evil'));
      return path.join(dir, 'evil');
    },
    rejected: { pointer: '', message: /links outside the data directory/ },
  },
  {
    name: 'the tenant directory as a Kubernetes ConfigMap volume lays it out: links into ..data (loaded)',
    write: async (dir) => {
      const stamp = path.join(dir, '..2026_12_04');
      await mkdir(stamp);
      await cp(path.join(dir, TENANT), path.join(stamp, TENANT), { recursive: true });
      await writeFile(
        path.join(stamp, TENANT, 'conditional-access', 'ca-cm.json'),
        JSON.stringify(block('ca-cm', { users: { includeUsers: ['u-blocked'] } })),
      );
      await symlink('..2026_12_04', path.join(dir, '..data'));
      await rm(path.join(dir, TENANT), { recursive: true });
      await symlink(path.join('..data', TENANT), path.join(dir, TENANT));
      return caFile(dir, 'ca-cm');
    },
    accepted: async (c) => {
      expect(blockedBy(await c.decide(decideBody(CORP_IP, 'u-blocked')))).toEqual(['ca-cm']);
    },
  },
  {
    name: 'CA document: a broken link',
    write: async (dir) => {
      await symlink('nowhere.json', caFile(dir, 'ca-broken'));
      return caFile(dir, 'ca-broken');
    },
    rejected: { pointer: '', message: /is not readable: ENOENT/ },
  },
  {
    name: "CA document: an editor's lock link (.#ca-x.json, pointing nowhere) is not a document",
    write: async (dir) => {
      await symlink('user@host.4242:1700000000', path.join(dir, TENANT, 'conditional-access', '.#ca-x.json'));
      return path.join(dir, TENANT, 'conditional-access', '.#ca-x.json');
    },
    ignored: true,
  },
  {
    name: 'CA document: a FIFO (reading it would block the reload forever)',
    write: (dir) => {
      execFileSync('mkfifo', [caFile(dir, 'ca-fifo')]);
      return Promise.resolve(caFile(dir, 'ca-fifo'));
    },
    rejected: { pointer: '', message: /is not a regular file/ },
  },
  {
    name: 'CA document: a directory named like a document',
    write: async (dir) => {
      await mkdir(caFile(dir, 'ca-dir'));
      return caFile(dir, 'ca-dir');
    },
    rejected: { pointer: '', message: /is not a regular file/ },
  },
  {
    name: 'named locations: an object where the list is expected',
    write: async (dir) => {
      await put(tenantFile(dir, 'named-locations.json'), JSON.stringify({ values: BASE_LOCATIONS }));
      return tenantFile(dir, 'named-locations.json');
    },
    rejected: { pointer: '', message: /must be array/ },
  },
  {
    name: 'named locations: "__proto__" as a key of a location',
    write: async (dir) => {
      const text = JSON.stringify(BASE_LOCATIONS).replace('{"id"', '{"__proto__":{"isTrusted":true},"id"');
      await put(tenantFile(dir, 'named-locations.json'), text);
      return tenantFile(dir, 'named-locations.json');
    },
    rejected: notAllowed('/0/__proto__'),
  },
  {
    name: 'named locations: one id for a trusted and an untrusted range',
    write: async (dir) => {
      const locations = [
        ...BASE_LOCATIONS,
        { id: 'loc-corp', displayName: 'Cafe', ipRanges: [{ cidrAddress: '203.0.113.0/24' }] },
      ];
      await put(tenantFile(dir, 'named-locations.json'), JSON.stringify(locations));
      return tenantFile(dir, 'named-locations.json');
    },
    rejected: { pointer: '/1/id', message: /repeats the location id "loc-corp"/ },
  },
  {
    name: 'named locations: "isTrusted" twice (false, then true)',
    write: async (dir) => {
      const text = `[{"id":"loc-corp","displayName":"Corp","isTrusted":false,"isTrusted":true,"ipRanges":[{"cidrAddress":"198.51.100.0/24"},{"cidrAddress":"203.0.113.0/24"}]}]`;
      await put(tenantFile(dir, 'named-locations.json'), text);
      return tenantFile(dir, 'named-locations.json');
    },
    rejected: { pointer: '/0/isTrusted', message: /repeats the key "isTrusted"/ },
  },
  {
    name: `named locations: nested ${DEEP} deep`,
    write: async (dir) => {
      await put(tenantFile(dir, 'named-locations.json'), '['.repeat(DEEP) + ']'.repeat(DEEP));
      return tenantFile(dir, 'named-locations.json');
    },
    rejected: { pointer: /^(\/0){128}$/, message: /nests deeper than 128/ },
  },
  {
    name: 'named locations: invalid UTF-8 in a display name',
    write: async (dir) => {
      const text = Buffer.concat([
        Buffer.from(
          '[{"id":"loc-corp","isTrusted":true,"ipRanges":[{"cidrAddress":"198.51.100.0/24"}],"displayName":"',
        ),
        Buffer.from([0xc3, 0x28]),
        Buffer.from('"}]'),
      ]);
      await put(tenantFile(dir, 'named-locations.json'), text);
      return tenantFile(dir, 'named-locations.json');
    },
    rejected: { pointer: '', message: /is not valid UTF-8/ },
  },
  {
    name: 'named locations: a 2 MB range that is not a CIDR',
    write: async (dir) => {
      const locations = [{ ...BASE_LOCATIONS[0], ipRanges: [{ cidrAddress: '1'.repeat(2 * MB) }] }];
      await put(tenantFile(dir, 'named-locations.json'), JSON.stringify(locations));
      return tenantFile(dir, 'named-locations.json');
    },
    rejected: { pointer: '/0/ipRanges/0/cidrAddress', message: /must match format "cidr"/ },
  },
  {
    name: 'named locations: a location called "constructor" (loaded: exactly that location)',
    write: async (dir) => {
      const locations = [
        ...BASE_LOCATIONS,
        {
          id: 'constructor',
          displayName: 'constructor',
          isTrusted: true,
          ipRanges: [{ cidrAddress: '192.0.2.0/24' }],
        },
      ];
      await put(tenantFile(dir, 'named-locations.json'), JSON.stringify(locations));
      return tenantFile(dir, 'named-locations.json');
    },
    accepted: async (c) => {
      expect((await c.decide(decideBody('192.0.2.1'))).body.decision).toBe('allow');
      expect(blockedBy(await c.decide(decideBody(OUTSIDE_IP)))).toEqual(['ca-base']);
    },
  },
  {
    name: 'gateway routes: a list where the object is expected',
    write: async (dir) => {
      await put(tenantFile(dir, 'gateway-routes.json'), JSON.stringify(BASE_ROUTES.routes));
      return tenantFile(dir, 'gateway-routes.json');
    },
    rejected: { pointer: '', message: /must be object/ },
  },
  {
    name: 'gateway routes: "default" twice (deny, then allow)',
    write: async (dir) => {
      const text = JSON.stringify(BASE_ROUTES).replace(
        '"default":"deny"',
        '"default":"deny","default":"allow"',
      );
      await put(tenantFile(dir, 'gateway-routes.json'), text);
      return tenantFile(dir, 'gateway-routes.json');
    },
    rejected: { pointer: '/default', message: /repeats the key "default"/ },
  },
  {
    name: 'gateway routes: "__proto__" as a key of a route',
    write: async (dir) => {
      const text = JSON.stringify(BASE_ROUTES).replace(
        '{"id":"pay"',
        '{"__proto__":{"public":true},"id":"pay"',
      );
      await put(tenantFile(dir, 'gateway-routes.json'), text);
      return tenantFile(dir, 'gateway-routes.json');
    },
    rejected: notAllowed('/routes/1/__proto__'),
  },
  {
    name: 'gateway routes: two routes with one id',
    write: async (dir) => {
      const routes = {
        ...BASE_ROUTES,
        routes: [...BASE_ROUTES.routes, { id: 'health', path: '/**', public: true }],
      };
      await put(tenantFile(dir, 'gateway-routes.json'), JSON.stringify(routes));
      return tenantFile(dir, 'gateway-routes.json');
    },
    rejected: { pointer: '/routes/2/id', message: /repeats the route id "health"/ },
  },
  {
    name: 'gateway routes: an empty file',
    write: async (dir) => {
      await put(tenantFile(dir, 'gateway-routes.json'), '');
      return tenantFile(dir, 'gateway-routes.json');
    },
    rejected: { pointer: '', message: /^is empty$/ },
  },
];

/** The problem a rejected load reports about `file`, located as data dir + pointer. */
function expectProblem(
  details: readonly { file?: string; pointer: string; message: string }[],
  file: string,
  r: Rejection,
): void {
  const about = details.filter((d) => d.file === file);
  expect(about).not.toHaveLength(0);
  const first = about[0]!;
  if (typeof r.pointer === 'string') expect(first.pointer).toBe(r.pointer);
  else expect(first.pointer).toMatch(r.pointer);
  expect(first.message).toMatch(r.message);
}

// ---------------------------------------------------------------------------------------------
// In-process: the engine with the real WASM policy

async function acmeStore(tenants: string[] = [TENANT]): Promise<MemoryStore> {
  const store = new MemoryStore();
  for (const tenant of tenants) {
    await store.put('blueprint', tenant, 'bp-1', {
      id: 'bp-1',
      enabled: true,
      permissions: { 'api://payments': ['payments.read'] },
      attributes: {},
    });
    await store.put('agent', tenant, 'agt-1', {
      id: 'agt-1',
      blueprint_id: 'bp-1',
      enabled: true,
      sponsors: ['u-1'],
      attributes: {},
    });
  }
  return store;
}

async function reloadOutcome(engine: PolicyEngine): Promise<PdpError | null> {
  try {
    await engine.reload();
    return null;
  } catch (err) {
    if (err instanceof PdpError) return err;
    throw err;
  }
}

describe('data directory files, in-process (real WASM)', () => {
  let dir: string;
  let outside: string;
  let engine: PolicyEngine;
  let client: Client;
  let baseline: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'pdp-adv-data-'));
    outside = await mkdtemp(path.join(tmpdir(), 'pdp-adv-outside-'));
    await writeBaseline(dir);
    engine = await makeEngine({ dataDir: dir });
    baseline = engine.current!.revision;
    client = inProcess(await makeApp({ engine, store: await acmeStore() }));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });
  afterEach(async () => {
    // Back to the baseline, and it serves as before.
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir);
    await writeBaseline(dir);
    expect(await reloadOutcome(engine)).toBeNull();
    expect(engine.current!.revision).toBe(baseline);
    await expectBaseline(client);
    expectPrototypeClean();
  });

  it.each(FILE_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const file = await c.write(dir, outside);
    const error = await reloadOutcome(engine);
    expectPrototypeClean();
    if (c.rejected !== undefined) {
      expect(error?.code).toBe('data_invalid');
      expectProblem(error!.details, file, c.rejected);
      expect(engine.current!.revision).toBe(baseline);
      await expectBaseline(client);
    } else if (c.ignored === true) {
      expect(error).toBeNull();
      expect(engine.current!.revision).toBe(baseline);
      await expectBaseline(client);
    } else {
      expect(error).toBeNull();
      expect(engine.current!.revision).not.toBe(baseline);
      await c.accepted!(client);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// In-process: the bundle's data.json

/** A bundle directory: the built policy.wasm and .manifest, and the given data.json bytes. */
async function bundleDir(data: string | Buffer): Promise<string> {
  const files = await untar(await readFile(BUNDLE));
  const dir = await mkdtemp(path.join(tmpdir(), 'pdp-adv-bundle-'));
  await writeFile(path.join(dir, 'policy.wasm'), files.get('policy.wasm')!);
  await writeFile(path.join(dir, '.manifest'), files.get('.manifest') ?? '{}');
  await writeFile(path.join(dir, 'data.json'), data);
  return dir;
}

/** data.json with the document's bytes as tenants.acme.conditional_access[0]. */
const bundleWithDoc = (doc: string | Buffer): Buffer =>
  Buffer.concat([
    Buffer.from(`{"tenants":{"${TENANT}":{"conditional_access":[`),
    Buffer.from(doc),
    Buffer.from(']}}}'),
  ]);

interface BundleCase {
  name: string;
  data: string | Buffer;
  /** The load's error code and where the problem is: pointer from data.json's root. */
  rejected?: { code: 'data_invalid' | 'bundle_invalid'; pointer: string | RegExp; message: RegExp };
  accepted?: (c: Client) => Promise<void>;
}

const ROOT_DOC = `/tenants/${TENANT}/conditional_access/0`;

const BUNDLE_CASES: BundleCase[] = [
  ...DOC_CASES.filter((c) => c.inBundle !== false).map((c): BundleCase => ({
    name: `tenants.${TENANT}.conditional_access[0]: ${c.name}`,
    data: bundleWithDoc(c.text),
    ...(c.rejected !== undefined && {
      rejected: {
        // JSON-level problems are found in data.json as a whole; schema ones in the document.
        code: /valid UTF-8|repeats the key|nests deeper|out of range|not valid JSON/.test(
          c.rejected.message.source,
        )
          ? 'bundle_invalid'
          : 'data_invalid',
        pointer:
          typeof c.rejected.pointer === 'string'
            ? /UTF-8|not valid JSON/.test(c.rejected.message.source)
              ? ''
              : ROOT_DOC + c.rejected.pointer
            : new RegExp(`^${ROOT_DOC}${c.rejected.pointer.source.slice(1)}`),
        message: c.rejected.message,
      },
    }),
    ...(c.accepted !== undefined && { accepted: c.accepted }),
  })),
  {
    name: 'data.json is a list',
    data: '[]',
    rejected: { code: 'bundle_invalid', pointer: '', message: /must be an object/ },
  },
  {
    name: 'data.json is empty',
    data: '',
    rejected: { code: 'bundle_invalid', pointer: '', message: /^is empty$/ },
  },
  {
    name: `data.json nests ${DEEP} deep outside tenants`,
    data: `{"custom":${'{"a":'.repeat(DEEP)}1${'}'.repeat(DEEP)}}`,
    rejected: { code: 'bundle_invalid', pointer: /^\/custom(\/a){127}$/, message: /nests deeper than 128/ },
  },
  {
    name: 'data.json has 1e400 outside tenants',
    data: '{"custom":{"limit":1e400}}',
    rejected: { code: 'bundle_invalid', pointer: '/custom/limit', message: /out of range/ },
  },
  {
    name: 'data.json has "tenants" twice (a block policy, then none)',
    data: `{"tenants":{"${TENANT}":{"conditional_access":[${JSON.stringify(block('ca-b', {}))}]}},"tenants":{}}`,
    rejected: { code: 'bundle_invalid', pointer: '/tenants', message: /repeats the key "tenants"/ },
  },
  {
    name: 'a tenant named "__proto__"',
    data: `{"tenants":{"__proto__":{"conditional_access":[]}}}`,
    rejected: { code: 'data_invalid', pointer: '/tenants/__proto__', message: /is not a valid tenant name/ },
  },
  {
    name: 'a tenant that is a list',
    data: `{"tenants":{"${TENANT}":[]}}`,
    rejected: { code: 'data_invalid', pointer: `/tenants/${TENANT}`, message: /must be an object/ },
  },
  {
    name: 'conditional_access that is an object (it was silently ignored)',
    data: `{"tenants":{"${TENANT}":{"conditional_access":${JSON.stringify(block('ca-b', {}))}}}}`,
    rejected: {
      code: 'data_invalid',
      pointer: `/tenants/${TENANT}/conditional_access`,
      message: /must be an array/,
    },
  },
  {
    name: 'a misspelt tenant key (conditional_acess)',
    data: `{"tenants":{"${TENANT}":{"conditional_acess":[${JSON.stringify(block('ca-b', {}))}]}}}`,
    rejected: {
      code: 'data_invalid',
      pointer: `/tenants/${TENANT}/conditional_acess`,
      message: /is not allowed/,
    },
  },
  {
    name: 'two policies with one id in conditional_access',
    data: `{"tenants":{"${TENANT}":{"conditional_access":[${JSON.stringify(block('ca-b', { users: { includeUsers: ['u-x'] } }))},${JSON.stringify(block('ca-b', {}))}]}}}`,
    rejected: {
      code: 'data_invalid',
      pointer: `/tenants/${TENANT}/conditional_access/1/id`,
      message: /repeats a policy id/,
    },
  },
  {
    name: '"__proto__" at the root of data.json (loaded: an ordinary key, no tenants from it)',
    data: `{"__proto__":{"tenants":{"${TENANT}":{"conditional_access":[${JSON.stringify(block('ca-b', {}))}]}}}}`,
    accepted: async (c) => {
      await expectBaseline(c);
    },
  },
  {
    name: 'tenants named "constructor" and "toString" (loaded: exactly those tenants)',
    data: `{"tenants":{"constructor":{"conditional_access":[${JSON.stringify(block('ca-c', {}))}]},"toString":{}}}`,
    accepted: async (c) => {
      expect(blockedBy(await c.decide(decideBody(CORP_IP, 'alice', 'agt-1', 'constructor')))).toEqual([
        'ca-c',
      ]);
      const other = await c.decide(decideBody(CORP_IP, 'alice', 'agt-1', 'toString'));
      expect(other.status).toBe(200);
      expect(other.body.decision).toBe('allow');
      // A tenant no one defined, whose name Object.prototype has: nothing applies there either.
      const none = await c.decide(decideBody(CORP_IP, 'alice', 'agt-1', 'valueOf'));
      expect(none.body.decision).toBe('allow');
      await expectBaseline(c);
    },
  },
];

describe("the bundle's data.json, in-process (real WASM)", () => {
  let dataDir: string;
  const good = `{"tenants":{}}`;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'pdp-adv-bdata-'));
    await writeBaseline(dataDir);
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it.each(BUNDLE_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const bundle = await bundleDir(good);
    try {
      const engine = await makeEngine({ bundle, dataDir });
      const baseline = engine.current!.revision;
      const client = inProcess(
        await makeApp({ engine, store: await acmeStore([TENANT, 'constructor', 'toString', 'valueOf']) }),
      );
      await put(path.join(bundle, 'data.json'), c.data);
      const error = await reloadOutcome(engine);
      expectPrototypeClean();
      if (c.rejected !== undefined) {
        expect(error?.code).toBe(c.rejected.code);
        const located = error!.details.map((d) => ({
          ...d,
          pointer: (d.file?.includes('#/') === true ? d.file.slice(d.file.indexOf('#') + 1) : '') + d.pointer,
        }));
        const match = located.find((d) =>
          typeof c.rejected!.pointer === 'string'
            ? d.pointer === c.rejected!.pointer
            : c.rejected!.pointer.test(d.pointer),
        );
        expect({ details: located, found: match !== undefined }).toMatchObject({ found: true });
        expect(match!.message).toMatch(c.rejected.message);
        expect(engine.current!.revision).toBe(baseline);
        await expectBaseline(client);
      } else {
        expect(error).toBeNull();
        await c.accepted!(client);
      }
      expectPrototypeClean();
    } finally {
      await rm(bundle, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Directory records: through the API and straight into Redis (real redis-server)

describe('directory records, through the API and written around it into Redis', () => {
  let redis: RedisProcess;
  let raw: Redis;
  let t: TestApp;
  let client: Client;
  const clock = new TestClock(Date.parse('2026-12-31T23:59:59Z'));

  beforeAll(async () => {
    redis = await RedisProcess.start();
    raw = new Redis(redis.url);
    const dataDir = await mkdtemp(path.join(tmpdir(), 'pdp-adv-dir-'));
    await writeBaseline(dataDir);
    // Values of tens of MB take longer than a decision's read budget to move: this suite is about
    // what they mean, not how fast they come (the outage tests cover the budget).
    const store = await redisStore(redis.url, { clock: clock.now, readBudgetMs: 10_000 });
    t = await makeApp({ engine: await makeEngine({ dataDir, clock: clock.now }), store, clock: clock.now });
    client = inProcess(t);
    const put = (p: string, body: object) =>
      request(t.api).put(`/v1/tenants/${TENANT}/${p}`).send(body).expect(200);
    await put('blueprints/bp-1', { enabled: true, permissions: { 'api://payments': ['payments.read'] } });
    await put('agents/agt-1', { blueprint_id: 'bp-1', enabled: true, sponsors: ['u-1'] });
  });
  afterAll(async () => {
    await t.store.close();
    raw.disconnect();
    await redis.stop();
  });
  afterEach(async () => {
    clock.ms = Date.parse('2026-12-31T23:59:59Z');
    await expectBaseline(client);
    expectPrototypeClean();
  });

  /** Writes bytes as a writer bypassing the API would, publishing the key as the design asks. */
  async function writeRaw(kind: RecordKind, id: string, value: string | Buffer): Promise<void> {
    const key = recordKey(TENANT, kind, id);
    await raw.set(key, value);
    await raw.publish(INVALIDATION_CHANNEL, key);
    await new Promise((r) => setTimeout(r, 50));
  }

  const asAgent = (agent: string) => decideBody(CORP_IP, 'alice', agent);

  async function expectDenied(agent: string, code?: string): Promise<void> {
    const a = await client.decide(asAgent(agent));
    expect(a.status).toBe(200);
    expect(a.body.decision).toBe('deny');
    expect(a.body.grant ?? null).toBeNull();
    if (code !== undefined) expect((a.body.reasons ?? []).map((r) => r.code)).toContain(code);
  }

  describe('PUT through the API', () => {
    it('keeps "constructor" and "prototype" as plain keys at every level of attributes', async () => {
      const text = `{"blueprint_id":"bp-1","enabled":true,"sponsors":["u-1"],"attributes":{"constructor":{"prototype":{"a":1}},"tier":"__proto__"}}`;
      const put = await request(t.api)
        .put(`/v1/tenants/${TENANT}/agents/agt-proto`)
        .set('content-type', 'application/json')
        .send(text);
      expect(put.status).toBe(200);
      const got = await request(t.api).get(`/v1/tenants/${TENANT}/agents/agt-proto`).expect(200);
      expect(got.text).toContain('"attributes":{"constructor":{"prototype":{"a":1}},"tier":"__proto__"}');
      expect((await client.decide(asAgent('agt-proto'))).body.decision).toBe('allow');
    });

    it.each([
      [
        'at the root',
        `{"__proto__":{"enabled":true},"blueprint_id":"bp-1","sponsors":["u-1"]}`,
        '/__proto__',
      ],
      [
        'inside attributes',
        `{"blueprint_id":"bp-1","enabled":true,"sponsors":["u-1"],"attributes":{"__proto__":{"enabled":false}}}`,
        '/attributes/__proto__',
      ],
    ])(
      'refuses a "__proto__" member %s (a reserved name in request bodies) and stores nothing',
      async (_where, text, pointer) => {
        const put = await request(t.api)
          .put(`/v1/tenants/${TENANT}/agents/agt-inherit`)
          .set('content-type', 'application/json')
          .send(text);
        expect(put.status).toBe(400);
        expect(put.body.error.details).toEqual(
          expect.arrayContaining([expect.objectContaining({ pointer, keyword: 'reservedKey' })]),
        );
        await expectDenied('agt-inherit', 'agent_not_found');
      },
    );

    it('permits exactly the resources a blueprint names, "constructor" included; "__proto__" is refused', async () => {
      await request(t.api)
        .put(`/v1/tenants/${TENANT}/blueprints/bp-proto`)
        .set('content-type', 'application/json')
        .send(`{"enabled":true,"permissions":{"__proto__":["a.read"]}}`)
        .expect(400);
      await request(t.api)
        .put(`/v1/tenants/${TENANT}/blueprints/bp-proto`)
        .set('content-type', 'application/json')
        .send(`{"enabled":true,"permissions":{"constructor":["b.read"]}}`)
        .expect(200);
      await request(t.api)
        .put(`/v1/tenants/${TENANT}/agents/agt-bp-proto`)
        .send({ blueprint_id: 'bp-proto', enabled: true, sponsors: ['u-1'] })
        .expect(200);
      const ask = (resource: string, scope: string) =>
        client.decide({ ...asAgent('agt-bp-proto'), resource, scopes: [scope] });
      expect((await ask('constructor', 'b.read')).body.grant?.scopes).toEqual(['b.read']);
      expect((await ask('__proto__', 'a.read')).body.decision).toBe('deny');
      expect((await ask('toString', 'b.read')).body.decision).toBe('deny');
      expect((await ask('constructor', 'a.read')).body.decision).toBe('deny');
    });

    it('refuses a body that repeats a key (parsers disagree on which one wins) and stores nothing', async () => {
      const text = `{"blueprint_id":"bp-1","sponsors":["u-1"],"enabled":false,"enabled":true}`;
      const put = await request(t.api)
        .put(`/v1/tenants/${TENANT}/agents/agt-dup`)
        .set('content-type', 'application/json')
        .send(text);
      expect(put.status).toBe(400);
      expect(put.body.error.details).toEqual(
        expect.arrayContaining([expect.objectContaining({ keyword: 'duplicateKey' })]),
      );
      await expectDenied('agt-dup', 'agent_not_found');
    });

    it('takes a large attribute within the body limit and answers 413 above it', async () => {
      const agent = {
        blueprint_id: 'bp-1',
        enabled: true,
        sponsors: ['u-1'],
        attributes: { blob: 'x'.repeat(60_000) },
      };
      await request(t.api).put(`/v1/tenants/${TENANT}/agents/agt-big`).send(agent).expect(200);
      expect((await client.decide(asAgent('agt-big'))).body.decision).toBe('allow');
      const over = { ...agent, attributes: { blob: 'x'.repeat(70_000) } };
      await request(t.api).put(`/v1/tenants/${TENANT}/agents/agt-big`).send(over).expect(413);
    });
  });

  describe('raw values in Redis (a writer bypassing the API)', () => {
    const good = { blueprint_id: 'bp-1', enabled: true, sponsors: ['u-1'] };

    it.each([
      ['corrupt JSON', '{"blueprint_id":"bp-1",'],
      ['an empty value', ''],
      ['a list', '[]'],
      ['a string', '"agt-1"'],
      ['a number', '42'],
      ['true', 'true'],
      ['JSON null', 'null'],
      [
        'a repeated key (enabled false, then true)',
        '{"blueprint_id":"bp-1","sponsors":["u-1"],"enabled":false,"enabled":true}',
      ],
      [
        'invalid UTF-8',
        Buffer.concat([
          Buffer.from('{"blueprint_id":"bp-1","enabled":true,"sponsors":["u-1"],"display_name":"'),
          Buffer.from([0xff, 0xfe]),
          Buffer.from('"}'),
        ]),
      ],
      ['1e400', '{"blueprint_id":"bp-1","enabled":true,"sponsors":["u-1"],"attributes":{"n":1e400}}'],
      [
        `nesting ${DEEP} deep`,
        `{"blueprint_id":"bp-1","enabled":true,"sponsors":["u-1"],"attributes":${'{"a":'.repeat(DEEP)}1${'}'.repeat(DEEP)}}`,
      ],
      ['a 40 MB value', JSON.stringify({ ...good, attributes: { blob: 'x'.repeat(40 * MB) } })],
    ] as const)('an agent record that is %s: deny, not a 5xx', async (_name, value) => {
      await writeRaw('agent', 'agt-raw', value);
      await expectDenied('agt-raw', 'signals_unavailable');
      // The directory API reports the record as unusable, never as a 500.
      const got = await request(t.api).get(`/v1/tenants/${TENANT}/agents/agt-raw`);
      expect(got.status).toBe(503);
      expect(got.body.error.code).toBe('store_unavailable');
    });

    it.each([
      ['enabled as the string "true"', { ...good, enabled: 'true' }, 'agent_disabled'],
      ['enabled as 1', { ...good, enabled: 1 }, 'agent_disabled'],
      ['blueprint_id as a number', { ...good, blueprint_id: 5 }, 'blueprint_not_found'],
      ['sponsors as a string', { ...good, sponsors: 'u-1' }, 'agent_no_sponsor'],
      ['expires_at as a number', { ...good, expires_at: 4_102_444_800 }, 'agent_expired'],
      ['expires_at as a list', { ...good, expires_at: ['2099-01-01T00:00:00Z'] }, 'agent_expired'],
      ['expires_at in words', { ...good, expires_at: 'January 1, 2099' }, 'agent_expired'],
    ] as const)('an agent record with %s: deny (%s)', async (_name, record, code) => {
      await writeRaw('agent', 'agt-typed', JSON.stringify(record));
      await expectDenied('agt-typed', code);
    });

    it('reads "__proto__" in a record as a plain key: "enabled" under it is not the record\'s', async () => {
      await writeRaw(
        'agent',
        'agt-raw-proto',
        '{"__proto__":{"enabled":true},"blueprint_id":"bp-1","sponsors":["u-1"]}',
      );
      await expectDenied('agt-raw-proto', 'agent_disabled');
      await writeRaw(
        'blueprint',
        'bp-raw-proto',
        '{"__proto__":{"permissions":{"api://payments":["payments.read"]}},"enabled":true,"permissions":{}}',
      );
      await writeRaw(
        'agent',
        'agt-raw-bp',
        '{"blueprint_id":"bp-raw-proto","enabled":true,"sponsors":["u-1"]}',
      );
      await expectDenied('agt-raw-bp', 'resource_not_permitted');
      await writeRaw(
        'agent',
        'agt-raw-ok',
        '{"blueprint_id":"bp-1","enabled":true,"sponsors":["u-1"],"attributes":{"__proto__":{"x":1},"constructor":"y"}}',
      );
      expect((await client.decide(asAgent('agt-raw-ok'))).body.decision).toBe('allow');
    });

    it('takes a 5 MB attribute as what it is', async () => {
      await writeRaw(
        'agent',
        'agt-5mb',
        JSON.stringify({ ...good, attributes: { blob: 'y'.repeat(5 * MB) } }),
      );
      expect((await client.decide(asAgent('agt-5mb'))).body.decision).toBe('allow');
    });

    it('reads a leap second in expires_at as 23:59:59.999 (never later), not as already expired', async () => {
      await writeRaw('agent', 'agt-leap', JSON.stringify({ ...good, expires_at: '2026-12-31T23:59:60Z' }));
      clock.ms = Date.parse('2026-12-31T23:59:58Z');
      expect((await client.decide(asAgent('agt-leap'))).body.decision).toBe('allow');
      clock.ms = Date.parse('2027-01-01T00:00:00Z');
      await expectDenied('agt-leap', 'agent_expired');
    });

    it('denies when a revocation marker is not a record (corrupt, not "not revoked")', async () => {
      await writeRaw('agent', 'agt-rev', JSON.stringify(good));
      expect((await client.decide(asAgent('agt-rev'))).body.decision).toBe('allow');
      await writeRaw('revoked:agent', 'agt-rev', '"yes"');
      await expectDenied('agt-rev', 'signals_unavailable');
    });
  });
});

// ---------------------------------------------------------------------------------------------
// The real service: start-up and hot reload

describe('the real service (two workers, real Redis)', () => {
  let redis: RedisProcess;
  let dir: string;
  let outside: string;

  beforeEach(async () => {
    redis = await RedisProcess.start();
    dir = await mkdtemp(path.join(tmpdir(), 'pdp-adv-proc-'));
    outside = await mkdtemp(path.join(tmpdir(), 'pdp-adv-proc-out-'));
    await writeBaseline(dir);
  });
  afterEach(async () => {
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });

  async function seed(pdp: PdpProcess): Promise<void> {
    const bp = { enabled: true, permissions: { 'api://payments': ['payments.read'] } };
    expect((await pdp.post(`/v1/tenants/${TENANT}/blueprints/bp-1`, bp, 'PUT')).status).toBe(200);
    const agent = { blueprint_id: 'bp-1', enabled: true, sponsors: ['u-1'] };
    expect((await pdp.post(`/v1/tenants/${TENANT}/agents/agt-1`, agent, 'PUT')).status).toBe(200);
  }

  interface Listing {
    revision: string | null;
    last_reload_error: { details: { file?: string; pointer: string; message: string }[] } | null;
    workers: { revision: string | null }[];
  }
  const listing = async (pdp: PdpProcess): Promise<Listing> =>
    (await (await fetch(pdp.adminUrl('/v1/policies'))).json()) as Listing;

  async function until<T>(probe: () => Promise<T | undefined>, what: string, pdp: PdpProcess): Promise<T> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${pdp.output.slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  const START_CASES = [
    '"__proto__" as a key at /conditions/users',
    `objects nested ${DEEP} deep`,
    'a repeated key that would widen the policy (excludeUsers twice)',
    'invalid UTF-8: a truncated sequence',
  ].map((name) => DOC_CASES.find((c) => c.name === name)!);

  it.each(START_CASES.map((c) => [c.name, c] as const))(
    'starts with a CA document with %s: up, not ready, the problem named; ready once it is fixed',
    async (_name, c) => {
      await put(caFile(dir, c.id), c.text);
      const pdp = await PdpProcess.start(
        { REDIS_URL: redis.url, PDP_WORKERS: '2', PDP_DATA_DIR: dir, PDP_BUNDLE_POLL_SECONDS: '0.2' },
        { waitFor: 'healthz' },
      );
      try {
        const problem = await until(
          async () =>
            (await listing(pdp)).last_reload_error?.details.find((d) => d.file === caFile(dir, c.id)),
          'the load error',
          pdp,
        );
        if (typeof c.rejected!.pointer === 'string') expect(problem.pointer).toBe(c.rejected!.pointer);
        expect(problem.message).toMatch(c.rejected!.message);
        expect((await fetch(pdp.adminUrl('/readyz'))).status).toBe(503);
        // Fail closed: nothing decides without a revision (a 503, by design), and nothing crashed.
        const res = await pdp.post('/v1/decide', decideBody(CORP_IP));
        expect(res.status).toBe(503);
        expect(res.body.error.code).toBe('not_ready');
        expect(pdp.child.exitCode).toBeNull();

        await rm(caFile(dir, c.id));
        await until(
          async () => ((await fetch(pdp.adminUrl('/readyz'))).status === 200 ? true : undefined),
          'ready',
          pdp,
        );
        await seed(pdp);
        await expectBaseline(viaProcess(pdp));
        expect(pdp.output).not.toMatch(/worker exited|is not a function/);
      } finally {
        expect(await pdp.stop()).toBe(0);
      }
    },
    60_000,
  );

  it('starts with a bundle whose data.json is hostile, and becomes ready when it is fixed', async () => {
    const bundle = await bundleDir(
      `{"tenants":{"${TENANT}":{"conditional_access":{"id":"ca-x"}}},"deep":${'['.repeat(DEEP)}${']'.repeat(DEEP)}}`,
    );
    const pdp = await PdpProcess.start(
      {
        REDIS_URL: redis.url,
        PDP_WORKERS: '2',
        PDP_BUNDLE: bundle,
        PDP_DATA_DIR: dir,
        PDP_BUNDLE_POLL_SECONDS: '0.2',
      },
      { waitFor: 'healthz' },
    );
    try {
      const error = await until(
        async () => (await listing(pdp)).last_reload_error ?? undefined,
        'the load error',
        pdp,
      );
      expect(error.details[0]).toMatchObject({ pointer: expect.stringMatching(/^\/deep(\/0){127}$/) });
      expect((await pdp.post('/v1/decide', decideBody(CORP_IP))).status).toBe(503);
      await put(path.join(bundle, 'data.json'), '{"tenants":{}}');
      await until(
        async () => ((await fetch(pdp.adminUrl('/readyz'))).status === 200 ? true : undefined),
        'ready',
        pdp,
      );
      await seed(pdp);
      await expectBaseline(viaProcess(pdp));
      // Hot: a bundle that repeats "tenants" is refused, and the last good revision serves on.
      const good = (await listing(pdp)).revision;
      await put(
        path.join(bundle, 'data.json'),
        `{"tenants":{"${TENANT}":{"conditional_access":[${JSON.stringify(block('ca-b', {}))}]}},"tenants":{}}`,
      );
      const refused = await until(
        async () => (await listing(pdp)).last_reload_error ?? undefined,
        'the reload error',
        pdp,
      );
      expect(refused.details[0]).toMatchObject({ pointer: '/tenants', message: 'repeats the key "tenants"' });
      expect((await listing(pdp)).revision).toBe(good);
      await expectBaseline(viaProcess(pdp));
    } finally {
      expect(await pdp.stop()).toBe(0);
      await rm(bundle, { recursive: true, force: true });
    }
  }, 60_000);

  it('takes the whole file corpus hot: each refused or loaded, decisions 200 throughout, no worker lost', async () => {
    const pdp = await PdpProcess.start({
      REDIS_URL: redis.url,
      PDP_WORKERS: '2',
      PDP_DATA_DIR: dir,
      PDP_BUNDLE_POLL_SECONDS: '0.2',
    });
    const client = viaProcess(pdp);
    try {
      await seed(pdp);
      const baseline = (await listing(pdp)).revision;
      await expectBaseline(client);
      let refused = 0;
      let loaded = 0;
      for (const c of FILE_CASES) {
        const file = await c.write(dir, outside);
        if (c.rejected !== undefined) {
          const problem = await until(
            async () => (await listing(pdp)).last_reload_error?.details.find((d) => d.file === file),
            `the problem with ${c.name}`,
            pdp,
          );
          expect({ case: c.name, message: problem.message }).toEqual({
            case: c.name,
            message: expect.stringMatching(c.rejected.message),
          });
          expect((await listing(pdp)).workers.map((w) => w.revision)).toEqual([baseline, baseline]);
          await expectBaseline(client);
          refused++;
        } else if (c.ignored === true) {
          // Seen by the watcher (a reload runs), and nothing changes: no way to wait for "nothing".
          await new Promise((r) => setTimeout(r, 1000));
          const l = await listing(pdp);
          expect(l.last_reload_error).toBeNull();
          expect(l.workers.map((w) => w.revision)).toEqual([baseline, baseline]);
          await expectBaseline(client);
          loaded++;
        } else {
          // Retried: a write of several steps may be seen half done by a reload in between.
          await until(
            async () => {
              const l = await listing(pdp);
              if (l.last_reload_error !== null || l.workers.some((w) => w.revision === baseline))
                return undefined;
              return c.accepted!(client).then(
                () => true,
                () => undefined,
              );
            },
            `${c.name} to load`,
            pdp,
          );
          await c.accepted!(client);
          loaded++;
        }
        // Back to the baseline before the next case.
        await rm(dir, { recursive: true, force: true });
        await mkdir(dir);
        await writeBaseline(dir);
        await until(
          async () => {
            const l = await listing(pdp);
            return l.last_reload_error === null && l.workers.every((w) => w.revision === baseline)
              ? true
              : undefined;
          },
          `the baseline after ${c.name}`,
          pdp,
        );
      }
      expect(refused + loaded).toBe(FILE_CASES.length);
      await expectBaseline(client);

      // Records written around the API into the same Redis: denied, never a 5xx.
      const rawRedis = new Redis(redis.url);
      try {
        for (const [i, value] of [
          '{"blueprint_id":',
          '[]',
          `{"a":${'['.repeat(DEEP)}${']'.repeat(DEEP)}}`,
          '{"enabled":true,"enabled":false}',
        ].entries()) {
          await rawRedis.set(recordKey(TENANT, 'agent', `agt-raw-${i}`), value);
          const a = await client.decide(decideBody(CORP_IP, 'alice', `agt-raw-${i}`));
          expect(a.status).toBe(200);
          expect(a.body.decision).toBe('deny');
        }
      } finally {
        rawRedis.disconnect();
      }

      expect((await fetch(pdp.adminUrl('/metrics'))).status).toBe(200);
      const ready = (await (await fetch(pdp.adminUrl('/readyz'))).json()) as { workers: unknown[] };
      expect(ready.workers).toHaveLength(2);
      expect(pdp.output).not.toMatch(/worker exited|is not a function|labelset/);
    } finally {
      expect(await pdp.stop()).toBe(0);
    }
  }, 300_000);
});
