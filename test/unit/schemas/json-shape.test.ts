import { MAX_BODY_DEPTH, freeFormViolation, jsonShapeViolation } from '../../../src/schemas/json-shape';

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
