import express, { type Express } from 'express';
import type { Logger } from 'pino';
import { monotonicFactory } from 'ulid';
import { createApiKeyAuth, type CallerAuth } from './auth/api-keys';
import type { Config } from './config';
import { DecisionService } from './decision/service';
import { createValidators } from './decision/validators';
import type { PolicyEngine } from './engine/policy-engine';
import { errorHandler, jsonBody, notFound } from './http/middleware';
import { decideRoutes } from './routes/decide';
import { directoryRoutes } from './routes/directory';
import { opsRoutes } from './routes/ops';
import type { SignalStore } from './store/types';

export interface AppDeps {
  config: Pick<Config, 'bodyLimitBytes' | 'apiKeys'>;
  engine: PolicyEngine;
  store: SignalStore;
  logger: Logger;
  clock?: () => number;
  newId?: () => string;
  auth?: CallerAuth;
}

export interface Apps {
  /** Decision and directory API (PDP_PORT). */
  api: Express;
  /** Health, readiness, policy listing (PDP_ADMIN_PORT). */
  admin: Express;
  decisions: DecisionService;
}

function base(): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');
  return app;
}

/** Builds the express apps from injected dependencies. Never listens: server.ts does. */
export function createApp(deps: AppDeps): Apps {
  const clock = deps.clock ?? Date.now;
  const ulid = monotonicFactory();
  const newId = deps.newId ?? (() => ulid(clock()));
  const validators = createValidators();
  const auth = deps.auth ?? createApiKeyAuth(deps.config.apiKeys);
  const decisions = new DecisionService({ engine: deps.engine, store: deps.store, validators, clock, newId });

  const api = base();
  api.use(jsonBody(deps.config.bodyLimitBytes));
  api.use(decideRoutes(decisions, validators, auth));
  api.use(directoryRoutes(deps.store, validators, auth, clock));
  api.use(notFound);
  api.use(errorHandler(deps.logger));

  const admin = base();
  admin.use(opsRoutes(deps.engine, deps.store, auth));
  admin.use(notFound);
  admin.use(errorHandler(deps.logger));

  return { api, admin, decisions };
}
