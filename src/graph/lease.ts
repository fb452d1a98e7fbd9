import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../store/redis-connection';

// Renew and release act only while the key still holds this holder's token, atomically.
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/**
 * A Redis lease: `SET key token NX PX ttl` takes it, a compare-and-PEXPIRE renews it, a
 * compare-and-DEL gives it up. At most one holder exists at any time as long as Redis holds
 * the key; a holder that dies stops renewing and the key expires within `ttlMs`. A holder that
 * cannot renew (Redis away, the process paused past the TTL) must stop work: `held` turns false.
 */
export class RedisLease {
  readonly token = randomUUID();
  private heldUntil = 0;

  constructor(
    private readonly redis: RedisClient,
    readonly key: string,
    private readonly ttlMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Held, as far as this process can know: renewed within the TTL. */
  get held(): boolean {
    return this.clock() < this.heldUntil;
  }

  /** Takes the lease if free, or renews it if ours; true when held afterwards. */
  async acquire(): Promise<boolean> {
    const started = this.clock();
    const renewed = Number(await this.redis.eval(RENEW, 1, this.key, this.token, String(this.ttlMs)));
    const ok = renewed === 1 || (await this.redis.set(this.key, this.token, 'PX', this.ttlMs, 'NX')) === 'OK';
    // Counted from before the call: Redis may have started the TTL any time after it.
    this.heldUntil = ok ? started + this.ttlMs : 0;
    return ok;
  }

  async release(): Promise<void> {
    this.heldUntil = 0;
    await this.redis.eval(RELEASE, 1, this.key, this.token);
  }

  /** Who holds it now (a token), or null. */
  async holder(): Promise<string | null> {
    return this.redis.get(this.key);
  }
}
