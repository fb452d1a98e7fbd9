import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { literalPrefix, withLiteralPrefixes } from '../../../src/engine/route-prefix';
import { ROOT } from '../../helpers/app';

const PATTERNS = ['/payments/**', '/a/{b,c}/*', '/[ab]/z', '**', '/healthz', '/x?y', '/a\\*b', '', '/é/*'];

describe('gateway route prefixes, computed once per load', () => {
  it("are policies/agent/gateway.rego's literal_prefix of the same globs", () => {
    const out = execFileSync(
      path.join(ROOT, '.tools/bin/opa'),
      [
        'eval',
        '--format=json',
        '--stdin-input',
        '-d',
        path.join(ROOT, 'policies/agent'),
        '-d',
        path.join(ROOT, 'policies/custom'),
        '[data.agent.gateway.literal_prefix(p) | some p in input]',
      ],
      { input: JSON.stringify(PATTERNS) },
    ).toString();
    const rego = (JSON.parse(out) as { result: { expressions: { value: unknown }[] }[] }).result[0]!
      .expressions[0]!.value;
    expect(PATTERNS.map(literalPrefix)).toEqual(rego);
    expect(literalPrefix('/payments/**')).toBe('/payments/');
  });

  it('are added to a copy of the document, to routes with a string path', () => {
    const doc = { default: 'deny', routes: [{ id: 'a', path: '/p/*' }, { id: 'b' }] };
    const out = withLiteralPrefixes(doc);
    expect(out).toEqual({
      default: 'deny',
      routes: [{ id: 'a', path: '/p/*', literal_prefix: '/p/' }, { id: 'b' }],
    });
    expect(doc.routes[0]).toEqual({ id: 'a', path: '/p/*' });
  });
});
