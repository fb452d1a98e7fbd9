import { createHash } from 'node:crypto';

/**
 * File digests exactly as OPA computes them for `.signatures.json` (OPA `v1/bundle/hash.go`,
 * `verify.go`, `util/json.go`):
 *
 * - A "structured" file (base name `data.json`, `data.yaml`, `.manifest` or `signatures.json`, OPA's
 *   `IsStructuredDoc`) is parsed and the digest is taken over a canonical serialisation: objects as
 *   `{` key `:` value `,` … `}` with keys sorted byte-wise (Go `sort.Strings` on UTF-8), arrays as
 *   `[` … `]`, no whitespace, strings and keys encoded by Go's `encoding/json` with HTML escaping off,
 *   and numbers written as their original literal (OPA decodes with `UseNumber`, so `1.50` stays
 *   `1.50`). Duplicate keys keep the last value, invalid UTF-8 and unpaired surrogate escapes become
 *   U+FFFD, and a leading UTF-8 BOM is dropped, as Go's decoder does.
 * - Every other file is hashed as its raw bytes.
 */

/** OPA's `HashingAlgorithm` names → node:crypto names. */
const HASH_ALGORITHMS: ReadonlyMap<string, string> = new Map([
  ['MD5', 'md5'],
  ['SHA-1', 'sha1'],
  ['SHA-224', 'sha224'],
  ['SHA-256', 'sha256'],
  ['SHA-384', 'sha384'],
  ['SHA-512', 'sha512'],
  ['SHA-512-224', 'sha512-224'],
  ['SHA-512-256', 'sha512-256'],
]);

export const SUPPORTED_HASH_ALGORITHMS: readonly string[] = [...HASH_ALGORITHMS.keys()];

/** Raised for content that cannot be hashed the way OPA would (invalid JSON, YAML data, unknown algorithm). */
export class BundleHashError extends Error {
  override readonly name = 'BundleHashError';
}

function baseName(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1);
}

/** OPA's `IsStructuredDoc`: by base name only (note: `data.yml` is *not* structured there, so it is hashed raw). */
export function isStructuredDoc(name: string): boolean {
  const base = baseName(name);
  return base === 'data.json' || base === 'data.yaml' || base === 'signatures.json' || base === '.manifest';
}

/** The digest of one bundle file, as OPA's `VerifyBundleFile` computes it. */
export function hashBundleFile(name: string, bytes: Buffer, algorithm: string): Buffer {
  const nodeAlgorithm = HASH_ALGORITHMS.get(algorithm);
  if (nodeAlgorithm === undefined) {
    throw new BundleHashError(
      `unsupported hashing algorithm ${JSON.stringify(algorithm)} (OPA supports ${SUPPORTED_HASH_ALGORITHMS.join(', ')})`,
    );
  }
  const hash = createHash(nodeAlgorithm);
  if (!isStructuredDoc(name)) return hash.update(bytes).digest();
  if (baseName(name) === 'data.yaml') {
    throw new BundleHashError('YAML data files are not supported; build the bundle with data.json');
  }
  for (const chunk of canonicalJsonChunks(bytes)) hash.update(chunk);
  return hash.digest();
}

/** The exact byte stream OPA feeds to the hash for a structured (JSON) file. */
export function canonicalJson(bytes: Buffer): Buffer {
  return Buffer.concat(canonicalJsonChunks(bytes));
}

// ---------------------------------------------------------------------------------------------
// A JSON parser over bytes with Go's encoding/json decoding semantics, and Go's encoder for output.

type Value =
  | { readonly kind: 'object'; readonly members: Map<string, Value> } // key: UTF-8 bytes as latin1
  | { readonly kind: 'array'; readonly items: Value[] }
  | { readonly kind: 'string'; readonly bytes: Buffer }
  | { readonly kind: 'literal'; readonly text: string }; // number (verbatim), true, false, null

/** Nesting bound (Go allows 10000; recursion this deep is not worth the stack here). */
const MAX_DEPTH = 1000;
const REPLACEMENT = Buffer.from([0xef, 0xbf, 0xbd]);
/** `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t` → the byte they stand for. */
const SIMPLE_ESCAPES: ReadonlyMap<number, number> = new Map([
  [0x22, 0x22],
  [0x5c, 0x5c],
  [0x2f, 0x2f],
  [0x62, 0x08],
  [0x66, 0x0c],
  [0x6e, 0x0a],
  [0x72, 0x0d],
  [0x74, 0x09],
]);
const NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

function isHex(c: number | undefined): boolean {
  return (
    c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66))
  );
}

