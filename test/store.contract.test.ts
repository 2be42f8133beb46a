/**
 * The KvStore contract, run against every backend: memory, SQLite (temp dir) and Redis (a real redis-server).
 * Plus backend specifics (persistence, atomic apply, key layout) and openStore's errors.
 *
 * The SIGKILL durability test is not here: the cache's own tests kill -9 the compiled CLI.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { createClient } from '@keyv/redis';
import { KvcacheError } from '../src/errors';
import { KeyvSqliteAdapter } from '../src/store/sqlite-adapter';
import { escapeRedisGlob } from '../src/store/keyv-store';
import { openStore, parseStoreSpec } from '../src/store/open';
import type { KvStore } from '../src/store/types';
import { freePort, startRedis } from '../testkit/redis';
import type { RedisServer } from '../testkit/redis';

interface Harness {
  store: KvStore;
  /** Another process's view of the same data (a second connection or file handle), where there is one. */
  second?: () => Promise<KvStore>;
  /** The raw string the backend holds for `key`, read behind the store's back. */
  raw(key: string): Promise<string | undefined>;
  close(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function collect<T>(it: AsyncIterable<[string, T]>): Promise<Map<string, T>> {
  const out = new Map<string, T>();
  for await (const [k, v] of it) {
    expect(out.has(k)).toBe(false); // no duplicates
    out.set(k, v);
  }
  return out;
}

async function expectKvError(p: Promise<unknown>, code: string): Promise<KvcacheError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(KvcacheError);
    expect((err as KvcacheError).code).toBe(code);
    return err as KvcacheError;
  }
  throw new Error(`expected KvcacheError ${code}, but the call succeeded`);
}

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'kvcache-store-test-'));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));
let tmpCount = 0;
const tmpDir = (): string => {
  const d = path.join(tmpRoot, `d${++tmpCount}`);
  fs.mkdirSync(d, { recursive: true });
  return d;
};

