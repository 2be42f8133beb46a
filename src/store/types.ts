/**
 * The store contract every backend (memory, embedded SQLite, Redis) honours. All values pass through Keyv;
 * this facade adds what the cache needs on top of Keyv's get/set: batched atomic-where-possible writes and
 * prefix scans. One contract suite (test/store.contract.test.ts) runs against every backend.
 */
import type { Keyv } from 'keyv';
import type { RedisNativeClient } from './redis-stats';

export type StoreKind = 'memory' | 'sqlite' | 'redis';

export type StoreOp =
  | { op: 'set'; key: string; value: unknown; ttlMs?: number }
  | { op: 'delete'; key: string };

export interface KvStore {
  readonly kind: StoreKind;
  /** Human-readable location (a file path, `memory`, or a redis URL with the password masked). */
  readonly location: string;
  /** True when apply() is all-or-nothing even if the process dies mid-call (SQLite transaction). */
  readonly atomicApply: boolean;
  /** True when data survives a process restart. */
  readonly persistent: boolean;
  readonly keyv: Keyv;
  /**
   * The connection under a Redis store, for what Keyv cannot express (statistics use Redis's atomic counters,
   * sorted sets and capped lists on it); null for the other backends.
   */
  readonly redis: RedisNativeClient | null;
  get<T>(key: string): Promise<T | undefined>;
  getMany<T>(keys: string[]): Promise<Array<T | undefined>>;
  /** ttlMs undefined or 0: no expiry. */
  set(key: string, value: unknown, ttlMs?: number): Promise<void>;
  delete(key: string): Promise<boolean>;
  /**
   * Read-modify-write of live keys, atomic per key across every process sharing the store: `fn` gets a key's
   * current value and returns its new value (undefined: leave it). A value changed or deleted by someone else
   * meanwhile is never overwritten with a copy made from the old one (fn runs again on the new value; a
   * deleted key stays deleted). The key's expiry is kept. Returns the value written per key, or undefined.
   */
  update<T>(keys: string[], fn: (key: string, current: T) => T | undefined): Promise<Array<T | undefined>>;
  /** Applies every op in order; in one transaction where the backend allows (see atomicApply). */
  apply(ops: StoreOp[]): Promise<void>;
  /**
   * Leases for cross-process coordination (locks, one-time claims): `claim` takes `key` for `token` for ttlMs
   * when no one holds it or the holder's time ran out, atomically across every process sharing the store;
   * `extendClaim` and `releaseClaim` act only for the current holder. True when it happened.
   */
  claim(key: string, token: string, ttlMs: number): Promise<boolean>;
  extendClaim(key: string, token: string, ttlMs: number): Promise<boolean>;
  releaseClaim(key: string, token: string): Promise<boolean>;
  /** Told the outcome of every call that reached the backend (for health tracking); null = nobody listens. */
  onOutcome: ((ok: boolean, op: string, err?: unknown) => void) | null;
  /** Every live (unexpired) key starting with prefix, with its value. Order unspecified. */
  scan<T>(prefix: string): AsyncIterable<[string, T]>;
  close(): Promise<void>;
}
