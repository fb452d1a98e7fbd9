/**
 * Parses an agent filter rule (`attributes.tier -eq "prod" -and (blueprintId -in ["a","b"] -or
 * displayName -startsWith "ops-")`) once at load into disjunctive normal form: the rule holds when
 * any clause has all its atoms true. Rego has no recursion, so a flat DNF is what it can evaluate.
 */

export type FilterOp = 'eq' | 'ne' | 'startsWith' | 'in' | 'contains';

export interface FilterAtom {
  attr: string;
  op: FilterOp;
  value: string | string[];
}

export type Dnf = FilterAtom[][];

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
const OPS: ReadonlyMap<string, FilterOp> = new Map([
  ['-eq', 'eq'],
  ['-ne', 'ne'],
  ['-startswith', 'startsWith'],
  ['-in', 'in'],
  ['-contains', 'contains'],
]);

const ATTR = /^(attributes\.[A-Za-z_][A-Za-z0-9_]*|blueprintId|displayName)$/;

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
    } else if (c === '"') {
      const start = i++;
      let v = '';
      while (i < rule.length && rule.charAt(i) !== '"') {
        if (rule.charAt(i) === '\\' && i + 1 < rule.length) i++;
        v += rule.charAt(i++);
      }
      if (i >= rule.length) throw new FilterRuleError('unterminated string', start);
      i++;
      tokens.push({ t: 'str', v, p: start });
    } else {
      const start = i;
      while (i < rule.length && !/[\s()[\],"]/.test(rule.charAt(i))) i++;
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
    if (attrTok?.t !== 'word' || !ATTR.test(attrTok.v)) {
      throw new FilterRuleError('expected attributes.<name>, blueprintId or displayName', this.pos());
    }
    this.i++;
    const opTok = this.tokens[this.i];
    const op = opTok?.t === 'word' ? OPS.get(opTok.v.toLowerCase()) : undefined;
    if (op === undefined) {
      throw new FilterRuleError('expected one of -eq -ne -startsWith -in -contains', this.pos());
    }
    this.i++;
    const value = op === 'in' ? this.list() : this.string();
    return { attr: attrTok.v, op, value };
  }

  private string(): string {
    const tok = this.tokens[this.i];
    if (tok?.t !== 'str') throw new FilterRuleError('expected a quoted string', this.pos());
    this.i++;
    return tok.v;
  }

  private list(): string[] {
    if (this.tokens[this.i]?.t !== '[') throw new FilterRuleError('expected "[" after -in', this.pos());
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

export function parseFilterRule(rule: string): Dnf {
  const tokens = tokenize(rule);
  if (tokens.length === 0) throw new FilterRuleError('empty rule', 0);
  return new Parser(tokens, rule.length).parse();
}
