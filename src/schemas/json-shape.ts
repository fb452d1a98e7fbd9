import type { ErrorDetail } from '../errors';
import { scanJsonText } from '../strict-json';

/**
 * Structural limits on parsed JSON, checked before anything stringifies, validates or stores it.
 *
 * `JSON.parse` accepts any depth (V8 parses iteratively), but `JSON.stringify`, ajv and every
 * recursive consumer after it do not: a 64 KiB body can nest 30,000 levels, and one such value
 * would turn a request into a stack overflow. No request body of this API needs more than a
 * handful of levels (a decide body is 4 deep, custom security attributes 3), so the limit is
 * generous and fixed.
 */
export const MAX_BODY_DEPTH = 64;

/** A container's depth: the body itself is 1, `{"a":{}}` is 2. */
interface Frame {
  readonly value: object;
  readonly depth: number;
  readonly parent: Frame | null;
  readonly key: string;
}

function isContainer(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

function escape(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Built only for the one frame that is reported, not for every value walked. */
function pointerOf(frame: Frame, prefix: string): string {
  const segments: string[] = [];
  for (let f = frame; f.parent !== null; f = f.parent) segments.push(escape(f.key));
  return (
    prefix +
    segments
      .reverse()
      .map((s) => `/${s}`)
      .join('')
  );
}

/** A UTF-16 surrogate not in a pair: in `u` mode a pair is one code point, not `Cs`. */
const UNPAIRED_SURROGATE = /\p{Cs}/u;

function unpaired(pointer: string): ErrorDetail {
  return {
    pointer,
    message: 'must not contain an unpaired surrogate (\\uD800-\\uDFFF): it is not Unicode text',
    keyword: 'unpairedSurrogate',
  };
}

/**
 * The first value (in document order) nested deeper than `maxDepth`, the first `__proto__`
 * member, or the first string or member name holding an unpaired surrogate; null when there is
 * none. Iterative, so the check cannot overflow the stack it guards.
 * - `__proto__` is refused outright: `JSON.parse` makes it an own member, harmless here, but any
 *   later `Object.assign` or naive merge (ours or a log consumer's) would read it as the prototype.
 * - `"\ud800"` is valid JSON but not text: it has no UTF-8 form, the policy engine's JSON parser
 *   refuses it (a 500 on every decision endpoint), and Redis would store it as U+FFFD.
 */
export function jsonShapeViolation(value: unknown, maxDepth: number, prefix = ''): ErrorDetail | null {
  if (!isContainer(value)) {
    return typeof value === 'string' && UNPAIRED_SURROGATE.test(value) ? unpaired(prefix) : null;
  }
  const stack: Frame[] = [{ value, depth: 1, parent: null, key: '' }];
  for (let frame = stack.pop(); frame !== undefined; frame = stack.pop()) {
    if (frame.depth > maxDepth) {
      return {
        pointer: pointerOf(frame, prefix),
        message: `must not nest deeper than ${maxDepth} levels`,
        keyword: 'maxDepth',
      };
    }
    const entries: [string, unknown][] = Array.isArray(frame.value)
      ? frame.value.map((v: unknown, i) => [String(i), v])
      : Object.entries(frame.value);
    // Pushed in reverse so that the stack pops them in document order.
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i] as [string, unknown];
      if (key === '__proto__' && !Array.isArray(frame.value)) {
        return {
          pointer: pointerOf({ value: frame.value, depth: frame.depth + 1, parent: frame, key }, prefix),
          message: 'is a reserved member name',
          keyword: 'reservedKey',
        };
      }
      if (UNPAIRED_SURROGATE.test(key) || (typeof child === 'string' && UNPAIRED_SURROGATE.test(child))) {
        return unpaired(
          pointerOf({ value: frame.value, depth: frame.depth + 1, parent: frame, key }, prefix),
        );
      }
      if (isContainer(child)) stack.push({ value: child, depth: frame.depth + 1, parent: frame, key });
    }
  }
  return null;
}

/**
 * The first member name repeated within one object of a JSON text `JSON.parse` has accepted, or
 * null (src/strict-json.ts's scanner, which the data channels use too).
 */
export function duplicateMember(text: string, prefix = ''): ErrorDetail | null {
  const violation = scanJsonText(text);
  if (violation === null) return null;
  return {
    pointer: prefix + violation.pointer,
    message: 'is a duplicate member name',
    keyword: 'duplicateKey',
  };
}

/**
 * Limits of a free-form member (a decide `context`): its depth first, so that measuring its size
 * (`JSON.stringify`) is safe, then its size in bytes of JSON.
 */
export function freeFormViolation(
  value: unknown,
  pointer: string,
  limits: { maxDepth: number; maxBytes: number },
): ErrorDetail | null {
  const deep = jsonShapeViolation(value, limits.maxDepth, pointer);
  if (deep !== null) return deep;
  if (Buffer.byteLength(JSON.stringify(value)) > limits.maxBytes) {
    return { pointer, message: `must be at most ${limits.maxBytes} bytes of JSON`, keyword: 'maxBytes' };
  }
  return null;
}
