import fc from 'fast-check';
import { visit } from 'jsonc-parser';
import {
  MAX_BODY_DEPTH,
  duplicateMember,
  freeFormViolation,
  jsonShapeViolation,
} from '../../../src/schemas/json-shape';

/** `{"a":{"a":…}}` `depth` containers deep, built without recursion. */
function nested(depth: number, key = 'a'): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  let current = root;
  for (let i = 1; i < depth; i++) {
    const next: Record<string, unknown> = {};
    current[key] = next;
    current = next;
  }
  return root;
}

describe('jsonShapeViolation', () => {
  it('accepts a body exactly at the limit and scalars', () => {
    expect(jsonShapeViolation(nested(MAX_BODY_DEPTH), MAX_BODY_DEPTH)).toBeNull();
    for (const v of [null, 1, 'x', true]) expect(jsonShapeViolation(v, 1)).toBeNull();
    expect(jsonShapeViolation({ a: [1, { b: 2 }] }, 3)).toBeNull();
  });

  it('names the first value past the limit with its JSON pointer', () => {
    expect(jsonShapeViolation(nested(MAX_BODY_DEPTH + 1), MAX_BODY_DEPTH)).toEqual({
      pointer: '/a'.repeat(MAX_BODY_DEPTH),
      message: `must not nest deeper than ${MAX_BODY_DEPTH} levels`,
      keyword: 'maxDepth',
    });
    const body = { ok: { x: 1 }, list: [0, [[['deep']]]], 'a/b~c': { d: {} } };
    expect(jsonShapeViolation(body, 3)?.pointer).toBe('/list/1/0');
    expect(jsonShapeViolation({ 'a/b~c': { d: {} } }, 2, '/requests/3')?.pointer).toBe(
      '/requests/3/a~1b~0c/d',
    );
  });

  it('walks 1,000,000 levels without recursion (JSON.stringify overflows long before)', () => {
    const text = '['.repeat(1_000_000) + ']'.repeat(1_000_000);
    const value: unknown = JSON.parse(text);
    expect(() => JSON.stringify(value)).toThrow(RangeError);
    expect(jsonShapeViolation(value, MAX_BODY_DEPTH)?.pointer).toBe('/0'.repeat(MAX_BODY_DEPTH));
  });

  it('refuses a __proto__ member at any level, and accepts constructor and prototype', () => {
    const parsed: unknown = JSON.parse('{"a":[{"b":{"__proto__":{"polluted":true}}}]}');
    expect(jsonShapeViolation(parsed, MAX_BODY_DEPTH)).toEqual({
      pointer: '/a/0/b/__proto__',
      message: 'is a reserved member name',
      keyword: 'reservedKey',
    });
    expect(jsonShapeViolation(JSON.parse('{"__proto__":1}'), 1)?.pointer).toBe('/__proto__');
    expect(
      jsonShapeViolation(JSON.parse('{"constructor":{"prototype":{"x":1}}}'), MAX_BODY_DEPTH),
    ).toBeNull();
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('jsonShapeViolation: unpaired surrogates', () => {
  it('refuses a string or a member name with an unpaired surrogate, and accepts pairs', () => {
    expect(jsonShapeViolation(JSON.parse('{"a":["ok","x\\ud800"]}'), 8)).toEqual({
      pointer: '/a/1',
      message: 'must not contain an unpaired surrogate (\\uD800-\\uDFFF): it is not Unicode text',
      keyword: 'unpairedSurrogate',
    });
    expect(jsonShapeViolation(JSON.parse('{"k\\udc00":1}'), 8)?.pointer).toBe('/k\udc00');
    expect(jsonShapeViolation(JSON.parse('"\\udfff"'), 8, '/x')?.pointer).toBe('/x');
    expect(jsonShapeViolation(JSON.parse('{"emoji":"\\ud83d\\ude00","k":"é"}'), 8)).toBeNull();
  });
});

describe('freeFormViolation', () => {
  const limits = { maxDepth: 4, maxBytes: 32 };

  it('checks the depth before measuring the size, so measuring cannot overflow', () => {
    const deep: unknown = JSON.parse('{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000));
    expect(freeFormViolation(deep, '/context', limits)).toMatchObject({
      pointer: '/context/a/a/a/a',
      keyword: 'maxDepth',
    });
  });

  it('then the size in bytes of JSON', () => {
    expect(freeFormViolation({ pad: 'x'.repeat(40) }, '/context', limits)).toEqual({
      pointer: '/context',
      message: 'must be at most 32 bytes of JSON',
      keyword: 'maxBytes',
    });
    expect(freeFormViolation({ pad: 'x' }, '/context', limits)).toBeNull();
  });
});

describe('duplicateMember', () => {
  it('names the first repeated member name, compared decoded as JSON.parse compares them', () => {
    expect(duplicateMember('{"agent_id":"agt-nobody","agent_id":"agt-7f3a"}')).toEqual({
      pointer: '/agent_id',
      message: 'is a duplicate member name',
      keyword: 'duplicateKey',
    });
    expect(duplicateMember('{"a":{"l":[1,{"x~/":1,"x\\u007e/":2}]}}')?.pointer).toBe('/a/l/1/x~0~1');
    expect(duplicateMember('{"requests":[{"scopes":[],"scopes":["x"]}]}', '')?.pointer).toBe(
      '/requests/0/scopes',
    );
  });

  it('accepts the same name in different objects', () => {
    expect(duplicateMember('{"a":{"id":1},"b":{"id":1},"l":[{"id":1},{"id":2}]}')).toBeNull();
    expect(duplicateMember('[1,"x",null]')).toBeNull();
  });
});

/** The reference: a general JSON visitor (recursive, and some 30 µs a call, so not on the hot path). */
function oracle(text: string): string | null {
  const open: Set<string>[] = [];
  let found: string | null = null;
  visit(text, {
    onObjectBegin: () => {
      open.push(new Set());
    },
    onObjectProperty: (name, _offset, _length, _line, _column, path) => {
      const seen = open[open.length - 1]!;
      if (found === null && seen.has(name)) {
        found = [...path().map(String), name]
          .map((s) => `/${s.replace(/~/g, '~0').replace(/\//g, '~1')}`)
          .join('');
      }
      seen.add(name);
    },
    onObjectEnd: () => {
      open.pop();
    },
  });
  return found;
}

type Tree =
  | { kind: 'scalar'; text: string }
  | { kind: 'array'; items: Tree[] }
  | { kind: 'object'; entries: [string, boolean, Tree][] };

const NAMES = ['a', 'b', '~/', 'é', '"', '\\', '{', ':'];
const space = fc.constantFrom('', ' ', '\n\t ');
const tree = fc.letrec<{ tree: Tree }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.jsonValue({ maxDepth: 0 }).map((v): Tree => ({ kind: 'scalar', text: JSON.stringify(v) })),
    fc.array(tie('tree'), { maxLength: 4 }).map((items): Tree => ({ kind: 'array', items })),
    fc
      .array(fc.tuple(fc.constantFrom(...NAMES), fc.boolean(), tie('tree')), { maxLength: 4 })
      .map((entries): Tree => ({ kind: 'object', entries })),
  ),
})).tree;

/** Every UTF-16 code unit as a \u escape: the same name, spelled differently. */
function escapeAll(name: string): string {
  let out = '';
  for (let i = 0; i < name.length; i++) out += `\\u${name.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return `"${out}"`;
}

function render(t: Tree, ws: string): string {
  if (t.kind === 'scalar') return t.text;
  if (t.kind === 'array') return `[${ws}${t.items.map((i) => render(i, ws)).join(`${ws},${ws}`)}${ws}]`;
  const members = t.entries.map(
    ([name, escaped, value]) =>
      `${escaped ? escapeAll(name) : JSON.stringify(name)}${ws}:${ws}${render(value, ws)}`,
  );
  return `{${ws}${members.join(`${ws},${ws}`)}${ws}}`;
}

describe('property: duplicateMember agrees with a general JSON visitor', () => {
  it('on 5,000 valid JSON texts with repeated, escaped and nested names', () => {
    fc.assert(
      fc.property(tree, space, (t, ws) => {
        const text = render(t, ws);
        JSON.parse(text); // valid JSON, as the check requires
        expect(duplicateMember(text)?.pointer ?? null).toBe(oracle(text));
      }),
      { numRuns: 5000 },
    );
  });
});
