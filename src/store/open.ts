/**
 * openStore: turns KVCACHE_STORE into an open KvStore.
 *
 *   (unset), '', 'sqlite', 'embedded'     -> SQLite file `${dataDir}/kvcache.sqlite`
 *   sqlite:///abs/path.db                 -> that file;  sqlite://relative.db -> resolved against the cwd
 *   memory://                             -> an in-process Map (not persistent)
 *   redis://[user:pass@]host[:port][/db]  -> Redis via @keyv/redis;  rediss:// -> the same over TLS
 *
 * Redis is connected at open and fails fast (bounded connect timeout, no reconnect loop while opening) with
 * STORE_OPEN_FAILED. Passwords never appear in `location` or in messages (masked as `***`).
 */
import os from 'node:os';
import path from 'node:path';
import KeyvRedis, { createClient } from '@keyv/redis';
import { KvcacheError } from '../errors';
import { KeyvSqliteAdapter } from './sqlite-adapter';
import { KeyvStore } from './keyv-store';
import type { RedisScanClient } from './keyv-store';
import type { RedisNativeClient } from './redis-stats';
import { withDeadlines } from './deadline';
import { L1Store, type PubSubClient } from './l1';
import type { KvStore } from './types';

export type StoreSpec =
  | { kind: 'memory' }
  | { kind: 'sqlite'; file: string }
  | { kind: 'redis'; url: string; location: string; tls: boolean; host: string; port: number; db: number };

export const DEFAULT_SQLITE_FILE = 'kvcache.sqlite';

/** Overall limit for connecting to Redis at open (TCP connect + TLS + AUTH/SELECT handshake). */
const REDIS_OPEN_TIMEOUT_MS = 3000;
/** Per-socket connect timeout. */
const REDIS_CONNECT_TIMEOUT_MS = 2500;
/** A command that gets no reply within this is failed (a hung server must not hang the bot). */
const REDIS_COMMAND_TIMEOUT_MS = 5000;
/** Commands waiting to be sent or answered, per connection. */
const REDIS_QUEUE_MAX = 10_000;

const ACCEPTED =
  "accepted forms: unset or 'sqlite' (file in the data folder), 'sqlite:///absolute/path.db', 'sqlite://relative/path.db', " +
  "'memory://', 'redis://[user:password@]host:port[/db]', 'rediss://...' (TLS)";

/** Replaces the password of `scheme://user:password@host` with `***` (also works on unparseable strings). */
export function maskSecret(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/@]*)@/i, (_m, scheme: string, auth: string) => {
    const colon = auth.indexOf(':');
    return colon === -1 ? `${scheme}${auth}@` : `${scheme}${auth.slice(0, colon)}:***@`;
  });
}

function invalid(spec: string, why: string): KvcacheError {
  return new KvcacheError('CONFIG_INVALID', `KVCACHE_STORE=${JSON.stringify(maskSecret(spec))} is not valid: ${why}; ${ACCEPTED}`);
}

/** Parses KVCACHE_STORE without opening anything; throws CONFIG_INVALID. */
export function parseStoreSpec(spec: string | undefined, dataDir: string): StoreSpec {
  const s = (spec ?? '').trim();
  const lower = s.toLowerCase();
  if (s === '' || lower === 'sqlite' || lower === 'embedded') {
    return { kind: 'sqlite', file: path.resolve(dataDir, DEFAULT_SQLITE_FILE) };
  }
  if (lower === 'memory' || lower === 'memory://') return { kind: 'memory' };
  if (lower.startsWith('sqlite://')) {
    let p = s.slice('sqlite://'.length);
    if (p === '' || p === '/') throw invalid(s, 'the sqlite:// form needs a file path');
    if (p === '~' || p.startsWith('~/')) p = path.join(os.homedir(), p.slice(1));
    return { kind: 'sqlite', file: path.resolve(p) };
  }
  if (lower.startsWith('redis://') || lower.startsWith('rediss://')) return parseRedis(s);
  throw invalid(s, 'unknown store');
}

