import { createScanner } from 'jsonc-parser';

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

/** jsonc-parser's SyntaxKind values (a const enum, which isolatedModules cannot import). */
const OPEN_BRACE = 1;
const CLOSE_BRACE = 2;
const OPEN_BRACKET = 3;
const CLOSE_BRACKET = 4;
const COMMA = 5;
const STRING = 10;
const NUMBER = 11;
const EOF = 17;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function escapeToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

interface Frame {
  /** Keys seen so far; null for an array. */
  keys: Set<string> | null;
  /** The member being read: its key, or its index in an array. */
  at: string;
  index: number;
  /** In an object: the next string is a key. */
  expectKey: boolean;
}

function pointerOf(stack: readonly Frame[], depth = stack.length): string {
  let p = '';
  for (let i = 0; i < depth; i++) p += `/${escapeToken((stack[i] as Frame).at)}`;
  return p;
}

/**
 * Walks a document JSON.parse has accepted, without recursion (a 10,000-deep document must be
 * refused, not crash the walker): nesting, repeated keys and out-of-range numbers.
 */
function checkStructure(text: string, maxDepth: number): void {
  const scanner = createScanner(text, true);
  const stack: Frame[] = [];
  const top = (): Frame | undefined => stack[stack.length - 1];
  for (let token: number = scanner.scan(); token !== EOF; token = scanner.scan()) {
    const frame = top();
    if (token === OPEN_BRACE || token === OPEN_BRACKET) {
      if (stack.length >= maxDepth) {
        throw new JsonDocumentError(`nests deeper than ${maxDepth} levels`, pointerOf(stack));
      }
      stack.push({ keys: token === OPEN_BRACE ? new Set() : null, at: '0', index: 0, expectKey: true });
    } else if (token === CLOSE_BRACE || token === CLOSE_BRACKET) {
      stack.pop();
    } else if (token === COMMA) {
      if (frame === undefined) continue;
      if (frame.keys === null) frame.at = String(++frame.index);
      else frame.expectKey = true;
    } else if (token === STRING && frame !== undefined && frame.keys !== null && frame.expectKey) {
      const key = scanner.getTokenValue();
      frame.expectKey = false;
      frame.at = key;
      if (frame.keys.has(key)) {
        throw new JsonDocumentError(`repeats the key ${JSON.stringify(key)}`, pointerOf(stack));
      }
      frame.keys.add(key);
    } else if (token === NUMBER) {
      const literal = text.slice(
        scanner.getTokenOffset(),
        scanner.getTokenOffset() + scanner.getTokenLength(),
      );
      if (!Number.isFinite(Number(literal))) {
        throw new JsonDocumentError(`number ${literal} is out of range`, pointerOf(stack));
      }
    }
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
  checkStructure(text, limits.maxDepth);
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
