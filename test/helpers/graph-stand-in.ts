/**
 * A local stand-in for the Microsoft identity platform's token endpoint and Microsoft Graph
 * (beta), serving the shapes Microsoft documents:
 * - token: client credentials with a secret or a certificate assertion —
 *   learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow and
 *   learn.microsoft.com/entra/identity-platform/certificate-credentials (RS256, `x5t`, aud = token URL);
 * - collections `{"@odata.context", "value": [...], "@odata.nextLink"}` — learn.microsoft.com/graph/paging;
 * - delta `{"value": [...], "@odata.deltaLink"}`, removed items `{"id", "@removed": {"reason"}}`,
 *   `$deltatoken=latest` — learn.microsoft.com/graph/delta-query-overview, /graph/api/serviceprincipal-delta,
 *   /graph/api/user-delta;
 * - 429/503 with `Retry-After` and `{"error": {"code", "message"}}` — learn.microsoft.com/graph/throttling,
 *   learn.microsoft.com/graph/errors;
 * - conditionalAccessPolicy / ipNamedLocation / countryNamedLocation —
 *   /graph/api/conditionalaccessroot-list-policies, /graph/api/conditionalaccessroot-list-namedlocations;
 * - agentIdentityBlueprint (appId, displayName) and inheritablePermission (resourceAppId,
 *   inheritableScopes: enumeratedScopes | allAllowedScopes) — /graph/api/agentidentityblueprint-list,
 *   /graph/api/agentidentityblueprint-list-inheritablepermissions;
 * - agentIdentityBlueprintPrincipal (id, appId, accountEnabled) — /graph/api/resources/agentidentityblueprintprincipal;
 * - agentIdentity (id, displayName, accountEnabled, agentIdentityBlueprintId, customSecurityAttributes,
 *   sponsors) — /graph/api/agentidentity-list, /graph/api/agentidentity-get;
 * - agentUser (id, displayName, accountEnabled, identityParentId) — /graph/api/resources/agentuser;
 * - riskyAgent (`@odata.type` riskyAgentIdentity | riskyAgentUser | riskyAgentIdentityBlueprintPrincipal,
 *   riskLevel, riskState, riskDetail, riskLastUpdatedDateTime) — /graph/api/resources/riskyagent;
 * - riskyUser (id, riskLevel, riskState, riskLastUpdatedDateTime) — /graph/api/riskyuser-list.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { X509Certificate, createHash, createPublicKey, randomUUID } from 'node:crypto';
import { jwtVerify, decodeProtectedHeader } from 'jose';

export interface Fault {
  /** The request path (without `/beta/` and the query) the fault applies to. */
  path: string;
  status: number;
  retryAfterSeconds?: number;
  /** Only for this page of a listing (0 = the first); default any request. */
  page?: number;
  /** How many requests it hits; default 1. */
  times?: number;
}

type Obj = Record<string, unknown>;

interface Change {
  version: number;
  collection: 'servicePrincipals' | 'users';
  id: string;
  removed: boolean;
}

export interface StandInState {
  policies: Obj[];
  namedLocations: Obj[];
  /** agentIdentityBlueprint applications (id = object id, appId = blueprint id). */
  blueprints: Obj[];
  /** inheritablePermissions by blueprint object id. */
  inheritable: Map<string, Obj[]>;
  principals: Obj[];
  /** agentIdentity service principals; `sponsors` are kept apart (a navigation property). */
  agents: Obj[];
  sponsors: Map<string, string[]>;
  agentUsers: Obj[];
  riskyAgents: Obj[];
  riskyUsers: Obj[];
}

export function emptyStandInState(): StandInState {
  return {
    policies: [],
    namedLocations: [],
    blueprints: [],
    inheritable: new Map(),
    principals: [],
    agents: [],
    sponsors: new Map(),
    agentUsers: [],
    riskyAgents: [],
    riskyUsers: [],
  };
}

export class GraphStandIn {
  readonly state: StandInState = emptyStandInState();
  pageSize = 2;
  readonly faults: Fault[] = [];
  /** Every Graph request: path and time, and the answer status. */
  readonly log: { path: string; at: number; status: number }[] = [];
  tokenRequests = 0;
  readonly tokens = new Set<string>();
  tokenLifetimeSeconds = 3599;
  private version = 1;
  private readonly changes: Change[] = [];
  private server: Server | null = null;
  port = 0;

  constructor(
    readonly tenantId: string,
    readonly clientId: string,
    readonly credential: { secret: string } | { certificatePem: string },
  ) {}

