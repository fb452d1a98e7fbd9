import type { ServerOptions } from 'node:http';

/**
 * Options for the decision API's HTTP server. Node's default 16 KiB header limit would answer an
 * oversized agent token with a bare 431; raised so /v1/authorize can refuse it as a 401.
 */
export const API_SERVER_OPTIONS: ServerOptions = { maxHeaderSize: 128 * 1024 };
