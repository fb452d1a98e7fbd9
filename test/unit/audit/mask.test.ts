import { DEFAULT_ERASED_POINTERS, RecordMasker, parsePointer } from '../../../src/audit/mask';
import type { DecisionRecord } from '../../../src/audit/record';
import { PdpError } from '../../../src/errors';

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function record(input: unknown, extra: Partial<DecisionRecord> = {}): DecisionRecord {
  return {
    decision_id: '01JD0000000000000000000000',
    timestamp: '2026-11-27T12:00:00.000Z',
    endpoint: 'decide',
    tenant: 'default',
    caller: 'issuer-1',
    input,
    result: {
      decision: 'allow',
      grant: { audience: 'api://payments', scopes: ['p.read'], ttl_seconds: 900 },
    },
    reasons: [],
    policies: [{ id: 'ca-1', result: 'success' }],
    revision: 'b1+d1',
    latency_ms: 0.42,
    ...extra,
  };
}

const decideInput = () => ({
  now: { epoch_seconds: 1795780800, rfc3339: '2026-11-27T12:00:00Z' },
  request: {
    tenant: 'default',
    agent_id: 'agt-7f3a',
    scopes: ['payments.read', 'payments.write'],
    user: { id: 'u-42', amr: ['pwd', 'mfa'] },
    context: {
      assertion: 'eyJhbGciOi.assertion',
      client_assertion: 'eyJhbGciOi.client',
      token: 't0k3n',
      access_token: 'at',
      ticket: 'INC-1',
    },
  },
  directory: { agent: { id: 'agt-7f3a', attributes: { tier: 'prod' } }, blueprint: null },
  signals: { degraded: false },
});

describe('parsePointer (RFC 6901)', () => {
  it.each([
    ['/input/a', ['input', 'a']],
    ['/input/a~1b', ['input', 'a/b']],
    ['/input/m~0n', ['input', 'm~n']],
    ['/input/~01', ['input', '~1']],
    ['/input/', ['input', '']],
    ['/input/items/0', ['input', 'items', '0']],
  ])('%s', (pointer, tokens) => {
    expect(parsePointer(pointer)).toEqual(tokens);
  });

  it.each(['input/a', '', '/input/a~2', '/input/a~'])('rejects %j', (pointer) => {
    expect(() => parsePointer(pointer)).toThrow(PdpError);
  });
});

