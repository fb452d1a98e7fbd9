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
  for (const [name, value] of reply.headers) res.setHeader(name, value);
  res.statusCode = reply.status;
  if (reply.json === null) {
    res.end();
    return;
  }
  res.setHeader('Content-Type', JSON_CONTENT_TYPE);
  res.setHeader('Content-Length', Buffer.byteLength(reply.json));
  res.end(reply.json);
}
