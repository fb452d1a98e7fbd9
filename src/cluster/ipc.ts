import type { Worker } from 'node:cluster';
import { describeThrown } from '../errors';

/** Messages between the primary and its workers (node:cluster IPC). */
export type PrimaryMessage =
  { type: 'pdp:status'; id: number } | { type: 'pdp:metrics'; id: number } | { type: 'pdp:shutdown' };

export type WorkerMessage =
  /** `error` instead of `payload` when the worker could not build its answer. */
  { type: 'pdp:reply'; id: number; payload?: unknown; error?: string } | { type: 'pdp:listening' };

export function isPrimaryMessage(value: unknown): value is PrimaryMessage {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { type?: unknown }).type === 'string' &&
    (value as { type: string }).type.startsWith('pdp:')
  );
}

function isReply(
  value: unknown,
  id: number,
): value is { type: 'pdp:reply'; payload?: unknown; error?: unknown } {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { type?: unknown }).type === 'pdp:reply' &&
    (value as { id?: unknown }).id === id
  );
}

/**
 * Sends to a worker; never throws and never makes the worker emit 'error'. A worker that died, or
 * is dying, has a closed channel: without a callback Node reports the failed send (EPIPE,
 * ERR_IPC_CHANNEL_CLOSED) as an 'error' event, and an unhandled one ends the primary. Resolves
 * whether the message was handed to the channel.
 */
export function sendTo(worker: Worker, message: PrimaryMessage): Promise<boolean> {
  if (!worker.isConnected() || worker.isDead()) return Promise.resolve(false);
  return new Promise((resolve) => {
    try {
      worker.send(message, undefined, (err: Error | null) => {
        resolve(err === null);
      });
    } catch {
      resolve(false);
    }
  });
}

/**
 * The worker side of sendTo: a reply to a primary that is gone is dropped, not an 'error' that
 * would end the worker mid-request.
 */
export function sendToPrimary(message: WorkerMessage): void {
  if (process.send === undefined || !process.connected) return;
  try {
    process.send(message, undefined, {}, () => undefined);
  } catch {
    // The channel closed between the check and the send: nobody is left to answer.
  }
}

let nextId = 1;

/**
 * Asks one worker and waits for its reply. Rejects at once when the worker cannot be asked (not
 * connected, the send failed) or goes away before answering, and after `timeoutMs` when it hangs:
 * a worker that cannot answer is reported by the caller, never awaited.
 */
export function ask(worker: Worker, type: 'pdp:status' | 'pdp:metrics', timeoutMs: number): Promise<unknown> {
  const id = nextId++;
  const who = `worker ${worker.process.pid ?? '?'}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | null, payload?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('disconnect', onGone);
      worker.off('exit', onGone);
      if (err === null) resolve(payload);
      else reject(err);
    };
    const onMessage = (message: unknown): void => {
      if (!isReply(message, id)) return;
      if (message.error === undefined) {
        finish(null, message.payload);
        return;
      }
      const why = typeof message.error === 'string' ? message.error : 'unknown error';
      finish(new Error(`${who} could not answer ${type}: ${why}`));
    };
    const onGone = (): void => {
      finish(new Error(`${who} went away before answering ${type}`));
    };
    const timer = setTimeout(() => {
      finish(new Error(`${who} did not answer ${type} within ${timeoutMs} ms`));
    }, timeoutMs);
    worker.on('message', onMessage);
    worker.once('disconnect', onGone);
    worker.once('exit', onGone);
    sendTo(worker, { type, id }).then(
      (sent) => {
        if (!sent) finish(new Error(`${who} cannot be asked ${type}: its channel is closed`));
      },
      (err: unknown) => {
        finish(new Error(`${who}: ${describeThrown(err)}`));
      },
    );
  });
}
