import { isIP } from 'node:net';
import type { Request } from 'express';

/** The request a gateway asks about, recovered from whichever dialect the gateway speaks. */
export interface OriginalRequest {
  method: string;
  /** Path only: query string removed, dot segments resolved. */
  path: string;
  host: string | undefined;
  clientIp: string | undefined;
}

function header(req: Request, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** `/a/./b/../c?x=1` → `/a/c`: the route globs must see the path the upstream will serve. */
export function normalisePath(raw: string): string {
  try {
    return new URL(raw.startsWith('/') ? raw : `/${raw}`, 'http://pdp.invalid').pathname;
  } catch {
    return '/';
  }
}

/**
 * The client address: the entry `hops` places from the right of X-Forwarded-For (each trusted
 * proxy appends one), or the socket peer when no proxy is trusted. Anything that is not an IP
 * address is dropped, so a forged value can only make the client unknown, never trusted.
 */
export function clientIp(req: Request, hops: number): string | undefined {
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
 * NGINX auth_request sends X-Original-Method/-URI; Traefik forwardAuth X-Forwarded-Method/-Uri/-Host;
 * Envoy's ext_authz HTTP service sends the original method and path itself, under `prefix`.
 */
export function originalRequest(req: Request, prefix: string, hops: number): OriginalRequest {
  const method = header(req, 'x-original-method') ?? header(req, 'x-forwarded-method') ?? req.method;
  let uri = header(req, 'x-original-uri') ?? header(req, 'x-forwarded-uri');
  if (uri === undefined) {
    const url = req.originalUrl;
    uri = url.startsWith(prefix) ? url.slice(prefix.length) || '/' : url;
  }
  return {
    method: method.toUpperCase(),
    path: normalisePath(uri),
    host: header(req, 'x-forwarded-host') ?? header(req, 'host'),
    clientIp: clientIp(req, hops),
  };
}
