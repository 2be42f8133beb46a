/** Bounded in-process guards: each Slack event answered once, and a per-user rate limit. */
import { LRUCache } from 'lru-cache';
import type { Clock } from '../core/types';

/**
 * Slack redelivers an event it thinks failed (X-Slack-Retry-Num) with the same event_id; claiming the id
 * first makes the retry a no-op. Bounded by count and age: Slack stops retrying after about an hour.
 */
export class EventDedupe {
  private readonly seen = new LRUCache<string, true>({ max: 50_000, ttl: 2 * 3_600_000 });
  /** True for the first claim of an id, false for every later one. */
  claim(eventId: string): boolean {
    if (this.seen.has(eventId)) return false;
    this.seen.set(eventId, true);
    return true;
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
