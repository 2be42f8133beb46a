/**
 * A Keyv 5 storage adapter on better-sqlite3: the embedded, persistent backend.
 *
 * One table, `kv(key TEXT PRIMARY KEY, value TEXT NOT NULL, expires INTEGER) WITHOUT ROWID`: the primary key
 * IS the b-tree, so a point read is one b-tree descent and a prefix scan is one index range. `value` is the
 * string Keyv hands us (its serialized `{"value":..,"expires":..}`); `expires` (epoch ms, NULL = never) is
 * kept in a column too so expired rows can be ignored and purged without parsing values.
 *
 * Durability: `journal_mode=WAL` + `synchronous=NORMAL`. A committed transaction is in the WAL file (in the
 * OS page cache) before the call returns, so it survives the process being killed (kill -9, OOM, crash);
 * only an OS crash or power loss can lose the last few transactions (never corrupt the database).
 * `busy_timeout` lets a CLI process and the bot share the file: a writer waits for the other's lock instead
 * of failing at once.
 *
 * Besides the Keyv adapter methods this class offers what the KvStore facade needs: `applyAtomic` (sets and
 * deletes in one transaction) and `scanPrefix` (an index range scan yielding raw stored strings).
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { KeyvStoreAdapter, StoredData } from 'keyv';
import { KvcacheError } from '../errors';

/** One write for applyAtomic; `value` is the already-serialized string, `ttl` in ms (absent/0: no expiry). */
export type SqliteRawOp = { op: 'set'; key: string; value: string; ttl?: number } | { op: 'delete'; key: string };

export interface SqliteAdapterOptions {
  /** How long a writer waits for another process's lock before SQLITE_BUSY. Default 5000 ms. */
  busyTimeoutMs?: number;
  /** Rows deleted per purge of expired rows. Default 1000. */
  purgeBatch?: number;
  /** A purge runs after this many writes, or on the first write after purgeIntervalMs. Default 1000. */
  purgeEveryWrites?: number;
  /** Default 60000 ms. */
  purgeIntervalMs?: number;
}

export interface SqliteAdapterOpts {
  dialect: 'sqlite';
  url: string;
  path: string;
  busyTimeoutMs: number;
}

/** Rows fetched per round trip by scans; no statement stays open across a yield (see scanPrefix). */
const SCAN_BATCH = 500;
/**
 * Upper bound for prefix ranges. SQLite compares TEXT as UTF-8 bytes; U+10FFFF (F4 8F BF BF) sorts after every
 * other code point, whereas '\uffff' (EF BF BF) would miss keys continuing with an astral character (emoji).
 */
const MAX_CHAR = '\u{10FFFF}';

type Row = { key: string; value: string };

export class KeyvSqliteAdapter extends EventEmitter implements KeyvStoreAdapter {
  private txLease: ((m: string, k: string, t: string, ttl: number) => unknown) | undefined;
  private txUpdate: ((keys: string[], f: (key: string, raw: string) => string | undefined) => unknown) | undefined;
  private stUpdate: Database.Statement<[string, string]> | undefined;
  readonly opts: SqliteAdapterOpts;
  /** Set by Keyv; undefined when Keyv was built with namespace '' (keys stored exactly as given). */
  namespace?: string | undefined;
  readonly path: string;

  private readonly db: Database.Database;
  private readonly stGet: Database.Statement<[string, number], string>;
  private readonly stHas: Database.Statement<[string, number], number>;
  private readonly stSet: Database.Statement<[string, string, number | null]>;
  private readonly stDelete: Database.Statement<[string], number | null>;
  private readonly stClearAll: Database.Statement<[]>;
  private readonly stClearRange: Database.Statement<[string, string]>;
  private readonly stPurge: Database.Statement<[number, number]>;
  private readonly stRangeFirst: Database.Statement<[string, string, number, number], Row>;
  private readonly stRangeNext: Database.Statement<[string, string, number, number], Row>;
  private readonly stAllFirst: Database.Statement<[number, number], Row>;
  private readonly stAllNext: Database.Statement<[string, number, number], Row>;
  private readonly txSetMany: (entries: Array<{ key: string; value: string; ttl?: number }>) => void;
  private readonly txDeleteMany: (keys: string[]) => boolean;
  private readonly txGetMany: (keys: string[]) => Array<string | undefined>;
  private readonly txApply: (ops: SqliteRawOp[]) => void;

  private readonly purgeBatch: number;
  private readonly purgeEveryWrites: number;
  private readonly purgeIntervalMs: number;
  private writesSincePurge = 0;
  private lastPurgeAt = 0;
  private closed = false;

