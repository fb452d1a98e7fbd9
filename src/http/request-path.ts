/**
 * The path of a gateway's original request, judged for ambiguity.
 *
 * Gateway routes must be matched on exactly the path the upstream will act on. Servers disagree on
 * how to read anything beyond plain RFC 3986 segments (`//x` is an authority to a WHATWG parser and
 * an empty segment to NGINX; Tomcat drops `;params`; some servers decode `%2f`, others do not; IIS
 * reads `\` as `/`), so a path is canonical only when every reading gives the same segments. A
 * canonical path is returned percent-decoded, so routes can be written in plain text; any other is
 * returned raw with a stable problem code, and the policy denies it (`path_not_canonical`) unless
 * the route its raw form matches opts in. Nothing here resolves or rewrites a path.
 */

/** Why a path is not canonical; the first problem from the left is reported. */
export const PATH_PROBLEMS = [
  /** Not a single `/` followed by the path: absolute-form (`http://h/x`), `*`, empty, relative. */
  'not_origin_form',
  /** `//` anywhere (a leading one reads as an authority to WHATWG/RFC 3986 parsers). */
  'empty_segment',
  /** A `.` or `..` segment, raw or percent-encoded (`%2e%2e`, `.%2E`). */
  'dot_segment',
  /** A `\`, raw or `%5c`: a separator to Windows servers and WHATWG parsers. */
  'backslash',
  /** `%2f`: a separator to servers that decode before splitting, a character to the others. */
  'encoded_slash',
  /** `%2e` outside a dot segment: `.` is unreserved, so encoding it only serves to hide one. */
  'encoded_dot',
  /** `%25`: decoded twice by some chains (`%252e` → `%2e` → `.`). */
  'encoded_percent',
  /** `;`, raw or `%3b`: servlet containers strip `;params` from segments (`/admin;x/y` is `/admin/y`). */
  'path_parameter',
  /** A percent-encoded unreserved character (`%61dmin`): RFC 3986 says it must not be encoded. */
  'encoded_unreserved',
  /** `%` not followed by two hex digits (`%zz`, `%4`). */
  'invalid_percent_encoding',
  /** Percent-encoded bytes that are not UTF-8 (overlongs such as `%c0%af`, surrogates, `%ff`). */
  'invalid_utf8',
  /** A control character: C0 or DEL raw or encoded (NUL, `%00`, `%0a`, `%7f`), C1 encoded (`%c2%85`). */
  'control_character',
  /** A raw character outside RFC 3986 `pchar`: space, `"`, `<`, `>`, `[`, `]`, `^`, `` ` ``, `{`, `|`, `}`, non-ASCII. */
  'invalid_character',
  /** `#`: a fragment has no place in a request-target. */
  'fragment',
  /** A decoded character whose compatibility form (NFKC) holds `/`, `\`, `.`, `%`, `;`, `?`, `#` or a control (`／`, `＼`, `．`): Windows best-fit and NFKC-normalising servers read it as that. */
  'unicode_lookalike',
] as const;

export type PathProblem = (typeof PATH_PROBLEMS)[number];

export interface RequestPath {
  /** The request-target up to its first `?`, as received. */
  raw: string;
  /** What routes are matched against: percent-decoded when canonical, else `raw` itself. */
  path: string;
  /** null when canonical. */
  problem: PathProblem | null;
}

const SLASH = 0x2f;

/**
 * Raw characters a canonical segment may hold: RFC 3986 `pchar` without `pct-encoded` and
 * without `;` (see path_parameter). Index = char code.
 */
const RAW_OK = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,=:@")
  RAW_OK[c.charCodeAt(0)] = 1;

/** RFC 3986 unreserved (ALPHA / DIGIT / `-` / `.` / `_` / `~`). */
function unreserved(b: number): boolean {
  return (
    (b >= 0x41 && b <= 0x5a) ||
    (b >= 0x61 && b <= 0x7a) ||
    (b >= 0x30 && b <= 0x39) ||
    b === 0x2d ||
    b === 0x2e ||
    b === 0x5f ||
    b === 0x7e
  );
}

