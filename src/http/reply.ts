import type { ServerResponse } from 'node:http';

/**
 * A whole HTTP answer as a value, so that the express routes and the hot routes
 * (src/http/fast-routes.ts) write the same bytes: the headers in the order given, then, for a
 * JSON body, Content-Type and Content-Length as express's `res.json` sets them.
 */
export interface Reply {
  status: number;
  headers: readonly (readonly [name: string, value: string])[];
  /** Serialised JSON, or null for an empty body. */
  json: string | null;
}

export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

export function jsonReply(
  status: number,
  value: unknown,
  headers: readonly (readonly [string, string])[] = [],
): Reply {
  return { status, headers, json: JSON.stringify(value) };
}

/** Writes a reply on a response nothing has been written to yet. */
export function writeReply(res: ServerResponse, reply: Reply): void {
  if (reply.json === null) {
    // Node adds the Content-Length (0) an empty body has only when `end` writes the head.
    for (const [name, value] of reply.headers) res.setHeader(name, value);
    res.statusCode = reply.status;
    res.end();
    return;
  }
  const head: string[] = [];
  for (const [name, value] of reply.headers) head.push(name, value);
  head.push('Content-Type', JSON_CONTENT_TYPE, 'Content-Length', String(Buffer.byteLength(reply.json)));
  res.writeHead(reply.status, head);
  res.end(reply.json);
}