  /** Opens (creating if needed) the database file; throws KvcacheError('STORE_OPEN_FAILED') on any failure. */
  constructor(file: string, options: SqliteAdapterOptions = {}) {
    super();
    this.path = path.resolve(file);
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    this.purgeBatch = options.purgeBatch ?? 1000;
    this.purgeEveryWrites = options.purgeEveryWrites ?? 1000;
    this.purgeIntervalMs = options.purgeIntervalMs ?? 60_000;
    this.opts = { dialect: 'sqlite', url: `sqlite://${this.path}`, path: this.path, busyTimeoutMs };

    const dir = path.dirname(this.path);
    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch (err) {
      throw new KvcacheError(
        'STORE_OPEN_FAILED',
        `cannot create the folder ${dir} for the SQLite store ${this.path} (${describe(err)}); ` +
          'create it with write permission for this user, or point KVCACHE_STORE at another file (sqlite:///path/to/kvcache.sqlite)',
        { cause: err },
      );
    }

    let db: Database.Database | undefined;
    try {
      db = new Database(this.path, { timeout: busyTimeoutMs });
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (String(mode).toLowerCase() !== 'wal') {
        throw Object.assign(new Error(`could not switch to WAL journal mode (got ${String(mode)})`), { code: 'SQLITE_WAL' });
      }
      // NORMAL in WAL mode: commits survive a killed process; only power loss / OS crash can lose the last ones.
      db.pragma('synchronous = NORMAL');
      // SQLite's default page cache is ~2 MB; a 100k-entry cache is far larger, and point reads that miss the
      // page cache cost a system call each. 64 MiB is a bounded, per-connection figure.
      db.pragma('cache_size = -65536');
      db.exec(
        'CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires INTEGER) WITHOUT ROWID;' +
          'CREATE INDEX IF NOT EXISTS kv_expires ON kv(expires) WHERE expires IS NOT NULL;',
      );
      // Write probe: a database we can read but not write (read-only file or folder) must fail here, at open,
      // not at the first cache write. BEGIN IMMEDIATE takes the write lock without changing anything.
      db.exec('BEGIN IMMEDIATE; COMMIT;');
    } catch (err) {
      try {
        db?.close();
      } catch {
        /* already failing */
      }
      throw new KvcacheError('STORE_OPEN_FAILED', openFailureMessage(this.path, err), { cause: err });
    }
    this.db = db;

    const live = '(expires IS NULL OR expires > ?)';
    this.stGet = db.prepare<[string, number], string>(`SELECT value FROM kv WHERE key = ? AND ${live}`).pluck();
    this.stHas = db.prepare<[string, number], number>(`SELECT 1 FROM kv WHERE key = ? AND ${live}`).pluck();
    this.stSet = db.prepare<[string, string, number | null]>(
      'INSERT INTO kv (key, value, expires) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires = excluded.expires',
    );
    this.stDelete = db.prepare<[string], number | null>('DELETE FROM kv WHERE key = ? RETURNING expires').pluck();
    this.stClearAll = db.prepare<[]>('DELETE FROM kv');
    this.stClearRange = db.prepare<[string, string]>('DELETE FROM kv WHERE key >= ? AND key < ?');
    this.stPurge = db.prepare<[number, number]>(
      'DELETE FROM kv WHERE key IN (SELECT key FROM kv WHERE expires <= ? LIMIT ?)',
    );
    const cols = 'SELECT key, value FROM kv WHERE';
    this.stRangeFirst = db.prepare<[string, string, number, number], Row>(
      `${cols} key >= ? AND key < ? AND ${live} ORDER BY key LIMIT ?`,
    );
    this.stRangeNext = db.prepare<[string, string, number, number], Row>(
      `${cols} key > ? AND key < ? AND ${live} ORDER BY key LIMIT ?`,
    );
    this.stAllFirst = db.prepare<[number, number], Row>(`${cols} ${live} ORDER BY key LIMIT ?`);
    this.stAllNext = db.prepare<[string, number, number], Row>(`${cols} key > ? AND ${live} ORDER BY key LIMIT ?`);

    const setRow = (key: string, value: string, ttl: number | undefined, now: number): void => {
      this.stSet.run(key, value, expiresAt(ttl, now));
    };
    const deleteRow = (key: string, now: number): boolean => {
      const found = this.stDelete.all(key);
      return found.length > 0 && (found[0] === null || (found[0] ?? 0) > now);
    };
    this.txSetMany = db.transaction((entries: Array<{ key: string; value: string; ttl?: number }>) => {
      const now = Date.now();
      for (const e of entries) setRow(e.key, e.value, e.ttl, now);
    }).immediate;
    this.txDeleteMany = db.transaction((keys: string[]) => {
      const now = Date.now();
      let any = false;
      for (const k of keys) any = deleteRow(k, now) || any;
      return any;
    }).immediate;
    this.txGetMany = db.transaction((keys: string[]) => {
      const now = Date.now();
      return keys.map((k) => this.stGet.get(k, now));
    }).deferred;
    this.txApply = db.transaction((ops: SqliteRawOp[]) => {
      const now = Date.now();
      for (const op of ops) {
        if (op.op === 'set') {
          if (typeof op.value !== 'string') throw new TypeError(`applyAtomic: value for key "${op.key}" is not a string`);
          setRow(op.key, op.value, op.ttl, now);
        } else {
          deleteRow(op.key, now);
        }
      }
    }).immediate;

    this.purgeExpired();
  }

