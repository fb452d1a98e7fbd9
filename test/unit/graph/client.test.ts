import { GraphClient, GraphError, mapLimit } from '../../../src/graph/client';
import { TokenProvider } from '../../../src/graph/token';

/** A fetch that answers with `f(url)`. */
const answering = (f: (url: string) => Response): typeof fetch =>
  ((url: string) => Promise.resolve(f(url))) as unknown as typeof fetch;

function client(fetchImpl: typeof fetch, sleeps: number[] = []): GraphClient {
  const tokens = new TokenProvider({
    tokenUrl: 'https://login.example/t/oauth2/v2.0/token',
    clientId: 'c',
    credential: { kind: 'secret', secret: 's' },
    scope: 'https://graph.example/.default',
    timeoutMs: 1000,
    clock: Date.now,
    fetch: answering(() => Response.json({ access_token: 't', expires_in: 3600 })),
  });
  return new GraphClient({
    baseUrl: 'https://graph.example/beta',
    tokens,
    timeoutMs: 1000,
    concurrency: 2,
    maxRetries: 3,
    random: () => 0.5,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    fetch: fetchImpl,
  });
}

describe('GraphClient', () => {
  it('never follows a link off the Graph origin (the token would go with it)', async () => {
    const seen: string[] = [];
    const c = client(
      answering((url) => {
        seen.push(url);
        return Response.json({ value: [1], '@odata.nextLink': 'https://evil.example/beta/next' });
      }),
    );
    await expect(c.list('identityProtection/riskyUsers')).rejects.toThrow(/off the Graph origin/);
    expect(seen).toEqual(['https://graph.example/beta/identityProtection/riskyUsers']);
  });

  it('waits Retry-After on 429, backs off on 500, gives up after its retries', async () => {
    const sleeps: number[] = [];
    const answers = [
      new Response('{}', { status: 429, headers: { 'retry-after': '7' } }),
      new Response('{}', { status: 500 }),
      Response.json({ value: [] }),
    ];
    const c = client(
      answering(() => answers.shift() as Response),
      sleeps,
    );
    await expect(c.list('x')).resolves.toEqual({ items: [], deltaLink: null });
    expect(sleeps[0]).toBe(7000);
    expect(sleeps[1]).toBeGreaterThan(0);
    const failing = client(answering(() => new Response('{}', { status: 500 })));
    await expect(failing.list('x')).rejects.toBeInstanceOf(GraphError);
    const forbidden = client(answering(() => new Response('{}', { status: 403 })));
    await expect(forbidden.get('x')).rejects.toThrow(/403/);
  });

  it('refuses a nextLink loop and an answer without a value array', async () => {
    const loop = client(
      answering(() => Response.json({ value: [], '@odata.nextLink': 'https://graph.example/beta/x' })),
    );
    await expect(loop.list('x')).rejects.toThrow(/repeats/);
    const odd = client(answering(() => Response.json({ items: [] })));
    await expect(odd.list('x')).rejects.toThrow(/no "value" array/);
  });

  it('mapLimit keeps order and the limit', async () => {
    let active = 0;
    let peak = 0;
    const out = await mapLimit([1, 2, 3, 4, 5], 2, async (n) => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 5));
      active--;
      return n * 2;
    });
    expect(out).toEqual([2, 4, 6, 8, 10]);
    expect(peak).toBe(2);
  });
});
