import { readFile } from 'node:fs/promises';
import type { Validators } from '../decision/validators';
import { PdpError } from '../errors';
import { recordLinks } from './links';
import type { RecordKind, SignalStore } from './types';

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
        await store.write(tenant, [{ kind, id, value: record }, ...recordLinks(kind, id, record)]);
        count++;
      }
    }
  }
  return count;
}
