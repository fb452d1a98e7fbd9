/**
 * A value read from Redis that no API write could have produced (a writer bypassing the API, or
 * a reply of the wrong shape). It must never become an allow: the read fails closed.
 */
export class CorruptValue extends Error {}

/** Every record is a JSON object; anything else at a record key is corrupt. */
export function parseRecord(raw: string | null, key: string): Record<string, unknown> | null {
  if (raw === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(raw) as unknown;
  } catch {
    throw new CorruptValue(`value at ${key} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CorruptValue(`value at ${key} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** The agent's own `blueprint_id` (never one inherited from a prototype), or null. */
export function blueprintIdOf(agent: unknown): string | null {
  if (typeof agent !== 'object' || agent === null || !Object.hasOwn(agent, 'blueprint_id')) return null;
  const id = (agent as { blueprint_id: unknown }).blueprint_id;
  return typeof id === 'string' ? id : null;
}
