import type { RequestListener } from 'node:http';
import express, { type Express } from 'express';
import { GatewayService } from './decision/gateway';
import { DecisionService } from './decision/service';
import { createObserver } from './decision/observer';
import type { Decision } from './decision/run';
import type { OpsBackend } from './ops/backend';
import { fastRoutes } from './http/fast-routes';
import { BodyMemo, DEFAULT_BODY_MEMO_LIMITS, NO_BODY_MEMO } from './mcp/body-memo';
import { errorHandler, jsonBody, notFound, refuseOptions, requireHost } from './http/middleware';
import { accessPackageRoutes } from './routes/access-packages';
import { authzenEvaluator, authzenRoutes } from './routes/authzen';
import { authzenSearch } from './routes/authzen-search';
import { decideRoutes } from './routes/decide';
import { directoryRoutes } from './routes/directory';
import { gatewayRoutes } from './routes/gateway';
import { governanceTrailRoutes } from './routes/governance-trail';
import { detectionSettingsRoutes } from './routes/detection-settings';
import { graphSyncRoutes } from './routes/graph-sync';
import { lifecycleRoutes } from './routes/lifecycle';
import { opsRoutes } from './routes/ops';
import type { AdminServices, Services } from './services';

export interface Apps {
  /** Decision and directory API (PDP_PORT): the hot routes in front of `express`. */
  api: RequestListener;
  /** The API's express app alone, every route included (the hot routes' reference). */
  express: Express;
  decisions: DecisionService;
  gateway: GatewayService;
}

function base(): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');
  app.use(requireHost);
  return app;
}

/**
 * The admin port's app (health, readiness, metrics, policies) with the process's own caller
 * authentication: a worker's backend standalone, the workers' reports in a cluster primary.
 */
export function createAdminApp(
  services: Pick<AdminServices, 'auth' | 'logger'>,
  backend: OpsBackend,
): Express {
  const admin = base();
  admin.use(refuseOptions);
  admin.use(opsRoutes(backend, services.auth));
  admin.use(notFound);
  admin.use(errorHandler(services.logger));
  return admin;
}

/** Builds the decision API's express app from the services (buildServices). Never listens: the worker does. */
export function createApp(services: Services): Apps {
  const { config, engine, store, auth, clock, newId, validators, metrics, log } = services;
  const observed = createObserver(log === undefined ? { metrics } : { metrics, log });
  const { activity } = services.lifecycle;
  const { detector } = services;
  const observe = (d: Decision): void => {
    observed(d);
    activity.note(d);
    detector?.note(d);
  };
  const decisions = new DecisionService({ engine, store, validators, clock, newId, observe });
  const gateway = new GatewayService({
    engine,
    store,
    verifier: services.verifier,
    clock,
    newId,
    observe,
    // With the memo of results off (PDP_EVAL_MEMO_ENTRIES=0), bodies are read afresh too.
    bodyMemo: new BodyMemo(config.evalMemoEntries === 0 ? NO_BODY_MEMO : DEFAULT_BODY_MEMO_LIMITS),
  });

  const api = base();
  // Before the body parser: a gateway's check request may carry the original body, not JSON for us.
  const gatewayRoute = {
    pathPrefix: config.gatewayPathPrefix,
    trustedProxyHops: config.trustedProxyHops,
    mcpBodyLimitBytes: config.mcpBodyLimitBytes,
  };
  const authzen = authzenEvaluator(decisions);
  api.use(gatewayRoutes(gateway, auth, gatewayRoute, config.trustedIssuers));
  api.use(refuseOptions);
  api.use(jsonBody(config.bodyLimitBytes));
  api.use(decideRoutes(decisions, validators, auth));
  api.use(authzenRoutes(authzen, authzenSearch(authzen, store), auth, { baseUrl: config.publicBaseUrl }));
  api.use(directoryRoutes(store, validators, auth, clock));
  api.use(governanceTrailRoutes(store, auth));
  api.use(lifecycleRoutes(store, auth, clock));
  api.use(detectionSettingsRoutes(store, auth, clock));
  api.use(accessPackageRoutes(store, auth, clock, () => newId()));
  api.use(graphSyncRoutes(services.graph?.control ?? null, auth));
  api.use(notFound);
  api.use(errorHandler(services.logger));

  const hot = fastRoutes(
    {
      decisions,
      gateway,
      validators,
      authzen,
      auth,
      logger: services.logger,
      bodyLimitBytes: config.bodyLimitBytes,
      gatewayRoute,
    },
    api,
  );
  return { api: hot, express: api, decisions, gateway };
}
