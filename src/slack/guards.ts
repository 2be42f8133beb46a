/** Bounded in-process guards: each Slack event answered once, and a per-user rate limit. */
import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { keys } from '../core/keys';
import type { Logger } from '../logger';
import type { KvStore } from '../store/types';
import type { Clock } from '../core/types';

/**
 * Slack redelivers an event it thinks failed (X-Slack-Retry-Num) with the same event_id, possibly to another
 * replica; claiming the id first makes the retry a no-op. The claim is taken in this process (bounded by
 * count and age: Slack stops retrying after about an hour) and, when the store is shared, in the store
 * (SET NX with a TTL on Redis), so a retry that lands on another replica is dropped there too. If the store
 * cannot be reached the local claim decides: a rare double reply beats no reply.
 */
export class EventDedupe {
  private readonly seen = new LRUCache<string, true>({ max: 50_000, ttl: 2 * 3_600_000 });
  private readonly token = `${process.pid}-${randomUUID()}`;
  private warned = false;

  constructor(
    private readonly store: KvStore | null = null,
    private readonly logger: Logger | null = null,
  ) {}

  /** True for the first claim of an id (in this process and, with a shared store, in every process). */
  async claim(eventId: string): Promise<boolean> {
    if (this.seen.has(eventId)) return false;
    this.seen.set(eventId, true);
    if (!this.store) return true;
    try {
      const won = await this.store.claim(keys.lease(`event:${eventId}`), this.token, 2 * 3_600_000);
      this.warned = false;
      return won;
    } catch (err) {
      if (!this.warned) this.logger?.warn({ err: (err as Error).message }, 'event claims fall back to this process until the store answers again');
      this.warned = true;
      return true;
    }
  }
}

/** A sliding-window limit per user; the map of users is bounded, so a flood of ids cannot grow memory. */
export class RateLimiter {
  private readonly hits = new LRUCache<string, number[]>({ max: 10_000 });
  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly clock: Clock,
  ) {}

  /** True when the user may ask now (and counts the question); false when over the limit. */
  allow(key: string): boolean {
    const now = this.clock.now();
    const recent = (this.hits.get(key) ?? []).filter((t) => t > now - this.windowMs);
    if (recent.length >= this.max) {
      this.hits.set(key, recent);
      return false;
    }
    recent.push(now);
    this.hits.set(key, recent);
    return true;
  }
}