export function describeStoreContract(name: string, factory: () => Promise<Harness>): void {
  describe(`KvStore contract: ${name}`, () => {
    let h: Harness;
    let store: KvStore;
    let n = 0;
    /** A fresh key namespace per test, so tests never see each other's keys. */
    let ns: string;

    beforeAll(async () => {
      h = await factory();
      store = h.store;
    });
    afterAll(async () => {
      await h?.close();
    });
    beforeEach(() => {
      ns = `t${++n}:`;
    });

    test('claims: one holder at a time; only the holder extends or releases; a lapsed claim can be taken', async () => {
      const k = `${ns}lock`;
      expect(await store.claim(k, 'A', 10_000)).toBe(true);
      expect(await store.claim(k, 'B', 10_000)).toBe(false);
      expect(await store.extendClaim(k, 'B', 10_000)).toBe(false);
      expect(await store.releaseClaim(k, 'B')).toBe(false);
      expect(await store.extendClaim(k, 'A', 10_000)).toBe(true);
      expect(await store.releaseClaim(k, 'A')).toBe(true);
      expect(await store.releaseClaim(k, 'A')).toBe(false);
      expect(await store.claim(k, 'B', 60)).toBe(true);
      await sleep(120);
      expect(await store.extendClaim(k, 'B', 10_000)).toBe(false);
      expect(await store.claim(k, 'C', 10_000)).toBe(true);
      // Claims are invisible to data reads and scans.
      expect(await collect(store.scan(ns))).toEqual(new Map());
    });

    test('claims race across connections: exactly one of 40 concurrent claimants wins', async () => {
      const other = h.second ? await h.second() : store;
      try {
        const k = `${ns}race`;
        const wins = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? other : store).claim(k, `tok${i}`, 10_000)));
        expect(wins.filter(Boolean)).toHaveLength(1);
      } finally {
        if (other !== store) await other.close();
      }
    });

    test('update: read-modify-write of live keys; missing and expired keys are left alone; the TTL is kept', async () => {
      await store.set(`${ns}a`, { n: 1, tags: [] });
      await store.set(`${ns}t`, { n: 5 }, 60_000);
      await store.set(`${ns}gone`, { n: 9 }, 40);
      await sleep(80);
      const out = await store.update<{ n: number }>([`${ns}a`, `${ns}missing`, `${ns}t`, `${ns}gone`], (_k, v) => ({ ...v, n: v.n + 1 }));
      expect(out).toEqual([{ n: 2, tags: [] }, undefined, { n: 6 }, undefined]);
      expect(await store.getMany([`${ns}a`, `${ns}missing`, `${ns}t`, `${ns}gone`])).toEqual([{ n: 2, tags: [] }, undefined, { n: 6 }, undefined]);
      // Returning undefined leaves the value as it is.
      expect(await store.update([`${ns}a`], () => undefined)).toEqual([undefined]);
      expect(await store.get(`${ns}a`)).toEqual({ n: 2, tags: [] });
      // The expiry survived the update, in the value and (Redis) on the key itself.
      expect(JSON.parse((await h.raw(`${ns}t`)) ?? 'null')).toMatchObject({ value: { n: 6 }, expires: expect.any(Number) });
      await store.set(`${ns}short`, { n: 1 }, 150);
      await store.update<{ n: number }>([`${ns}short`], (_k, v) => ({ n: v.n + 1 }));
      await sleep(250);
      expect(await store.get(`${ns}short`)).toBeUndefined();
      if (name === 'redis') expect(await h.raw(`${ns}short`)).toBeUndefined();
    });

    test('update is atomic per key across connections: no increment is lost, nothing deleted comes back', async () => {
      const other = h.second ? await h.second() : store;
      try {
        const k = `${ns}counter`;
        await store.set(k, { n: 0 });
        const bump = async (s: KvStore) => {
          for (let i = 0; i < 25; i++) await s.update<{ n: number }>([k], (_k, v) => ({ n: v.n + 1 }));
        };
        await Promise.all([bump(store), bump(other), bump(store), bump(other)]);
        expect(await store.get(k)).toEqual({ n: 100 });
        // A writer updating in a loop while another connection deletes the key never writes it back.
        const d = `${ns}doomed`;
        await store.set(d, { n: 0 });
        let stop = false;
        const loop = (async () => {
          while (!stop) {
            await store.update<{ n: number }>([d], (_k, v) => ({ n: v.n + 1 }));
            await new Promise((r) => setImmediate(r)); // memory and SQLite answer synchronously: let timers run
          }
        })();
        await sleep(20);
        await other.delete(d);
        await sleep(20);
        stop = true;
        await loop;
        expect(await store.get(d)).toBeUndefined();
      } finally {
        if (other !== store) await other.close();
      }
    });

    test('get of a missing key is undefined; getMany([]) is []', async () => {
      expect(await store.get(`${ns}missing`)).toBeUndefined();
      expect(await store.getMany([])).toEqual([]);
      expect(await store.getMany([`${ns}a`, `${ns}b`])).toEqual([undefined, undefined]);
    });

    test('set/get round-trips objects, strings, numbers, booleans, null, arrays and unicode', async () => {
      const values: Array<[string, unknown]> = [
        ['obj', { a: 1, b: { c: [1, 'two', null, true] }, s: 'x' }],
        ['str', 'hello'],
        ['empty', ''],
        ['int', 42],
        ['zero', 0],
        ['neg', -1.5],
        ['true', true],
        ['false', false],
        ['null', null],
        ['arr', [1, 2, 3]],
        ['ключ:日本語:😀', { answer: 'Grüße, 你好, 🚀 — «ok»', emoji: '👩‍👩‍👧' }],
      ];
      for (const [k, v] of values) await store.set(`${ns}${k}`, v);
      for (const [k, v] of values) expect(await store.get(`${ns}${k}`)).toEqual(v);
      // The returned value is a copy: mutating it does not change the store.
      const got = await store.get<{ a: number }>(`${ns}obj`);
      if (got) got.a = 99;
      expect(await store.get<{ a: number }>(`${ns}obj`)).toMatchObject({ a: 1 });
    });

    test('overwrite replaces the value', async () => {
      await store.set(`${ns}k`, { v: 1 });
      await store.set(`${ns}k`, 'two');
      expect(await store.get(`${ns}k`)).toBe('two');
    });

    test('delete returns true for a live key and false otherwise', async () => {
      await store.set(`${ns}k`, 1);
      expect(await store.delete(`${ns}k`)).toBe(true);
      expect(await store.get(`${ns}k`)).toBeUndefined();
      expect(await store.delete(`${ns}k`)).toBe(false);
      expect(await store.delete(`${ns}never`)).toBe(false);
    });

    test('getMany keeps the order of the keys, with gaps as undefined', async () => {
      await store.set(`${ns}a`, 'A');
      await store.set(`${ns}c`, { c: 3 });
      await store.set(`${ns}e`, 0);
      expect(await store.getMany([`${ns}e`, `${ns}b`, `${ns}a`, `${ns}d`, `${ns}c`])).toEqual([0, undefined, 'A', undefined, { c: 3 }]);
    });

    test('getMany and apply handle 150,000 keys (one MGET of that many overflows the Redis client)', async () => {
      const keys = Array.from({ length: 150_000 }, (_, i) => `big:${i}`);
      await store.apply(keys.slice(0, 3).map((key, i) => ({ op: 'set' as const, key, value: i })));
      const got = await store.getMany<number>(keys);
      expect(got).toHaveLength(150_000);
      expect(got.slice(0, 4)).toEqual([0, 1, 2, undefined]);
      await store.apply(keys.map((key) => ({ op: 'delete' as const, key })));
      expect(await store.get('big:0')).toBeUndefined();
    });

    test('TTL: expired keys vanish from get, getMany, scan and delete; no-TTL keys stay', async () => {
      // Real time on purpose: this checks the backend's own expiry (Redis PX, SQLite expires column).
      await store.set(`${ns}ttl`, 'short', 50);
      await store.set(`${ns}undef`, 'forever');
      await store.set(`${ns}zero`, 'forever too', 0);
      await store.set(`${ns}over`, 'short', 50);
      await store.set(`${ns}over`, 'now forever'); // overwrite drops the TTL
      await store.apply([{ op: 'set', key: `${ns}applied`, value: 'short', ttlMs: 50 }]);
      expect(await store.get(`${ns}ttl`)).toBe('short');
      expect(await store.get(`${ns}applied`)).toBe('short');
      await sleep(120);
      expect(await store.get(`${ns}ttl`)).toBeUndefined();
      expect(await store.get(`${ns}applied`)).toBeUndefined();
      expect(await store.getMany([`${ns}ttl`, `${ns}undef`, `${ns}applied`])).toEqual([undefined, 'forever', undefined]);
      expect(await store.get(`${ns}zero`)).toBe('forever too');
      expect(await store.get(`${ns}over`)).toBe('now forever');
      const scanned = await collect(store.scan(ns));
      expect([...scanned.keys()].sort()).toEqual([`${ns}over`, `${ns}undef`, `${ns}zero`]);
      await store.set(`${ns}ttl2`, 'short', 50);
      await sleep(0);
      expect(await store.delete(`${ns}ttl`)).toBe(false);
    });

    test('set with a negative TTL removes the key', async () => {
      await store.set(`${ns}k`, 1);
      await store.set(`${ns}k`, 2, -1);
      expect(await store.get(`${ns}k`)).toBeUndefined();
    });

    test('apply() runs mixed set/delete ops in order', async () => {
      await store.set(`${ns}old`, 'old');
      await store.apply([
        { op: 'set', key: `${ns}a`, value: 1 },
        { op: 'set', key: `${ns}b`, value: { two: 2 } },
        { op: 'delete', key: `${ns}a` },
        { op: 'delete', key: `${ns}old` },
        { op: 'set', key: `${ns}c`, value: 'three' },
        { op: 'set', key: `${ns}a`, value: 'a again' },
        { op: 'set', key: `${ns}c`, value: 'three v2' },
        { op: 'delete', key: `${ns}b` },
        { op: 'delete', key: `${ns}never` },
      ]);
      expect(await store.getMany([`${ns}a`, `${ns}b`, `${ns}c`, `${ns}old`])).toEqual(['a again', undefined, 'three v2', undefined]);
      await store.apply([]);
    });

    test('apply() with a value that cannot be serialized (BigInt) writes nothing', async () => {
      await store.set(`${ns}keep`, 'kept');
      await expect(
        store.apply([
          { op: 'set', key: `${ns}a`, value: 1 },
          { op: 'delete', key: `${ns}keep` },
          { op: 'set', key: `${ns}bad`, value: { n: BigInt(1) } },
          { op: 'set', key: `${ns}c`, value: 3 },
        ]),
      ).rejects.toThrow(/BigInt/);
      expect(await store.getMany([`${ns}a`, `${ns}keep`, `${ns}bad`, `${ns}c`])).toEqual([undefined, 'kept', undefined, undefined]);
      await expect(store.set(`${ns}bad`, BigInt(2))).rejects.toThrow(/BigInt/);
      expect(await store.get(`${ns}bad`)).toBeUndefined();
    });

    test('keys are stored exactly as given, values as Keyv JSON {"value","expires"}', async () => {
      await store.set(`${ns}plain`, { x: 1 });
      await store.set(`${ns}ttl`, 'y', 60_000);
      const plain = await h.raw(`${ns}plain`);
      expect(plain).toBeDefined();
      expect(JSON.parse(plain as string)).toEqual({ value: { x: 1 } });
      const withTtl = JSON.parse((await h.raw(`${ns}ttl`)) as string) as { value: string; expires: number };
      expect(withTtl.value).toBe('y');
      expect(withTtl.expires).toBeGreaterThan(Date.now());
      expect(withTtl.expires).toBeLessThanOrEqual(Date.now() + 60_000);
      expect(await h.raw(`keyv:${ns}plain`)).toBeUndefined();
    });

    test('scan(prefix) returns exactly the keys under the prefix, decoded', async () => {
      const p = `${ns}a:b:`;
      await store.apply([
        { op: 'set', key: `${p}1`, value: 1 },
        { op: 'set', key: `${p}2`, value: { two: 2 } },
        { op: 'set', key: `${p}😀`, value: 'emoji' },
        { op: 'set', key: `${p}\uffff!`, value: 'bmp max' },
        { op: 'set', key: `${p}`, value: 'the prefix itself' },
        { op: 'set', key: `${ns}a:b`, value: 'parent' },
        { op: 'set', key: `${ns}a:bc`, value: 'neighbour' },
        { op: 'set', key: `${ns}a:b;`, value: 'next char' },
        { op: 'set', key: `${ns}a:c:1`, value: 'other' },
      ]);
      const got = await collect(store.scan(p));
      expect(Object.fromEntries(got)).toEqual({
        [`${p}`]: 'the prefix itself',
        [`${p}1`]: 1,
        [`${p}2`]: { two: 2 },
        [`${p}😀`]: 'emoji',
        [`${p}\uffff!`]: 'bmp max',
      });
      expect((await collect(store.scan(`${ns}zzz`))).size).toBe(0);
      expect((await collect(store.scan(`${ns}a:`))).size).toBe(9);
    });

    test('scan(prefix) treats glob characters * ? [ ] \\ literally', async () => {
      await store.apply([
        { op: 'set', key: `${ns}p*:1`, value: 'star' },
        { op: 'set', key: `${ns}pX:1`, value: 'would match p*' },
        { op: 'set', key: `${ns}q?[a]:1`, value: 'question+bracket' },
        { op: 'set', key: `${ns}qZa:1`, value: 'would match q?[a]' },
        { op: 'set', key: `${ns}r\\s:1`, value: 'backslash' },
        { op: 'set', key: `${ns}rs:1`, value: 'would match r\\s' },
        { op: 'set', key: `${ns}[:1`, value: 'lone bracket' },
      ]);
      expect([...(await collect(store.scan(`${ns}p*`))).keys()]).toEqual([`${ns}p*:1`]);
      expect([...(await collect(store.scan(`${ns}q?[a]`))).keys()]).toEqual([`${ns}q?[a]:1`]);
      expect([...(await collect(store.scan(`${ns}q?[`))).keys()]).toEqual([`${ns}q?[a]:1`]);
      expect([...(await collect(store.scan(`${ns}r\\`))).keys()]).toEqual([`${ns}r\\s:1`]);
      expect([...(await collect(store.scan(`${ns}[`))).keys()]).toEqual([`${ns}[:1`]);
    });

    test('scan(prefix) returns all of 2,500 keys (more than one page)', async () => {
      const ops = Array.from({ length: 2500 }, (_, i) => ({ op: 'set' as const, key: `${ns}big:${i}`, value: { i } }));
      await store.apply(ops);
      await store.set(`${ns}bif`, 'neighbour');
      const got = await collect(store.scan<{ i: number }>(`${ns}big:`));
      expect(got.size).toBe(2500);
      for (let i = 0; i < 2500; i++) expect(got.get(`${ns}big:${i}`)).toEqual({ i });
    });

    test('the consumer may read and write the store while a scan is running', async () => {
      const ops = Array.from({ length: 1200 }, (_, i) => ({ op: 'set' as const, key: `${ns}s:${i}`, value: i }));
      await store.apply(ops);
      let seen = 0;
      for await (const [k, v] of store.scan<number>(`${ns}s:`)) {
        if (seen % 50 === 0) expect(await store.get(k)).toBe(v);
        expect(await store.delete(k)).toBe(true);
        seen++;
      }
      expect(seen).toBe(1200);
      expect((await collect(store.scan(`${ns}s:`))).size).toBe(0);
    });

    test('1 MB values round-trip through set, get, apply and scan', async () => {
      const big = 'x'.repeat(1024 * 1024);
      const bigObj = { rows: Array.from({ length: 20_000 }, (_, i) => `row-${i}-ü-${'y'.repeat(30)}`) };
      await store.set(`${ns}big`, big);
      await store.apply([{ op: 'set', key: `${ns}bigObj`, value: bigObj }]);
      expect(await store.get(`${ns}big`)).toBe(big);
      expect(await store.get(`${ns}bigObj`)).toEqual(bigObj);
      const got = await collect(store.scan(ns));
      expect(got.get(`${ns}big`)).toBe(big);
      expect(got.get(`${ns}bigObj`)).toEqual(bigObj);
    });
  });
}

