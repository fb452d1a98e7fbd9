/**
 * Parses a Graph filter rule (`agentIdServicePrincipalFilter`, `applicationFilter`,
 * `devices.deviceFilter`) once at load into disjunctive normal form of ca-model's FilterAtom: the
 * rule holds when any clause has all its atoms true. Rego has no recursion, so a flat DNF is what
 * it can evaluate.
 *
 * Syntax (Microsoft's rule builder): `<attribute> <-op> <value>` joined by `-and` (binds tighter)
 * and `-or`, parentheses; operators in any case; values in double (or single) quotes, a list
 * `["a","b"]` for -in / -notIn, `True`/`False` for boolean device properties.
 *
 * Attributes per kind of filter, and where the Rego finds them (CONTRACT A):
 * - agent: `CustomSecurityAttribute.<Set>_<Attr>` → custom_security_attributes.<Set>.<Attr>,
 *   extensions `attributes.<name>`, `blueprintId`, `displayName`;
 * - application: `CustomSecurityAttribute.<Set>_<Attr>`, extension `attributes.<name>`;
 * - device: `device.<property>` (Graph's device properties below).
 *
 * Case: custom security attribute values compare case-sensitively (Graph: "The comparison is case
 * sensitive"); device filters use the dynamic-rule syntax of Entra device rules, whose string
 * comparisons are case-insensitive: those atoms carry `ci` and a lower-cased value.
 */
import type { Dnf, FilterAtom, FilterOp } from './ca-model';

export type { Dnf, FilterAtom, FilterOp } from './ca-model';

export type FilterKind = 'agent' | 'application' | 'device';

/** DNF can grow exponentially with nested -or under -and; beyond this a rule is rejected. */
export const MAX_CLAUSES = 64;

export class FilterRuleError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(`${message} at character ${position + 1}`);
  }
}

/** A Map: the operator is a word of the rule, and "constructor" must not find Object's. */
const OPS: ReadonlyMap<string, FilterOp> = new Map(
  (['eq', 'ne', 'in', 'notIn', 'contains', 'notContains', 'startsWith', 'notStartsWith'] as const).map(
    (op) => [`-${op.toLowerCase()}`, op],
  ),
);
const OP_NAMES = '-eq -ne -in -notIn -contains -notContains -startsWith -notStartsWith';

type DeviceValue = 'string' | 'boolean' | 'array';

interface DeviceProp {
  path: string[];
  kind: DeviceValue;
  /** The operators Microsoft documents for the property (concept-condition-filters-for-devices). */
  ops: readonly FilterOp[];
}

const STRING_OPS: readonly FilterOp[] = [
  'eq',
  'ne',
  'in',
  'notIn',
  'contains',
  'notContains',
  'startsWith',
  'notStartsWith',
];
const ID_OPS: readonly FilterOp[] = ['eq', 'ne', 'in', 'notIn'];
const EQ_OPS: readonly FilterOp[] = ['eq', 'ne'];
const LIST_OPS: readonly FilterOp[] = ['contains', 'notContains'];

const device = (path: string[], kind: DeviceValue, ops: readonly FilterOp[]): DeviceProp => ({
  path,
  kind,
  ops,
});

/**
 * Graph device properties a device filter may name → where the Rego finds them on the request's
 * device. Keyed lower-case: the rule syntax (Entra's dynamic-membership rules) does not care how
 * a property is spelt (Microsoft's own example writes `device.deviceid`).
 */
const DEVICE_PROPS: ReadonlyMap<string, DeviceProp> = new Map<string, DeviceProp>(
  (
    [
      ['deviceId', device(['id'], 'string', ID_OPS)],
      ['displayName', device(['display_name'], 'string', STRING_OPS)],
      ['manufacturer', device(['manufacturer'], 'string', STRING_OPS)],
      ['model', device(['model'], 'string', STRING_OPS)],
      ['operatingSystem', device(['operating_system'], 'string', STRING_OPS)],
      ['operatingSystemVersion', device(['operating_system_version'], 'string', STRING_OPS)],
      ['trustType', device(['trust_type'], 'string', EQ_OPS)],
      ['isCompliant', device(['compliant'], 'boolean', EQ_OPS)],
      ['mdmAppId', device(['mdm_app_id'], 'string', ID_OPS)],
      ['profileType', device(['profile_type'], 'string', EQ_OPS)],
      ['deviceOwnership', device(['device_ownership'], 'string', EQ_OPS)],
      ['enrollmentProfileName', device(['enrollment_profile_name'], 'string', STRING_OPS)],
      ['systemLabels', device(['system_labels'], 'array', LIST_OPS)],
      ['physicalIds', device(['physical_ids'], 'array', LIST_OPS)],
      ...Array.from({ length: 15 }, (_, i): [string, DeviceProp] => [
        `extensionAttribute${i + 1}`,
        device(['extension_attributes', `extensionAttribute${i + 1}`], 'string', STRING_OPS),
      ]),
    ] as [string, DeviceProp][]
  ).map(([name, prop]) => [name.toLowerCase(), prop]),
);

