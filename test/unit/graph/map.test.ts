import { createValidators } from '../../../src/decision/validators';
import { mapAgent, mapBlueprint, mapRiskyAgent, mapRiskyUser } from '../../../src/graph/map';

const v = createValidators();

describe('Graph objects → PDP records', () => {
  it.each([
    ['hidden', 'atRisk', 'high'],
    ['unknownFutureValue', 'atRisk', 'high'],
    ['low', 'atRisk', 'low'],
    ['low', 'confirmedCompromised', 'high'],
    ['high', 'dismissed', 'none'],
    ['high', 'remediated', 'none'],
  ])(
    'riskLevel %s in state %s is stored as %s (an unknown never lowers risk)',
    (riskLevel, riskState, level) => {
      const m = mapRiskyAgent(v, {
        '@odata.type': '#microsoft.graph.riskyAgentIdentity',
        id: 'a1',
        riskLevel,
        riskState,
      });
      expect(m.ok && m.record.level).toBe(level);
      const u = mapRiskyUser(v, { id: 'u1', riskLevel, riskState });
      expect(u.ok && u.record.level).toBe(level);
    },
  );

  it('names the risk record kind by @odata.type and refuses an unknown type', () => {
    const kind = (t: string): unknown => {
      const m = mapRiskyAgent(v, { '@odata.type': t, id: 'x', riskLevel: 'low' });
      return m.ok ? m.kind : m.problem;
    };
    expect(kind('#microsoft.graph.riskyAgentUser')).toBe('risk:agent-user');
    expect(kind('#microsoft.graph.riskyAgentIdentityBlueprintPrincipal')).toBe('risk:blueprint');
    expect(kind('#microsoft.graph.riskyUser')).toMatch(/is not a risky agent type/);
  });

  it('refuses ids that cannot be PDP ids, and an agent is enabled only when Graph says so', () => {
    expect(mapAgent(v, { id: '../x', agentIdentityBlueprintId: 'bp' }, []).ok).toBe(false);
    expect(mapAgent(v, { id: 'a1' }, []).ok).toBe(false);
    const m = mapAgent(v, { id: 'a1', agentIdentityBlueprintId: 'bp' }, [
      { id: 'u1' },
      { id: 'u1' },
      { nope: 1 },
    ]);
    expect(m.ok && m.record).toMatchObject({ enabled: false, sponsors: ['u1'], blueprint_id: 'bp' });
  });

  it("takes a blueprint's scopes from enumeratedScopes only; no principal means disabled", () => {
    const m = mapBlueprint(v, { id: 'o1', appId: 'bp', displayName: 'B' }, undefined, [
      {
        resourceAppId: 'api://a',
        inheritableScopes: { '@odata.type': '#microsoft.graph.enumeratedScopes', scopes: ['r'] },
      },
      { resourceAppId: 'api://b', inheritableScopes: { '@odata.type': '#microsoft.graph.allAllowedScopes' } },
      {
        resourceAppId: '__proto__',
        inheritableScopes: { '@odata.type': '#microsoft.graph.enumeratedScopes', scopes: ['x'] },
      },
    ]);
    expect(m.ok).toBe(true);
    if (!m.ok) return;
    expect(m.record['enabled']).toBe(false);
    expect(Object.keys(m.record['permissions'] as object).sort()).toEqual(['__proto__', 'api://a']);
    expect(Object.getPrototypeOf(m.record['permissions'])).toBe(Object.prototype);
    expect(({} as Record<string, unknown>)['x']).toBeUndefined();
  });
});
