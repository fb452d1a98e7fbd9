import type { Redis } from 'ioredis';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { PdpError, describeThrown } from '../errors';
import { FileSink, type FileSinkOptions } from './file-sink';
import { HttpSink, type HttpSinkOptions } from './http-sink';
import { RedisStreamSink } from './redis-stream-sink';
import type { DecisionLogSink } from './sink';
import { StreamSink } from './stdout-sink';

/** `PDP_DECISION_LOG`, parsed. */
export type DecisionLogSpec =
  | { kind: 'off' }
  | { kind: 'stdout' }
  | { kind: 'file'; path: string }
  | { kind: 'redis-stream'; key: string }
  | { kind: 'http'; url: string };

const FORMS = 'stdout | file:<path> | redis-stream:<key> | http:<url> | https:<url> | off';

function invalid(spec: string, why: string): PdpError {
  // A collector URL may carry credentials: they stay out of the message.
  const shown = spec.replace(/\/\/[^/@]*@/, '//***@');
  return new PdpError('config_invalid', `PDP_DECISION_LOG "${shown}": ${why} (expected ${FORMS})`);
}

function httpUrl(candidate: string): string | null {
  if (!URL.canParse(candidate)) return null;
  const url = new URL(candidate);
  return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '' ? url.href : null;
}

/**
 * `stdout`, `off`, `file:<path>` (or a `file://` URL), `redis-stream:<key>`, and a collector as
 * `http:<url>` (`http:https://logs.example/v1`) or simply the URL (`https://logs.example/v1`).
 * Throws PdpError('config_invalid') naming the accepted forms.
 */
export function parseDecisionLogSpec(spec: string): DecisionLogSpec {
  const s = spec.trim();
  if (s === 'off') return { kind: 'off' };
  if (s === 'stdout') return { kind: 'stdout' };
  if (s.startsWith('file:')) {
    const rest = s.slice('file:'.length);
    if (rest.startsWith('//')) {
      try {
        return { kind: 'file', path: fileURLToPath(s) };
      } catch (err) {
        throw invalid(spec, describeThrown(err));
      }
    }
    if (rest === '') throw invalid(spec, 'the file path is empty');
    return { kind: 'file', path: rest };
  }
  if (s.startsWith('redis-stream:')) {
    const key = s.slice('redis-stream:'.length);
    if (key === '') throw invalid(spec, 'the stream key is empty');
    return { kind: 'redis-stream', key };
  }
  if (s.startsWith('http:') || s.startsWith('https:')) {
    // Either the URL itself, or `http:`/`https:` followed by one.
    const rest = /^https?:\/\//.test(s) ? s : s.slice(s.indexOf(':') + 1);
    const url = /^https?:\/\//.test(rest) ? httpUrl(rest) : null;
    if (url === null) throw invalid(spec, 'not an http(s) URL');
    return { kind: 'http', url };
  }
  throw invalid(spec, 'unknown sink');
}

export interface SinkDeps {
  /** stdout: the stream to write (default process.stdout, never ended). */
  stdout?: Writable;
  file?: FileSinkOptions;
  /** redis-stream: the client to write through (left open on close; its owner closes it). */
  redis?: Redis;
  redisStream?: { maxLen?: number };
  http?: HttpSinkOptions;
}

/** The sink for a spec, or null for `off` (DecisionLog then drops nothing and logs nothing). */
export function createSink(spec: DecisionLogSpec | string, deps: SinkDeps): DecisionLogSink | null {
  const s = typeof spec === 'string' ? parseDecisionLogSpec(spec) : spec;
  try {
    switch (s.kind) {
      case 'off':
        return null;
      case 'stdout':
        return deps.stdout === undefined ? new StreamSink() : new StreamSink({ stream: deps.stdout });
      case 'file':
        return new FileSink(s.path, deps.file);
      case 'redis-stream': {
        if (deps.redis !== undefined) return new RedisStreamSink(deps.redis, s.key, deps.redisStream);
        throw new PdpError('config_invalid', 'PDP_DECISION_LOG redis-stream needs REDIS_URL');
      }
      case 'http':
        return new HttpSink(s.url, deps.http);
    }
  } catch (err) {
    if (err instanceof PdpError) throw err;
    throw new PdpError('config_invalid', `PDP_DECISION_LOG: ${describeThrown(err)}`, [], { cause: err });
  }
}
