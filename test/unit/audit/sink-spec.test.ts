import { PassThrough } from 'node:stream';
import { FileSink } from '../../../src/audit/file-sink';
import { HttpSink } from '../../../src/audit/http-sink';
import { createSink, parseDecisionLogSpec } from '../../../src/audit/sink-spec';
import { StreamSink } from '../../../src/audit/stdout-sink';
import { PdpError } from '../../../src/errors';

describe('parseDecisionLogSpec', () => {
  it.each([
    ['off', { kind: 'off' }],
    ['stdout', { kind: 'stdout' }],
    [' stdout ', { kind: 'stdout' }],
    ['file:/var/log/pdp/decisions.jsonl', { kind: 'file', path: '/var/log/pdp/decisions.jsonl' }],
    ['file:decisions.jsonl', { kind: 'file', path: 'decisions.jsonl' }],
    ['file:///var/log/pdp/d.jsonl', { kind: 'file', path: '/var/log/pdp/d.jsonl' }],
    ['redis-stream:pdp:decisions', { kind: 'redis-stream', key: 'pdp:decisions' }],
    ['http://collector:8080/logs', { kind: 'http', url: 'http://collector:8080/logs' }],
    ['https://logs.example/v1?x=1', { kind: 'http', url: 'https://logs.example/v1?x=1' }],
    ['http:https://logs.example/v1', { kind: 'http', url: 'https://logs.example/v1' }],
    ['http:http://127.0.0.1:9000/', { kind: 'http', url: 'http://127.0.0.1:9000/' }],
    ['https:https://logs.example/v1', { kind: 'http', url: 'https://logs.example/v1' }],
  ])('%j', (spec, parsed) => {
    expect(parseDecisionLogSpec(spec)).toEqual(parsed);
  });

  it.each(['', 'kafka:decisions', 'file:', 'redis-stream:', 'http:', 'http:ftp://x/', 'https:', 'STDOUT'])(
    'refuses %j with the accepted forms',
    (spec) => {
      const err = (() => {
        try {
          parseDecisionLogSpec(spec);
        } catch (e) {
          return e;
        }
        return null;
      })();
      expect(err).toBeInstanceOf(PdpError);
      expect((err as PdpError).code).toBe('config_invalid');
      expect((err as PdpError).message).toContain('stdout | file:<path> | redis-stream:<key>');
    },
  );

  it('keeps credentials out of the error message', () => {
    expect(() => parseDecisionLogSpec('http:ftp://user:hunter2@host/')).toThrow(/\/\/\*\*\*@host/);
    expect(() => parseDecisionLogSpec('http:ftp://user:hunter2@host/')).not.toThrow(/hunter2/);
  });
});

describe('createSink', () => {
  it('builds one sink per kind, and none for off', async () => {
    expect(createSink('off', {})).toBeNull();
    expect(createSink('stdout', { stdout: new PassThrough() })).toBeInstanceOf(StreamSink);
    const file = createSink('file:/tmp/pdp-audit-spec/d.jsonl', {});
    expect(file).toBeInstanceOf(FileSink);
    expect((file as FileSink).path).toBe('/tmp/pdp-audit-spec/d.jsonl');
    const http = createSink('https://u:p@logs.example/v1?token=t', {});
    expect(http).toBeInstanceOf(HttpSink);
    expect((http as HttpSink).target).toBe('https://logs.example/v1');
    await Promise.all([file?.close(), http?.close()]);
  });

  it('needs a Redis URL or client for redis-stream', () => {
    expect(() => createSink('redis-stream:pdp:decisions', {})).toThrow(/needs REDIS_URL/);
  });

  it('turns bad sink options into config errors', () => {
    expect(() => createSink('file:/tmp/x.jsonl', { file: { maxBytes: 0 } })).toThrow(PdpError);
    expect(() => createSink('http://127.0.0.1/', { http: { timeoutMs: -1 } })).toThrow(
      /timeoutMs must be a positive integer/,
    );
  });
});
