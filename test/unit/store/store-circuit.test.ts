import { CircuitOpen, StoreTimeout, classifyFailure, withBudget } from '../../../src/store/store-circuit';

/** The shape of ioredis' ReplyError (an error reply from the server). */
function reply(message: string): Error {
  return Object.assign(new Error(message), { name: 'ReplyError' });
}

describe('withBudget', () => {
  it('passes a reply that comes in time through', async () => {
    const answer = new Promise<string>((resolve) => {
      setTimeout(() => {
        resolve('ok');
      }, 5);
    });
    await expect(withBudget(answer, 200)).resolves.toBe('ok');
  });

  it('rejects with StoreTimeout once the budget is spent, and absorbs the late rejection', async () => {
    let rejectLate: (err: Error) => void = () => undefined;
    const hung = new Promise<never>((_resolve, reject) => (rejectLate = reject));
    const started = performance.now();
    await expect(withBudget(hung, 30)).rejects.toBeInstanceOf(StoreTimeout);
    expect(performance.now() - started).toBeGreaterThanOrEqual(29);
    rejectLate(new Error('Command timed out')); // no unhandled rejection
    await new Promise((r) => setImmediate(r));
  });
});

describe('classifyFailure', () => {
  it.each([
    [new StoreTimeout(50), 'timeout'],
    [new Error('Command timed out'), 'timeout'],
    [new Error("Stream isn't writeable and enableOfflineQueue options is false"), 'connection'],
    [new Error('Connection is closed.'), 'connection'],
    [reply('LOADING Redis is loading the dataset in memory'), 'server'],
    [reply('CLUSTERDOWN The cluster is down'), 'server'],
    // A server that answers with an error about the command is up: the breaker stays closed.
    [reply('WRONGTYPE Operation against a key holding the wrong kind of value'), null],
    [reply('OOM command not allowed when used memory > maxmemory'), null],
  ])('%s → %s', (err, expected) => {
    expect(classifyFailure(err)).toBe(expected);
  });

  it('CircuitOpen is what callers see while the breaker is open', () => {
    expect(new CircuitOpen().message).toMatch(/circuit is open/);
  });
});