describe('RecordMasker', () => {
  it('erases credentials by default and lists them in erased', () => {
    const masked = new RecordMasker().mask(record(decideInput()));
    const context = (masked.input as ReturnType<typeof decideInput>).request.context;
    expect(context).toEqual({ ticket: 'INC-1' });
    expect(masked.erased).toEqual([
      '/input/request/context/assertion',
      '/input/request/context/client_assertion',
      '/input/request/context/token',
      '/input/request/context/access_token',
    ]);
    expect(JSON.stringify(masked)).not.toMatch(/eyJ|t0k3n|"at"/);
  });

  it('erases the raw agent token of a gateway input', () => {
    const masked = new RecordMasker().mask(
      record(
        { request: { method: 'GET' }, token: { agent_id: 'agt-1', raw: 'eyJ.raw.sig' } },
        { endpoint: 'authorize' },
      ),
    );
    expect(masked.input).toEqual({ request: { method: 'GET' }, token: { agent_id: 'agt-1' } });
    expect(masked.erased).toEqual(['/input/token/raw']);
  });

  it('covers the documented credential locations', () => {
    expect(DEFAULT_ERASED_POINTERS).toEqual(
      expect.arrayContaining([
        '/input/request/context/assertion',
        '/input/request/context/client_assertion',
        '/input/request/context/token',
        '/input/request/context/access_token',
        '/input/token/raw',
      ]),
    );
  });

  it('returns the record itself, without erased, when nothing matches', () => {
    const r = record({ request: { context: { ticket: 'x' } } });
    const masked = new RecordMasker().mask(r);
    expect(masked).toBe(r);
    expect(masked.erased).toBeUndefined();
  });

  it('applies caller pointers on top of the defaults, including in the result', () => {
    const masker = new RecordMasker(['/input/request/user/id', '/result/grant/scopes', '/input/absent/x']);
    expect(masker.pointers.slice(0, DEFAULT_ERASED_POINTERS.length)).toEqual(DEFAULT_ERASED_POINTERS);
    const masked = masker.mask(record(decideInput()));
    const input = masked.input as ReturnType<typeof decideInput>;
    expect(input.request.user).toEqual({ amr: ['pwd', 'mfa'] });
    expect(masked.result).toEqual({
      decision: 'allow',
      grant: { audience: 'api://payments', ttl_seconds: 900 },
    });
    expect(masked.erased).toContain('/input/request/user/id');
    expect(masked.erased).toContain('/result/grant/scopes');
    // A pointer to nothing erases nothing and is not listed (as OPA).
    expect(masked.erased).not.toContain('/input/absent/x');
  });

  it('decodes ~1 and ~0 in keys', () => {
    const masker = new RecordMasker(['/input/headers/x~1api~1key', '/input/m~0n', '/input/~01']);
    const masked = masker.mask(
      record({ headers: { 'x/api/key': 's', keep: 1 }, 'm~n': 's', '~1': 's', '~01': 'k' }),
    );
    expect(masked.input).toEqual({ headers: { keep: 1 }, '~01': 'k' });
    expect(masked.erased).toEqual(['/input/headers/x~1api~1key', '/input/m~0n', '/input/~01']);
  });

  it('walks arrays by index and removes an element as JSON Patch does', () => {
    const input = {
      items: [
        { id: 'a', secret: 's1' },
        { id: 'b', secret: 's2' },
      ],
      scopes: ['r', 'w', 'admin'],
    };
    const masker = new RecordMasker([
      '/input/items/1/secret',
      '/input/scopes/2',
      '/input/scopes/7',
      '/input/scopes/01',
    ]);
    const masked = masker.mask(record(input));
    expect(masked.input).toEqual({
      items: [{ id: 'a', secret: 's1' }, { id: 'b' }],
      scopes: ['r', 'w'],
    });
    expect(masked.erased).toEqual(['/input/items/1/secret', '/input/scopes/2']);
    // Untouched elements are shared, not copied.
    expect((masked.input as typeof input).items[0]).toBe(input.items[0]);
  });

  it('never mutates the caller object, and copies only along erased paths', () => {
    const input = deepFreeze(decideInput());
    const before = JSON.stringify(input);
    const r = deepFreeze(record(input, { erased: ['/input/earlier'] }));
    const masked = new RecordMasker(['/input/request/user/amr/0']).mask(r);
    expect(JSON.stringify(input)).toBe(before);
    expect(r.erased).toEqual(['/input/earlier']);
    expect(masked.erased?.[0]).toBe('/input/earlier');
    const out = masked.input as typeof input;
    expect(out).not.toBe(input);
    expect(out.request).not.toBe(input.request);
    expect(out.request.user.amr).toEqual(['mfa']);
    // Siblings off the erased paths are the caller's own objects.
    expect(out.directory).toBe(input.directory);
    expect(out.signals).toBe(input.signals);
    expect(out.request.scopes).toBe(input.request.scopes);
    expect(masked.policies).toBe(r.policies);
  });

  it('keeps a "__proto__" key a plain property while copying', () => {
    const input = JSON.parse('{"__proto__":{"token":"x","keep":1}}') as Record<string, unknown>;
    const masked = new RecordMasker(['/input/__proto__/token']).mask(record(input));
    const out = masked.input as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.hasOwn(out, '__proto__')).toBe(true);
    expect(JSON.stringify(out)).toBe('{"__proto__":{"keep":1}}');
    expect(({} as Record<string, unknown>)['keep']).toBeUndefined();
  });

  it('refuses pointers outside /input and /result', () => {
    expect(() => new RecordMasker(['/decision_id'])).toThrow(/must start with \/input or \/result/);
    expect(() => new RecordMasker(['input/x'])).toThrow(PdpError);
  });

  it('can erase the whole input', () => {
    const masked = new RecordMasker(['/input']).mask(record(decideInput()));
    expect('input' in masked).toBe(false);
    expect(masked.erased?.at(-1)).toBe('/input');
  });
});