// ---- memory --------------------------------------------------------------------------------------------------

describeStoreContract('memory', async () => {
  const store = await openStore('memory://', tmpDir());
  const map = store.keyv.store as Map<string, unknown>;
  return {
    store,
    raw: async (key) => {
      const v = map.get(key);
      return typeof v === 'string' ? v : undefined;
    },
    close: () => store.close(),
  };
});

describe('memory store specifics', () => {
  test('reports kind, location, not persistent, not atomic', async () => {
    const store = await openStore('memory://', tmpDir());
    expect([store.kind, store.location, store.persistent, store.atomicApply]).toEqual(['memory', 'memory', false, false]);
    await store.close();
    await expectKvError(store.get('x'), 'STORE_UNAVAILABLE');
  });
});

// ---- sqlite --------------------------------------------------------------------------------------------------

function sqliteHarness(file: string): () => Promise<Harness> {
  return async () => {
    const store = await openStore(`sqlite://${file}`, tmpDir());
    const reader = new Database(file, { readonly: true });
    const stmt = reader.prepare<[string], string>('SELECT value FROM kv WHERE key = ?').pluck();
    return {
      store,
      second: () => openStore(`sqlite://${file}`, tmpDir()),
      raw: async (key) => stmt.get(key),
      close: async () => {
        reader.close();
        await store.close();
      },
    };
  };
}

