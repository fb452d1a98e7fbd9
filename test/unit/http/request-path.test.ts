import path from 'node:path';
import fc from 'fast-check';
import { PATH_PROBLEMS, classifyRequestPath, type PathProblem } from '../../../src/http/request-path';

const canonical: [target: string, decoded: string][] = [
  ['/', '/'],
  ['/docs/x', '/docs/x'],
  ['/docs/', '/docs/'],
  ['/docs/a/', '/docs/a/'],
  ['/docs/x?q=1', '/docs/x'],
  ['/docs/x?next=/../admin#frag', '/docs/x'],
  ['/docs/x?', '/docs/x'],
  ['/docs/a.b', '/docs/a.b'],
  ['/docs/...', '/docs/...'],
  ['/docs/.well-known', '/docs/.well-known'],
  ['/docs/..x', '/docs/..x'],
  ['/docs/~me', '/docs/~me'],
  ["/docs/!$&'()*+,=:@", "/docs/!$&'()*+,=:@"],
  ['/docs/a%20b', '/docs/a b'],
  ['/docs/%3F%23%5B%5D', '/docs/?#[]'],
  ['/docs/%3f', '/docs/?'],
  ['/docs/caf%C3%A9', '/docs/café'],
  ['/docs/caf%c3%a9', '/docs/café'],
  ['/docs/%E2%9C%93', '/docs/✓'],
  ['/docs/%F0%9F%98%80', '/docs/😀'],
  ['/docs/%7B%7D%7C%5E%60%22%3C%3E', '/docs/{}|^`"<>'],
];

it.each(canonical)('%s is canonical and reads as %s', (target, decoded) => {
  expect(classifyRequestPath(target)).toEqual({ raw: target.split('?')[0], path: decoded, problem: null });
});

