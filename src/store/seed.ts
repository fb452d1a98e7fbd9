import { readFile } from 'node:fs/promises';
import type { Validators } from '../decision/validators';
import { PdpError } from '../errors';
import type { RecordKind, RecordOf, SignalStore } from './types';

/**
 * `{"tenants": {"<t>": {"blueprints": {id: record}, "agents": {...}, "agent_users": {...},
 * "resources": {...}, "agent_risk": {...}, "user_risk": {...}}}}`
 */
interface SeedFile {
  tenants?: Record<
    string,
    Partial<
      Record<
        'blueprints' | 'agents' | 'agent_users' | 'resources' | 'agent_risk' | 'user_risk',
        Record<string, unknown>
      >
    >
  >;
}

const SECTIONS = [
  ['blueprints', 'blueprint', 'blueprint'],
  ['agents', 'agent', 'agent'],
  ['agent_users', 'agent-user', 'agentUser'],
  ['resources', 'resource', 'resource'],
  ['agent_risk', 'risk:agent', 'agentRisk'],
  ['user_risk', 'risk:user', 'userRisk'],
] as const satisfies readonly (readonly [string, RecordKind, keyof Validators])[];

/** Loads example directory records into a store; every record passes the API's own validation. */
export async function seedStore(
  store: SignalStore,
  file: string,
  validators: Validators,
  now: number,
): Promise<number> {
  const seed = JSON.parse(await readFile(file, 'utf8')) as SeedFile;
  let count = 0;
  for (const [tenant, sections] of Object.entries(seed.tenants ?? {})) {
    for (const [section, kind, validator] of SECTIONS) {
      for (const [id, body] of Object.entries(sections[section] ?? {})) {
        try {
          validators[validator](body, `/tenants/${tenant}/${section}/${id}`);
        } catch (err) {
          if (err instanceof PdpError)
            throw new PdpError('data_invalid', `${file}: ${JSON.stringify(err.details)}`);
          throw err;
        }
        const record: Record<string, unknown> = {
          ...(body as object),
          id,
          updated_at: new Date(now).toISOString(),
        };
        if (kind === 'agent' || kind === 'blueprint') record['attributes'] ??= {};
        await store.put(kind, tenant, id, record as unknown as RecordOf[typeof kind]);
        await putLinks(store, tenant, kind, id, record);
        count++;
      }
    }
  }
  return count;
}

/**
 * The lookups the directory API keeps beside a record (src/routes/entra-directory.ts), so that a
 * decision finds it in its one read: a blueprint by its principal id, a resource by each
 * identifier URI (a copy of the record), an agent's agent user.
 */
async function putLinks(
  store: SignalStore,
  tenant: string,
  kind: RecordKind,
  id: string,
  record: Record<string, unknown>,
): Promise<void> {
  const principal = record['principal_id'];
  if (kind === 'blueprint' && typeof principal === 'string')
    await store.put('blueprint-principal', tenant, principal, { id });
  const agent = record['agent_id'];
  if (kind === 'agent-user' && typeof agent === 'string')
    await store.put('agent-user-of', tenant, agent, { id });
  const uris = record['identifier_uris'];
  if (kind === 'resource' && Array.isArray(uris))
    for (const uri of uris)
      if (typeof uri === 'string')
        await store.put('resource-uri', tenant, uri, record as unknown as RecordOf['resource-uri']);
}
