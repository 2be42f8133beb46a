/**
 * Every message the bot sends to Slack goes through here, so that no asker is left without a reply:
 *
 * - one queue per channel: a 429 (Retry-After) holds back that channel only, never the whole workspace, and
 *   replies to one channel keep their order (the parts of a long answer);
 * - a refused payload (invalid_blocks, msg_blocks_too_long, …) is sent again once as plain, short text;
 * - a failed chat.update (the message is gone, or the update was refused) posts a new message instead, so
 *   "Looking into it…" is never the last word;
 * - every failure is classified once (errors.ts), logged once and counted per team for `/kvcache stats`.
 *
 * Queues and waits are bounded: a channel holds at most MAX_PENDING messages and waits at most
 * MAX_RATE_WAIT_MS in all for Slack's Retry-After before the reply is given up on (and counted).
 */
import type { WebClient } from '@slack/web-api';
import type { KnownBlock } from '@slack/types';
import type { Logger } from '../logger';
import { plainFallback, type Block, type SlackMessage } from './blocks';
import { classifySlackError, type SlackFailure, type SlackFailureKind } from './errors';

export interface OutMessage extends SlackMessage {
  channel: string;
  threadTs?: string;
}

/** What a handler posts with; the tenant is bound, so failures are counted for the right team. */
export interface SlackPoster {
  /** The new message's ts, or null when nothing could be delivered (already logged and counted). */
  post(m: OutMessage): Promise<string | null>;
  /** Replaces message ts; when that fails, posts m as a new message (unless orPost is false). The ts of what is shown, or null. */
  update(m: OutMessage & { ts: string }, opts?: { orPost?: boolean }): Promise<string | null>;
  /** A note only `user` sees (with blocks: buttons only they can press). */
  ephemeral(m: { channel: string; user: string; text: string; threadTs?: string; blocks?: Block[] }): Promise<boolean>;
}

export interface DeliveryDeps {
  client: WebClient;
  logger: Logger;
  /** Counts a failure for a team's statistics; outcome null: the same call is still being retried. */
  onFailure(tenant: string, kind: SlackFailureKind, outcome: 'recovered' | 'undelivered' | null): void;
  /** Waits (real time by default; tests pass a faster one). */
  sleep?: (ms: number) => Promise<void>;
}

const MAX_PENDING = 50;
const MAX_CHANNELS = 10_000;
const MAX_RATE_WAIT_MS = 60_000;
const MAX_RATE_ATTEMPTS = 4;

// Our builders produce plain objects in Block Kit's shape; this is the one place they meet Slack's types.
const kb = (blocks: Block[]) => blocks as unknown as KnownBlock[];
const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

class QueueFull extends Error {
  constructor(channel: string) {
    super(`more than ${MAX_PENDING} replies are waiting for channel ${channel}`);
  }
}

export class SlackDelivery {
  private readonly tails = new Map<string, { tail: Promise<unknown>; pending: number }>();
  private readonly sleep: (ms: number) => Promise<void>;

  /** The Web API client replies go through (admin look-ups use it too). */
  readonly client: WebClient;

  constructor(private readonly deps: DeliveryDeps) {
    this.sleep = deps.sleep ?? realSleep;
    this.client = deps.client;
  }

  forTenant(tenant: string): SlackPoster {
    return {
      post: (m) => this.post(tenant, m),
      update: (m, opts) => this.update(tenant, m, opts),
      ephemeral: (m) => this.ephemeral(tenant, m),
    };
  }

  /** Runs fn after everything queued for the channel; a full queue (or too many channels) refuses at once. */
  private inChannel<T>(channel: string, fn: () => Promise<T>): Promise<T> {
    const q = this.tails.get(channel) ?? { tail: Promise.resolve(), pending: 0 };
    if (q.pending >= MAX_PENDING || (q.pending === 0 && this.tails.size >= MAX_CHANNELS)) return Promise.reject(new QueueFull(channel));
    q.pending += 1;
    const run = q.tail.then(fn, fn);
    q.tail = run.catch(() => undefined).finally(() => {
      q.pending -= 1;
      if (q.pending === 0 && this.tails.get(channel) === q) this.tails.delete(channel);
    });
    this.tails.set(channel, q);
    return run;
  }

  /** One Web API call, retried after Slack's Retry-After while the channel's budget lasts. */
  private async call<T>(tenant: string, channel: string, what: string, fn: () => Promise<T>): Promise<T> {
    return this.inChannel(channel, async () => {
      let waited = 0;
      for (let attempt = 1; ; attempt += 1) {
        try {
          return await fn();
        } catch (err) {
          const f = classifySlackError(err);
          if (f.kind !== 'rate_limited' || attempt >= MAX_RATE_ATTEMPTS) throw err;
          const waitMs = Math.max(1, f.retryAfterSec) * 1000;
          if (waited + waitMs > MAX_RATE_WAIT_MS) throw err;
          this.deps.onFailure(tenant, 'rate_limited', null);
          this.deps.logger.warn({ tenant, channel, method: what, retryAfterSec: f.retryAfterSec, attempt }, 'Slack rate-limited a reply; this channel waits, others go on');
          waited += waitMs;
          await this.sleep(waitMs);
        }
      }
    });
  }