const ambiguous: [target: string, problem: PathProblem][] = [
  // Not origin-form.
  ['', 'not_origin_form'],
  ['*', 'not_origin_form'],
  ['docs/x', 'not_origin_form'],
  ['http://h/docs/x', 'not_origin_form'],
  ['HTTP://h/docs/x', 'not_origin_form'],
  ['h:80', 'not_origin_form'],
  ['?x=1', 'not_origin_form'],
  ['\\docs/x', 'not_origin_form'],
  ['%2fdocs/x', 'not_origin_form'],
  // Empty segments.
  ['//admin/docs/x', 'empty_segment'],
  ['//payments/docs/x', 'empty_segment'],
  ['///docs/x', 'empty_segment'],
  ['/docs//x', 'empty_segment'],
  ['/docs/x//', 'empty_segment'],
  // Dot segments, raw and encoded in any case.
  ['/.', 'dot_segment'],
  ['/..', 'dot_segment'],
  ['/docs/.', 'dot_segment'],
  ['/docs/./x', 'dot_segment'],
  ['/payments/../docs/x', 'dot_segment'],
  ['/payments/%2e%2e/docs/x', 'dot_segment'],
  ['/payments/%2E%2E/docs/x', 'dot_segment'],
  ['/payments/%2e%2E/docs/x', 'dot_segment'],
  ['/payments/.%2e/docs/x', 'dot_segment'],
  ['/payments/%2e./docs/x', 'dot_segment'],
  ['/payments/%2e/docs/x', 'dot_segment'],
  ['/docs/..?x', 'dot_segment'],
  // Backslashes, raw or encoded.
  ['/\\admin/docs/x', 'backslash'],
  ['/docs\\..\\admin', 'backslash'],
  ['/docs/%5cadmin', 'backslash'],
  ['/docs/%5Cadmin', 'backslash'],
  // Encoded /, ., %.
  ['/docs%2f..%2fadmin', 'encoded_slash'],
  ['/docs/a%2Fb', 'encoded_slash'],
  ['/docs/a%2eb', 'encoded_dot'],
  ['/docs/x%2E', 'encoded_dot'],
  ['/docs/%2e%2e%2e', 'encoded_dot'],
  ['/docs/%252e%252e/admin', 'encoded_percent'],
  ['/docs/%25', 'encoded_percent'],
  // Path parameters.
  ['/admin;x/secret', 'path_parameter'],
  ['/docs/x;jsessionid=1', 'path_parameter'],
  ['/docs/..;/admin', 'path_parameter'],
  ['/docs/%3b', 'path_parameter'],
  ['/docs/%3B', 'path_parameter'],
  // Encoded unreserved.
  ['/%61dmin/x', 'encoded_unreserved'],
  ['/docs/%41', 'encoded_unreserved'],
  ['/docs/%7e', 'encoded_unreserved'],
  ['/docs/%2D', 'encoded_unreserved'],
  ['/docs/%5f', 'encoded_unreserved'],
  ['/docs/%30', 'encoded_unreserved'],
  // Invalid percent-encoding.
  ['/docs/%zz', 'invalid_percent_encoding'],
  ['/docs/%4', 'invalid_percent_encoding'],
  ['/docs/%4/x', 'invalid_percent_encoding'],
  ['/docs/%', 'invalid_percent_encoding'],
  ['/docs/%%32e', 'invalid_percent_encoding'],
  ['/docs/%u002e', 'invalid_percent_encoding'],
  ['/docs/%+1', 'invalid_percent_encoding'],
  // Invalid UTF-8.
  ['/docs/%c0%af', 'invalid_utf8'],
  ['/docs/%c0%ae%c0%ae/admin', 'invalid_utf8'],
  ['/docs/%e0%80%af', 'invalid_utf8'],
  ['/docs/%ed%a0%80', 'invalid_utf8'],
  ['/docs/%ff', 'invalid_utf8'],
  ['/docs/%C3', 'invalid_utf8'],
  ['/docs/%f4%90%80%80', 'invalid_utf8'],
  // Controls, raw or encoded.
  ['/docs/x\u0000', 'control_character'],
  ['/docs/%00', 'control_character'],
  ['/docs/%00/../admin', 'control_character'],
  ['/docs/%0a', 'control_character'],
  ['/docs/%0D%0Ax', 'control_character'],
  ['/docs/%09', 'control_character'],
  ['/docs/%7f', 'control_character'],
  ['/docs/\t', 'control_character'],
  ['/docs/\u007f', 'control_character'],
  ['/docs/%C2%85', 'control_character'],
  ['/docs/%c2%9b', 'control_character'],
  // Raw characters outside pchar.
  ['/docs/a b', 'invalid_character'],
  ['/docs/"', 'invalid_character'],
  ['/docs/<x>', 'invalid_character'],
  ['/docs/^', 'invalid_character'],
  ['/docs/`', 'invalid_character'],
  ['/docs/{x}', 'invalid_character'],
  ['/docs/|', 'invalid_character'],
  ['/docs/[1]', 'invalid_character'],
  ['/docs/caf\u00e9', 'invalid_character'],
  ['/docs/caf\u00c3\u00a9', 'invalid_character'],
  ['/docs/\u00ff', 'invalid_character'],
  ['/docs/\u2215admin', 'invalid_character'],
  ['/docs/\ud800', 'invalid_character'],
  // Fragments.
  ['/docs/x#/../admin', 'fragment'],
  ['/docs/#', 'fragment'],
  // Decoded lookalikes of delimiters (fullwidth ／ ＼ ．, one dot leader, division slash).
  ['/docs/%EF%BC%8F..%EF%BC%8Fadmin', 'unicode_lookalike'],
  ['/docs/%EF%BC%BCadmin', 'unicode_lookalike'],
  ['/docs/%EF%BC%8E%EF%BC%8E/admin', 'unicode_lookalike'],
  ['/docs/%E2%80%A4%E2%80%A4/admin', 'unicode_lookalike'],
  ['/docs/%EF%BC%85', 'unicode_lookalike'],
  ['/docs/%EF%BC%9Bx', 'unicode_lookalike'],
  ['/docs/%E2%80%A6', 'unicode_lookalike'],
];

it.each(ambiguous)('%j is not canonical: %s', (target, problem) => {
  // Left as received (query removed): neither decoded nor resolved.
  const raw = target.split('?')[0];
  expect(classifyRequestPath(target)).toEqual({ raw, path: raw, problem });
});

it('covers every problem code with a table case', () => {
  expect(new Set(ambiguous.map(([, p]) => p))).toEqual(new Set(PATH_PROBLEMS));
});

it('reports the first problem from the left', () => {
  expect(classifyRequestPath('/a;b/%2e%2e/%zz').problem).toBe('path_parameter');
  expect(classifyRequestPath('/%2e%2e/a;b').problem).toBe('dot_segment');
  expect(classifyRequestPath('//%zz').problem).toBe('empty_segment');
  expect(classifyRequestPath('/%zz//').problem).toBe('invalid_percent_encoding');
});

