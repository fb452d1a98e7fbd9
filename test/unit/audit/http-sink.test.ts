import { once } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { HttpSink, HttpSinkError } from '../../../src/audit/http-sink';

interface Received {
  headers: IncomingMessage['headers'];
  url: string | undefined;
  body: unknown;
}

async function collector(
  answer: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(204).end(),
) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        headers: req.headers,
        url: req.url,
        body: JSON.parse(gunzipSync(Buffer.concat(chunks)).toString('utf8')),
      });
      answer(req, res);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    received,
    url: `http://127.0.0.1:${port}/logs`,
    port,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

describe('HttpSink', () => {
  it('POSTs a batch as one gzip-compressed JSON array', async () => {
    const c = await collector();
    const sink = new HttpSink(`${c.url}?stream=pdp`);
    await sink.write([JSON.stringify({ decision_id: 'a' }), JSON.stringify({ decision_id: 'b' })]);
    await sink.close();
    await c.close();
    expect(c.received).toHaveLength(1);
    expect(c.received[0]?.url).toBe('/logs?stream=pdp');
    expect(c.received[0]?.headers).toMatchObject({
      'content-type': 'application/json',
      'content-encoding': 'gzip',
    });
    expect(c.received[0]?.headers.authorization).toBeUndefined();
    expect(c.received[0]?.body).toEqual([{ decision_id: 'a' }, { decision_id: 'b' }]);
  });

  it('sends URL credentials as Basic auth and keeps them out of errors', async () => {
    const c = await collector((_req, res) => res.writeHead(503).end('busy'));
    const sink = new HttpSink(c.url.replace('http://', 'http://svc:s3cr%40t@'));
    const err = await sink.write(['{}']).catch((e: unknown) => e);
    await c.close();
    expect(c.received[0]?.headers.authorization).toBe(
      `Basic ${Buffer.from('svc:s3cr@t').toString('base64')}`,
    );
    expect(err).toBeInstanceOf(HttpSinkError);
    expect((err as HttpSinkError).status).toBe(503);
    expect((err as Error).message).toBe(`decision log POST to ${c.url} answered 503`);
    expect((err as Error).message).not.toContain('s3cr');
  });

  it('rejects on a refused connection', async () => {
    const c = await collector();
    await c.close();
    const sink = new HttpSink(c.url);
    await expect(sink.write(['{}'])).rejects.toThrow(/failed: .*ECONNREFUSED/);
  });

  it('rejects when the collector does not answer within the timeout', async () => {
    const c = await collector(() => undefined);
    const sink = new HttpSink(c.url, { timeoutMs: 100 });
    const started = Date.now();
    await expect(sink.write(['{}'])).rejects.toThrow(HttpSinkError);
    expect(Date.now() - started).toBeLessThan(2000);
    await c.close();
  });

  it('refuses a non-http URL', () => {
    expect(() => new HttpSink('ftp://x/')).toThrow(/http or https/);
  });
});
