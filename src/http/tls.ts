import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions } from 'node:https';
import type { Config } from '../config';
import { ADMIN_SERVER_OPTIONS } from './server-options';

export type TlsConfig = Pick<Config, 'tlsCert' | 'tlsKey' | 'tlsClientCa'>;

/**
 * TLS settings of a listener, or null for plain HTTP. Both ports serve the same certificate and
 * verify client certificates against the same CA. On the API port a client certificate is
 * required at the handshake. On the admin port it is requested and verified, but not required:
 * kubelet probes and Prometheus present none and still reach /healthz, /readyz and /metrics (open
 * in every mode), while /v1/policies admits only a caller with a verified certificate (or, when
 * configured, an API key or JWT): see callerAuthFromConfig.
 */
export function tlsOptions(config: TlsConfig, port: 'api' | 'admin'): ServerOptions | null {
  if (config.tlsCert === null || config.tlsKey === null) return null;
  return {
    cert: config.tlsCert,
    key: config.tlsKey,
    ...(config.tlsClientCa !== null && {
      ca: config.tlsClientCa,
      requestCert: true,
      rejectUnauthorized: port === 'api',
    }),
  };
}

/** The admin port's server, standalone or in the cluster primary: HTTPS whenever the API is. */
export function adminServer(config: TlsConfig, handler: RequestListener): Server {
  const tls = tlsOptions(config, 'admin');
  return tls === null
    ? createHttpServer(ADMIN_SERVER_OPTIONS, handler)
    : createHttpsServer({ ...ADMIN_SERVER_OPTIONS, ...tls }, handler);
}
