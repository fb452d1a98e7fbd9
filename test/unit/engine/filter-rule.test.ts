import { FilterRuleError, MAX_CLAUSES, parseFilterRule } from '../../../src/engine/filter-rule';

describe('parseFilterRule', () => {
  it('parses a single comparison into an atom with its path', () => {
    expect(parseFilterRule('attributes.tier -eq "prod"', 'agent')).toEqual([
      [{ attr: 'attributes.tier', path: ['attributes', 'tier'], op: 'eq', value: 'prod' }],
    ]);
  });

  it('splits CustomSecurityAttribute.<Set>_<Attr> at the first underscore, case-sensitive', () => {
    expect(parseFilterRule('CustomSecurityAttribute.AgentInfo_Cost_Center -eq "Fin"', 'application')).toEqual(
      [
        [
          {
            attr: 'CustomSecurityAttribute.AgentInfo_Cost_Center',
            path: ['custom_security_attributes', 'AgentInfo', 'Cost_Center'],
            op: 'eq',
            value: 'Fin',
          },
        ],
      ],
    );
  });

  it('gives -and precedence over -or, as Entra rules do', () => {
    const dnf = parseFilterRule(
      'blueprintId -eq "a" -or blueprintId -eq "b" -and displayName -startsWith "x"',
      'agent',
    );
    expect(dnf.map((c) => c.map((a) => `${a.attr} ${a.op} ${String(a.value)}`))).toEqual([
      ['blueprintId eq a'],
      ['blueprintId eq b', 'displayName startsWith x'],
    ]);
  });

  it('distributes -and over a parenthesised -or', () => {
    const dnf = parseFilterRule(
      'attributes.tier -eq "prod" -and (blueprintId -in ["a","b"] -or displayName -contains "ops")',
      'agent',
    );
    expect(dnf).toEqual([
      [
        { attr: 'attributes.tier', path: ['attributes', 'tier'], op: 'eq', value: 'prod' },
        { attr: 'blueprintId', path: ['blueprint_id'], op: 'in', value: ['a', 'b'] },
      ],
      [
        { attr: 'attributes.tier', path: ['attributes', 'tier'], op: 'eq', value: 'prod' },
        { attr: 'displayName', path: ['display_name'], op: 'contains', value: 'ops' },
      ],
    ]);
  });

  it('knows every Graph operator, in any case, and escaped quotes in strings', () => {
    const ops = ['-eq', '-NE', '-In', '-notin', '-Contains', '-NOTCONTAINS', '-startswith', '-notStartsWith'];
    const rule = ops
      .map((op) => `attributes.x ${op} ${/in$/i.test(op) ? '["a"]' : '"say \\"hi\\""'}`)
      .join(' -AND ');
    expect(parseFilterRule(rule, 'agent')[0]?.map((a) => [a.op, a.value])).toEqual([
      ['eq', 'say "hi"'],
      ['ne', 'say "hi"'],
      ['in', ['a']],
      ['notIn', ['a']],
      ['contains', 'say "hi"'],
      ['notContains', 'say "hi"'],
      ['startsWith', 'say "hi"'],
      ['notStartsWith', 'say "hi"'],
    ]);
  });

  it('reads device filters case-insensitively: ci atoms with lower-cased values, booleans', () => {
    expect(
      parseFilterRule(
        'device.trustType -eq "AzureAD" -and device.isCompliant -eq True -and device.extensionAttribute3 -in ["SAW","Kiosk"] -and device.systemLabels -contains "M365Managed"',
        'device',
      ),
    ).toEqual([
      [
        { attr: 'device.trustType', path: ['trust_type'], op: 'eq', value: 'azuread', ci: true },
        { attr: 'device.isCompliant', path: ['compliant'], op: 'eq', value: true },
        {
          attr: 'device.extensionAttribute3',
          path: ['extension_attributes', 'extensionAttribute3'],
          op: 'in',
          value: ['saw', 'kiosk'],
          ci: true,
        },
        {
          attr: 'device.systemLabels',
          path: ['system_labels'],
          op: 'contains',
          value: 'm365managed',
          ci: true,
        },
      ],
    ]);
  });

  it('reads device property names in any case, and "True" quoted, as Microsoft writes them', () => {
    expect(
      parseFilterRule('device.deviceid -eq "AAAA-1" -and device.IsCompliant -ne "True"', 'device'),
    ).toEqual([
      [
        { attr: 'device.deviceid', path: ['id'], op: 'eq', value: 'aaaa-1', ci: true },
        { attr: 'device.IsCompliant', path: ['compliant'], op: 'ne', value: true },
      ],
    ]);
  });

  it.each([
    ['', 'agent', 'empty rule'],
    ['attributes.tier "prod"', 'agent', 'expected one of -eq'],
    ['attributes.tier -like "prod"', 'agent', 'expected one of -eq'],
    ['tier -eq "prod"', 'agent', 'expected CustomSecurityAttribute'],
    ['blueprintId -eq "x"', 'application', 'expected CustomSecurityAttribute'],
    ['CustomSecurityAttribute.Set -eq "x"', 'agent', 'expected CustomSecurityAttribute'],
    ['attributes.tier -eq "x"', 'device', 'expected device.<property>'],
    ['device.colour -eq "x"', 'device', 'expected device.<property>'],
    ['device.isCompliant -startsWith "T"', 'device', 'device.isCompliant takes only -eq -ne'],
    ['device.isCompliant -eq "maybe"', 'device', 'expected True or False'],
    ['device.physicalIds -eq "x"', 'device', 'device.physicalIds takes only -contains -notContains'],
    ['device.trustType -in ["AzureAD"]', 'device', 'device.trustType takes only -eq -ne'],
    ['device.deviceId -startsWith "a"', 'device', 'device.deviceId takes only -eq -ne -in -notIn'],
    [
      `attributes.x -in [${Array.from({ length: 400 }, () => '"abcdefg"').join(',')}]`,
      'agent',
      'longer than 3072',
    ],
    ['attributes.tier -eq prod', 'agent', 'expected a quoted string'],
    ['attributes.tier -eq "prod', 'agent', 'unterminated string'],
    ['(attributes.tier -eq "prod"', 'agent', 'expected ")"'],
    ['blueprintId -in "a"', 'agent', 'expected "[" after -in'],
    ['blueprintId -notIn "a"', 'agent', 'expected "[" after -notIn'],
    ['blueprintId -in ["a" "b"]', 'agent', 'expected "]"'],
    ['attributes.tier -eq "a" attributes.x -eq "b"', 'agent', 'unexpected token'],
  ] as const)('rejects %j (%s) with a positioned message', (rule, kind, message) => {
    expect(() => parseFilterRule(rule, kind)).toThrow(FilterRuleError);
    expect(() => parseFilterRule(rule, kind)).toThrow(
      new RegExp(message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')),
    );
  });

  it('refuses rules whose normal form explodes', () => {
    const group = '(blueprintId -eq "a" -or blueprintId -eq "b")';
    const rule = Array.from({ length: 7 }, () => group).join(' -and ');
    expect(2 ** 7).toBeGreaterThan(MAX_CLAUSES);
    expect(() => parseFilterRule(rule, 'agent')).toThrow(/more than 64 clauses/);
  });
});