  // ---- Keyv adapter -------------------------------------------------------------------------------------

  async get<Value>(key: string): Promise<StoredData<Value> | undefined> {
    return this.stGet.get(key, Date.now()) as StoredData<Value> | undefined;
  }

  async getMany<Value>(keys: string[]): Promise<Array<StoredData<Value | undefined>>> {
    if (keys.length === 0) return [];
    return this.txGetMany(keys) as Array<StoredData<Value | undefined>>;
  }

  async has(key: string): Promise<boolean> {
    return this.stHas.get(key, Date.now()) !== undefined;
  }

  async hasMany(keys: string[]): Promise<boolean[]> {
    const now = Date.now();
    return keys.map((k) => this.stHas.get(k, now) !== undefined);
  }

  /** `value` is Keyv's serialized string; `ttl` in ms (undefined/0: no expiry). */
  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    this.stSet.run(key, asText(key, value), expiresAt(ttl, Date.now()));
    this.afterWrite(1);
    return true;
  }

  async setMany(entries: Array<{ key: string; value: unknown; ttl?: number }>): Promise<void> {
    if (entries.length === 0) return;
    const rows = entries.map((e) => ({ key: e.key, value: asText(e.key, e.value), ...(e.ttl === undefined ? {} : { ttl: e.ttl }) }));
    this.txSetMany(rows);
    this.afterWrite(rows.length);
  }

  /** True when a live (unexpired) row was deleted. */
  async delete(key: string): Promise<boolean> {
    const found = this.stDelete.all(key);
    const first = found[0];
    return found.length > 0 && (first === null || (first ?? 0) > Date.now());
  }

  /** True when at least one live row was deleted. */
  async deleteMany(keys: string[]): Promise<boolean> {
    if (keys.length === 0) return false;
    return this.txDeleteMany(keys);
  }

  /** Deletes every row, or only `${namespace}:*` rows when Keyv has a namespace. */
  async clear(): Promise<void> {
    if (this.namespace) this.stClearRange.run(`${this.namespace}:`, `${this.namespace}:${MAX_CHAR}`);
    else this.stClearAll.run();
  }

  /** Keyv's iterator: [storedKey, rawValue] for live rows, restricted to `${namespace}:` when given. */
  async *iterator<Value>(namespace?: string): AsyncGenerator<Array<string | Awaited<Value> | undefined>, void> {
    for (const [k, v] of this.scanPrefix(namespace ? `${namespace}:` : '')) {
      yield [k, v as Awaited<Value>];
    }
  }

  async disconnect(): Promise<void> {
    this.close();
  }

  // ---- extras for the KvStore facade ------------------------------------------------------------------------

  /**
   * A lease on `key` held by `token` (cross-process locks and claims): take it when free or expired, extend or
   * release it only as its holder. One IMMEDIATE transaction each, so two processes can never both win.
   */
  lease(mode: 'claim' | 'extend' | 'release', key: string, token: string, ttlMs: number): boolean {
    this.txLease ??= this.db.transaction((m: string, k: string, t: string, ttl: number) => {
      const now = Date.now();
      const current = this.stGet.get(k, now);
      if (m === 'claim' ? current !== undefined : current !== t) return false;
      if (m === 'release') this.stDelete.all(k);
      else this.stSet.run(k, t, now + ttl);
      return true;
    }).immediate;
    return this.txLease(mode, key, token, ttlMs) as boolean;
  }

  /**
   * Read-modify-write of live rows in ONE write transaction (so no other process writes in between): `fn` gets
   * each row's raw stored string and returns the new one, or undefined to leave the row. The expiry is kept.
   * Returns, per key, the string written or undefined.
   */
  updateRaw(keys: string[], fn: (key: string, raw: string) => string | undefined): Array<string | undefined> {
    this.stUpdate ??= this.db.prepare<[string, string]>('UPDATE kv SET value = ? WHERE key = ?');
    const update = this.stUpdate;
    this.txUpdate ??= this.db.transaction((ks: string[], f: (key: string, raw: string) => string | undefined) => {
      const now = Date.now();
      return ks.map((k) => {
        const raw = this.stGet.get(k, now);
        const next = raw === undefined ? undefined : f(k, raw);
        if (next !== undefined) update.run(next, k);
        return next;
      });
    }).immediate;
    const out = this.txUpdate(keys, fn) as Array<string | undefined>;
    this.afterWrite(keys.length);
    return out;
  }

  /** Runs every op in order inside ONE write transaction: all of them are applied, or (on any throw) none. */
  applyAtomic(ops: SqliteRawOp[]): void {
    if (ops.length === 0) return;
    this.txApply(ops);
    this.afterWrite(ops.length);
  }

  /**
   * Live rows whose key starts with `prefix`, in key order, as [key, raw stored string]. Uses the primary-key
   * range `key >= prefix AND key < prefix || U+10FFFF`. Rows are fetched in batches (keyset pagination) and no
   * statement is left open while the consumer runs, so the consumer may read and write this store (e.g. delete
   * each scanned key) between iterations. Rows written during the scan may or may not be seen.
   */
  *scanPrefix(prefix: string): Generator<[string, string], void, undefined> {
    const upper = prefix + MAX_CHAR;
    let last: string | undefined;
    for (;;) {
      const now = Date.now();
      const rows =
        prefix === ''
          ? last === undefined
            ? this.stAllFirst.all(now, SCAN_BATCH)
            : this.stAllNext.all(last, now, SCAN_BATCH)
          : last === undefined
            ? this.stRangeFirst.all(prefix, upper, now, SCAN_BATCH)
            : this.stRangeNext.all(last, upper, now, SCAN_BATCH);
      for (const r of rows) {
        // A key continuing with U+10FFFF itself would fall outside the range; startsWith guards the other way.
        if (r.key.startsWith(prefix)) yield [r.key, r.value];
      }
      const tail = rows[rows.length - 1];
      if (rows.length < SCAN_BATCH || tail === undefined) return;
      last = tail.key;
    }
  }

  /** Deletes up to one batch of expired rows; returns how many. Called on open and every so many writes. */
  purgeExpired(): number {
    this.writesSincePurge = 0;
    this.lastPurgeAt = Date.now();
    try {
      return this.stPurge.run(this.lastPurgeAt, this.purgeBatch).changes;
    } catch (err) {
      // Purging is housekeeping (e.g. SQLITE_BUSY while another process writes): report, never fail a write.
      if (this.listenerCount('error') > 0) this.emit('error', err);
      return 0;
    }
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Closes the database (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  private afterWrite(n: number): void {
    this.writesSincePurge += n;
    if (this.writesSincePurge >= this.purgeEveryWrites || Date.now() - this.lastPurgeAt >= this.purgeIntervalMs) {
      this.purgeExpired();
    }
  }
}

function expiresAt(ttl: number | undefined, now: number): number | null {
  return typeof ttl === 'number' && Number.isFinite(ttl) && ttl > 0 ? now + Math.ceil(ttl) : null;
}

function asText(key: string, value: unknown): string {
  if (typeof value !== 'string') {
    throw new TypeError(`sqlite adapter stores strings (Keyv serializes values); got ${typeof value} for key "${key}"`);
  }
  return value;
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

function openFailureMessage(file: string, err: unknown): string {
  const code = String((err as { code?: unknown } | null)?.code ?? '');
  const what = describe(err);
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return `cannot open the SQLite store ${file}: ${what}; this file is not a kvcache SQLite database: move it away, or point KVCACHE_STORE at another file (sqlite:///path/to/kvcache.sqlite)`;
  }
  if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN') || code === 'SQLITE_PERM' || code === 'SQLITE_AUTH') {
    return `cannot open the SQLite store ${file} for writing: ${what}; make the file and its folder writable by this user, or point KVCACHE_STORE at another file (sqlite:///path/to/kvcache.sqlite)`;
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return `cannot open the SQLite store ${file}: ${what}; another process holds a long lock on it: retry, or stop that process`;
  }
  return `cannot open the SQLite store ${file}: ${what}; check the file and its folder (permissions, disk space), or point KVCACHE_STORE at another file (sqlite:///path/to/kvcache.sqlite)`;
}