// --- properties -------------------------------------------------------------------------------

/** RFC 3986 §5.2.4 remove_dot_segments. */
function removeDotSegments(input: string): string {
  const out: string[] = [];
  for (const seg of input.split('/').slice(1)) {
    if (seg === '..') out.pop();
    else if (seg !== '.') out.push(seg);
  }
  const last = input.split('/').at(-1);
  return '/' + out.join('/') + (last === '.' || last === '..' ? '/' : '');
}

/** Every other way an upstream might read a path, to compare with the classifier's reading. */
function readings(raw: string): string[] {
  const decode = (s: string) => decodeURIComponent(s);
  return [
    decode(new URL(raw, 'http://pdp.invalid').pathname), // WHATWG (Node, browsers, undici)
    decode(removeDotSegments(raw)), // RFC 3986: resolve, then decode
    removeDotSegments(decode(raw)), // decode, then resolve
    path.posix.normalize(decode(raw)), // file servers: decode, then normalise
    decode(raw.replace(/;[^/]*/g, '')), // servlet containers: strip ;params, then decode
    decode(decode(raw)), // chains that decode twice
    decode(raw).replace(/\/+/g, '/'), // slash-merging proxies (NGINX merge_slashes)
  ];
}

/** Pieces of paths: harmless ones (which still make `//` or dot segments when adjacent)... */
const harmless = fc.constantFrom(
  '/',
  '.',
  '..',
  'a',
  'docs',
  'admin',
  'x.y',
  '~',
  '-',
  "!$&'()*+,=:@",
  'http:',
  '%C3%A9',
  '%c3%a9',
  '%3F',
  '%23',
  '%20',
  '%5B',
);
/** ...and hostile ones. */
const hostilePiece = fc.constantFrom(
  '//',
  '%2e',
  '%2E',
  '%2f',
  '%5C',
  '\\',
  '%25',
  '%252e',
  ';',
  ';x=1',
  '%3b',
  '%00',
  '\u0000',
  '%0a',
  '%zz',
  '%4',
  '%',
  '%c0%af',
  '%ed%a0%80',
  '%EF%BC%8F',
  '\u00e9',
  ' ',
  '"',
  '<',
  '{',
  '|',
  '#',
  '?',
  '%61',
);
const pathish = fc
  .tuple(
    fc.constantFrom('/', ''),
    fc.array(fc.oneof({ arbitrary: harmless, weight: 4 }, { arbitrary: hostilePiece, weight: 1 }), {
      maxLength: 10,
    }),
  )
  .map(([lead, parts]) => lead + parts.join(''));