  private failure(err: unknown): SlackFailure {
    if (err instanceof QueueFull) return { kind: 'rate_limited', retryAfterSec: 0, message: err.message };
    return classifySlackError(err);
  }

  private report(tenant: string, channel: string, what: string, f: SlackFailure, outcome: 'recovered' | 'undelivered'): void {
    this.deps.onFailure(tenant, f.kind, outcome);
    const log = { tenant, channel, method: what, kind: f.kind, failure: f.message, outcome };
    if (outcome === 'undelivered') this.deps.logger.error(log, 'a reply could not be delivered to Slack');
    else this.deps.logger.warn(log, 'Slack refused a reply; a plainer one was delivered instead');
  }

  private postOnce(tenant: string, m: OutMessage, blocks: boolean): Promise<string> {
    return this.call(tenant, m.channel, 'chat.postMessage', async () => {
      const res = await this.deps.client.chat.postMessage({
        channel: m.channel,
        ...(blocks ? { text: m.text, blocks: kb(m.blocks) } : plainFallback(m)),
        ...(m.threadTs ? { thread_ts: m.threadTs } : {}),
      });
      return res.ts ?? '';
    });
  }

  async post(tenant: string, m: OutMessage): Promise<string | null> {
    try {
      return await this.postOnce(tenant, m, true);
    } catch (err) {
      const f = this.failure(err);
      if (f.kind !== 'payload') {
        this.report(tenant, m.channel, 'chat.postMessage', f, 'undelivered');
        return null;
      }
      try {
        const ts = await this.postOnce(tenant, m, false);
        this.report(tenant, m.channel, 'chat.postMessage', f, 'recovered');
        return ts;
      } catch (again) {
        this.report(tenant, m.channel, 'chat.postMessage', this.failure(again), 'undelivered');
        return null;
      }
    }
  }

  async update(tenant: string, m: OutMessage & { ts: string }, opts: { orPost?: boolean } = {}): Promise<string | null> {
    const tryUpdate = (blocks: boolean) =>
      this.call(tenant, m.channel, 'chat.update', () =>
        this.deps.client.chat.update({ channel: m.channel, ts: m.ts, ...(blocks ? { text: m.text, blocks: kb(m.blocks) } : { ...plainFallback(m), blocks: [] }) }),
      );
    let f: SlackFailure;
    try {
      await tryUpdate(true);
      return m.ts;
    } catch (err) {
      f = this.failure(err);
    }
    if (f.kind === 'payload') {
      try {
        await tryUpdate(false);
        this.report(tenant, m.channel, 'chat.update', f, 'recovered');
        return m.ts;
      } catch (again) {
        f = this.failure(again);
      }
    }
    // The message cannot show the reply: a new one in the same place (post() falls back to plain text itself).
    if (f.kind === 'auth' || f.kind === 'channel' || opts.orPost === false) {
      this.report(tenant, m.channel, 'chat.update', f, 'undelivered');
      return null;
    }
    const ts = await this.post(tenant, m);
    if (ts !== null) this.report(tenant, m.channel, 'chat.update', f, 'recovered');
    else this.deps.onFailure(tenant, f.kind, null);
    return ts;
  }

  async ephemeral(tenant: string, m: { channel: string; user: string; text: string; threadTs?: string; blocks?: Block[] }): Promise<boolean> {
    try {
      await this.call(tenant, m.channel, 'chat.postEphemeral', () =>
        this.deps.client.chat.postEphemeral({ channel: m.channel, user: m.user, text: m.text, ...(m.blocks ? { blocks: kb(m.blocks) } : {}), ...(m.threadTs ? { thread_ts: m.threadTs } : {}) }),
      );
      return true;
    } catch (err) {
      this.report(tenant, m.channel, 'chat.postEphemeral', this.failure(err), 'undelivered');
      return false;
    }
  }

  /**
   * A post whose failure the caller handles itself (the support channel's: counted as a hand-off failure, not
   * as an undelivered reply): the ts, or the classified failure. Retried after a 429 like any reply.
   */
  async tryPost(tenant: string, m: OutMessage): Promise<{ ts: string } | { failure: SlackFailure }> {
    try {
      return { ts: await this.postOnce(tenant, m, true) };
    } catch (err) {
      return { failure: this.failure(err) };
    }
  }

  /** views.publish for the App Home, retried after a 429 like a reply (keyed by the user's home). */
  async publishHome(tenant: string, user: string, view: object): Promise<boolean> {
    try {
      await this.call(tenant, `home:${user}`, 'views.publish', () => this.deps.client.views.publish({ user_id: user, view: view as never }));
      return true;
    } catch (err) {
      this.report(tenant, `home:${user}`, 'views.publish', this.failure(err), 'undelivered');
      return false;
    }
  }
}
