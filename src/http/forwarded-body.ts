import type { IncomingMessage } from 'node:http';
import { PdpError } from '../errors';

/** The original request's body as a gateway forwards it with the check request; null when it has none. */
export type BodySource = () => Promise<Buffer | null>;

/** What the MCP transport posts: `application/json`, optionally with a UTF-8 charset. */
const JSON_TYPE = /^application\/json(?:\s*;\s*charset="?utf-8"?)?\s*$/i;

function tooLarge(limit: number): PdpError {
  return new PdpError('payload_too_large', `The forwarded body is larger than ${limit} bytes`);
}

/**
 * Reads the forwarded body only when asked (only MCP routes need it), at most `limit` bytes: a
 * declared larger length is refused before reading, a chunked one as soon as it passes the limit.
 * A body that is not plain JSON (another type, a content encoding) reads as none: an MCP POST then
 * fails its check (mcp_request_invalid), any other request never looks.
 */
export function forwardedBody(req: IncomingMessage, limit: number): BodySource {
  return () => {
    const { headers } = req;
    const length = headers['content-length'];
    const chunked = headers['transfer-encoding'] !== undefined;
    if (!chunked && (length === undefined || length === '0')) return Promise.resolve(null);
    const type = headers['content-type'];
    const encoding = headers['content-encoding'];
    if (type === undefined || !JSON_TYPE.test(type) || (encoding !== undefined && encoding !== 'identity')) {
      return Promise.resolve(null);
    }
    if (length !== undefined && Number(length) > limit) return Promise.reject(tooLarge(limit));
    // Usually the body came in the packets of the head and is already parsed and buffered: take
    // it at once, without a flowing stream and the ticks of its events.
    if (req.complete && req.readableLength <= limit) {
      const chunks: Buffer[] = [];
      for (let chunk = req.read() as Buffer | null; chunk !== null; chunk = req.read() as Buffer | null)
        chunks.push(chunk);
      const bytes = chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks);
      return bytes.length > limit ? Promise.reject(tooLarge(limit)) : Promise.resolve(bytes);
    }
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let received = 0;
      const onData = (chunk: Buffer): void => {
        received += chunk.length;
        if (received > limit) {
          req.off('data', onData);
          req.pause();
          reject(tooLarge(limit));
          return;
        }
        chunks.push(chunk);
      };
      req.on('data', onData);
      req.once('end', () => {
        resolve(Buffer.concat(chunks, received));
      });
      req.once('aborted', () => {
        reject(new PdpError('invalid_request', 'The request was aborted'));
      });
      req.once('error', () => {
        reject(new PdpError('invalid_request', 'The request was aborted'));
      });
    });
  };
}
