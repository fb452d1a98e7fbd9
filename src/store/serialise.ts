import { PdpError } from '../errors';

/**
 * A record as the JSON the store keeps. A value that cannot be serialised (nested past what
 * `JSON.stringify` can walk) is the writer's fault and is reported as such, never as a store
 * outage: it must not count as a Redis error nor answer 503.
 */
export function serialise(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    throw new PdpError('invalid_request', 'The record cannot be stored as JSON', [], { cause: err });
  }
}
