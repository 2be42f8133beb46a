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

/**
 * A sliding-window limit per user; the map of users is bounded, so a flood of ids cannot grow memory. A user
 * over the limit is told once per window ('tell'), then ignored ('quiet') until the window frees a slot: a
 * reply to every extra message would itself flood the channel (Slack allows about one message a second).
 */
export class RateLimiter {
  private readonly hits = new LRUCache<string, { at: number[]; toldAt: number | null }>({ max: 10_000 });
  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly clock: Clock,
  ) {}

  /** 'ok' when the user may ask now (and counts the question); 'tell' or 'quiet' when over the limit. */
  check(key: string): 'ok' | 'tell' | 'quiet' {
    const now = this.clock.now();
    const prev = this.hits.get(key);
    const at = (prev?.at ?? []).filter((t) => t > now - this.windowMs);
    let toldAt = prev?.toldAt ?? null;
    if (toldAt !== null && toldAt <= now - this.windowMs) toldAt = null;
    if (at.length >= this.max) {
      const verdict = toldAt === null ? 'tell' : 'quiet';
      this.hits.set(key, { at, toldAt: toldAt ?? now });
      return verdict;
    }
    at.push(now);
    this.hits.set(key, { at, toldAt });
    return 'ok';
  }
}

/**
 * The bot's reply to each question message (channel + ts), so that an edited question updates that reply
 * instead of getting a second one. Kept in this process (bounded) and in the store for a day, so an edit
 * delivered to another replica finds it too. Losing it only means an edit is ignored, never a wrong reply.
 */
export class ReplyLog {
  private readonly local = new LRUCache<string, string>({ max: 20_000, ttl: 24 * 3_600_000 });

  constructor(
    private readonly store: KvStore | null,
    private readonly logger: Logger | null = null,
  ) {}

  /** Marks a question as being answered here, so an edit arriving meanwhile waits for the reply. */
  pending(tenant: string, channel: string, ts: string): void {
    this.local.set(keys.reply(tenant, channel, ts), ReplyLog.PENDING);
  }

  static readonly PENDING = 'pending';

  /** The question got no reply after all (Slack refused it): an edit of it is a new question. */
  settle(tenant: string, channel: string, ts: string): void {
    const key = keys.reply(tenant, channel, ts);
    if (this.local.get(key) === ReplyLog.PENDING) this.local.delete(key);
  }

  async remember(tenant: string, channel: string, ts: string, replyTs: string): Promise<void> {
    const key = keys.reply(tenant, channel, ts);
    this.local.set(key, replyTs);
    try {
      await this.store?.set(key, replyTs, 24 * 3_600_000);
    } catch (err) {
      this.logger?.debug({ err: (err as Error).message }, 'the reply log could not be written; an edit of this question will only be seen here');
    }
  }

  async find(tenant: string, channel: string, ts: string): Promise<string | null> {
    const key = keys.reply(tenant, channel, ts);
    const here = this.local.get(key);
    if (here !== undefined) return here;
    try {
      const stored = await this.store?.get<string>(key);
      return typeof stored === 'string' ? stored : null;
    } catch {
      return null;
    }
  }
}
