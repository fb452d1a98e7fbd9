import * as access from '../../../src/schemas/access';
import * as authzen from '../../../src/schemas/authzen';
import * as directory from '../../../src/schemas/directory';
import * as requests from '../../../src/schemas/requests';

interface Unbounded {
  schema: string;
  path: string;
  missing: string;
}

function types(node: Record<string, unknown>): string[] {
  const t = node['type'];
  return typeof t === 'string' ? [t] : Array.isArray(t) ? (t as string[]) : [];
}

/** Every string (and property name) with a maxLength, every array with a maxItems, anywhere in a schema. */
function unbounded(name: string, schema: unknown): Unbounded[] {
  const found: Unbounded[] = [];
  const stack: [unknown, string][] = [[schema, '']];
  for (let entry = stack.pop(); entry !== undefined; entry = stack.pop()) {
    const [node, path] = entry;
    if (typeof node !== 'object' || node === null) continue;
    const n = node as Record<string, unknown>;
    if (!Array.isArray(node)) {
      if (types(n).includes('string') && n['maxLength'] === undefined) {
        found.push({ schema: name, path, missing: 'maxLength' });
      }
      if (types(n).includes('array') && n['maxItems'] === undefined) {
        found.push({ schema: name, path, missing: 'maxItems' });
      }
      const names = n['propertyNames'] as Record<string, unknown> | undefined;
      if (names !== undefined && names['maxLength'] === undefined) {
        found.push({ schema: name, path: `${path}/propertyNames`, missing: 'maxLength' });
      }
    }
    for (const [key, child] of Object.entries(n)) stack.push([child, `${path}/${key}`]);
  }
  return found;
}

describe('request, directory and signal schemas bound every string and array', () => {
  const schemas = Object.entries({ ...requests, ...directory, ...authzen, ...access }).filter(
    ([name, value]) => name.endsWith('Schema') && typeof value === 'object',
  );

  it('covers every body schema', () => {
    expect(schemas.map(([name]) => name).sort()).toEqual(
      expect.arrayContaining([
        'accessPackageSchema',
        'agentRiskSchema',
        'agentSchema',
        'assignmentActionSchema',
        'assignmentRequestSchema',
        'authzenEvaluationRequestSchema',
        'authzenEvaluationsRequestSchema',
        'batchRequestSchema',
        'blueprintSchema',
        'decideRequestSchema',
        'revocationSchema',
        'userRiskSchema',
        'whatIfRequestSchema',
      ]),
    );
  });

  it('has a maxLength on every string and property name and a maxItems on every array', () => {
    expect(schemas.flatMap(([name, schema]) => unbounded(name, schema))).toEqual([]);
  });
});
