import { recordOf } from '../../../src/audit/record';

describe('recordOf', () => {
  const input = { request: { agent_id: 'agt-1', context: { token: 'secret' } } };

  it('shapes a decide decision as one record, keeping only what a log reader needs', () => {
    const record = recordOf(
      {
        endpoint: 'decide',
        tenant: 'acme',
        caller: 'issuer-1',
        input,
        decision_id: '01JD',
        decision: 'allow',
        grant: { audience: 'api://payments', scopes: ['payments.read'], ttl_seconds: 900 },
        reasons: [{ code: 'scope_narrowed', message: 'narrowed', policy_id: null }],
        policies: [
          {
            id: 'ca-1',
            result: 'notApplied',
            reason: 'agentIdRisk',
            name: 'Block high-risk agents',
            controls: ['block'],
          } as never,
        ],
        revision: 'b1+d1',
        at_rfc3339: new Date(Date.parse('2026-11-27T12:00:00Z')).toISOString(),
      },
      0.123456,
    );
    expect(record).toEqual({
      decision_id: '01JD',
      timestamp: '2026-11-27T12:00:00.000Z',
      endpoint: 'decide',
      tenant: 'acme',
      caller: 'issuer-1',
      input,
      result: {
        decision: 'allow',
        grant: { audience: 'api://payments', scopes: ['payments.read'], ttl_seconds: 900 },
      },
      reasons: [{ code: 'scope_narrowed', message: 'narrowed', policy_id: null }],
      policies: [{ id: 'ca-1', result: 'notApplied', reason: 'agentIdRisk' }],
      revision: 'b1+d1',
      latency_ms: 0.123,
    });
    // The input is referenced, not copied: masking copies on write later, off the response path.
    expect(record.input).toBe(input);
  });

  it('carries the HTTP status of a gateway decision and no grant', () => {
    const record = recordOf(
      {
        endpoint: 'authorize',
        tenant: 'default',
        caller: null,
        input,
        decision_id: '01JE',
        decision: 'deny',
        status: 403,
        reasons: [{ code: 'insufficient_scope' }],
        policies: [],
        revision: 'b1+d1',
        at_rfc3339: new Date(0).toISOString(),
      },
      2,
    );
    expect(record.result).toEqual({ decision: 'deny', status: 403 });
    expect(record.caller).toBeNull();
    expect(record.timestamp).toBe('1970-01-01T00:00:00.000Z');
    expect(record.reasons).toEqual([{ code: 'insufficient_scope' }]);
  });
});
