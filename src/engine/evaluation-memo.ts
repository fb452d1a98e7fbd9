import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';

/** Bounds of one policy instance's memo (entries: PDP_EVAL_MEMO_ENTRIES). */
export interface MemoLimits {
  /** Results kept per entrypoint; 0 turns the memo off. */
  entries: number;
  /** Serialised inputs longer than this (UTF-16 code units) are evaluated, never remembered. */
  maxInputLength: number;
  /** Per entrypoint: the keys' length (an input's text, or its digest) plus RESULT_ALLOWANCE per entry stays within this. */
  maxSize: number;
}

/** What a result is counted as, beside its key: a decide result of a dozen policies is ~1–2 KiB. */
const RESULT_ALLOWANCE = 2048;

/**
 * Inputs longer than this are keyed by their SHA-256 instead of their text. A hit compares the key
 * with the stored one, and V8 compares long strings at about a nanosecond a character: a 5 KiB
 * input took some 6 µs to find, its digest (computed natively) under 2 µs. A collision is
 * infeasible, so the digest stands for the text exactly (JSON.stringify escapes lone surrogates,
 * so distinct texts have distinct UTF-8 bytes). Digest keys start with a control
 * character no JSON text starts with: a short input's own text never equals one.
 */
const DIGEST_OVER = 256;

function keyOf(json: string): string {
  return json.length <= DIGEST_OVER ? json : `\u0001${hash('sha256', json, 'binary')}`;
}

// An MCP call's input carries its arguments (a 2 KiB tools/call makes a ~5 KiB input); the size
// budget, not the entry count, bounds memory: at most 16 MiB per entrypoint.
export const DEFAULT_MEMO_LIMITS: MemoLimits = {
  entries: 4096,
  maxInputLength: 16_384,
  maxSize: 16 * 2 ** 20,
};

/**
 * Results of one policy instance by entrypoint and exact serialised input. A compiled policy with
 * its data is a pure function of the input: WASM has no clock, randomness or network, and the
 * input carries everything a decision reads (the request, the directory records and risk signals
 * read for it, `now` to the second). So a remembered result is exactly the result evaluation
 * would give, never a stale one: a changed risk level or record is a different input, a new
 * revision is a new instance with an empty memo, and the next second is a new `now`.
 *
 * Results are deep-frozen when stored: every caller shares them.
 */
export class EvaluationMemo {
  private readonly byEntrypoint = new Map<number, LRUCache<string, object>>();

  constructor(private readonly limits: MemoLimits) {}

  get enabled(): boolean {
    return this.limits.entries > 0;
  }

  /** Whether an input of this serialised length may be remembered. */
  admits(json: string): boolean {
    return this.limits.entries > 0 && json.length <= this.limits.maxInputLength;
  }

  get(entrypoint: number, json: string): object | undefined {
    const cache = this.byEntrypoint.get(entrypoint);
    return cache === undefined ? undefined : cache.get(keyOf(json));
  }

  /** Remembers `value` (frozen in place) and returns it. Non-objects are not remembered. */
  set(entrypoint: number, json: string, value: unknown): unknown {
    if (typeof value !== 'object' || value === null) return value;
    let cache = this.byEntrypoint.get(entrypoint);
    if (cache === undefined) {
      cache = new LRUCache<string, object>({
        max: this.limits.entries,
        maxSize: this.limits.maxSize,
        sizeCalculation: (_value, key) => key.length + RESULT_ALLOWANCE,
      });
      this.byEntrypoint.set(entrypoint, cache);
    }
    cache.set(keyOf(json), deepFreeze(value));
    return value;
  }

  /** Results held, over all entrypoints. */
  get size(): number {
    let n = 0;
    for (const cache of this.byEntrypoint.values()) n += cache.size;
    return n;
  }
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (typeof child === 'object' && child !== null && !Object.isFrozen(child)) deepFreeze(child as object);
  }
  return Object.freeze(value);
}
