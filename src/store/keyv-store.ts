/**
 * KeyvStore: the one KvStore implementation, on top of a Keyv instance, for every backend.
 *
 * Keyv is built with `namespace: ''` (Keyv then adds no `namespace:` prefix and tells the adapter there is no
 * namespace, so @keyv/redis adds no `namespace::` prefix either): every key is stored exactly as given, which is
 * what makes prefix scans possible. Values are stored as Keyv serializes them with JSON.stringify:
 * `{"value":<value>,"expires":<epoch ms>}` (`expires` omitted when there is no TTL). scan() reads those raw
 * strings straight from the backend, decodes them and skips expired entries itself.
 *
 * Errors: Keyv is built with `throwOnErrors: true` so backend failures reject the call (Keyv would otherwise
 * swallow them and report a miss), and they are rethrown as KvcacheError('STORE_UNAVAILABLE'). Keyv also emits
 * an 'error' event; a listener here records it in `lastError` so an unlistened event can never crash anything.
 */
import { Keyv } from 'keyv';
import type { KeyvStoreAdapter } from 'keyv';
import { KvcacheError } from '../errors';
import type { KeyvSqliteAdapter, SqliteRawOp } from './sqlite-adapter';
import type { KvStore, StoreKind, StoreOp } from './types';
import type { RedisNativeClient } from './redis-stats';

/** Largest number of keys sent to the backend in one call. */
const BATCH = 1000;

/** What Keyv 5 stores for each key (after JSON.stringify). */
export interface StoredEnvelope<T = unknown> {
  value?: T;
  expires?: number | null;
}

/** Minimal Redis client surface scan() needs (node-redis v5 as re-exported by @keyv/redis). */
export interface RedisScanClient {
  scan(cursor: string, options: { MATCH: string; COUNT: number }): Promise<{ cursor: string | number; keys: string[] }>;
  mGet(keys: string[]): Promise<Array<string | null | undefined>>;
  set(key: string, value: string, options: { NX: true; PX: number }): Promise<string | null>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  /** Raw commands for the hot reads (see RedisReads); optional so a minimal client still works, through Keyv. */
  sendCommand?(args: string[]): Promise<unknown>;
}

// Compare-and-set per key: written only if it still holds the string that was read; the expiry is kept.
const REDIS_CAS =
  "local r = {} for i = 1, #KEYS do if redis.call('get', KEYS[i]) == ARGV[2 * i - 1] then redis.call('set', KEYS[i], ARGV[2 * i], 'KEEPTTL') r[i] = 1 else r[i] = 0 end end return r";
const REDIS_UPDATE_ATTEMPTS = 32;

// Holder-only changes of a lease, atomic on the server.
const REDIS_EXTEND = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
const REDIS_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

export type KeyvStoreBackend =
  | { kind: 'memory'; map: Map<string, unknown> }
  | { kind: 'sqlite'; adapter: KeyvSqliteAdapter }
  | { kind: 'redis'; adapter: KeyvStoreAdapter; client: RedisScanClient & RedisNativeClient; close: () => Promise<void> };

export interface KeyvStoreOptions {
  location: string;
  persistent: boolean;
}

/** Keys fetched per MGET during a Redis scan, and the COUNT hint per SCAN call. */
const REDIS_BATCH = 1000;

/** Keyv's serializer, written out: the same format is produced here for applyAtomic. */
export function encodeEntry(value: unknown, expires: number | undefined): string {
  return JSON.stringify({ value, expires });
}

/** Decodes a raw stored string; undefined when it is not a Keyv envelope (foreign key in a shared Redis db). */
export function decodeEntry<T>(raw: unknown): StoredEnvelope<T> | undefined {
  if (typeof raw !== 'string') return undefined;
  try {
    const parsed: unknown = JSON.parse(raw);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as StoredEnvelope<T>) : undefined;
  } catch {
    return undefined;
  }
}