/** Length of the valid UTF-8 sequence at `i`, or 0 (Go's `utf8.DecodeRune` returning RuneError, 1). */
function utf8Length(b: Buffer, i: number): number {
  const c0 = b[i] ?? 0;
  const cont = (k: number): boolean => {
    const c = b[i + k];
    return c !== undefined && c >= 0x80 && c <= 0xbf;
  };
  if (c0 >= 0xc2 && c0 <= 0xdf) return cont(1) ? 2 : 0;
  if (c0 >= 0xe0 && c0 <= 0xef) {
    const c1 = b[i + 1];
    if (c1 === undefined) return 0;
    const lo = c0 === 0xe0 ? 0xa0 : 0x80;
    const hi = c0 === 0xed ? 0x9f : 0xbf;
    return c1 >= lo && c1 <= hi && cont(2) ? 3 : 0;
  }
  if (c0 >= 0xf0 && c0 <= 0xf4) {
    const c1 = b[i + 1];
    if (c1 === undefined) return 0;
    const lo = c0 === 0xf0 ? 0x90 : 0x80;
    const hi = c0 === 0xf4 ? 0x8f : 0xbf;
    return c1 >= lo && c1 <= hi && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

function encodeRune(cp: number): Buffer {
  return Buffer.from(String.fromCodePoint(cp), 'utf8');
}

class GoJsonParser {
  private pos = 0;

  constructor(private readonly b: Buffer) {}

  parseDocument(): Value {
    this.ws();
    const value = this.value(0);
    this.ws();
    if (this.pos !== this.b.length) this.fail('invalid character after top-level value');
    return value;
  }

  private fail(message: string): never {
    throw new BundleHashError(`invalid JSON at byte ${this.pos}: ${message}`);
  }

  private ws(): void {
    const b = this.b;
    while (this.pos < b.length) {
      const c = b[this.pos];
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
      this.pos++;
    }
  }

  private value(depth: number): Value {
    if (depth > MAX_DEPTH) this.fail(`nested deeper than ${MAX_DEPTH} levels`);
    const c = this.b[this.pos];
    if (c === 0x7b) return this.object(depth);
    if (c === 0x5b) return this.array(depth);
    if (c === 0x22) return { kind: 'string', bytes: this.string() };
    for (const literal of ['true', 'false', 'null']) {
      if (this.b.toString('latin1', this.pos, this.pos + literal.length) === literal) {
        this.pos += literal.length;
        return { kind: 'literal', text: literal };
      }
    }
    return this.number();
  }

  private number(): Value {
    const start = this.pos;
    const b = this.b;
    let end = start;
    while (end < b.length) {
      const c = b[end] ?? 0;
      if ((c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x45 || c === 0x65)
        end++;
      else break;
    }
    const text = b.toString('latin1', start, end);
    if (!NUMBER.test(text)) {
      this.fail(text === '' ? 'unexpected character' : `invalid number literal ${JSON.stringify(text)}`);
    }
    this.pos = end;
    return { kind: 'literal', text };
  }

  private object(depth: number): Value {
    this.pos++; // {
    const members = new Map<string, Value>();
    this.ws();
    if (this.b[this.pos] === 0x7d) {
      this.pos++;
      return { kind: 'object', members };
    }
    for (;;) {
      this.ws();
      if (this.b[this.pos] !== 0x22) this.fail('expected a string object key');
      const key = this.string().toString('latin1');
      this.ws();
      if (this.b[this.pos] !== 0x3a) this.fail("expected ':' after object key");
      this.pos++;
      this.ws();
      // Go's decoder into map[string]any: a repeated key replaces the earlier value.
      members.set(key, this.value(depth + 1));
      this.ws();
      const c = this.b[this.pos];
      this.pos++;
      if (c === 0x2c) continue;
      if (c === 0x7d) return { kind: 'object', members };
      this.pos--;
      this.fail("expected ',' or '}' in object");
    }
  }

  private array(depth: number): Value {
    this.pos++; // [
    const items: Value[] = [];
    this.ws();
    if (this.b[this.pos] === 0x5d) {
      this.pos++;
      return { kind: 'array', items };
    }
    for (;;) {
      this.ws();
      items.push(this.value(depth + 1));
      this.ws();
      const c = this.b[this.pos];
      this.pos++;
      if (c === 0x2c) continue;
      if (c === 0x5d) return { kind: 'array', items };
      this.pos--;
      this.fail("expected ',' or ']' in array");
    }
  }

  /** Decodes a JSON string to UTF-8 bytes the way Go's `unquote` does. */
  private string(): Buffer {
    const b = this.b;
    this.pos++; // opening quote
    const parts: Buffer[] = [];
    let start = this.pos;
    for (;;) {
      const c = b[this.pos];
      if (c === undefined) this.fail('unterminated string');
      if (c === 0x22) {
        parts.push(b.subarray(start, this.pos));
        this.pos++;
        return Buffer.concat(parts);
      }
      if (c < 0x20) this.fail('control character in string');
      if (c < 0x80 && c !== 0x5c) {
        this.pos++;
        continue;
      }
      parts.push(b.subarray(start, this.pos));
      if (c === 0x5c) {
        parts.push(this.escape());
      } else {
        const size = utf8Length(b, this.pos);
        if (size === 0) {
          parts.push(REPLACEMENT);
          this.pos++;
        } else {
          parts.push(b.subarray(this.pos, this.pos + size));
          this.pos += size;
        }
      }
      start = this.pos;
    }
  }

  private hex4(at: number): number | null {
    const b = this.b;
    if (!isHex(b[at]) || !isHex(b[at + 1]) || !isHex(b[at + 2]) || !isHex(b[at + 3])) return null;
    return parseInt(b.toString('latin1', at, at + 4), 16);
  }

  private escape(): Buffer {
    const b = this.b;
    const c = b[this.pos + 1];
    const simple = c === undefined ? undefined : SIMPLE_ESCAPES.get(c);
    if (simple !== undefined) {
      this.pos += 2;
      return Buffer.from([simple]);
    }
    if (c !== 0x75) this.fail('invalid escape in string');
    const unit = this.hex4(this.pos + 2);
    if (unit === null) this.fail('invalid \\u escape in string');
    this.pos += 6;
    if (unit < 0xd800 || unit > 0xdfff) return encodeRune(unit);
    // A surrogate: only a high surrogate followed by an escaped low one makes a rune; else U+FFFD.
    if (unit <= 0xdbff && b[this.pos] === 0x5c && b[this.pos + 1] === 0x75) {
      const low = this.hex4(this.pos + 2);
      if (low !== null && low >= 0xdc00 && low <= 0xdfff) {
        this.pos += 6;
        return encodeRune(0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00));
      }
    }
    return REPLACEMENT;
  }
}

/** Go's `encoding/json` string encoding with `SetEscapeHTML(false)`; `bytes` is valid UTF-8. */
function encodeString(bytes: Buffer, out: Buffer[]): void {
  out.push(Buffer.from('"'));
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i] ?? 0;
    let escaped: string | null = null;
    if (c === 0x22) escaped = '\\"';
    else if (c === 0x5c) escaped = '\\\\';
    else if (c < 0x20) {
      escaped =
        c === 0x08
          ? '\\b'
          : c === 0x0c
            ? '\\f'
            : c === 0x0a
              ? '\\n'
              : c === 0x0d
                ? '\\r'
                : c === 0x09
                  ? '\\t'
                  : `\\u00${c.toString(16).padStart(2, '0')}`;
    } else if (c === 0xe2 && bytes[i + 1] === 0x80 && (bytes[i + 2] === 0xa8 || bytes[i + 2] === 0xa9)) {
      escaped = bytes[i + 2] === 0xa8 ? '\\u2028' : '\\u2029';
    }
    if (escaped === null) continue;
    out.push(bytes.subarray(start, i), Buffer.from(escaped, 'latin1'));
    if (escaped.startsWith('\\u202')) i += 2;
    start = i + 1;
  }
  out.push(bytes.subarray(start), Buffer.from('"'));
}