describeStoreContract('sqlite', sqliteHarness(path.join(tmpRoot, 'contract', 'store.sqlite')));

describe('sqlite store specifics', () => {
  test('default specs use <dataDir>/kvcache.sqlite, creating the folder', async () => {
    for (const spec of [undefined, '', 'sqlite', 'embedded']) {
      const dataDir = path.join(tmpDir(), 'not', 'yet', 'there');
      const store = await openStore(spec, dataDir);
      try {
        expect(store.kind).toBe('sqlite');
        expect(store.location).toBe(path.join(dataDir, 'kvcache.sqlite'));
        expect(store.persistent).toBe(true);
        expect(store.atomicApply).toBe(true);
        await store.set('k', 'v');
        expect(fs.existsSync(path.join(dataDir, 'kvcache.sqlite'))).toBe(true);
      } finally {
        await store.close();
      }
    }
  });

  test('sqlite:///abs and sqlite://relative (resolved against the cwd)', () => {
    const abs = path.join(tmpRoot, 'x', 'a.db');
    expect(parseStoreSpec(`sqlite://${abs}`, '/data')).toEqual({ kind: 'sqlite', file: abs });
    const rel = path.relative(process.cwd(), abs);
    expect(rel.startsWith('/')).toBe(false);
    expect(parseStoreSpec(`sqlite://${rel}`, '/data')).toEqual({ kind: 'sqlite', file: abs });
  });

  test('data survives close and reopen of the same file; WAL + synchronous=NORMAL', async () => {
    const file = path.join(tmpDir(), 'persist.sqlite');
    const a = await openStore(`sqlite://${file}`, tmpRoot);
    await a.set('p:1', { hello: 'world' });
    await a.apply([
      { op: 'set', key: 'p:2', value: [1, 2] },
      { op: 'set', key: 'p:3', value: 'ttl', ttlMs: 60_000 },
    ]);
    await a.close();
    await a.close(); // idempotent
    await expectKvError(a.get('p:1'), 'STORE_UNAVAILABLE');

    const b = await openStore(`sqlite://${file}`, tmpRoot);
    try {
      expect(await b.getMany(['p:1', 'p:2', 'p:3'])).toEqual([{ hello: 'world' }, [1, 2], 'ttl']);
      const raw = new Database(file, { readonly: true });
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
      raw.close();
    } finally {
      await b.close();
    }
  });

  test('two handles (bot + CLI) share one file', async () => {
    const file = path.join(tmpDir(), 'shared.sqlite');
    const bot = await openStore(`sqlite://${file}`, tmpRoot);
    const cli = await openStore(`sqlite://${file}`, tmpRoot);
    try {
      await cli.apply([{ op: 'set', key: 'faq:1', value: 'from cli' }]);
      expect(await bot.get('faq:1')).toBe('from cli');
      await bot.set('dyn:1', 'from bot');
      expect(await collect(cli.scan('dyn:'))).toEqual(new Map([['dyn:1', 'from bot']]));
    } finally {
      await bot.close();
      await cli.close();
    }
  });

  test('applyAtomic is all-or-nothing when an op fails inside the transaction', () => {
    const adapter = new KeyvSqliteAdapter(path.join(tmpDir(), 'atomic.sqlite'));
    try {
      adapter.applyAtomic([{ op: 'set', key: 'keep', value: '"kept"' }]);
      expect(() =>
        adapter.applyAtomic([
          { op: 'set', key: 'a', value: '"a"' },
          { op: 'delete', key: 'keep' },
          { op: 'set', key: 'b', value: null as unknown as string }, // fails mid-transaction
        ]),
      ).toThrow();
      expect([...adapter.scanPrefix('')]).toEqual([['keep', '"kept"']]);
    } finally {
      adapter.close();
    }
  });

  test('expired rows are ignored on read and purged in batches', async () => {
    const adapter = new KeyvSqliteAdapter(path.join(tmpDir(), 'purge.sqlite'), { purgeBatch: 2 });
    try {
      adapter.applyAtomic([
        { op: 'set', key: 'e1', value: '1', ttl: 1 },
        { op: 'set', key: 'e2', value: '2', ttl: 1 },
        { op: 'set', key: 'e3', value: '3', ttl: 1 },
        { op: 'set', key: 'live', value: '4' },
      ]);
      await sleep(10);
      expect(await adapter.get('e1')).toBeUndefined();
      expect(await adapter.has('e1')).toBe(false);
      expect([...adapter.scanPrefix('')].map(([k]) => k)).toEqual(['live']);
      expect(adapter.purgeExpired()).toBe(2);
      expect(adapter.purgeExpired()).toBe(1);
      expect(adapter.purgeExpired()).toBe(0);
      expect(await adapter.get('live')).toBe('4');
    } finally {
      adapter.close();
    }
  });
});