/** Microsoft: "The maximum length for the filter rule is 3072 characters". */
export const MAX_RULE_LENGTH = 3072;

const CSA = /^CustomSecurityAttribute\.([A-Za-z0-9]+)_([A-Za-z0-9_]+)$/;
const EXT_ATTR = /^attributes\.([A-Za-z_][A-Za-z0-9_]*)$/;

const EXPECTED: Record<FilterKind, string> = {
  agent: 'CustomSecurityAttribute.<Set>_<Attribute>, attributes.<name>, blueprintId or displayName',
  application: 'CustomSecurityAttribute.<Set>_<Attribute> or attributes.<name>',
  device:
    'device.<property> (deviceId, displayName, manufacturer, model, operatingSystem, operatingSystemVersion, trustType, isCompliant, mdmAppId, profileType, deviceOwnership, enrollmentProfileName, systemLabels, physicalIds, extensionAttribute1..15)',
};

interface Attribute {
  path: string[];
  kind: DeviceValue;
  ci: boolean;
  /** The operators that apply; undefined: all of them. */
  ops?: readonly FilterOp[];
}

/** The attribute a rule names, for this kind of filter; undefined when it may not name it. */
function attribute(name: string, kind: FilterKind): Attribute | undefined {
  if (kind === 'device') {
    if (!name.startsWith('device.')) return undefined;
    const prop = DEVICE_PROPS.get(name.slice('device.'.length).toLowerCase());
    return prop === undefined
      ? undefined
      : { path: prop.path, kind: prop.kind, ci: prop.kind !== 'boolean', ops: prop.ops };
  }
  const csa = CSA.exec(name);
  if (csa !== null) {
    return { path: ['custom_security_attributes', csa[1] ?? '', csa[2] ?? ''], kind: 'string', ci: false };
  }
  const ext = EXT_ATTR.exec(name);
  if (ext !== null) return { path: ['attributes', ext[1] ?? ''], kind: 'string', ci: false };
  if (kind === 'agent' && name === 'blueprintId')
    return { path: ['blueprint_id'], kind: 'string', ci: false };
  if (kind === 'agent' && name === 'displayName')
    return { path: ['display_name'], kind: 'string', ci: false };
  return undefined;
}

type Token =
  | { t: 'word'; v: string; p: number }
  | { t: 'str'; v: string; p: number }
  | { t: '(' | ')' | '[' | ']' | ','; p: number };

