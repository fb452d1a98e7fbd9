import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { classifyRequestPath, type PathProblem } from './request-path';

/** The request a gateway asks about, recovered from whichever dialect the gateway speaks. */
export interface OriginalRequest {
  method: string;
  /**
   * What routes are matched against (request-path.ts): the path percent-decoded when canonical,
   * else exactly as the gateway forwards it. Query string removed; never resolved.
   */
  path: string;
  /** null when the path is canonical; else why not. */
  pathProblem: PathProblem | null;
  host: string | undefined;
  clientIp: string | undefined;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * The client address: the entry `hops` places from the right of X-Forwarded-For (each trusted
 * proxy appends one), or the socket peer when no proxy is trusted. Anything that is not an IP
 * address is dropped, so a forged value can only make the client unknown, never trusted.
 */
export function clientIp(req: IncomingMessage, hops: number): string | undefined {
  let candidate: string | undefined;
  if (hops === 0) {
    candidate = req.socket.remoteAddress;
  } else {
    const forwarded = (header(req, 'x-forwarded-for') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    candidate = forwarded[forwarded.length - hops] ?? header(req, 'x-real-ip');
  }
  if (candidate === undefined) return undefined;
  const ip =
    candidate.startsWith('::ffff:') && isIP(candidate.slice(7)) === 4 ? candidate.slice(7) : candidate;
  return isIP(ip) === 0 ? undefined : ip;
}

/**
 * The original request-target, as received: X-Original-URI (NGINX), X-Forwarded-Uri (Traefik), or
 * the check request's own target after `prefix` (Envoy). A header that is present counts even when
 * empty (it then classifies as not origin-form): falling back to our own URL would judge a path
 * the gateway never sent.
 */
function originalTarget(req: IncomingMessage, url: string, prefix: string): string {
  for (const name of ['x-original-uri', 'x-forwarded-uri']) {
    const value = req.headers[name];
    if (typeof value === 'string') return value;
  }
  return url.startsWith(prefix) ? url.slice(prefix.length) || '/' : url;
}

/**
 * NGINX auth_request sends X-Original-Method/-URI; Traefik forwardAuth X-Forwarded-Method/-Uri/-Host;
 * Envoy's ext_authz HTTP service sends the original method and path itself, under `prefix`.
 */
/** `url`: the check request's target as Node received it (express rewrites `req.url` when mounting). */
export function originalRequest(
  req: IncomingMessage,
  url: string,
  prefix: string,
  hops: number,
): OriginalRequest {
  const method = header(req, 'x-original-method') ?? header(req, 'x-forwarded-method') ?? req.method ?? 'GET';
  const target = classifyRequestPath(originalTarget(req, url, prefix));
  return {
    method: method.toUpperCase(),
    path: target.path,
    pathProblem: target.problem,
    host: header(req, 'x-forwarded-host') ?? header(req, 'host'),
    clientIp: clientIp(req, hops),
  };
}
