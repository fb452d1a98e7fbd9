import type { ValidateFunction } from 'ajv';
import { PdpError } from '../errors';
import { createAjv, toDetails } from '../schemas/ajv';
import {
  agentRiskSchema,
  agentSchema,
  blueprintSchema,
  revocationSchema,
  userRiskSchema,
} from '../schemas/directory';
import {
  MAX_CONTEXT_BYTES,
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

function contextSize(body: DecideRequest, prefix: string): void {
  if (body.context !== undefined && Buffer.byteLength(JSON.stringify(body.context)) > MAX_CONTEXT_BYTES) {
    throw new PdpError('invalid_request', 'The request body is invalid', [
      {
        pointer: `${prefix}/context`,
        message: `must be at most ${MAX_CONTEXT_BYTES} bytes of JSON`,
        keyword: 'maxBytes',
      },
    ]);
  }
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
}

export function createValidators(): Validators {
  const ajv = createAjv();
  return {
    decide: checker<DecideRequest>(ajv.compile(decideRequestSchema), contextSize),
    whatif: checker<WhatIfRequest>(ajv.compile(whatIfRequestSchema), contextSize),
    batch: checker(ajv.compile(batchRequestSchema)),
    blueprint: checker(ajv.compile(blueprintSchema)),
    agent: checker(ajv.compile(agentSchema)),
    agentRisk: checker(ajv.compile(agentRiskSchema)),
    userRisk: checker(ajv.compile(userRiskSchema)),
    revocation: checker(ajv.compile(revocationSchema)),
  };
}
