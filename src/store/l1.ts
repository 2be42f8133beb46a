/**
 * A bounded in-process LRU (L1) in front of a shared Redis store (L2), for the keys every answer reads:
 * question pointers, entries, vectors, FAQ revisions and thresholds. Statistics, leases and scans always go
 * to Redis.
 *
 * Coherence: every write made through any replica publishes the written keys on a Redis channel; every
 * replica drops them from its L1 when the message arrives (milliseconds on a LAN). A replica whose
 * subscription dropped may have missed messages, so it empties its L1 when the subscription comes back.
 * A read that raced an invalidation is not cached. L1 items also age out after `ttlMs` as a last resort.
 *
 * With Redis down, L1 hits are still served: the bot keeps answering its most frequent questions.
 */
import { LRUCache } from 'lru-cache';
import type { KvStore, StoreOp } from './types';

/** The part of a node-redis client the L1 needs: a publisher, and a duplicate connection to subscribe on. */
export interface PubSubClient {
  publish(channel: string, message: string): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  on(event: 'ready' | 'error' | 'end', listener: (...args: unknown[]) => void): unknown;
}

export interface L1Options {
  max: number;
  ttlMs: number;
  channel: string;
  publisher: PubSubClient;
  subscriber: PubSubClient;
  closeSubscriber: () => Promise<void>;
}

const CACHED = /^kv1:[xnfdemt]:/;
const NONE = Symbol('absent');

export class L1Store implements KvStore {
  readonly kind;
  readonly location;
  readonly atomicApply;
  readonly persistent;
  readonly keyv;
  readonly redis;
  private readonly l1: LRUCache<string, { v: unknown }>;
  /** Per-key write counters: a read that raced a write (here or on another replica) is not cached. */
  private readonly versions = new LRUCache<string, number>({ max: 100_000 });
  /** Bumped when the whole L1 is dropped. */
  private epoch = 0;
  /** Tags this replica's invalidation messages, so it does not drop what it has just written itself. */
  private readonly id = `${process.pid}-${Math.random().toString(36).slice(2)}`;
  private subscribedOnce = false;
  readonly stats = { hits: 0, misses: 0, invalidations: 0, resets: 0 };

  constructor(
    private readonly inner: KvStore,
    private readonly o: L1Options,
  ) {
    this.kind = inner.kind;
    this.location = inner.location;
    this.atomicApply = inner.atomicApply;
    this.persistent = inner.persistent;
    this.keyv = inner.keyv;
    this.redis = inner.redis;
    this.l1 = new LRUCache({ max: o.max, ttl: o.ttlMs });
    o.subscriber.on('ready', () => {
      // A re-subscription after a drop: messages may have been missed while it was down.
      if (this.subscribedOnce) this.reset();
    });
  }

  /** Subscribes to invalidations; call once, before serving. */
  async start(): Promise<void> {
    await this.o.subscriber.subscribe(this.o.channel, (message) => {
      this.stats.invalidations += 1;
      try {
        const m = JSON.parse(message) as { from: string; keys: string[] };
        if (m.from === this.id) return;
        for (const k of m.keys) this.drop(k);
      } catch {
        this.reset();
      }
    });
    this.subscribedOnce = true;
  }

  get onOutcome(): KvStore['onOutcome'] {
    return this.inner.onOutcome;
  }

  set onOutcome(fn: KvStore['onOutcome']) {
    this.inner.onOutcome = fn;
  }

  private drop(key: string): void {
    this.versions.set(key, (this.versions.get(key) ?? 0) + 1);
    this.l1.delete(key);
  }

  private reset(): void {
    this.epoch += 1;
    this.stats.resets += 1;
    this.l1.clear();
  }

  get size(): number {
    return this.l1.size;
  }

  async get<T>(key: string): Promise<T | undefined> {
    const [v] = await this.getMany<T>([key]);
    return v;
  }

