import { FilterRuleError, MAX_CLAUSES, parseFilterRule } from '../../../src/engine/filter-rule';

describe('parseFilterRule', () => {
  it('parses a single comparison', () => {
    expect(parseFilterRule('attributes.tier -eq "prod"')).toEqual([
      [{ attr: 'attributes.tier', op: 'eq', value: 'prod' }],
    ]);
  });

  it('gives -and precedence over -or, as Entra rules do', () => {
    const dnf = parseFilterRule(
      'blueprintId -eq "a" -or blueprintId -eq "b" -and displayName -startsWith "x"',
    );
    expect(dnf).toEqual([
      [{ attr: 'blueprintId', op: 'eq', value: 'a' }],
      [
        { attr: 'blueprintId', op: 'eq', value: 'b' },
        { attr: 'displayName', op: 'startsWith', value: 'x' },
      ],
    ]);
  });

  it('distributes -and over a parenthesised -or', () => {
    const dnf = parseFilterRule(
      'attributes.tier -eq "prod" -and (blueprintId -in ["a","b"] -or displayName -contains "ops")',
    );
    expect(dnf).toEqual([
      [
        { attr: 'attributes.tier', op: 'eq', value: 'prod' },
        { attr: 'blueprintId', op: 'in', value: ['a', 'b'] },
      ],
      [
        { attr: 'attributes.tier', op: 'eq', value: 'prod' },
        { attr: 'displayName', op: 'contains', value: 'ops' },
      ],
    ]);
  });

  it('accepts operators in any case and escaped quotes in strings', () => {
    expect(parseFilterRule('displayName -STARTSWITH "say \\"hi\\"" -AND attributes.x -NE "y"')).toEqual([
      [
        { attr: 'displayName', op: 'startsWith', value: 'say "hi"' },
        { attr: 'attributes.x', op: 'ne', value: 'y' },
      ],
    ]);
  });

  it.each([
    ['', 'empty rule'],
    ['attributes.tier "prod"', 'expected one of -eq'],
    ['attributes.tier -like "prod"', 'expected one of -eq'],
    ['tier -eq "prod"', 'expected attributes.<name>'],
    ['attributes.tier -eq prod', 'expected a quoted string'],
    ['attributes.tier -eq "prod', 'unterminated string'],
    ['(attributes.tier -eq "prod"', 'expected ")"'],
    ['blueprintId -in "a"', 'expected "[" after -in'],
    ['blueprintId -in ["a" "b"]', 'expected "]"'],
    ['attributes.tier -eq "a" attributes.x -eq "b"', 'unexpected token'],
  ])('rejects %j with a positioned message', (rule, message) => {
    expect(() => parseFilterRule(rule)).toThrow(FilterRuleError);
    expect(() => parseFilterRule(rule)).toThrow(new RegExp(message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  });

  it('refuses rules whose normal form explodes', () => {
    const group = '(blueprintId -eq "a" -or blueprintId -eq "b")';
    const rule = Array.from({ length: 7 }, () => group).join(' -and ');
    expect(2 ** 7).toBeGreaterThan(MAX_CLAUSES);
    expect(() => parseFilterRule(rule)).toThrow(/more than 64 clauses/);
  });
});
