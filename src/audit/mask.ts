import { PdpError } from '../errors';
import { MAX_MCP_BATCH } from '../mcp/messages';

/**
 * Always erased, whatever the configuration: every place in a policy input that can carry a
 * credential. `context` is free-form caller data, so the usual credential names are listed.
 */
export const DEFAULT_ERASED_POINTERS: readonly string[] = Object.freeze([
  '/input/request/context/assertion',
  '/input/request/context/client_assertion',
  '/input/request/context/token',
  '/input/request/context/access_token',
  '/input/request/context/id_token',
  '/input/request/context/refresh_token',
  '/input/request/context/client_secret',
  '/input/request/context/password',
  '/input/request/context/api_key',
  '/input/request/context/authorization',
  '/input/request/context/cookie',
  '/input/request/headers/authorization',
  '/input/request/headers/proxy-authorization',
  '/input/request/headers/cookie',
  '/input/token/raw',
  // MCP tool and prompt arguments (the tool name stays): a batch holds at most MAX_MCP_BATCH.
  '/input/request/mcp/arguments',
  ...Array.from({ length: MAX_MCP_BATCH }, (_, i) => `/input/request/mcp_batch/${i}/arguments`),
]);

/** As OPA: only the input and the result can be masked; the envelope stays intact. */
const MASKABLE_ROOTS: ReadonlySet<string> = new Set(['input', 'result']);

/** RFC 6901: `~1` is `/`, `~0` is `~` (decoded in that order); any other `~` escape is invalid. */
export function parsePointer(pointer: string): string[] {
  if (!pointer.startsWith('/')) {
    throw new PdpError('config_invalid', `decision log mask: "${pointer}" is not a JSON pointer (RFC 6901)`);
  }
  return pointer
    .slice(1)
    .split('/')
    .map((token) => {
      if (/~(?![01])/.test(token)) {
        throw new PdpError('config_invalid', `decision log mask: "${pointer}" has an invalid ~ escape`);
      }
      return token.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

type Container = Record<string, unknown> | unknown[];

function isContainer(value: unknown): value is Container {
  return typeof value === 'object' && value !== null;
}

/** The index a token names in an array of this length, or -1 (RFC 6901: no leading zeros; `-` names nothing). */
function indexOf(token: string, length: number): number {
  if (!/^(?:0|[1-9][0-9]*)$/.test(token)) return -1;
  const i = Number(token);
  return i < length ? i : -1;
}

function has(c: Container, token: string): boolean {
  return Array.isArray(c) ? indexOf(token, c.length) >= 0 : Object.hasOwn(c, token);
}

function get(c: Container, token: string): unknown {
  return Array.isArray(c) ? c[indexOf(token, c.length)] : c[token];
}

/** Only on a container this module created. */
function setOwn(c: Container, token: string, value: unknown): void {
  if (Array.isArray(c)) c[indexOf(token, c.length)] = value;
  // defineProperty, not assignment: a "__proto__" key from JSON must stay a plain property.
  else if (token === '__proto__') {
    Object.defineProperty(c, token, { value, writable: true, enumerable: true, configurable: true });
  } else c[token] = value;
}

function copyOf(c: Container): Container {
  return Array.isArray(c) ? c.slice() : { ...c };
}

/**
 * The container without `token`. Objects are rebuilt rather than `delete`d from: a deleted
 * property sends V8 to dictionary mode, and JSON.stringify of such objects is several times slower.
 */
function without(c: Container, token: string, owned: boolean): Container {
  if (Array.isArray(c)) {
    const out = owned ? c : c.slice();
    out.splice(indexOf(token, out.length), 1);
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(c)) {
    if (key !== token) setOwn(out, key, c[key]);
  }
  return out;
}

/** Pointers compiled into a trie, so a prefix shared by many pointers is walked once per record. */
interface MaskNode {
  token: string;
  /** Set when the value at this node is itself erased. */
  pointer: string | null;
  children: MaskNode[];
}

function insert(nodes: MaskNode[], path: readonly string[], pointer: string): void {
  let level = nodes;
  for (let i = 0; i < path.length; i++) {
    const token = path[i] ?? '';
    let node = level.find((n) => n.token === token);
    if (node === undefined) {
      node = { token, pointer: null, children: [] };
      level.push(node);
    }
    if (i === path.length - 1) node.pointer = pointer;
    level = node.children;
  }
}

/** Returns `c` itself when nothing under it was erased, else a copy (copies only along erased paths). */
function apply(c: Container, nodes: readonly MaskNode[], erased: string[]): Container {
  let out: Container | null = null;
  for (const node of nodes) {
    const current: Container = out ?? c;
    if (!has(current, node.token)) continue;
    if (node.children.length > 0) {
      const child = get(current, node.token);
      if (isContainer(child)) {
        const masked = apply(child, node.children, erased);
        if (masked !== child) {
          out ??= copyOf(c);
          setOwn(out, node.token, masked);
        }
      }
    }
    if (node.pointer !== null) {
      out = without(out ?? c, node.token, out !== null);
      erased.push(node.pointer);
    }
  }
  return out ?? c;
}

/**
 * Erases values by JSON pointer, OPA style: the value is removed and its pointer listed in
 * `erased`. Copy-on-write: only the containers along an erased path are copied, the rest is shared
 * with the caller's object, which is never modified. Pointers into the same container apply in
 * the order given, so two pointers into one array see the indices as shifted by the first (as
 * JSON Patch `remove` does); a value is erased after the pointers below it.
 */
export class RecordMasker {
  /** Defaults first, then the configured ones, without duplicates. */
  readonly pointers: readonly string[];
  private readonly roots: MaskNode[] = [];

  constructor(extra: readonly string[] = []) {
    this.pointers = [...new Set([...DEFAULT_ERASED_POINTERS, ...extra])];
    for (const pointer of this.pointers) {
      const path = parsePointer(pointer);
      if (!MASKABLE_ROOTS.has(path[0] ?? '')) {
        throw new PdpError(
          'config_invalid',
          `decision log mask: "${pointer}" must start with /input or /result`,
        );
      }
      insert(this.roots, path, pointer);
    }
  }

  /** Returns the record itself when nothing matched, else a masked copy with `erased` extended. */
  mask<T extends { erased?: string[] }>(record: T): T {
    const erased: string[] = [];
    const masked = apply(record, this.roots, erased) as unknown as T;
    if (erased.length === 0) return record;
    masked.erased = record.erased === undefined ? erased : [...record.erased, ...erased];
    return masked;
  }
}
