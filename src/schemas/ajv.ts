import { isIP } from 'node:net';
import { Ajv, type ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import type { ErrorDetail } from '../errors';
import { isRfc3339 } from './rfc3339';

/** `a.b.c.d/n` or `v6::/n` with a prefix length that fits the family. */
export function isCidr(value: string): boolean {
  const slash = value.lastIndexOf('/');
  if (slash < 0) return false;
  const family = isIP(value.slice(0, slash));
  const bitsText = value.slice(slash + 1);
  if (family === 0 || !/^\d{1,3}$/.test(bitsText)) return false;
  return Number(bitsText) <= (family === 4 ? 32 : 128);
}

/** One Ajv per process role; every schema is compiled once, at start-up. */
export function createAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
  addFormats(ajv, ['ipv4', 'ipv6', 'uri']);
  // Not ajv-formats' date-time: what the schema accepts must be what every reader can parse.
  ajv.addFormat('date-time', { type: 'string', validate: isRfc3339 });
  ajv.addFormat('cidr', { type: 'string', validate: isCidr });
  ajv.addFormat('ip', { type: 'string', validate: (v: string) => isIP(v) !== 0 });
  return ajv;
}

function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** ajv errors → details whose pointer names the offending member itself, not only its parent. */
export function toDetails(errors: readonly ErrorObject[] | null | undefined, prefix = ''): ErrorDetail[] {
  const seen = new Set<string>();
  const details: ErrorDetail[] = [];
  for (const e of errors ?? []) {
    let pointer = prefix + e.instancePath;
    let message = e.message ?? 'is invalid';
    const params = e.params as Record<string, unknown>;
    if (e.keyword === 'required' && typeof params['missingProperty'] === 'string') {
      pointer += `/${escapePointer(params['missingProperty'])}`;
      message = 'is required';
    } else if (e.keyword === 'additionalProperties' && typeof params['additionalProperty'] === 'string') {
      pointer += `/${escapePointer(params['additionalProperty'])}`;
      message = 'is not allowed';
    } else if (e.keyword === 'enum' && Array.isArray(params['allowedValues'])) {
      message = `must be one of ${(params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    }
    // `if/then` and `anyOf` repeat their branches' errors; keep one line per pointer and message.
    if (e.keyword === 'if') continue;
    const key = `${pointer}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    details.push({ pointer: pointer === '' ? '' : pointer, message, keyword: e.keyword });
  }
  return details;
}
