import { JsonDocumentError, MAX_JSON_DEPTH, parseJsonBytes } from '../strict-json';

/**
 * A value read from Redis that no API write could have produced (a writer bypassing the API, or
 * a reply of the wrong shape). It must never become an allow: the read fails closed.
 */
export class CorruptValue extends Error {}

/** Twice the largest body the API accepts (PDP_BODY_LIMIT_BYTES ≤ 16 MiB): anything larger came around it. */
export const MAX_RECORD_BYTES = 32 * 1024 * 1024;

/**
 * A stored record, read as bytes so that invalid UTF-8 is refused instead of becoming U+FFFD, and
 * parsed strictly (src/strict-json.ts). Every record is a JSON object: anything else was not
 * written by the API, and is corrupt rather than "no record".
 */
export function parseRecord(raw: Buffer | null, key: string): Record<string, unknown> | null {
  if (raw === null) return null;
  let value: unknown;
  try {
    value = parseJsonBytes(raw, { maxBytes: MAX_RECORD_BYTES, maxDepth: MAX_JSON_DEPTH });
  } catch (err) {
    if (!(err instanceof JsonDocumentError)) throw err;
    throw new CorruptValue(`value at ${key}${err.pointer === '' ? '' : ` ${err.pointer}`} ${err.message}`);
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