/** Escapes Redis glob metacharacters so `prefix` matches literally in SCAN MATCH. */
export function escapeRedisGlob(prefix: string): string {
  return prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

type Ttl = { kind: 'none' } | { kind: 'ms'; ms: number } | { kind: 'expired' };

/** ttlMs undefined/0/Infinity: no expiry; negative: already expired (the key is deleted); otherwise ceil(ms). */
function normalizeTtl(ttlMs: number | undefined): Ttl {
  if (ttlMs === undefined || ttlMs === 0 || ttlMs === Number.POSITIVE_INFINITY) return { kind: 'none' };
  if (typeof ttlMs !== 'number' || Number.isNaN(ttlMs)) throw new TypeError(`ttlMs must be a number of milliseconds, got ${String(ttlMs)}`);
  if (ttlMs < 0) return { kind: 'expired' };
  return { kind: 'ms', ms: Math.max(1, Math.ceil(ttlMs)) };
}

function isLive(env: StoredEnvelope, now: number): boolean {
  return !(typeof env.expires === 'number' && now > env.expires) && env.value !== undefined;
}

/**
 * The reads every lookup makes (get, getMany), sent to Redis as raw GET/MGET and decoded here as Keyv would:
 * Keyv's path cost a replica measurable CPU per lookup on the hit path. Their deadline comes from the client
 * (withDeadlines, src/store/deadline.ts), like every other command's.
 */
class RedisReads {
  constructor(private readonly send: (args: string[]) => Promise<unknown>) {}

  /** The raw strings (or null) stored under `keys`, in order: one GET, or one MGET for several. */
  async read(keys: string[]): Promise<unknown[]> {
    if (keys.length === 1) return [await this.send(['GET', keys[0] as string])];
    const raw = await this.send(['MGET', ...keys]);
    if (!Array.isArray(raw) || raw.length !== keys.length) throw new Error(`MGET of ${keys.length} keys returned ${Array.isArray(raw) ? raw.length : typeof raw}`);
    return raw;
  }
}

export class KeyvStore implements KvStore {
  readonly kind: StoreKind;
  readonly location: string;
  readonly atomicApply: boolean;
  readonly persistent: boolean;
  readonly keyv: Keyv;
  readonly redis: RedisNativeClient | null;
  private readonly reads: RedisReads | null;
  /** The last error Keyv (or its adapter / Redis client) emitted; informational. */
  lastError: unknown = undefined;

  private readonly backend: KeyvStoreBackend;
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(backend: KeyvStoreBackend, options: KeyvStoreOptions) {
    this.backend = backend;
    this.kind = backend.kind;
    this.location = options.location;
    this.persistent = options.persistent;
    this.atomicApply = backend.kind === 'sqlite';
    this.redis = backend.kind === 'redis' ? backend.client : null;
    const client = backend.kind === 'redis' ? backend.client : null;
    this.reads = client?.sendCommand ? new RedisReads(client.sendCommand.bind(client)) : null;
    const store = backend.kind === 'memory' ? backend.map : backend.adapter;
    this.keyv = new Keyv({
      store,
      namespace: '',
      // With no namespace Keyv already leaves keys alone; useKeyPrefix:false also stops Keyv's own iterator
      // from stripping the first `segment:` of every key it yields.
      useKeyPrefix: false,
      serialize: JSON.stringify,
      deserialize: JSON.parse,
      throwOnErrors: true,
      emitErrors: true,
    });
    // Keyv's own emitter does not throw on an unlistened 'error', but adapters (Hookified, EventEmitter) may;
    // Keyv listens to its adapter and re-emits here, so this one listener covers the whole chain.
    this.keyv.on('error', (err: unknown) => {
      this.lastError = err;
    });
  }

  async get<T>(key: string): Promise<T | undefined> {
    this.assertOpen('get');
    if (this.reads) return (await this.readRedis<T>('get', this.reads, [key]))[0];
    return this.guard('get', () => this.keyv.get<T>(key));
  }

  async getMany<T>(keys: string[]): Promise<Array<T | undefined>> {
    this.assertOpen('getMany');
    if (keys.length === 0) return [];
    // Bounded batches: the Redis client spreads a command's arguments onto the stack, and one MGET of
    // ~125k keys overflows it.
    const read = (part: string[]) => (this.reads ? this.readRedis<T>('getMany', this.reads, part) : this.guard('getMany', () => this.keyv.getMany<T>(part)));
    if (keys.length <= BATCH) return read(keys);
    const out: Array<T | undefined> = [];
    for (let i = 0; i < keys.length; i += BATCH) out.push(...(await read(keys.slice(i, i + BATCH))));
    return out;
  }

  /** What Keyv's get/getMany return on Redis, in one GET or MGET: absent, expired (deleted, as Keyv does) or not. */
  private readRedis<T>(op: string, reads: RedisReads, keys: string[]): Promise<Array<T | undefined>> {
    return this.guard(op, async () => {
      let raw: unknown[];
      try {
        raw = await reads.read(keys);
      } catch (err) {
        this.lastError = err;
        throw err;
      }
      const now = Date.now();
      const out: Array<T | undefined> = [];
      let expired: string[] | null = null;
      for (let i = 0; i < keys.length; i++) {
        const s: unknown = raw[i];
        // Keyv's deserializer is JSON.parse, unguarded: a value that is not JSON fails the read there too.
        const env = typeof s === 'string' ? (JSON.parse(s) as StoredEnvelope<T> | null) : null;
        if (env === null || env === undefined) {
          out.push(undefined);
        } else if (typeof env.expires === 'number' && now > env.expires) {
          (expired ??= []).push(keys[i] as string);
          out.push(undefined);
        } else {
          out.push(env.value);
        }
      }
      if (expired) await this.keyv.deleteMany(expired);
      return out;
    });
  }

  async set(key: string, value: unknown, ttlMs?: number): Promise<void> {
    this.assertOpen('set');
    const ttl = normalizeTtl(ttlMs);
    if (ttl.kind === 'expired') {
      await this.delete(key);
      return;
    }
    const ok = await this.guard('set', () => this.keyv.set(key, value, ttl.kind === 'ms' ? ttl.ms : undefined));
    if (!ok) throw this.unavailable('set', this.lastError);
  }

  async delete(key: string): Promise<boolean> {
    this.assertOpen('delete');
    if (this.backend.kind === 'memory') {
      // Map.delete reports expired-but-present entries as deleted; report only live ones, like the others.
      const live = await this.keyv.has(key);
      await this.keyv.delete(key);
      return live;
    }
    return this.guard('delete', () => this.keyv.delete(key));
  }

  async update<T>(keys: string[], fn: (key: string, current: T) => T | undefined): Promise<Array<T | undefined>> {
    this.assertOpen('update');
    if (keys.length === 0) return [];
    // The new raw string for one stored raw string, keeping its expiry; undefined when absent, expired or left.
    const next = (key: string, raw: unknown, now: number): { raw: string; value: T } | undefined => {
      const env = decodeEntry<T>(raw);
      if (!env || !isLive(env, now)) return undefined;
      const value = fn(key, env.value as T);
      if (value === undefined) return undefined;
      return { raw: encodeEntry(value, typeof env.expires === 'number' ? env.expires : undefined), value };
    };
    const b = this.backend;
    if (b.kind === 'memory') {
      const now = Date.now();
      return keys.map((k) => {
        const n = next(k, b.map.get(k), now);
        if (n) b.map.set(k, n.raw);
        return n?.value;
      });
    }
    if (b.kind === 'sqlite') {
      const out = new Map<string, T>();
      this.guardSync('update', () =>
        b.adapter.updateRaw(keys, (k, raw) => {
          const n = next(k, raw, Date.now());
          if (n) out.set(k, n.value);
          return n?.raw;
        }),
      );
      return keys.map((k) => out.get(k));
    }
    return this.guard('update', () => this.updateRedis(keys, next));
  }

  /**
   * Optimistic on Redis: read the raw strings, compute, then one script writes each key only if it still holds
   * the string that was read (KEEPTTL keeps its expiry); keys that changed meanwhile are read and tried again.
   */
  private async updateRedis<T>(keys: string[], next: (key: string, raw: unknown, now: number) => { raw: string; value: T } | undefined): Promise<Array<T | undefined>> {
    const b = this.backend;
    if (b.kind !== 'redis') throw new Error('updateRedis on a non-Redis store');
    const out = new Map<string, T>();
    let pending = [...new Set(keys)];
    for (let attempt = 0; attempt < REDIS_UPDATE_ATTEMPTS && pending.length > 0; attempt++) {
      const raws = this.reads ? await this.reads.read(pending) : await b.client.mGet(pending);
      const now = Date.now();
      const tries: Array<{ key: string; from: string; to: string; value: T }> = [];
      pending.forEach((key, i) => {
        const raw = raws[i];
        const n = typeof raw === 'string' ? next(key, raw, now) : undefined;
        if (n && typeof raw === 'string') tries.push({ key, from: raw, to: n.raw, value: n.value });
      });
      if (tries.length === 0) break;
      const done = (await b.client.eval(REDIS_CAS, { keys: tries.map((t) => t.key), arguments: tries.flatMap((t) => [t.from, t.to]) })) as unknown[];
      pending = [];
      tries.forEach((t, i) => {
        if (Number(done[i]) === 1) out.set(t.key, t.value);
        else pending.push(t.key);
      });
      // Writers that collided back off by a random, growing pause so they stop colliding.
      if (pending.length > 0) await new Promise((r) => setTimeout(r, Math.random() * Math.min(20, 1 + attempt)));
    }
    // A key still changing after every attempt is left as the other writers made it.
    return keys.map((k) => out.get(k));
  }

  async apply(ops: StoreOp[]): Promise<void> {
    this.assertOpen('apply');
    if (ops.length === 0) return;
    // Serialize every value first: a value that cannot be serialized (BigInt, cycle) throws here, before
    // anything is written, on every backend.
    const now = Date.now();
    const raw: SqliteRawOp[] = ops.map((op) => {
      if (op.op === 'delete') return { op: 'delete', key: op.key };
      const ttl = normalizeTtl(op.ttlMs);
      if (ttl.kind === 'expired') return { op: 'delete', key: op.key };
      const value = encodeEntry(op.value, ttl.kind === 'ms' ? now + ttl.ms : undefined);
      return ttl.kind === 'ms' ? { op: 'set', key: op.key, value, ttl: ttl.ms } : { op: 'set', key: op.key, value };
    });
    if (this.backend.kind === 'sqlite') {
      const adapter = this.backend.adapter;
      await this.guard('apply', async () => adapter.applyAtomic(raw));
      return;
    }
    // Not atomic: consecutive ops of one kind go out as one setMany / deleteMany, groups in order.
    let i = 0;
    while (i < raw.length) {
      const kind = raw[i]?.op;
      let j = i;
      while (j < raw.length && raw[j]?.op === kind) j++;
      const group = raw.slice(i, j);
      if (kind === 'set') {
        // Within a group, the last set of a key wins (as it would applied one by one).
        const byKey = new Map<string, { key: string; value: unknown; ttl?: number }>();
        for (let g = i; g < j; g++) {
          const op = ops[g];
          const r = group[g - i];
          if (op?.op !== 'set' || r?.op !== 'set') continue;
          byKey.delete(op.key);
          byKey.set(op.key, r.ttl === undefined ? { key: op.key, value: op.value } : { key: op.key, value: op.value, ttl: r.ttl });
        }
        const entries = [...byKey.values()];
        for (let b = 0; b < entries.length; b += BATCH) {
          const part = entries.slice(b, b + BATCH);
          const results = await this.guard('apply', () => this.keyv.setMany(part));
          if (Array.isArray(results) && results.some((ok) => ok === false)) throw this.unavailable('apply', this.lastError);
        }
      } else {
        const keys = [...new Set(group.map((r) => r.key))];
        for (let b = 0; b < keys.length; b += BATCH) {
          const part = keys.slice(b, b + BATCH);
          await this.guard('apply', () => this.keyv.deleteMany(part));
        }
      }
      i = j;
    }
  }

  scan<T>(prefix: string): AsyncIterable<[string, T]> {
    this.assertOpen('scan');
    switch (this.backend.kind) {
      case 'sqlite':
        return this.scanSqlite<T>(this.backend.adapter, prefix);
      case 'memory':
        return this.scanMemory<T>(this.backend.map, prefix);
      case 'redis':
        return this.scanRedis<T>(this.backend.client, prefix);
    }
  }

  /** Disconnects / closes the backend (idempotent); afterwards every call throws STORE_UNAVAILABLE. */
  // ---- leases --------------------------------------------------------------------------------------------
  // Stored as the bare token (not a Keyv envelope), so scan() skips them and no reader mistakes them for data.

  private readonly memoryLeases = new Map<string, { token: string; until: number }>();

  async claim(key: string, token: string, ttlMs: number): Promise<boolean> {
    return this.lease('claim', key, token, ttlMs);
  }

  async extendClaim(key: string, token: string, ttlMs: number): Promise<boolean> {
    return this.lease('extend', key, token, ttlMs);
  }

  async releaseClaim(key: string, token: string): Promise<boolean> {
    return this.lease('release', key, token, 0);
  }

  private async lease(mode: 'claim' | 'extend' | 'release', key: string, token: string, ttlMs: number): Promise<boolean> {
    this.assertOpen(mode);
    const ttl = Math.max(1, Math.ceil(ttlMs));
    const b = this.backend;
    if (b.kind === 'redis') {
      return this.guard(mode, async () => {
        if (mode === 'claim') return (await b.client.set(key, token, { NX: true, PX: ttl })) === 'OK';
        const r = await b.client.eval(mode === 'extend' ? REDIS_EXTEND : REDIS_RELEASE, { keys: [key], arguments: mode === 'extend' ? [token, String(ttl)] : [token] });
        return Number(r) === 1;
      });
    }
    if (b.kind === 'sqlite') return this.guardSync(mode, () => b.adapter.lease(mode, key, token, ttl));
    const now = Date.now();
    const cur = this.memoryLeases.get(key);
    const held = cur !== undefined && cur.until > now;
    if (mode === 'claim' ? held : !held || cur?.token !== token) return false;
    if (mode === 'release') this.memoryLeases.delete(key);
    else this.memoryLeases.set(key, { token, until: now + ttl });
    if (this.memoryLeases.size > 100_000) for (const [k, v] of this.memoryLeases) if (v.until <= now) this.memoryLeases.delete(k);
    return true;
  }

  async close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    this.closing = (async () => {
      switch (this.backend.kind) {
        case 'sqlite':
          this.backend.adapter.close();
          break;
        case 'memory':
          break;
        case 'redis':
          await this.backend.close();
          break;
      }
    })();
    return this.closing;
  }

  // ---- scans ---------------------------------------------------------------------------------------------

  private async *scanSqlite<T>(adapter: KeyvSqliteAdapter, prefix: string): AsyncGenerator<[string, T]> {
    const it = this.guardSync('scan', () => adapter.scanPrefix(prefix));
    for (;;) {
      this.assertOpen('scan');
      const next = this.guardSync('scan', () => it.next());
      if (next.done) return;
      const [key, raw] = next.value;
      const env = decodeEntry<T>(raw);
      if (env && isLive(env, Date.now())) yield [key, env.value as T];
    }
  }

  private async *scanMemory<T>(map: Map<string, unknown>, prefix: string): AsyncGenerator<[string, T]> {
    // Snapshot the matching keys first: the consumer may write while iterating.
    const keys: string[] = [];
    for (const k of map.keys()) if (typeof k === 'string' && k.startsWith(prefix)) keys.push(k);
    for (const key of keys) {
      const env = decodeEntry<T>(map.get(key));
      if (env && isLive(env, Date.now())) yield [key, env.value as T];
    }
  }

  private async *scanRedis<T>(client: RedisScanClient, prefix: string): AsyncGenerator<[string, T]> {
    const match = `${escapeRedisGlob(prefix)}*`;
    const seen = new Set<string>(); // SCAN may return a key more than once (rehashing)
    let cursor = '0';
    do {
      this.assertOpen('scan');
      const page = await this.guard('scan', () => client.scan(cursor, { MATCH: match, COUNT: REDIS_BATCH }));
      cursor = String(page.cursor);
      const keys = page.keys.filter((k) => k.startsWith(prefix) && !seen.has(k));
      for (let i = 0; i < keys.length; i += REDIS_BATCH) {
        const batch = keys.slice(i, i + REDIS_BATCH);
        const values = await this.guard('scan', () => client.mGet(batch));
        const now = Date.now();
        for (let b = 0; b < batch.length; b++) {
          const key = batch[b] as string;
          seen.add(key);
          const env = decodeEntry<T>(values[b]);
          if (env && isLive(env, now)) yield [key, env.value as T];
        }
      }
    } while (cursor !== '0');
  }

  // ---- errors ---------------------------------------------------------------------------------------------

  private assertOpen(op: string): void {
    if (this.closed) {
      throw new KvcacheError('STORE_UNAVAILABLE', `the ${this.kind} store at ${this.location} is closed (during ${op}); open it again`);
    }
  }

  onOutcome: ((ok: boolean, op: string, err?: unknown) => void) | null = null;

  private async guard<R>(op: string, fn: () => Promise<R> | R): Promise<R> {
    try {
      const r = await fn();
      this.onOutcome?.(true, op);
      return r;
    } catch (err) {
      const e = this.rethrowable(op, err);
      this.onOutcome?.(false, op, e);
      throw e;
    }
  }

  private guardSync<R>(op: string, fn: () => R): R {
    try {
      const r = fn();
      this.onOutcome?.(true, op);
      return r;
    } catch (err) {
      const e = this.rethrowable(op, err);
      this.onOutcome?.(false, op, e);
      throw e;
    }
  }

  /** Caller mistakes (unserializable value: TypeError/RangeError) pass through; backend failures are wrapped. */
  private rethrowable(op: string, err: unknown): unknown {
    if (err instanceof KvcacheError || err instanceof TypeError || err instanceof RangeError) return err;
    return this.unavailable(op, err);
  }

  private unavailable(op: string, err: unknown): KvcacheError {
    const reason = err instanceof Error ? err.message : err === undefined ? 'unknown error' : String(err);
    const hint =
      this.kind === 'redis'
        ? 'check that Redis is running and reachable (KVCACHE_STORE)'
        : this.kind === 'sqlite'
          ? 'check disk space and permissions of the file, and that no other process holds a long write lock'
          : 'retry';
    return new KvcacheError('STORE_UNAVAILABLE', `the ${this.kind} store at ${this.location} failed during ${op}: ${reason}; ${hint}`, {
      cause: err,
    });
  }
}
