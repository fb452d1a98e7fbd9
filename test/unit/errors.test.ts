import { PdpError, httpStatusOf, toErrorBody, type ErrorCode } from '../../src/errors';

describe('error codes', () => {
  it.each<[ErrorCode, number]>([
    ['invalid_request', 400],
    ['invalid_json', 400],
    ['invalid_utf8', 400],
    ['nesting_too_deep', 400],
    ['malformed_request', 400],
    ['payload_too_large', 413],
    ['headers_too_large', 431],
    ['request_timeout', 408],
    ['expectation_failed', 417],
    ['unsupported_media_type', 415],
    ['not_found', 404],
    ['method_not_allowed', 405],
    ['unauthenticated', 401],
    ['invalid_token', 401],
    ['forbidden', 403],
    ['requestor_not_permitted', 403],
    ['approver_not_permitted', 403],
    ['not_a_sponsor', 403],
    ['self_approval_forbidden', 403],
    ['assignment_state_conflict', 409],
    ['shared_assignments_limit', 409],
    ['package_in_use', 409],
    ['not_ready', 503],
    ['store_unavailable', 503],
    ['policy_evaluation_failed', 500],
    ['bundle_invalid', 500],
    ['data_invalid', 500],
    ['config_invalid', 500],
    ['internal_error', 500],
  ])('%s maps to %d', (code, status) => {
    expect(httpStatusOf(code)).toBe(status);
    expect(new PdpError(code, 'x').status).toBe(status);
  });

  it('keeps internals out of 5xx bodies', () => {
    const body = toErrorBody(
      new PdpError('policy_evaluation_failed', 'wasm trap at 0x1f', [{ pointer: '/x', message: 'y' }]),
    );
    expect(body).toEqual({
      error: { code: 'policy_evaluation_failed', message: 'Internal Server Error', details: [] },
    });
  });

  it('passes 4xx messages and details through', () => {
    const detail = { pointer: '/scopes', message: 'is required' };
    expect(toErrorBody(new PdpError('invalid_request', 'bad', [detail]))).toEqual({
      error: { code: 'invalid_request', message: 'bad', details: [detail] },
    });
  });
});