  async getMany<T>(keys: string[]): Promise<Array<T | undefined>> {
    const out: Array<T | undefined | typeof NONE> = keys.map(() => NONE);
    const missing: number[] = [];
    keys.forEach((k, i) => {
      const hit = CACHED.test(k) ? this.l1.get(k) : undefined;
      if (hit) {
        this.stats.hits += 1;
        out[i] = hit.v as T | undefined;
      } else {
        missing.push(i);
      }
    });
    if (missing.length > 0) {
      this.stats.misses += missing.length;
      const epoch = this.epoch;
      const before = missing.map((i) => this.versions.get(keys[i] as string) ?? 0);
      const got = await this.inner.getMany<T>(missing.map((i) => keys[i] as string));
      missing.forEach((i, j) => {
        const k = keys[i] as string;
        out[i] = got[j];
        const fresh = epoch === this.epoch && (this.versions.get(k) ?? 0) === before[j];
        if (fresh && CACHED.test(k)) this.l1.set(k, { v: got[j] });
      });
    }
    return out as Array<T | undefined>;
  }

  /**
   * After a write by this replica: L1 takes the written values (write-through, so write-behind hit counts do
   * not empty it), and the other replicas are told to drop those keys.
   */
  private async written(ops: StoreOp[], ok: boolean): Promise<void> {
    for (const op of ops) {
      if (ok || op.op === 'delete') this.drop(op.key);
      // A failed set leaves the L1 copy: during an outage it is what still answers, and a failed write-behind
      // hit count must not take a FAQ answer away. Reads in flight are still kept out (the write may have
      // landed before the failure); a failed delete drops the copy, so nothing removed is ever served.
      else this.versions.set(op.key, (this.versions.get(op.key) ?? 0) + 1);
      if (ok && op.op === 'set' && CACHED.test(op.key)) this.l1.set(op.key, { v: op.value });
    }
    const shared = ops.map((o) => o.key).filter((k) => CACHED.test(k));
    if (shared.length === 0) return;
    // A lost message only delays other replicas until their items age out (ttlMs).
    await this.o.publisher.publish(this.o.channel, JSON.stringify({ from: this.id, keys: shared })).catch(() => undefined);
  }

  async set(key: string, value: unknown, ttlMs?: number): Promise<void> {
    let ok = false;
    try {
      await this.inner.set(key, value, ttlMs);
      ok = true;
    } finally {
      await this.written([{ op: 'set', key, value }], ok);
    }
  }

  async delete(key: string): Promise<boolean> {
    try {
      return await this.inner.delete(key);
    } finally {
      await this.written([{ op: 'delete', key }], false);
    }
  }

  async update<T>(keys: string[], fn: (key: string, current: T) => T | undefined): Promise<Array<T | undefined>> {
    let written: Array<T | undefined> | null = null;
    try {
      written = await this.inner.update<T>(keys, fn);
      return written;
    } finally {
      const result = written;
      const ops: StoreOp[] = result
        ? keys.flatMap((key, i): StoreOp[] => (result[i] === undefined ? [] : [{ op: 'set', key, value: result[i] }]))
        : keys.map((key): StoreOp => ({ op: 'set', key, value: undefined }));
      await this.written(ops, result !== null);
    }
  }

  async apply(ops: StoreOp[]): Promise<void> {
    let ok = false;
    try {
      await this.inner.apply(ops);
      ok = true;
    } finally {
      await this.written(ops, ok);
    }
  }

  claim(key: string, token: string, ttlMs: number): Promise<boolean> {
    return this.inner.claim(key, token, ttlMs);
  }

  extendClaim(key: string, token: string, ttlMs: number): Promise<boolean> {
    return this.inner.extendClaim(key, token, ttlMs);
  }

  releaseClaim(key: string, token: string): Promise<boolean> {
    return this.inner.releaseClaim(key, token);
  }

  scan<T>(prefix: string): AsyncIterable<[string, T]> {
    return this.inner.scan<T>(prefix);
  }

  async close(): Promise<void> {
    try {
      await this.o.subscriber.unsubscribe(this.o.channel).catch(() => undefined);
      await this.o.closeSubscriber();
    } finally {
      await this.inner.close();
    }
  }
}
