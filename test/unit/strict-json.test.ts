import { JsonDocumentError, parseJsonBytes, parseJsonText, scanJsonText } from '../../src/strict-json';

const LIMITS = { maxBytes: 1024 * 1024, maxDepth: 8 };

function problem(input: string | Buffer, limits = LIMITS): { pointer: string; message: string } {
  try {
    if (typeof input === 'string') parseJsonText(input, limits);
    else parseJsonBytes(input, limits);
  } catch (err) {
    if (err instanceof JsonDocumentError) return { pointer: err.pointer, message: err.message };
    throw err;
  }
  throw new Error('expected a JsonDocumentError');
}

describe('strict JSON for the data channels', () => {
  it('parses what JSON.parse parses, keeping "__proto__" an own key', () => {
    const value = parseJsonText('{"__proto__":{"a":1},"constructor":[1e-400,-0,1.5]}', LIMITS) as Record<
      string,
      unknown
    >;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.hasOwn(value, '__proto__')).toBe(true);
    expect(JSON.stringify(value)).toBe('{"__proto__":{"a":1},"constructor":[0,0,1.5]}');
  });

  it.each([
    ['a repeated key', '{"a":1,"b":2,"a":3}', '/a', 'repeats the key "a"'],
    ['a repeated key spelt with an escape', '{"a":1,"\\u0061":3}', '/a', 'repeats the key "a"'],
    [
      'a repeated "__proto__"',
      '{"x":[{"__proto__":1,"__proto__":2}]}',
      '/x/0/__proto__',
      'repeats the key "__proto__"',
    ],
    ['a repeated key in the second array item', '[{"a":1},{"a":1,"a":2}]', '/1/a', 'repeats the key "a"'],
    ['a key with / and ~', '{"a/~b":1,"a/~b":2}', '/a~1~0b', 'repeats the key "a/~b"'],
    ['1e400', '{"n":[1,1e400]}', '/n/1', 'number 1e400 is out of range'],
    ['-1E+400', '-1E+400', '', 'number -1E+400 is out of range'],
    ['nesting past the limit', '[[[[[[[[[]]]]]]]]]', '/0/0/0/0/0/0/0/0', 'nests deeper than 8 levels'],
    ['an empty document', '', '', 'is empty'],
    ['white space only', ' \r\n', '', 'is empty'],
  ])('refuses %s', (_name, text, pointer, message) => {
    expect(problem(text)).toEqual({ pointer, message });
  });

  it('allows nesting up to the limit, and keys repeated only across objects', () => {
    expect(parseJsonText('[[[[[[{"a":{"b":1}}]]]]]]', LIMITS)).toBeDefined();
    expect(parseJsonText('[{"a":1},{"a":2},{"b":{"a":3}}]', LIMITS)).toEqual([
      { a: 1 },
      { a: 2 },
      { b: { a: 3 } },
    ]);
  });

  it('reads numbers only outside strings, and accepts every double', () => {
    expect(
      parseJsonText('{"1e400":"1e400","n":[-0.5e-3,1.7976931348623157e308,-0,0E0],"t":[true,null]}', LIMITS),
    ).toEqual({ '1e400': '1e400', n: [-0.0005, 1.7976931348623157e308, -0, 0], t: [true, null] });
    expect(problem('{"a":"\\"","b":[2e308]}')).toEqual({
      pointer: '/b/0',
      message: 'number 2e308 is out of range',
    });
  });

  it('refuses 10,000 levels without running out of stack', () => {
    const text = '['.repeat(10_000) + ']'.repeat(10_000);
    expect(problem(text, { maxBytes: 1e6, maxDepth: 128 }).message).toBe('nests deeper than 128 levels');
  });

  it.each([
    ['a stray continuation byte', [0x80]],
    ['0xFF', [0xff]],
    ['a truncated sequence', [0xe2, 0x82]],
    ['an overlong encoding', [0xc0, 0xaf]],
    ['an encoded surrogate', [0xed, 0xa0, 0x80]],
    ['a code point past U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ])('refuses invalid UTF-8: %s', (_name, bytes) => {
    const doc = Buffer.concat([Buffer.from('{"a":"'), Buffer.from(bytes), Buffer.from('"}')]);
    expect(problem(doc)).toEqual({ pointer: '', message: 'is not valid UTF-8' });
  });

  it('drops a leading byte order mark, as Go and OPA do', () => {
    expect(parseJsonBytes(Buffer.from('\ufeff{"a":"é"}'), LIMITS)).toEqual({ a: 'é' });
  });

  it('refuses a document over the size limit before decoding it', () => {
    expect(problem(Buffer.from('"' + 'x'.repeat(100) + '"'), { maxBytes: 64, maxDepth: 8 })).toEqual({
      pointer: '',
      message: 'is larger than 64 bytes',
    });
  });

  it('reports invalid JSON with its position', () => {
    expect(problem('{"a":}').message).toMatch(/^is not valid JSON: /);
  });

  it('finds the end of strings whose escapes end in backslashes or quotes', () => {
    // An even run of backslashes before a quote ends the string; an odd one escapes it.
    expect(scanJsonText('{"a\\\\":1,"a\\\\":2}')).toEqual({
      kind: 'duplicateKey',
      pointer: '/a\\',
      key: 'a\\',
    });
    expect(scanJsonText('{"x":"\\\\\\"","y":{"x":1},"x2":1}')).toBeNull();
    expect(scanJsonText('{"x":"q\\"","x":1}')).toEqual({ kind: 'duplicateKey', pointer: '/x', key: 'x' });
    expect(scanJsonText(`{"m":"${'z'.repeat(5000)}","m":1}`)).toEqual({
      kind: 'duplicateKey',
      pointer: '/m',
      key: 'm',
    });
  });
});