describe('properties', () => {
  it('a canonical path reads the same to every upstream: WHATWG, RFC 3986, decode-then-resolve, servlet, double decode', () => {
    let canonicalSeen = 0;
    fc.assert(
      fc.property(pathish, (target) => {
        const r = classifyRequestPath(target);
        if (r.problem !== null) return;
        canonicalSeen++;
        // Resolving changes nothing, whichever resolver: the raw form is already a fixed point.
        expect(new URL(r.raw, 'http://pdp.invalid').pathname).toBe(r.raw);
        expect(removeDotSegments(r.raw)).toBe(r.raw);
        for (const reading of readings(r.raw)) expect(reading).toBe(r.path);
        // And the decoded form has nothing left to resolve or split.
        expect(r.path).not.toMatch(/\/\/|\\|(^|\/)\.{1,2}(\/|$)/);
      }),
      { numRuns: 10_000 },
    );
    expect(canonicalSeen).toBeGreaterThan(500);
  });

  const hostile: [string, string][] = [
    ['//', 'empty segment'],
    ['/./', 'dot segment'],
    ['/../', 'dot segment'],
    ['/%2e%2e/', 'encoded dot segment'],
    ['/.%2E/', 'encoded dot segment'],
    ['\\', 'backslash'],
    ['%5c', 'encoded backslash'],
    ['%2F', 'encoded slash'],
    ['%2e', 'encoded dot'],
    ['%25', 'encoded percent'],
    [';', 'path parameter'],
    ['%3B', 'encoded semicolon'],
    ['%00', 'encoded NUL'],
    ['\u0000', 'NUL'],
    ['%1f', 'encoded control'],
    ['%zz', 'invalid escape'],
    ['%c0%af', 'overlong'],
    ['%ed%b0%80', 'lone surrogate'],
    [' ', 'space'],
    ['<', 'less-than'],
    ['\u00c3', 'raw non-ASCII'],
    ['#', 'fragment'],
    ['%41', 'encoded unreserved'],
    ['%EF%BC%8E', 'fullwidth dot'],
  ];
  const segment = fc.stringMatching(/^[A-Za-z0-9_~-]{1,8}$/);

  it('a path holding any ambiguous construct, anywhere, is never canonical', () => {
    fc.assert(
      fc.property(
        fc.array(segment, { minLength: 1, maxLength: 5 }),
        fc.constantFrom(...hostile),
        fc.nat(),
        fc.boolean(),
        (segments, [construct], at, trailingSlash) => {
          const clean = '/' + segments.join('/') + (trailingSlash ? '/' : '');
          const i = at % (clean.length + 1);
          // Inserted anywhere after the leading slash (or as the whole prefix).
          const target = i === 0 ? construct + clean : clean.slice(0, i) + construct + clean.slice(i);
          expect(classifyRequestPath(target).problem).not.toBeNull();
        },
      ),
      { numRuns: 10_000 },
    );
  });

  /** Decoded characters a canonical path may hold: not separators, escapes, controls or their lookalikes. */
  const delimiterOrControl = (c: string) => {
    const code = c.charCodeAt(0);
    return code < 0x20 || (code >= 0x7f && code <= 0x9f) || '/\\.%;?#'.includes(c);
  };
  const allowedDecoded = (ch: string) => {
    for (const c of ch) {
      if (/\p{Cs}/u.test(c) || (c !== '.' && c !== '?' && c !== '#' && delimiterOrControl(c))) return false;
      if (c.charCodeAt(0) >= 0x80 && Array.from(c.normalize('NFKC')).some(delimiterOrControl)) return false;
    }
    return true;
  };
  const safeChar = fc
    .oneof(
      fc.constantFrom(...'abcXYZ019-._~!$&\'()*+,=:@ ?#[]{}|^`"<>é✓😀中'.match(/./gu)!),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
    )
    .filter(allowedDecoded);

  /** The canonical spelling: unreserved and sub-delims raw, everything else as UTF-8 escapes. */
  function encodeCanonically(segment: string, lowerHex: boolean): string {
    let out = '';
    for (const ch of segment) {
      if (/^[A-Za-z0-9._~!$&'()*+,=:@-]$/.test(ch)) out += ch;
      else
        for (const b of Buffer.from(ch, 'utf8')) {
          const hex = b.toString(16).padStart(2, '0');
          out += '%' + (lowerHex ? hex : hex.toUpperCase());
        }
    }
    return out;
  }

  it('segments encoded canonically are accepted and decode back to the same segments', () => {
    const canonicalSegment = fc
      .array(safeChar, { minLength: 1, maxLength: 6 })
      .map((cs) => cs.join(''))
      .filter((s) => s !== '.' && s !== '..');
    fc.assert(
      fc.property(
        fc.array(canonicalSegment, { maxLength: 6 }),
        fc.boolean(),
        fc.boolean(),
        (segments, trailingSlash, lowerHex) => {
          const decoded = '/' + segments.join('/') + (trailingSlash && segments.length > 0 ? '/' : '');
          const target =
            '/' +
            segments.map((s) => encodeCanonically(s, lowerHex)).join('/') +
            (trailingSlash && segments.length > 0 ? '/' : '');
          const r = classifyRequestPath(target);
          expect(r).toEqual({ raw: target, path: decoded, problem: null });
          // Splitting the decoded path gives the segments back: no segment hides a separator.
          expect(r.path.split('/').slice(1, segments.length + 1)).toEqual(segments);
          // A query string never changes the verdict.
          expect(classifyRequestPath(`${target}?a=/../x`)).toEqual(r);
        },
      ),
      { numRuns: 5_000 },
    );
  });

  it('is total: any string gives a verdict, never an exception', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 64 }), (s) => {
        const r = classifyRequestPath(s);
        expect(r.problem === null || PATH_PROBLEMS.includes(r.problem)).toBe(true);
        if (r.problem !== null) expect(r.path).toBe(r.raw);
      }),
      { numRuns: 10_000 },
    );
  });
});