const OPEN_OBJECT = Buffer.from('{');
const CLOSE_OBJECT = Buffer.from('}');
const OPEN_ARRAY = Buffer.from('[');
const CLOSE_ARRAY = Buffer.from(']');
const COMMA = Buffer.from(',');
const COLON = Buffer.from(':');

/** OPA's `walk`: keys sorted, no whitespace, primitives encoded by Go's encoder. */
function walk(value: Value, out: Buffer[]): void {
  switch (value.kind) {
    case 'object': {
      out.push(OPEN_OBJECT);
      // Keys are latin1 views of UTF-8 bytes, so code-unit order is byte order (Go's sort.Strings).
      const members = [...value.members].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      members.forEach(([key, member], i) => {
        if (i > 0) out.push(COMMA);
        encodeString(Buffer.from(key, 'latin1'), out);
        out.push(COLON);
        walk(member, out);
      });
      out.push(CLOSE_OBJECT);
      return;
    }
    case 'array':
      out.push(OPEN_ARRAY);
      value.items.forEach((item, i) => {
        if (i > 0) out.push(COMMA);
        walk(item, out);
      });
      out.push(CLOSE_ARRAY);
      return;
    case 'string':
      encodeString(value.bytes, out);
      return;
    case 'literal':
      out.push(Buffer.from(value.text, 'latin1'));
      return;
  }
}

function canonicalJsonChunks(bytes: Buffer): Buffer[] {
  const body =
    bytes.length > 2 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf
      ? bytes.subarray(3)
      : bytes;
  const out: Buffer[] = [];
  walk(new GoJsonParser(body).parseDocument(), out);
  return out;
}