function parseRedis(s: string): StoreSpec {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw invalid(s, 'not a valid URL');
  }
  const tls = u.protocol === 'rediss:';
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw invalid(s, 'the Redis URL has no host');
  const port = u.port === '' ? 6379 : Number(u.port);
  const dbPath = u.pathname.replace(/^\//, '');
  if (dbPath !== '' && !/^\d+$/.test(dbPath)) throw invalid(s, `the Redis database must be a number (got "/${dbPath}")`);
  if (u.search !== '' || u.hash !== '') throw invalid(s, 'query strings and fragments are not supported in the Redis URL');
  const db = dbPath === '' ? 0 : Number(dbPath);
  const auth = u.username !== '' || u.password !== '' ? `${u.username}${u.password !== '' ? ':***' : ''}@` : '';
  const hostPart = u.hostname.includes(':') && !u.hostname.startsWith('[') ? `[${u.hostname}]` : u.hostname;
  const location = `${tls ? 'rediss' : 'redis'}://${auth}${hostPart}:${port}${db !== 0 ? `/${db}` : ''}`;
  return { kind: 'redis', url: s, location, tls, host, port, db };
}

/**
 * Opens the store named by `spec` (the value of KVCACHE_STORE). Throws KvcacheError CONFIG_INVALID for a bad
 * spec and STORE_OPEN_FAILED when the store cannot be opened.
 */
export interface StoreOptions {
  /** Redis: a command not answered within this fails (the caller degrades); default 5 s. */
  commandTimeoutMs?: number;
  /** Redis: an in-process LRU in front of Redis, kept coherent by pub/sub; absent or max 0 = none. */
  l1?: { max: number; ttlMs: number };
}

export async function openStore(spec: string | undefined, dataDir: string, opts: StoreOptions = {}): Promise<KvStore> {
  const parsed = parseStoreSpec(spec, dataDir);
  switch (parsed.kind) {
    case 'memory':
      return new KeyvStore({ kind: 'memory', map: new Map<string, unknown>() }, { location: 'memory', persistent: false });
    case 'sqlite': {
      const adapter = new KeyvSqliteAdapter(parsed.file);
      return new KeyvStore({ kind: 'sqlite', adapter }, { location: parsed.file, persistent: true });
    }
    case 'redis':
      return openRedis(parsed, opts);
  }
}

type RedisSpec = Extract<StoreSpec, { kind: 'redis' }>;