  get authorityUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}/beta`;
  }
  get tokenUrl(): string {
    return `${this.authorityUrl}/${this.tenantId}/oauth2/v2.0/token`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      void this.handle(req, res).catch((err: unknown) => {
        res.statusCode = 500;
        res.end(JSON.stringify({ error: { code: 'standInFailure', message: String(err) } }));
      });
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    const a = this.server.address();
    this.port = typeof a === 'object' && a !== null ? a.port : 0;
  }

  async stop(): Promise<void> {
    if (this.server === null) return;
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
    this.server = null;
  }

  /** Records a change for delta queries (call after changing an agent or agent user). */
  touch(collection: Change['collection'], id: string, removed = false): void {
    this.version += 1;
    this.changes.push({ version: this.version, collection, id, removed });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.authorityUrl);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'POST' && url.pathname === `/${this.tenantId}/oauth2/v2.0/token`) {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      return this.token(new URLSearchParams(Buffer.concat(chunks).toString()), send);
    }
    if (!url.pathname.startsWith('/beta/')) {
      send(404, { error: { code: 'NotFound', message: 'no such path' } });
      return;
    }
    const path = url.pathname.slice('/beta/'.length);
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('Bearer ') || !this.tokens.has(auth.slice(7))) {
      this.log.push({ path, at: Date.now(), status: 401 });
      send(401, {
        error: { code: 'InvalidAuthenticationToken', message: 'Access token is empty or invalid.' },
      });
      return;
    }
    const skip = Number(url.searchParams.get('$skiptoken') ?? '0');
    const page = Math.floor(skip / this.pageSize);
    const fault = this.faults.find((f) => path === f.path && (f.page === undefined || f.page === page));
    if (fault !== undefined) {
      fault.times = (fault.times ?? 1) - 1;
      if (fault.times <= 0) this.faults.splice(this.faults.indexOf(fault), 1);
      this.log.push({ path, at: Date.now(), status: fault.status });
      const headers: Record<string, string> =
        fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) };
      const code =
        fault.status === 429
          ? 'TooManyRequests'
          : fault.status === 503
            ? 'serviceNotAvailable'
            : 'generalException';
      send(
        fault.status,
        { error: { code, message: 'stand-in fault', innerError: { 'request-id': randomUUID() } } },
        headers,
      );
      return;
    }
    this.log.push({ path, at: Date.now(), status: 200 });
    const answer = this.route(path, url);
    if (answer === null) {
      send(404, {
        error: { code: 'Request_ResourceNotFound', message: `Resource '${path}' does not exist.` },
      });
      return;
    }
    if ('whole' in answer) {
      send(200, answer.whole);
      return;
    }
    const items = answer.items;
    const slice = items.slice(skip, skip + this.pageSize);
    const body: Obj = { '@odata.context': `${this.baseUrl}/$metadata#${answer.context}`, value: slice };
    if (skip + this.pageSize < items.length) {
      const next = new URL(url.href);
      next.searchParams.set('$skiptoken', String(skip + this.pageSize));
      body['@odata.nextLink'] = `${this.baseUrl}/${path}${next.search}`;
    } else if (answer.deltaLink !== undefined) {
      body['@odata.deltaLink'] = answer.deltaLink;
    }
    send(200, body);
  }

  private async token(form: URLSearchParams, send: (s: number, b: unknown) => void): Promise<void> {
    this.tokenRequests += 1;
    const bad = (description: string): void => {
      send(401, { error: 'invalid_client', error_description: description });
    };
    if (form.get('grant_type') !== 'client_credentials') {
      send(400, { error: 'unsupported_grant_type' });
      return;
    }
    if (form.get('client_id') !== this.clientId) {
      bad('AADSTS700016: unknown client');
      return;
    }
    if (form.get('scope') !== `http://127.0.0.1:${this.port}/.default`) {
      send(400, { error: 'invalid_scope' });
      return;
    }
    if ('secret' in this.credential) {
      if (form.get('client_secret') !== this.credential.secret) {
        bad('AADSTS7000215: Invalid client secret');
        return;
      }
    } else {
      const assertion = form.get('client_assertion');
      if (
        form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' ||
        assertion === null
      ) {
        bad('AADSTS700023: client assertion required');
        return;
      }
      const cert = new X509Certificate(this.credential.certificatePem);
      const x5t = createHash('sha1').update(cert.raw).digest('base64url');
      try {
        if (decodeProtectedHeader(assertion).x5t !== x5t) {
          bad('AADSTS700027: unknown certificate thumbprint');
          return;
        }
        const { payload } = await jwtVerify(
          assertion,
          createPublicKey(cert.publicKey.export({ type: 'spki', format: 'pem' })),
          {
            algorithms: ['RS256', 'PS256'],
            audience: this.tokenUrl,
            issuer: this.clientId,
            subject: this.clientId,
            requiredClaims: ['exp', 'nbf', 'jti'],
          },
        );
        if ((payload.exp ?? 0) - Math.floor(Date.now() / 1000) > 600) {
          bad('AADSTS700024: assertion lives too long');
          return;
        }
      } catch (err) {
        bad(`AADSTS700027: assertion signature invalid (${String(err)})`);
        return;
      }
    }
    const access = randomUUID();
    this.tokens.add(access);
    send(200, {
      token_type: 'Bearer',
      expires_in: this.tokenLifetimeSeconds,
      ext_expires_in: this.tokenLifetimeSeconds,
      access_token: access,
    });
  }

  private agentWithSponsors(a: Obj, expand: boolean): Obj {
    return expand
      ? {
          ...a,
          sponsors: (this.state.sponsors.get(String(a['id'])) ?? []).map((id) => ({
            '@odata.type': '#microsoft.graph.user',
            id,
          })),
        }
      : a;
  }

  private route(
    path: string,
    url: URL,
  ): { items: Obj[]; context: string; deltaLink?: string } | { whole: unknown } | null {
    const s = this.state;
    const expand = (url.searchParams.get('$expand') ?? '').startsWith('sponsors');
    switch (path) {
      case 'identity/conditionalAccess/policies':
        return { items: s.policies, context: 'identity/conditionalAccess/policies' };
      case 'identity/conditionalAccess/namedLocations':
        return { items: s.namedLocations, context: 'identity/conditionalAccess/namedLocations' };
      case 'applications/microsoft.graph.agentIdentityBlueprint':
        return { items: s.blueprints, context: 'applications/microsoft.graph.agentIdentityBlueprint' };
      case 'servicePrincipals/microsoft.graph.agentIdentityBlueprintPrincipal':
        return {
          items: s.principals,
          context: 'servicePrincipals/microsoft.graph.agentIdentityBlueprintPrincipal',
        };
      case 'servicePrincipals/microsoft.graph.agentIdentity':
        return {
          items: s.agents.map((a) => this.agentWithSponsors(a, expand)),
          context: 'servicePrincipals/microsoft.graph.agentIdentity',
        };
      case 'users/microsoft.graph.agentUser':
        return { items: s.agentUsers, context: 'users/microsoft.graph.agentUser' };
      case 'identityProtection/riskyAgents':
        return { items: s.riskyAgents, context: 'identityProtection/riskyAgents' };
      case 'identityProtection/riskyUsers':
        return { items: s.riskyUsers, context: 'identityProtection/riskyUsers' };
      case 'servicePrincipals/delta':
      case 'users/delta':
        return this.delta(path === 'users/delta' ? 'users' : 'servicePrincipals', url);
    }
    let m = /^applications\/([^/]+)\/microsoft\.graph\.agentIdentityBlueprint\/inheritablePermissions$/.exec(
      path,
    );
    if (m !== null) {
      const app = s.blueprints.find((b) => b['id'] === decodeURIComponent(m?.[1] ?? ''));
      return app === undefined
        ? null
        : { items: s.inheritable.get(String(app['id'])) ?? [], context: 'inheritablePermissions' };
    }
    m = /^servicePrincipals\/([^/]+)\/microsoft\.graph\.agentIdentity$/.exec(path);
    if (m !== null) {
      const a = s.agents.find((x) => x['id'] === decodeURIComponent(m?.[1] ?? ''));
      return a === undefined
        ? null
        : {
            whole: {
              '@odata.context': `${this.baseUrl}/$metadata#servicePrincipals/microsoft.graph.agentIdentity/$entity`,
              ...this.agentWithSponsors(a, expand),
            },
          };
    }
    m = /^servicePrincipals\/([^/]+)\/microsoft\.graph\.agentIdentity\/sponsors$/.exec(path);
    if (m !== null) {
      const id = decodeURIComponent(m[1] ?? '');
      return s.agents.some((x) => x['id'] === id)
        ? { items: (s.sponsors.get(id) ?? []).map((x) => ({ id: x })), context: 'directoryObjects' }
        : null;
    }
    m = /^users\/([^/]+)\/microsoft\.graph\.agentUser$/.exec(path);
    if (m !== null) {
      const wanted = decodeURIComponent(m[1] ?? '');
      const u = s.agentUsers.find((x) => x['id'] === wanted);
      return u === undefined
        ? null
        : {
            whole: {
              '@odata.context': `${this.baseUrl}/$metadata#users/microsoft.graph.agentUser/$entity`,
              ...u,
            },
          };
    }
    return null;
  }

  /** Delta: `$deltatoken=latest` gives a link and no items; `$deltatoken=<v>` the changes after v. */
  private delta(
    collection: Change['collection'],
    url: URL,
  ): { items: Obj[]; context: string; deltaLink: string } {
    const token = url.searchParams.get('$deltatoken');
    const link = (v: number): string => `${this.baseUrl}/${collection}/delta?$deltatoken=${v}`;
    if (token === 'latest' || token === null)
      return { items: [], context: collection, deltaLink: link(this.version) };
    const since = Number(token);
    const latest = new Map<string, Change>();
    for (const c of this.changes) if (c.collection === collection && c.version > since) latest.set(c.id, c);
    const marker = collection === 'users' ? 'identityParentId' : 'agentIdentityBlueprintId';
    const pool = collection === 'users' ? this.state.agentUsers : this.state.agents;
    const items: Obj[] = [...latest.values()].map((c) => {
      const o = pool.find((x) => x['id'] === c.id);
      return c.removed || o === undefined
        ? { id: c.id, '@removed': { reason: 'deleted' } }
        : { id: c.id, [marker]: o[marker] };
    });
    return { items, context: collection, deltaLink: link(this.version) };
  }
}