function control(b: number): boolean {
  return b < 0x20 || b === 0x7f;
}

function rawProblem(c: number): PathProblem | null {
  if (c < 0x80 && RAW_OK[c] === 1) return null;
  if (control(c)) return 'control_character';
  if (c === 0x23) return 'fragment';
  if (c === 0x5c) return 'backslash';
  if (c === 0x3b) return 'path_parameter';
  return 'invalid_character';
}

function encodedProblem(b: number): PathProblem | null {
  if (b === SLASH) return 'encoded_slash';
  if (b === 0x5c) return 'backslash';
  if (b === 0x2e) return 'encoded_dot';
  if (b === 0x25) return 'encoded_percent';
  if (b === 0x3b) return 'path_parameter';
  if (control(b)) return 'control_character';
  if (unreserved(b)) return 'encoded_unreserved';
  return null;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;

/** Does `s` hold a delimiter, dot, escape or control? (What an NFKC form must not hold.) */
function holdsDelimiter(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (control(c) || '/\\.%;?#'.includes(s.charAt(i))) return true;
  }
  return false;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** What the decoded non-ASCII characters hide, if anything. */
function decodedProblem(decoded: string): PathProblem | null {
  for (const ch of decoded) {
    const c = ch.charCodeAt(0);
    if (c < 0x80) continue;
    if (c <= 0x9f) return 'control_character';
    if (holdsDelimiter(ch.normalize('NFKC'))) return 'unicode_lookalike';
  }
  return null;
}

/** Percent-decodes `raw` (origin-form, no query), or says why it is not canonical. */
function judge(raw: string): { problem: PathProblem } | { decoded: string } {
  if (raw.charCodeAt(0) !== SLASH) return { problem: 'not_origin_form' };
  const bytes = new Uint8Array(raw.length);
  let n = 0;
  // Segment by segment: raw[start] is the `/` that opens one, raw[end] the next `/` (or the end).
  for (let start = 0; start < raw.length;) {
    const next = raw.indexOf('/', start + 1);
    const end = next === -1 ? raw.length : next;
    const segment = raw.slice(start + 1, end);
    // A single trailing slash (`/docs/`) is an empty last segment, read alike everywhere.
    if (segment === '' && end < raw.length) return { problem: 'empty_segment' };
    if (DOT_SEGMENT.test(segment)) return { problem: 'dot_segment' };
    bytes[n++] = SLASH;
    for (let i = start + 1; i < end; i++) {
      const c = raw.charCodeAt(i);
      if (c !== 0x25) {
        const problem = rawProblem(c);
        if (problem !== null) return { problem };
        bytes[n++] = c;
        continue;
      }
      const hi = hexValue(raw.charCodeAt(i + 1));
      const lo = hexValue(raw.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return { problem: 'invalid_percent_encoding' };
      const problem = encodedProblem(hi * 16 + lo);
      if (problem !== null) return { problem };
      bytes[n++] = hi * 16 + lo;
      i += 2;
    }
    start = end;
  }
  let decoded: string;
  try {
    decoded = utf8.decode(bytes.subarray(0, n));
  } catch {
    return { problem: 'invalid_utf8' };
  }
  const problem = decodedProblem(decoded);
  return problem === null ? { decoded } : { problem };
}

/**
 * Classifies a request-target as the gateway forwards it (`$request_uri`, X-Forwarded-Uri, Envoy's
 * `:path`): the query string is removed, nothing else is changed. Pure and total: any string in,
 * a RequestPath out.
 */
export function classifyRequestPath(target: string): RequestPath {
  const q = target.indexOf('?');
  const raw = q === -1 ? target : target.slice(0, q);
  const verdict = judge(raw);
  return 'problem' in verdict
    ? { raw, path: raw, problem: verdict.problem }
    : { raw, path: verdict.decoded, problem: null };
}
