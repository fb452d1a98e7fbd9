/**
 * Typed errors with stable string codes. Every error that reaches a client goes through
 * `httpStatusOf` and `toErrorBody`, so the code → status mapping lives in one place.
 */

export type ErrorCode =
  | 'invalid_request'
  | 'invalid_json'
  | 'invalid_utf8'
  | 'nesting_too_deep'
  | 'malformed_request'
  | 'payload_too_large'
  | 'headers_too_large'
  | 'request_timeout'
  | 'expectation_failed'
  | 'unsupported_media_type'
  | 'not_found'
  | 'agent_user_conflict'
  | 'identifier_uri_conflict'
  | 'principal_id_conflict'
  | 'method_not_allowed'
  | 'unauthenticated'
  | 'invalid_token'
  | 'forbidden'
  | 'requestor_not_permitted'
  | 'approver_not_permitted'
  | 'self_approval_forbidden'
  | 'not_a_sponsor'
  | 'assignment_state_conflict'
  | 'shared_assignments_limit'
  | 'package_in_use'
  | 'not_ready'
  | 'store_unavailable'
  | 'policy_evaluation_failed'
  | 'bundle_invalid'
  | 'data_invalid'
  | 'config_invalid'
  | 'internal_error';

const STATUS: Readonly<Record<ErrorCode, number>> = {
  invalid_request: 400,
  invalid_json: 400,
  invalid_utf8: 400,
  nesting_too_deep: 400,
  malformed_request: 400,
  payload_too_large: 413,
  headers_too_large: 431,
  request_timeout: 408,
  expectation_failed: 417,
  unsupported_media_type: 415,
  not_found: 404,
  agent_user_conflict: 409,
  identifier_uri_conflict: 409,
  principal_id_conflict: 409,
  method_not_allowed: 405,
  unauthenticated: 401,
  invalid_token: 401,
  forbidden: 403,
  requestor_not_permitted: 403,
  approver_not_permitted: 403,
  self_approval_forbidden: 403,
  not_a_sponsor: 403,
  assignment_state_conflict: 409,
  shared_assignments_limit: 409,
  package_in_use: 409,
  not_ready: 503,
  store_unavailable: 503,
  policy_evaluation_failed: 500,
  bundle_invalid: 500,
  data_invalid: 500,
  config_invalid: 500,
  internal_error: 500,
};

/** One problem in a request or a document, located by a JSON pointer (RFC 6901). */
export interface ErrorDetail {
  pointer: string;
  message: string;
  keyword?: string;
  file?: string;
  policy_id?: string;
}

export class PdpError extends Error {
  override readonly name: string = 'PdpError';
  readonly code: ErrorCode;
  readonly details: readonly ErrorDetail[];

  constructor(
    code: ErrorCode,
    message: string,
    details: readonly ErrorDetail[] = [],
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return STATUS[this.code];
  }
}

export function httpStatusOf(code: ErrorCode): number {
  return STATUS[code];
}

export function isPdpError(err: unknown): err is PdpError {
  return err instanceof PdpError;
}

/** Turns anything thrown (opa-wasm throws strings and plain objects) into an Error with a readable message. */
export function describeThrown(thrown: unknown): string {
  if (thrown instanceof Error) return thrown.message;
  if (typeof thrown === 'string') return thrown;
  try {
    return JSON.stringify(thrown);
  } catch {
    return String(thrown);
  }
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details: readonly ErrorDetail[] };
}

/** 5xx bodies never carry internals: the message is generic and details are dropped. */
export function toErrorBody(err: PdpError): ErrorBody {
  if (err.status >= 500 && err.code !== 'not_ready' && err.code !== 'store_unavailable') {
    return { error: { code: err.code, message: 'Internal Server Error', details: [] } };
  }
  return { error: { code: err.code, message: err.message, details: err.details } };
}
