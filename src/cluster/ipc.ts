import type { Worker } from 'node:cluster';

/** Messages between the primary and its workers (node:cluster IPC). */
export type PrimaryMessage =
  { type: 'pdp:status'; id: number } | { type: 'pdp:metrics'; id: number } | { type: 'pdp:shutdown' };

export type WorkerMessage = { type: 'pdp:reply'; id: number; payload: unknown } | { type: 'pdp:listening' };

export function isPrimaryMessage(value: unknown): value is PrimaryMessage {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { type?: unknown }).type === 'string' &&
    (value as { type: string }).type.startsWith('pdp:')
  );
}

let nextId = 1;

/** Asks one worker and waits for its reply; rejects after `timeoutMs` (a hung worker is reported, not awaited). */
export function ask(worker: Worker, type: 'pdp:status' | 'pdp:metrics', timeoutMs: number): Promise<unknown> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      worker.off('message', onMessage);
      reject(new Error(`worker ${worker.process.pid ?? '?'} did not answer ${type} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (message: WorkerMessage): void => {
      if (message.type === 'pdp:reply' && message.id === id) {
        clearTimeout(timer);
        worker.off('message', onMessage);
        resolve(message.payload);
      }
    };
    worker.on('message', onMessage);
    worker.send({ type, id } satisfies PrimaryMessage);
  });
}
