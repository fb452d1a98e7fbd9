import { createHash } from 'node:crypto';
import type { ExternalDocuments } from '../engine/policy-engine';
import type { ExternalTenantDocs } from '../engine/tenant-data';
import type { RedisClient } from '../store/redis-connection';

/** What the sync accepted for a tenant: Graph's policies and named locations, as Graph served them. */
export interface GraphDocumentSet {
  policies: unknown[];
  named_locations: unknown[];
}

/** Channel on which a new document set is announced (message: the PDP tenant). */
export const DOCUMENTS_CHANNEL = 'pdp:graph-documents';
/** The tenants that have a Graph document set (one set, read without SCAN). */
export const DOCUMENT_TENANTS_KEY = 'pdp:graph:tenants';
/** A replaced set stays readable this long, for a worker that read the old pointer just before. */
const OLD_SET_TTL_MS = 3_600_000;

const currentKey = (tenant: string): string => `pdp:{${tenant}}:graph:documents`;
const setKey = (tenant: string, hash: string): string => `pdp:{${tenant}}:graph:documents:${hash}`;

export function documentHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * The tenants' Graph document sets in Redis, content-addressed: the set under
 * `pdp:{t}:graph:documents:<sha256>`, then the pointer `pdp:{t}:graph:documents` swapped to it,
 * then a publish. Every worker reads pointer + set, checks the hash, and loads the lot as one
 * revision, so all replicas serve the same set and none ever sees half of one.
 */
export class GraphDocumentStore implements ExternalDocuments {
  constructor(private readonly redis: RedisClient) {}

  /** Stores and announces `set` for `tenant`; false when it was already the current one. */
  async publish(tenant: string, set: GraphDocumentSet): Promise<{ hash: string; changed: boolean }> {
    const text = JSON.stringify(set);
    const hash = documentHash(text);
    const previous = await this.redis.get(currentKey(tenant));
    if (previous === hash) return { hash, changed: false };
    await this.redis.set(setKey(tenant, hash), text);
    await this.redis.set(currentKey(tenant), hash);
    await this.redis.sadd(DOCUMENT_TENANTS_KEY, tenant);
    if (previous !== null) await this.redis.pexpire(setKey(tenant, previous), OLD_SET_TTL_MS);
    await this.redis.publish(DOCUMENTS_CHANNEL, tenant);
    return { hash, changed: true };
  }

  /** The current set's hash for `tenant`, or null. */
  current(tenant: string): Promise<string | null> {
    return this.redis.get(currentKey(tenant));
  }

  /** Every tenant's current set; throws when one cannot be read whole (the engine keeps what it has). */
  async read(): Promise<{ print: string; sets: ReadonlyMap<string, ExternalTenantDocs> }> {
    const tenants = (await this.redis.smembers(DOCUMENT_TENANTS_KEY)).sort();
    const sets = new Map<string, ExternalTenantDocs>();
    const prints: string[] = [];
    for (const tenant of tenants) {
      const hash = await this.redis.get(currentKey(tenant));
      if (hash === null) continue;
      const text = await this.redis.get(setKey(tenant, hash));
      if (text === null || documentHash(text) !== hash) {
        throw new Error(`Graph document set ${hash.slice(0, 12)} of tenant ${tenant} is missing or altered`);
      }
      const doc = JSON.parse(text) as Partial<GraphDocumentSet>;
      if (!Array.isArray(doc.policies) || !Array.isArray(doc.named_locations)) {
        throw new Error(`Graph document set ${hash.slice(0, 12)} of tenant ${tenant} is not a document set`);
      }
      sets.set(tenant, {
        policies: doc.policies,
        named_locations: doc.named_locations,
        source: `graph:${tenant}`,
      });
      prints.push(`${tenant}=${hash}`);
    }
    return { print: prints.join(','), sets };
  }
}

/**
 * Reloads the engine when a set is announced, and every `pollMs` in case an announcement was
 * missed (a subscriber reconnecting). Returns the function that stops it.
 */
export function watchDocuments(
  subscriber: RedisClient,
  reload: () => Promise<void>,
  pollMs: number,
): () => void {
  let running: Promise<void> | null = null;
  let again = false;
  const trigger = (): void => {
    if (running !== null) {
      again = true;
      return;
    }
    running = reload()
      .catch(() => undefined)
      .finally(() => {
        running = null;
        if (again) {
          again = false;
          trigger();
        }
      });
  };
  const onMessage = (channel: string): void => {
    if (channel === DOCUMENTS_CHANNEL) trigger();
  };
  subscriber.on('message', onMessage);
  void subscriber.subscribe(DOCUMENTS_CHANNEL).catch(() => undefined);
  const timer = setInterval(trigger, pollMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    subscriber.off('message', onMessage);
    void subscriber.unsubscribe(DOCUMENTS_CHANNEL).catch(() => undefined);
  };
}
