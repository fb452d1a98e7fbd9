import type { ValidateFunction } from 'ajv';
import { PdpError } from '../errors';
import { createAjv, toDetails } from '../schemas/ajv';
import {
  agentRiskSchema,
  agentSchema,
  agentUserSchema,
  resourceSchema,
  riskyAgentsActionSchema,
  blueprintSchema,
  revocationSchema,
  userRiskSchema,
} from '../schemas/directory';
import { freeFormViolation } from '../schemas/json-shape';
import {
  MAX_CONTEXT_BYTES,
  MAX_CONTEXT_DEPTH,
  batchRequestSchema,
  decideRequestSchema,
  whatIfRequestSchema,
  type DecideRequest,
  type WhatIfRequest,
} from '../schemas/requests';

export type Validate<T> = (body: unknown, pointerPrefix?: string) => T;

function checker<T>(fn: ValidateFunction, extra?: (value: T, prefix: string) => void): Validate<T> {
  return (body, prefix = '') => {
    if (!fn(body)) {
      throw new PdpError('invalid_request', 'The request body is invalid', toDetails(fn.errors, prefix));
    }
    extra?.(body as T, prefix);
    return body as T;
  };
}

/** The free-form context's depth, then its size; the depth first, so measuring the size is safe. */
function contextLimits(body: DecideRequest, prefix: string): void {
  if (body.context === undefined) return;
  const violation = freeFormViolation(body.context, `${prefix}/context`, {
    maxDepth: MAX_CONTEXT_DEPTH,
    maxBytes: MAX_CONTEXT_BYTES,
  });
  if (violation !== null) throw new PdpError('invalid_request', 'The request body is invalid', [violation]);
}

/** Every request schema compiled once; the hot path only calls the compiled functions. */
export interface Validators {
  decide: Validate<DecideRequest>;
  whatif: Validate<WhatIfRequest>;
  batch: Validate<{ requests: unknown[] }>;
  blueprint: Validate<Record<string, unknown>>;
  agent: Validate<Record<string, unknown>>;
  agentRisk: Validate<Record<string, unknown>>;
  userRisk: Validate<Record<string, unknown>>;
  revocation: Validate<{ reason?: string }>;
  agentUser: Validate<Record<string, unknown>>;
  resource: Validate<Record<string, unknown>>;
  riskyAgentsAction: Validate<{ agentIds: string[] }>;
}

export function createValidators(): Validators {
  const ajv = createAjv();
  return {
    decide: checker<DecideRequest>(ajv.compile(decideRequestSchema), contextLimits),
    whatif: checker<WhatIfRequest>(ajv.compile(whatIfRequestSchema), contextLimits),
    batch: checker(ajv.compile(batchRequestSchema)),
    blueprint: checker(ajv.compile(blueprintSchema)),
    agent: checker(ajv.compile(agentSchema)),
    agentRisk: checker(ajv.compile(agentRiskSchema)),
    userRisk: checker(ajv.compile(userRiskSchema)),
    revocation: checker(ajv.compile(revocationSchema)),
    agentUser: checker(ajv.compile(agentUserSchema)),
    resource: checker(ajv.compile(resourceSchema)),
    riskyAgentsAction: checker(ajv.compile(riskyAgentsActionSchema)),
  };
}
