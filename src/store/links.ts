import type { RecordKind, WriteOp } from './types';

/**
 * The lookup keys a directory record implies, so that a decision finds it in its one read: a
 * blueprint by its principal id, an agent's agent user by the agent, a resource by each identifier
 * URI (a copy of the record). The directory API and the example seed write them alike.
 */
export function recordLinks(kind: RecordKind, id: string, record: Record<string, unknown>): WriteOp[] {
  const field = (name: string): unknown => (Object.hasOwn(record, name) ? record[name] : undefined);
  const principal = field('principal_id');
  if (kind === 'blueprint' && typeof principal === 'string')
    return [{ kind: 'blueprint-principal', id: principal, value: { id } }];
  const agent = field('agent_id');
  if (kind === 'agent-user' && typeof agent === 'string')
    return [{ kind: 'agent-user-of', id: agent, value: { id } }];
  const uris = field('identifier_uris');
  if (kind === 'resource' && Array.isArray(uris))
    return uris
      .filter((uri): uri is string => typeof uri === 'string')
      .map((uri) => ({ kind: 'resource-uri', id: uri, value: record }));
  return [];
}
