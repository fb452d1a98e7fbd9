import type { ErrorDetail } from '../errors';

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

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/**
 * The first member name repeated within one object of a JSON text, or null. `JSON.parse` keeps
 * the last of duplicates silently; a proxy, WAF or log reader in front may keep the first, so the
 * same bytes would mean two different requests (RFC 8259 §4: the behaviour is unpredictable).
 * Names are compared decoded (`"a"` and `"\u0061"` are one name), as `JSON.parse` compares them.
 *
 * Only for a text `JSON.parse` has accepted: it skips values and tracks only where it is. One
 * linear pass, no recursion (any depth), about a microsecond for a decide body, where a general
 * JSON visitor (jsonc-parser, the test oracle) costs some 30 µs a call on the hot path.
 */
export function duplicateMember(text: string, prefix = ''): ErrorDetail | null {
  // Per open container: an object's names so far (null for an array), and the current member
  // name or array index, which together are the pointer of the value being read.
  const names: (Set<string> | null)[] = [];
  const path: (string | number)[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i + 1;
      let escaped = false;
      for (i = start; i < text.length && text.charCodeAt(i) !== QUOTE; i++) {
        if (text.charCodeAt(i) === BACKSLASH) {
          escaped = true;
          i++; // the escaped character, which may be a quote
        }
      }
      const top = names[names.length - 1];
      if (top === undefined || top === null) continue;
      let next = i + 1;
      while (next < text.length && isSpace(text.charCodeAt(next))) next++;
      if (text.charCodeAt(next) !== COLON) continue; // a string value, not a name
      const raw = text.slice(start, i);
      const name = escaped ? (JSON.parse(`"${raw}"`) as string) : raw;
      path[path.length - 1] = name;
      if (top.has(name)) {
        return {
          pointer: prefix + path.map((s) => `/${escape(String(s))}`).join(''),
          message: 'is a duplicate member name',
          keyword: 'duplicateKey',
        };
      }
      top.add(name);
    } else if (c === OPEN_OBJECT) {
      names.push(new Set());
      path.push('');
    } else if (c === OPEN_ARRAY) {
      names.push(null);
      path.push(0);
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      names.pop();
      path.pop();
    } else if (c === COMMA && names[names.length - 1] === null) {
      path[path.length - 1] = (path[path.length - 1] as number) + 1;
    }
  }
  return null;
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
