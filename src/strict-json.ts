/**
 * JSON for the data channels (CA documents, named locations, gateway routes, bundle data, values
 * read back from Redis), parsed so that what is validated is exactly what is used:
 *
 * - bytes must be UTF-8 (a leading BOM is dropped, as Go's decoder and OPA do); invalid bytes are
 *   rejected rather than turned into U+FFFD, so two files that differ cannot mean the same thing;
 * - a key repeated in one object is rejected: JSON.parse keeps the last, other readers the first,
 *   and a reviewer reads the first, so there is no one meaning to give it;
 * - a number beyond a double's range (`1e400`) is rejected: JavaScript reads it as Infinity and
 *   JSON.stringify, on its way into the WASM policy, writes that as `null`. Numbers are IEEE-754
 *   doubles otherwise, so `1e-400` is 0 and `-0` compares equal to 0, as in JavaScript;
 * - nesting is bounded, so no parser on the way (JSON.stringify, OPA's WASM one) can run out of stack.
 *
 * Keys such as `__proto__` stay ordinary own properties (JSON.parse defines them, it does not
 * assign them); readers must still use Map, null-prototype objects or Object.hasOwn with them.
 */

export interface JsonLimits {
  /** Largest document, in bytes of UTF-8. */
  maxBytes: number;
  /** Deepest nesting of objects and arrays; the root container is level 1. */
  maxDepth: number;
}

/**
 * Deeper than anything the schemas accept (a CA document nests 5 levels), far shallower than what
 * breaks a parser: OPA's WASM JSON parser was seen to fail near 5,000 levels.
 */
export const MAX_JSON_DEPTH = 128;

export class JsonDocumentError extends Error {
  override readonly name = 'JsonDocumentError';

  /** `pointer`: RFC 6901 pointer to the offending member ("" for the whole document). */
  constructor(
    message: string,
    readonly pointer: string,
  ) {
    super(message);
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const MINUS = 0x2d;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** A character of a JSON number literal after its first: digits, `.`, `e`, `E`, `+`, `-`. */
function inNumber(c: number): boolean {
  return (
    (c >= DIGIT_0 && c <= DIGIT_9) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === MINUS
  );
}

function escapeToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** What a scan of JSON text found first, in document order; `pointer` is RFC 6901. */
export type JsonTextViolation =
  | { kind: 'duplicateKey'; pointer: string; key: string }
  | { kind: 'maxDepth'; pointer: string; maxDepth: number }
  | { kind: 'numberRange'; pointer: string; literal: string };

export interface JsonTextChecks {
  /** Deepest nesting of objects and arrays (the root container is level 1); default: any. */
  maxDepth?: number;
  /** Refuse a number beyond a double's range (JSON.parse reads `1e400` as Infinity). */
  numbers?: boolean;
}

/**
 * The first member name repeated within one object of a JSON text, container nested past
 * `maxDepth` or (with `numbers`) out-of-range number; null when there is none. `JSON.parse` keeps
 * the last of duplicate names silently; a proxy, WAF, log reader or reviewer in front may keep the
 * first, so the same bytes would mean two different things (RFC 8259 §4). Names are compared
 * decoded (`"a"` and `"\u0061"` are one name), as `JSON.parse` compares them.
 *
 * Only for a text `JSON.parse` has accepted: it skips values and tracks only where it is. One
 * linear pass, no recursion (any depth), about a microsecond for a decide body, where a general
 * JSON visitor (jsonc-parser, the test oracle) costs some 30 µs a call on the hot path.
 */
export function scanJsonText(text: string, checks: JsonTextChecks = {}): JsonTextViolation | null {
  const maxDepth = checks.maxDepth ?? Infinity;
  const numbers = checks.numbers === true;
  // Per open container: an object's names so far (null for an array), and the current member
  // name or array index, which together are the pointer of the value being read.
  const names: (Set<string> | null)[] = [];
  const path: (string | number)[] = [];
  const pointer = (): string => path.map((s) => `/${escapeToken(String(s))}`).join('');
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i + 1;
      // The closing quote: the first one after an even run of backslashes (the text is valid
      // JSON, so every other quote is escaped). indexOf skips long strings at memchr speed.
      for (let from = start; ;) {
        const q = text.indexOf('"', from);
        if (q === -1) {
          i = text.length;
          break;
        }
        let b = q - 1;
        while (b >= start && text.charCodeAt(b) === BACKSLASH) b--;
        if ((q - 1 - b) % 2 === 0) {
          i = q;
          break;
        }
        from = q + 1;
      }
      const top = names[names.length - 1];
      if (top === undefined || top === null) continue;
      let next = i + 1;
      while (next < text.length && isSpace(text.charCodeAt(next))) next++;
      if (text.charCodeAt(next) !== COLON) continue; // a string value, not a name
      const raw = text.slice(start, i);
      const name = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
      path[path.length - 1] = name;
      if (top.has(name)) return { kind: 'duplicateKey', pointer: pointer(), key: name };
      top.add(name);
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (names.length >= maxDepth) return { kind: 'maxDepth', pointer: pointer(), maxDepth };
      names.push(c === OPEN_OBJECT ? new Set() : null);
      path.push(c === OPEN_OBJECT ? '' : 0);
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      names.pop();
      path.pop();
    } else if (c === COMMA && names[names.length - 1] === null) {
      path[path.length - 1] = (path[path.length - 1] as number) + 1;
    } else if (numbers && (c === MINUS || (c >= DIGIT_0 && c <= DIGIT_9))) {
      const start = i;
      while (i + 1 < text.length && inNumber(text.charCodeAt(i + 1))) i++;
      const literal = text.slice(start, i + 1);
      if (!Number.isFinite(Number(literal))) return { kind: 'numberRange', pointer: pointer(), literal };
    }
  }
  return null;
}

/** The scan's finding as the data channels word it. */
function documentError(v: JsonTextViolation): JsonDocumentError {
  switch (v.kind) {
    case 'duplicateKey':
      return new JsonDocumentError(`repeats the key ${JSON.stringify(v.key)}`, v.pointer);
    case 'maxDepth':
      return new JsonDocumentError(`nests deeper than ${v.maxDepth} levels`, v.pointer);
    case 'numberRange':
      return new JsonDocumentError(`number ${v.literal} is out of range`, v.pointer);
  }
}

/** Parses text under the rules above; throws JsonDocumentError naming what and where. */
export function parseJsonText(text: string, limits: JsonLimits): unknown {
  if (text.trim() === '') throw new JsonDocumentError('is empty', '');
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (err) {
    throw new JsonDocumentError(`is not valid JSON: ${(err as Error).message}`, '');
  }
  const violation = scanJsonText(text, { maxDepth: limits.maxDepth, numbers: true });
  if (violation !== null) throw documentError(violation);
  return value;
}

/** Decodes and parses a file's or a value's bytes under the rules above. */
export function parseJsonBytes(bytes: Uint8Array, limits: JsonLimits): unknown {
  if (bytes.byteLength > limits.maxBytes) {
    throw new JsonDocumentError(`is larger than ${limits.maxBytes} bytes`, '');
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new JsonDocumentError('is not valid UTF-8', '');
  }
  return parseJsonText(text, limits);
}
