import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  SUPPORTED_HASH_ALGORITHMS,
  canonicalJson,
  hashBundleFile,
  isStructuredDoc,
} from '../../../src/engine/bundle-hash';
import { makeKey, opa, tempDir } from './opa-fixture';

const canon = (text: string | Buffer): string =>
  canonicalJson(typeof text === 'string' ? Buffer.from(text) : text).toString('utf8');

describe("OPA's canonical JSON for signature digests", () => {
  it('sorts keys, drops whitespace, and keeps number literals verbatim (json.Number)', () => {
    expect(canon('{ "b": 1.50, "a": [ 1E5, -0, 0.1e-2, true, null ], "c": {} , "d": [] }\n')).toBe(
      '{"a":[1E5,-0,0.1e-2,true,null],"b":1.50,"c":{},"d":[]}',
    );
  });

  it("encodes strings as Go's encoder with HTML escaping off", () => {
    expect(
      canon(String.raw`{"s":"<&>/\/\"\\\b\f\n\r\t\u0001\u001f\u007f\u00e9\u2028\u2029\ud83d\ude00"}`),
    ).toBe(String.raw`{"s":"<&>//\"\\\b\f\n\r\t\u0001\u001f` + '\u007fé' + String.raw`\u2028\u2029` + '😀"}');
  });

  it('sorts keys byte-wise on UTF-8 (Go sort.Strings), not by UTF-16 code unit', () => {
    // U+FF21 (EF BC A1) sorts before U+1F600 (F0 9F 98 80) in UTF-8; in UTF-16 the surrogate D83D comes first.
    expect(canon('{"😀":1,"Ａ":2,"Z":3,"é":4}')).toBe('{"Z":3,"é":4,"Ａ":2,"😀":1}');
  });

  it("keeps the last of duplicate keys, as Go's decoder into a map does", () => {
    expect(canon('{"a":1,"b":2,"a":{"x":3}}')).toBe('{"a":{"x":3},"b":2}');
  });

  it('replaces unpaired surrogates and each invalid UTF-8 byte with U+FFFD', () => {
    expect(canon(String.raw`["\ud800x","\udc00","\ud800\u0041"]`)).toBe('["\ufffdx","\ufffd","\ufffdA"]');
    const invalid = Buffer.concat([
      Buffer.from('["'),
      Buffer.from([0xff, 0xe2, 0x82, 0x41, 0xed, 0xa0, 0x80, 0xc0, 0xaf]),
      Buffer.from('"]'),
    ]);
    expect(canon(invalid)).toBe(`["${'\ufffd'.repeat(3)}A${'\ufffd'.repeat(5)}"]`);
  });

  it('drops a UTF-8 byte order mark', () => {
    expect(canon(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a":1}')]))).toBe('{"a":1}');
  });

  it.each([
    ['trailing data', '{"a":1} x'],
    ['a trailing comma', '{"a":1,}'],
    ['a leading zero', '[01]'],
    ['a raw control character', '["a\nb"]'],
    ['a bad escape', String.raw`["\x41"]`],
    ['an unterminated string', '["abc'],
    ['an empty document', '  '],
    ['single quotes', "{'a':1}"],
  ])('refuses invalid JSON: %s', (_name, text) => {
    expect(() => canonicalJson(Buffer.from(text))).toThrow(/invalid JSON at byte \d+/);
  });

  it('treats only OPA structured documents as JSON (by base name)', () => {
    expect(
      ['data.json', 'a/b/data.json', '.manifest', 'data.yaml', 'x/signatures.json'].map(isStructuredDoc),
    ).toEqual([true, true, true, true, true]);
    expect(['policy.wasm', 'other.json', 'data.yml', 'x.rego'].map(isStructuredDoc)).toEqual([
      false,
      false,
      false,
      false,
    ]);
    const bytes = Buffer.from('{ "b":1, "a":2 }');
    expect(hashBundleFile('other.json', bytes, 'SHA-256')).toEqual(
      createHash('sha256').update(bytes).digest(),
    );
    expect(hashBundleFile('data.json', bytes, 'SHA-256')).toEqual(
      createHash('sha256').update('{"a":2,"b":1}').digest(),
    );
  });

  it("supports OPA's hashing algorithms and refuses others", () => {
    expect(SUPPORTED_HASH_ALGORITHMS).toEqual([
      'MD5',
      'SHA-1',
      'SHA-224',
      'SHA-256',
      'SHA-384',
      'SHA-512',
      'SHA-512-224',
      'SHA-512-256',
    ]);
    expect(hashBundleFile('x.rego', Buffer.from('x'), 'SHA-512-256')).toEqual(
      createHash('sha512-256').update('x').digest(),
    );
    expect(() => hashBundleFile('x.rego', Buffer.from('x'), 'SHA3-256')).toThrow(
      /unsupported hashing algorithm/,
    );
    expect(() => hashBundleFile('data.yaml', Buffer.from('a: 1'), 'SHA-256')).toThrow(/YAML/);
  });

  it('computes the same digests as `opa sign` for awkward JSON', async () => {
    const dir = await tempDir('pdp-hash-');
    try {
      const key = await makeKey(dir);
      const bundle = path.join(dir, 'bundle');
      await mkdir(bundle);
      const data = Buffer.concat([
        Buffer.from(
          String.raw`{ "b": 1.50, "a": [1E5, -0, 0.1e-2, true, null], "dup": 1, "dup": {"z": "<&>/", ` +
            String.raw`"y": "\u2028\u2029\b\f\n\u0001\u007f\ud83d\ude00", "lone": "\ud800x\udc00"}, ` +
            String.raw`"ü": "é", "é": 1, "\u00e9\u0000": 2, "Z": "é", "😀": 0, "Ａ": 0, "bad": "`,
        ),
        Buffer.from([0xff, 0xe2, 0x82, 0x41, 0xed, 0xa0, 0x80, 0xc0, 0xaf]),
        Buffer.from(String.raw`", "esc\/": "\"\\" }` + '\n'),
      ]);
      await writeFile(path.join(bundle, 'data.json'), data);
      await writeFile(
        path.join(bundle, '.manifest'),
        String.raw`{"revision": "r\u2028é", "metadata": {"n": 1.50, "a": [1E5]}}`,
      );
      await writeFile(path.join(bundle, 'p.rego'), 'package x\n\nallow := true\n');
      const signed = await opa(['sign', '--bundle', '.', '--signing-key', key.privateFile], bundle);
      expect(signed).toMatchObject({ ok: true });

      const token = (
        JSON.parse(await readFile(path.join(bundle, '.signatures.json'), 'utf8')) as {
          signatures: string[];
        }
      ).signatures[0]!;
      const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
        files: { name: string; hash: string; algorithm: string }[];
      };
      expect(payload.files.map((f) => f.name).sort()).toEqual(['.manifest', 'data.json', 'p.rego']);
      for (const file of payload.files) {
        const ours = hashBundleFile(file.name, await readFile(path.join(bundle, file.name)), file.algorithm);
        expect({ name: file.name, hash: ours.toString('hex') }).toEqual({ name: file.name, hash: file.hash });
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
