import type { ServerOptions } from 'node:http';

/**
 * Node answers an HTTP/1.1 request without a Host header by itself, with an empty 400; off here,
 * so that the apps refuse it (`requireHost` in app.ts) in the JSON error shape like any other.
 */
const COMMON: ServerOptions = { requireHostHeader: false };

/**
 * Options for the decision API's HTTP server. Node's default 16 KiB header limit would answer an
 * oversized agent token with a bare 431; raised so /v1/authorize can refuse it as a 401.
 */
export const API_SERVER_OPTIONS: ServerOptions = { ...COMMON, maxHeaderSize: 128 * 1024 };

/** Options for the admin port's HTTP server (a worker's, or the cluster primary's). */
export const ADMIN_SERVER_OPTIONS: ServerOptions = { ...COMMON };
