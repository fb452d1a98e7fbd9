import { once } from 'node:events';
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createAdminApp, createApp } from '../app';
import type { Config } from '../config';
import { describeThrown } from '../errors';
import { guardServer } from '../http/server-guards';
import { API_SERVER_OPTIONS } from '../http/server-options';
import { adminServer, tlsOptions } from '../http/tls';
import { localBackend, localStatus } from '../ops/backend';
import { buildServices } from '../services';
import { isPrimaryMessage, sendToPrimary } from './ipc';

/** The decision API's listener: HTTPS with the configured TLS, else HTTP; guarded either way. */
function apiServer(config: Config, handler: RequestListener): Server {
  const guards = { bodyLimitBytes: config.bodyLimitBytes };
  const tls = tlsOptions(config, 'api');
  if (tls === null) return guardServer(createHttpServer(API_SERVER_OPTIONS, handler), guards);
  return guardServer(createHttpsServer({ ...API_SERVER_OPTIONS, ...tls }, handler), guards);
}

async function listen(server: Server, port: number, host: string): Promise<void> {
  server.listen(port, host);
  await once(server, 'listening');
}

/**
 * One serving process: store, engine, apps, listeners, graceful shutdown. Standalone it also
 * serves the admin port; as a cluster worker it answers the primary's status/metrics requests.
 */
export async function runWorker(config: Config, opts: { clustered: boolean }): Promise<void> {
  const labels = opts.clustered ? { worker: String(process.pid) } : {};
  const services = await buildServices(config, { clustered: opts.clustered });
  const { logger, engine, store, metrics } = services;
  const stopWatching = engine.watch(config.bundlePollSeconds, config.dataPollSeconds);
  // Every worker contends for the Graph sync lease; the holder syncs, all reload new policy sets.
  services.graph?.start(() => engine.reloadIfDocumentsChanged());
  const graphControl = services.graph?.control ?? null;

  let draining = false;
  const server = apiServer(config, createApp(services).api);
  server.keepAliveTimeout = 65_000;
  await listen(server, config.port, config.host);

  let admin: Server | null = null;
  if (!opts.clustered) {
    // The same caller authentication as the API port: one CallerAuth, built by buildServices.
    admin = adminServer(
      config,
      createAdminApp(
        services,
        localBackend(engine, store, metrics, () => draining, graphControl),
      ),
    );
    guardServer(admin, { bodyLimitBytes: config.bodyLimitBytes });
    await listen(admin, config.adminPort, config.host);
  }
  logger.info(
    {
      api: `${config.tlsCert === null ? 'http' : 'https'}://${config.host}:${config.port}`,
      store: store.kind,
      ...labels,
    },
    opts.clustered ? 'agent-pdp worker listening' : 'agent-pdp listening',
  );
  if (['0.0.0.0', '[::]'].includes(new URL(config.publicBaseUrl).hostname)) {
    logger.warn(
      { public_base_url: config.publicBaseUrl },
      'PDP_PUBLIC_BASE_URL is not set and PDP_HOST is a wildcard: the AuthZEN metadata names an address clients cannot use',
    );
  }

  let stopping = false;
  const shutdown = async (reason: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    // Readiness goes false first, so load balancers stop sending before the listener closes.
    draining = true;
    logger.info({ reason, delay_ms: config.shutdownDelayMs }, 'draining');
    const deadline = setTimeout(() => {
      logger.error('shutdown deadline passed; exiting with requests still open');
      process.exit(1);
    }, config.shutdownDelayMs + config.shutdownTimeoutMs);
    deadline.unref();
    stopWatching();
    await new Promise((r) => setTimeout(r, config.shutdownDelayMs));
    const closed = [server, admin]
      .filter((s): s is Server => s !== null)
      .map(async (s) => {
        const done = once(s, 'close');
        s.close();
        s.closeIdleConnections();
        await done;
      });
    await Promise.all(closed);
    // Everything accepted is written before exit; what cannot be is counted and warned about.
    await services.close(Math.max(1000, config.shutdownTimeoutMs / 2));
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  if (opts.clustered) {
    process.on('message', (message: unknown) => {
      if (!isPrimaryMessage(message)) return;
      if (message.type === 'pdp:shutdown') {
        void shutdown('primary');
        return;
      }
      const reply = async (): Promise<unknown> =>
        message.type === 'pdp:status'
          ? localStatus(engine, store, () => draining, graphControl)
          : metrics.registry.getMetricsAsJSON();
      void reply().then(
        (payload) => {
          sendToPrimary({ type: 'pdp:reply', id: message.id, payload });
        },
        (err: unknown) => {
          sendToPrimary({ type: 'pdp:reply', id: message.id, error: describeThrown(err) });
        },
      );
    });
    sendToPrimary({ type: 'pdp:listening' });
  }
}
