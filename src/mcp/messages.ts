import { isUtf8 } from 'node:buffer';
import { scanJsonText } from '../strict-json';

/**
 * The JSON-RPC 2.0 messages of an MCP Streamable HTTP POST body (a message or a batch), read under
 * the strict rules of the data channels (src/strict-json.ts): UTF-8, no repeated key, no
 * out-of-range number, bounded nesting, and no `__proto__` key anywhere. Anything else is one
 * `invalid` verdict with a JSON pointer: the body is refused whole (mcp_request_invalid).
 */

export type McpMessageKind = 'request' | 'notification' | 'response';

export interface McpMessage {
  kind: McpMessageKind;
  /** The JSON-RPC id (string or number); undefined for a notification. */
  id: string | number | undefined;
  /** The JSON-RPC method; '' for a response. */
  method: string;
  /** tools/call and prompts/get: the tool or prompt; resources/read: the URI; else null. */
  name: string | null;
  /** tools/call and prompts/get: `params.arguments` ({} when absent); else undefined. */
  arguments: Record<string, unknown> | undefined;
}

export type McpBody =
  | { ok: true; batch: boolean; messages: McpMessage[] }
  | { ok: false; message: string; pointer: string; ids: (string | number)[] };

/** Deeper than any tool arguments need; far below what a parser on the way would choke on. */
export const MAX_MCP_DEPTH = 64;
/** Messages in one batch. */
export const MAX_MCP_BATCH = 64;
const MAX_NAME = 1024;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Any `__proto__` member name, at any depth (iterative: the depth is already bounded). */
function protoKeyAt(root: unknown): string | null {
  const stack: [unknown, string][] = [[root, '']];
  while (stack.length > 0) {
    const [value, pointer] = stack.pop() as [unknown, string];
    if (typeof value !== 'object' || value === null) continue;
    for (const [k, v] of Object.entries(value)) {
      const at = `${pointer}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      if (k === '__proto__') return at;
      stack.push([v, at]);
    }
  }
  return null;
}

function invalid(message: string, pointer: string, ids: (string | number)[] = []): McpBody {
  return { ok: false, message, pointer, ids };
}

function validId(id: unknown): id is string | number {
  return (typeof id === 'string' && id.length <= MAX_NAME) || (typeof id === 'number' && Number.isFinite(id));
}

/** One message, or the reason it is not a JSON-RPC 2.0 message MCP defines. */
function readMessage(m: unknown, at: string): McpMessage | { message: string; pointer: string } {
  if (!isObject(m)) return { message: 'is not a JSON-RPC message object', pointer: at };
  if (m['jsonrpc'] !== '2.0') return { message: 'must be "2.0"', pointer: `${at}/jsonrpc` };
  const hasId = Object.hasOwn(m, 'id');
  if (hasId && !validId(m['id']))
    return { message: 'must be a string or a finite number', pointer: `${at}/id` };
  const id = hasId ? (m['id'] as string | number) : undefined;
  if (!Object.hasOwn(m, 'method')) {
    // A response the client returns to a server request (sampling, elicitation).
    if (id === undefined || Object.hasOwn(m, 'result') === Object.hasOwn(m, 'error'))
      return { message: 'is neither a request, a notification nor a response', pointer: at };
    return { kind: 'response', id, method: '', name: null, arguments: undefined };
  }
  const method = m['method'];
  if (typeof method !== 'string' || method === '' || method.length > MAX_NAME)
    return { message: 'must be a non-empty string', pointer: `${at}/method` };
  const params = m['params'];
  if (params !== undefined && !isObject(params))
    return { message: 'must be an object', pointer: `${at}/params` };
  const kind: McpMessageKind = id === undefined ? 'notification' : 'request';
  if (method === 'tools/call' || method === 'prompts/get') {
    if (kind !== 'request') return { message: `${method} must carry an id`, pointer: at };
    const name = params?.['name'];
    if (typeof name !== 'string' || name === '' || name.length > MAX_NAME)
      return { message: 'must be a non-empty string', pointer: `${at}/params/name` };
    const args = params?.['arguments'] ?? {};
    if (!isObject(args)) return { message: 'must be an object', pointer: `${at}/params/arguments` };
    return { kind, id, method, name, arguments: args };
  }
  if (method === 'resources/read' || method === 'resources/subscribe' || method === 'resources/unsubscribe') {
    const uri = params?.['uri'];
    if (typeof uri !== 'string' || uri === '' || uri.length > MAX_NAME)
      return { message: 'must be a non-empty string', pointer: `${at}/params/uri` };
    return { kind, id, method, name: uri, arguments: undefined };
  }
  return { kind, id, method, name: null, arguments: undefined };
}

/** The ids of whatever messages carry a usable one, so even a refused body's errors can be matched. */
function idsOf(value: unknown): (string | number)[] {
  const list = Array.isArray(value) ? value.slice(0, MAX_MCP_BATCH) : [value];
  const ids: (string | number)[] = [];
  for (const m of list) if (isObject(m) && validId(m['id'])) ids.push(m['id']);
  return ids;
}

/** Parses and classifies a POST body. Total: any bytes in, a verdict out. */
export function readMcpBody(bytes: Buffer): McpBody {
  if (bytes.length === 0) return invalid('The body is empty', '');
  if (!isUtf8(bytes)) return invalid('The body is not valid UTF-8', '');
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    return invalid('The body is not valid JSON', '');
  }
  const violation = scanJsonText(text, { maxDepth: MAX_MCP_DEPTH, numbers: true });
  if (violation !== null) {
    const what =
      violation.kind === 'duplicateKey'
        ? `repeats the key ${JSON.stringify(violation.key)}`
        : violation.kind === 'maxDepth'
          ? `nests deeper than ${MAX_MCP_DEPTH} levels`
          : `holds the out-of-range number ${violation.literal.slice(0, 32)}`;
    return invalid(`The body ${what}`, violation.pointer, idsOf(value));
  }
  // Cheap test first: a `__proto__` name needs those letters or a \u escape in the text.
  if (text.includes('__proto__') || text.includes('\\u')) {
    const at = protoKeyAt(value);
    if (at !== null) return invalid('The body holds a __proto__ member', at, idsOf(value));
  }
  const batch = Array.isArray(value);
  const list: unknown[] = batch ? (value as unknown[]) : [value];
  if (batch && list.length === 0) return invalid('The batch is empty', '');
  if (list.length > MAX_MCP_BATCH)
    return invalid(`The batch holds more than ${MAX_MCP_BATCH} messages`, '', idsOf(value));
  const messages: McpMessage[] = [];
  for (const [i, m] of list.entries()) {
    const read = readMessage(m, batch ? `/${i}` : '');
    if (!('kind' in read)) return invalid(`The message ${read.message}`, read.pointer, idsOf(value));
    messages.push(read);
  }
  return { ok: true, batch, messages };
}
