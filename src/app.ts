import type { RequestListener } from 'node:http';
import express, { type Express } from 'express';
import type { Logger } from 'pino';
import { AgentTokenVerifier } from './auth/agent-tokens';
import { callerAuthFromConfig, type CallerAuth } from './auth/caller-auth';
import type { Config } from './config';
import { GatewayService } from './decision/gateway';
import { decisionIds } from './decision/ids';
import { DecisionService } from './decision/service';
import { createValidators } from './decision/validators';
import type { PolicyEngine } from './engine/policy-engine';
import { Metrics } from './metrics';
import { createObserver, type DecisionSinks } from './decision/observer';
import { localBackend, type OpsBackend } from './ops/backend';
import { fastRoutes } from './http/fast-routes';
import { errorHandler, jsonBody, notFound, refuseOptions, requireHost } from './http/middleware';
import { authzenEvaluator, authzenRoutes } from './routes/authzen';
import { decideRoutes } from './routes/decide';
import { directoryRoutes } from './routes/directory';
import { gatewayRoutes } from './routes/gateway';
import { opsRoutes } from './routes/ops';
import type { SignalStore } from './store/types';

export interface AppDeps {
  config: Pick<
    Config,
    | 'bodyLimitBytes'
    | 'apiKeys'
    | 'trustedIssuers'
    | 'gatewayPathPrefix'
    | 'trustedProxyHops'
    | 'clockToleranceSeconds'
    | 'tokenCacheMaxEntries'
    | 'maxTokenBytes'
    | 'publicBaseUrl'
    | 'callerIssuer'
    | 'callerJwksUrl'
    | 'callerAudience'
    | 'callerRolesClaim'
    | 'tlsClientCa'
  >;
  engine: PolicyEngine;
  store: SignalStore;
  logger: Logger;
  clock?: () => number;
  newId?: (now: number) => string;
  auth?: CallerAuth;
  verifier?: AgentTokenVerifier;
  metrics?: Metrics;
  /** Decision log hook; real decisions only. */
  log?: DecisionSinks['log'];
  /** Admin port backend; defaults to this process's engine, store and metrics. */
  ops?: OpsBackend;
}

export interface Apps {
  /** Decision and directory API (PDP_PORT): the hot routes in front of `express`. */
  api: RequestListener;
  /** The API's express app alone, every route included (the hot routes' reference). */
  express: Express;
  /** Health, readiness, policy listing (PDP_ADMIN_PORT). */
  admin: Express;
  decisions: DecisionService;
  gateway: GatewayService;
  metrics: Metrics;
}

function base(): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');
  app.use(requireHost);
  return app;
}

/** The admin port's app: health, readiness, metrics, policies; in a cluster, served by the primary. */
export function createAdminApp(backend: OpsBackend, auth: CallerAuth, logger: Logger): Express {
  const admin = base();
  admin.use(refuseOptions);
  admin.use(opsRoutes(backend, auth));
  admin.use(notFound);
  admin.use(errorHandler(logger));
  return admin;
}

/** Builds the express apps from injected dependencies. Never listens: server.ts does. */
export function createApp(deps: AppDeps): Apps {
  const clock = deps.clock ?? Date.now;
  const newId = deps.newId ?? decisionIds(clock);
  const validators = createValidators();
  const auth = deps.auth ?? callerAuthFromConfig(deps.config);
  const metrics = deps.metrics ?? new Metrics({ defaultMetrics: false });
  const observe = createObserver(deps.log === undefined ? { metrics } : { metrics, log: deps.log });
  const decisions = new DecisionService({
    engine: deps.engine,
    store: deps.store,
    validators,
    clock,
    newId,
    observe,
  });
  const { config } = deps;
  const verifier =
    deps.verifier ??
    new AgentTokenVerifier(config.trustedIssuers, {
      clockToleranceSeconds: config.clockToleranceSeconds,
      maxTokenBytes: config.maxTokenBytes,
      cacheMaxEntries: config.tokenCacheMaxEntries,
      clock,
    });
  const gateway = new GatewayService({
    engine: deps.engine,
    store: deps.store,
    verifier,
    clock,
    newId,
    observe,
  });

  const api = base();
  // Before the body parser: a gateway's check request may carry the original body, not JSON for us.
  const gatewayRoute = { pathPrefix: config.gatewayPathPrefix, trustedProxyHops: config.trustedProxyHops };
  const authzen = authzenEvaluator(decisions);
  api.use(gatewayRoutes(gateway, auth, gatewayRoute));
  api.use(refuseOptions);
  api.use(jsonBody(config.bodyLimitBytes));
  api.use(decideRoutes(decisions, validators, auth));
  api.use(authzenRoutes(authzen, auth, { baseUrl: config.publicBaseUrl }));
  api.use(directoryRoutes(deps.store, validators, auth, clock));
  api.use(notFound);
  api.use(errorHandler(deps.logger));

  const admin = createAdminApp(deps.ops ?? localBackend(deps.engine, deps.store, metrics), auth, deps.logger);

  const hot = fastRoutes(
    {
      decisions,
      gateway,
      validators,
      authzen,
      auth,
      logger: deps.logger,
      bodyLimitBytes: config.bodyLimitBytes,
      gatewayRoute,
    },
    api,
  );

  return { api: hot, express: api, admin, decisions, gateway, metrics };
}
