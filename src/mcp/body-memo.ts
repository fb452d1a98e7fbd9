import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { checkMcp, type McpReason } from './check';
import { readMcpBody, type McpBody, type McpMessage } from './messages';
import type { McpRoute } from './route-index';

/** What the policy sees of one message (`request.mcp`, an element of `request.mcp_batch`). */
export interface McpView {
  method: string;
  name: string | null;
  arguments?: Record<string, unknown>;
}

function view(m: McpMessage): McpView {
  return m.arguments === undefined
    ? { method: m.method, name: m.name }
    : { method: m.method, name: m.name, arguments: m.arguments };
}

function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  for (const child of Object.values(value)) deepFreeze(child);
  return Object.freeze(value);
}

/** Body ids, unique in the process: memos of several gateways may share one policy instance. */
let nextId = 1;

/** Denials remembered per route and permission set, per body: a handful of tokens call one body. */
const CHECKS_PER_ROUTE = 16;

/**
 * One distinct body, read once: its verdict (readMcpBody), the views the policy sees, and each
 * route's denials per set of held permissions. Everything in it is frozen and shared by every
 * request that posts the same bytes. `id` names this content for as long as the process runs (ids
 * are never reused), so a policy input can name the body by it (EvaluationMemo's keyed path).
 */
export class ReadBody {
  readonly first: McpView | undefined;
  readonly batch: readonly McpView[] | undefined;
  private readonly checks = new WeakMap<McpRoute, Map<string, readonly McpReason[]>>();

  constructor(
    readonly id: number,
    readonly body: McpBody,
  ) {
    deepFreeze(body);
    const messages = body.ok ? body.messages : [];
    const first = messages[0];
    this.first = first === undefined ? undefined : Object.freeze(view(first));
    this.batch =
      body.ok && body.batch ? Object.freeze(messages.map((m) => Object.freeze(view(m)))) : undefined;
  }

  /**
   * The route's denials for this body (checkMcp), remembered per route instance (a new revision
   * compiles new ones) and per `heldKey`, the canonical text of `held`.
   */
  denials(
    route: McpRoute,
    httpMethod: string,
    held: ReadonlySet<string>,
    heldKey: string,
  ): readonly McpReason[] {
    let byHeld = this.checks.get(route);
    if (byHeld === undefined) {
      byHeld = new Map();
      this.checks.set(route, byHeld);
    }
    const key = `${httpMethod}\n${heldKey}`;
    const known = byHeld.get(key);
    if (known !== undefined) return known;
    const out = deepFreeze(checkMcp(route, httpMethod, this.body, held));
    if (byHeld.size >= CHECKS_PER_ROUTE) byHeld.delete(byHeld.keys().next().value as string);
    byHeld.set(key, out);
    return out;
  }
}

export interface BodyMemoLimits {
  /** Bodies remembered; 0 reads every body afresh. */
  entries: number;
  /** Bytes of body text remembered in all. */
  maxBytes: number;
}

export const DEFAULT_BODY_MEMO_LIMITS: BodyMemoLimits = { entries: 1024, maxBytes: 8 * 2 ** 20 };
export const NO_BODY_MEMO: BodyMemoLimits = { entries: 0, maxBytes: 0 };

/**
 * Bodies by their exact bytes: an MCP client retries and repeats calls, and a gateway sees the
 * same tools/call many times. The key is the bytes' SHA-256 (a collision is infeasible, and a
 * 32-byte key is found faster than V8 compares a 2 KiB one); a miss reads the body as if there
 * were no memo.
 */
export class BodyMemo {
  private readonly cache: LRUCache<string, ReadBody> | null;

  constructor(limits: BodyMemoLimits = DEFAULT_BODY_MEMO_LIMITS) {
    this.cache =
      limits.entries > 0
        ? new LRUCache<string, ReadBody>({
            max: limits.entries,
            // What a parsed body holds is about its text's size.
            maxSize: limits.maxBytes,
          })
        : null;
  }

  read(bytes: Buffer): ReadBody {
    if (this.cache === null) return new ReadBody(nextId++, readMcpBody(bytes));
    const key = hash('sha256', bytes, 'binary');
    const known = this.cache.get(key);
    if (known !== undefined) return known;
    const read = new ReadBody(nextId++, readMcpBody(bytes));
    this.cache.set(key, read, { size: bytes.length + 64 });
    return read;
  }
}