function tokenize(rule: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < rule.length) {
    const c = rule.charAt(i);
    if (/\s/.test(c)) {
      i++;
    } else if (c === '(' || c === ')' || c === '[' || c === ']' || c === ',') {
      tokens.push({ t: c, p: i });
      i++;
    } else if (c === '"' || c === "'") {
      const start = i++;
      let v = '';
      while (i < rule.length && rule.charAt(i) !== c) {
        if (rule.charAt(i) === '\\' && i + 1 < rule.length) i++;
        v += rule.charAt(i++);
      }
      if (i >= rule.length) throw new FilterRuleError('unterminated string', start);
      i++;
      tokens.push({ t: 'str', v, p: start });
    } else {
      const start = i;
      while (i < rule.length && !/[\s()[\],"']/.test(rule.charAt(i))) i++;
      tokens.push({ t: 'word', v: rule.slice(start, i), p: start });
    }
  }
  return tokens;
}

class Parser {
  private i = 0;
  constructor(
    private readonly tokens: Token[],
    private readonly length: number,
    private readonly kind: FilterKind,
  ) {}

  parse(): Dnf {
    const dnf = this.expr();
    const extra = this.tokens[this.i];
    if (extra !== undefined) throw new FilterRuleError('unexpected token', extra.p);
    return dnf;
  }

  private pos(): number {
    return this.tokens[this.i]?.p ?? this.length;
  }

  private isWord(lower: string): boolean {
    const tok = this.tokens[this.i];
    return tok?.t === 'word' && tok.v.toLowerCase() === lower;
  }

  private expr(): Dnf {
    let clauses = this.term();
    while (this.isWord('-or')) {
      this.i++;
      clauses = [...clauses, ...this.term()];
      this.limit(clauses.length);
    }
    return clauses;
  }

  private term(): Dnf {
    let clauses = this.factor();
    while (this.isWord('-and')) {
      this.i++;
      const right = this.factor();
      this.limit(clauses.length * right.length);
      clauses = clauses.flatMap((l) => right.map((r) => [...l, ...r]));
    }
    return clauses;
  }

  private factor(): Dnf {
    const tok = this.tokens[this.i];
    if (tok?.t === '(') {
      this.i++;
      const inner = this.expr();
      if (this.tokens[this.i]?.t !== ')') throw new FilterRuleError('expected ")"', this.pos());
      this.i++;
      return inner;
    }
    return [[this.atom()]];
  }

  private atom(): FilterAtom {
    const attrTok = this.tokens[this.i];
    const attr = attrTok?.t === 'word' ? attribute(attrTok.v, this.kind) : undefined;
    if (attrTok?.t !== 'word' || attr === undefined) {
      throw new FilterRuleError(`expected ${EXPECTED[this.kind]}`, this.pos());
    }
    this.i++;
    const opTok = this.tokens[this.i];
    const op = opTok?.t === 'word' ? OPS.get(opTok.v.toLowerCase()) : undefined;
    if (op === undefined) throw new FilterRuleError(`expected one of ${OP_NAMES}`, this.pos());
    const opPos = this.pos();
    this.i++;
    if (attr.ops !== undefined && !attr.ops.includes(op)) {
      throw new FilterRuleError(`${attrTok.v} takes only ${attr.ops.map((o) => `-${o}`).join(' ')}`, opPos);
    }
    let value: FilterAtom['value'];
    if (attr.kind === 'boolean') {
      value = this.boolean();
    } else {
      value = op === 'in' || op === 'notIn' ? this.list(op) : this.string();
      if (attr.ci) value = Array.isArray(value) ? value.map((v) => v.toLowerCase()) : value.toLowerCase();
    }
    return { attr: attrTok.v, path: attr.path, op, value, ...(attr.ci && { ci: true }) };
  }

  private boolean(): boolean {
    const tok = this.tokens[this.i];
    const text = tok?.t === 'word' || tok?.t === 'str' ? tok.v.toLowerCase() : '';
    if (text !== 'true' && text !== 'false') throw new FilterRuleError('expected True or False', this.pos());
    this.i++;
    return text === 'true';
  }

  private string(): string {
    const tok = this.tokens[this.i];
    if (tok?.t !== 'str') throw new FilterRuleError('expected a quoted string', this.pos());
    this.i++;
    return tok.v;
  }

  private list(op: FilterOp): string[] {
    if (this.tokens[this.i]?.t !== '[') throw new FilterRuleError(`expected "[" after -${op}`, this.pos());
    this.i++;
    const values = [this.string()];
    while (this.tokens[this.i]?.t === ',') {
      this.i++;
      values.push(this.string());
    }
    if (this.tokens[this.i]?.t !== ']') throw new FilterRuleError('expected "]"', this.pos());
    this.i++;
    return values;
  }

  private limit(clauses: number): void {
    if (clauses > MAX_CLAUSES) {
      throw new FilterRuleError(`rule expands to more than ${MAX_CLAUSES} clauses`, this.pos());
    }
  }
}

/** Parses `rule` for a filter of `kind` (which attributes it may name depends on it). */
export function parseFilterRule(rule: string, kind: FilterKind): Dnf {
  if (rule.length > MAX_RULE_LENGTH) {
    throw new FilterRuleError(`rule is longer than ${MAX_RULE_LENGTH} characters`, MAX_RULE_LENGTH);
  }
  const tokens = tokenize(rule);
  if (tokens.length === 0) throw new FilterRuleError('empty rule', 0);
  return new Parser(tokens, rule.length, kind).parse();
}