// ---- redis ---------------------------------------------------------------------------------------------------

let redis: RedisServer | undefined;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

function redisUrl(): string {
  if (!redis) throw new Error('redis-server was not started');
  return redis.url;
}

async function rawRedisClient(url: string) {
  const client = createClient({ url });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

describeStoreContract('redis', async () => {
  const store = await openStore(redisUrl(), tmpDir());
  const client = await rawRedisClient(redisUrl());
  return {
    store,
    second: () => openStore(redisUrl(), tmpDir()),
    raw: async (key) => (await client.get(key)) ?? undefined,
    close: async () => {
      client.destroy();
      await store.close();
    },
  };
});

describe('redis store specifics', () => {
  test('location masks the password; /db selects the database', async () => {
    const port = redis?.port ?? 0;
    const store = await openStore(`redis://default:not-checked@127.0.0.1:${port}/3`, tmpDir());
    const db3 = await rawRedisClient(`redis://127.0.0.1:${port}/3`);
    const db0 = await rawRedisClient(`redis://127.0.0.1:${port}`);
    try {
      expect(store.kind).toBe('redis');
      expect(store.location).toBe(`redis://default:***@127.0.0.1:${port}/3`);
      expect(store.persistent).toBe(true);
      expect(store.atomicApply).toBe(false);
      await store.set('db3:key', 'in three');
      expect(await db3.get('db3:key')).not.toBeNull();
      expect(await db0.get('db3:key')).toBeNull();
    } finally {
      db3.destroy();
      db0.destroy();
      await store.close();
    }
  });

  test('a Redis that dies after open: calls fail with STORE_UNAVAILABLE, nothing crashes, close() returns', async () => {
    const doomed = await startRedis();
    const store = await openStore(doomed.url, tmpDir());
    try {
      await store.set('k', 'v');
      await doomed.kill();
      const t0 = Date.now();
      await expectKvError(store.get('k'), 'STORE_UNAVAILABLE');
      await expectKvError(store.set('k', 'v2'), 'STORE_UNAVAILABLE');
      await expectKvError(store.apply([{ op: 'set', key: 'k', value: 1 }]), 'STORE_UNAVAILABLE');
      await expectKvError(collect(store.scan('')), 'STORE_UNAVAILABLE');
      expect(Date.now() - t0).toBeLessThan(3000);
    } finally {
      await store.close();
      await doomed.stop();
    }
  });

  test('glob escaping', () => {
    expect(escapeRedisGlob('a*b?c[d]e\\f')).toBe('a\\*b\\?c\\[d\\]e\\\\f');
  });
});

// ---- openStore errors ----------------------------------------------------------------------------------------

describe('openStore errors', () => {
  test('a bad spec is CONFIG_INVALID naming KVCACHE_STORE, the value and the accepted forms (password masked)', async () => {
    for (const spec of ['postgres://bob:hunter2@db/x', 'nonsense', 'redis://h:6379/notanumber', 'sqlite://', 'redis://']) {
      const err = await expectKvError(openStore(spec, tmpDir()), 'CONFIG_INVALID');
      expect(err.message).toContain('KVCACHE_STORE');
      expect(err.message).toContain('memory://');
      expect(err.message).not.toContain('hunter2');
    }
    const err = await expectKvError(openStore('nonsense', tmpDir()), 'CONFIG_INVALID');
    expect(err.message).toContain('"nonsense"');
  });

  test('unreachable Redis fails fast with STORE_OPEN_FAILED and never shows the password', async () => {
    const port = await freePort();
    const t0 = Date.now();
    const err = await expectKvError(openStore(`redis://user:s3cr3t-pw@127.0.0.1:${port}`, tmpDir()), 'STORE_OPEN_FAILED');
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(err.message).toBe(`cannot reach Redis at redis://user:***@127.0.0.1:${port} (ECONNREFUSED); start redis-server or fix KVCACHE_STORE`);
    expect(err.message).not.toContain('s3cr3t');
    expect(JSON.stringify(err.details ?? null)).not.toContain('s3cr3t');

    const plain = await expectKvError(openStore(`redis://127.0.0.1:${port}`, tmpDir()), 'STORE_OPEN_FAILED');
    expect(plain.message).toBe(`cannot reach Redis at redis://127.0.0.1:${port} (ECONNREFUSED); start redis-server or fix KVCACHE_STORE`);
  });

  test('a file that is not a SQLite database is STORE_OPEN_FAILED naming the path', async () => {
    const file = path.join(tmpDir(), 'not-a-db.sqlite');
    fs.writeFileSync(file, 'this is a text file, not a database\n'.repeat(200));
    const err = await expectKvError(openStore(`sqlite://${file}`, tmpDir()), 'STORE_OPEN_FAILED');
    expect(err.message).toContain(file);
    expect(err.message).toMatch(/not a database/);
    expect(err.message).toMatch(/KVCACHE_STORE/);
  });

  test('a folder that cannot be created is STORE_OPEN_FAILED naming the path', async () => {
    const blocker = path.join(tmpDir(), 'a-file');
    fs.writeFileSync(blocker, 'x');
    const file = path.join(blocker, 'sub', 'kvcache.sqlite');
    const err = await expectKvError(openStore(`sqlite://${file}`, tmpDir()), 'STORE_OPEN_FAILED');
    expect(err.message).toContain(file);
  });
});