async function openRedis(spec: RedisSpec, opts: StoreOptions): Promise<KvStore> {
  let opened = false;
  let firstError: unknown;
  const client = createClient({
    url: spec.url,
    // Fail commands at once while disconnected instead of queueing them until Redis comes back.
    disableOfflineQueue: true,
    // Commands get their deadline from withDeadlines (below), which also covers commands already sent;
    // node-redis's own timeout covers only unsent ones and costs an AbortSignal timer per command.
    // A server that answers nothing must not grow the queue without bound: past this, commands fail at once.
    commandsQueueMaxLength: REDIS_QUEUE_MAX,
    socket: {
      connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
      // While opening: no retries (fail fast). Once open: reconnect with capped backoff.
      reconnectStrategy: (retries: number) => (opened ? Math.min(100 * 2 ** Math.min(retries, 5), 2000) : false),
    },
  });
  // Until Keyv listens (and after, harmlessly): an 'error' on the client with no listener would crash.
  client.on('error', (err: unknown) => {
    firstError ??= err;
  });

  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      // PING proves the server answers commands as this user (a server with requirepass accepts the socket
      // but answers NOAUTH).
      client.connect().then(() => client.ping()),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(Object.assign(new Error(`no answer within ${REDIS_OPEN_TIMEOUT_MS} ms`), { code: 'ETIMEDOUT' })),
          REDIS_OPEN_TIMEOUT_MS,
        );
      }),
    ]);
  } catch (err) {
    try {
      if (client.isOpen) client.destroy();
    } catch {
      /* already closed */
    }
    throw new KvcacheError('STORE_OPEN_FAILED', redisOpenMessage(spec, err ?? firstError), { code: errorCode(err) });
  } finally {
    if (timer) clearTimeout(timer);
  }
  opened = true;

  // Every command below (Keyv's, statistics, leases, publishes) goes through the deadline; subscriptions,
  // on a duplicate of the raw client, do not.
  const commands = withDeadlines(client, opts.commandTimeoutMs ?? REDIS_COMMAND_TIMEOUT_MS);
  const adapter = new KeyvRedis(commands as never, { throwOnErrors: true, throwOnConnectError: true, useUnlink: true });
  const close = async (): Promise<void> => {
    if (!client.isOpen) return;
    if (!client.isReady) {
      client.destroy();
      return;
    }
    let t: NodeJS.Timeout | undefined;
    const graceful = client.close().then(() => true);
    const late = new Promise<boolean>((resolve) => {
      t = setTimeout(() => resolve(false), 2000);
    });
    const done = await Promise.race([graceful, late]);
    if (t) clearTimeout(t);
    if (!done && client.isOpen) client.destroy();
  };
  const store = new KeyvStore(
    { kind: 'redis', adapter, client: commands as unknown as RedisScanClient & RedisNativeClient, close },
    { location: spec.location, persistent: true },
  );
  if (!opts.l1 || opts.l1.max <= 0) return store;
  // Subscriptions need a connection of their own.
  const sub = client.duplicate();
  sub.on('error', () => undefined);
  try {
    await sub.connect();
    const l1 = new L1Store(store, {
      ...opts.l1,
      channel: `kvcache:invalidate:${spec.db}`,
      publisher: commands as unknown as PubSubClient,
      subscriber: sub as unknown as PubSubClient,
      closeSubscriber: async () => {
        if (sub.isOpen) sub.destroy();
      },
    });
    await l1.start();
    return l1;
  } catch (err) {
    if (sub.isOpen) sub.destroy();
    await store.close();
    throw new KvcacheError('STORE_OPEN_FAILED', redisOpenMessage(spec, err), { code: errorCode(err) });
  }
}

function errorCode(err: unknown): string {
  const e = err as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown } | null;
  if (e && typeof e.code === 'string') return e.code;
  const msg = typeof e?.message === 'string' ? e.message : '';
  const word = /^([A-Z][A-Z_]{2,})\b/.exec(msg)?.[1]; // Redis replies: WRONGPASS, NOAUTH, NOPERM, ...
  if (word) return word;
  if (e?.cause) return errorCode(e.cause);
  if (e && typeof e.name === 'string' && e.name !== 'Error') return e.name;
  return msg || 'unknown error';
}

function redisOpenMessage(spec: RedisSpec, err: unknown): string {
  const code = errorCode(err);
  const where = spec.location;
  if (code === 'WRONGPASS' || code === 'NOAUTH' || code === 'NOPERM') {
    return `Redis at ${where} refused the connection (${code}); fix the user/password in KVCACHE_STORE`;
  }
  if (code === 'ERR' && /DB index/i.test(String((err as Error | undefined)?.message))) {
    return `Redis at ${where} has no database ${spec.db} (${code}); fix the /db number in KVCACHE_STORE`;
  }
  if (spec.tls && /CERT|SELF_SIGNED|UNABLE_TO_|ERR_TLS|HOSTNAME|ALTNAME/i.test(code)) {
    return (
      `the TLS certificate of Redis at ${where} is not trusted (${code}); if it is signed by your own CA, start the bot ` +
      'with NODE_EXTRA_CA_CERTS=/path/to/ca.pem, and check that the certificate names the host in KVCACHE_STORE'
    );
  }
  // A TLS-only port hangs up on a plaintext hello.
  if (!spec.tls && (code === 'ECONNRESET' || /socket closed unexpectedly/i.test(code))) {
    return `Redis at ${where} closed the connection (${code}); if it only speaks TLS, use rediss:// in KVCACHE_STORE`;
  }
  return `cannot reach Redis at ${where} (${code}); start redis-server or fix KVCACHE_STORE`;
}
