/**
 * The Redis hot reads (KeyvStore get/getMany as raw GET/MGET): they must return exactly what Keyv returned for
 * every stored string, and no store call may arm node-redis's per-command timer (a third of a replica's CPU on
 * the hit path). Deadlines themselves are tested in deadline.test.ts.
 */
import KeyvRedis, { createClient } from '@keyv/redis';
import { KvcacheError } from '../src/errors';
import { KeyvStore, type RedisScanClient } from '../src/store/keyv-store';
import type { RedisNativeClient } from '../src/store/redis-stats';
import { openStore } from '../src/store/open';
import { startRedis, type RedisServer } from '../testkit/redis';
import { tmpDir } from './helpers/app';

type Client = ReturnType<typeof createClient>;

let redis: RedisServer;
let client: Client;

beforeAll(async () => {
  redis = await startRedis();
  client = createClient({ url: redis.url, disableOfflineQueue: true });
  await client.connect();
});

afterAll(async () => {
  await client?.close();
  await redis?.stop();
});

function storeOn(c: unknown, keyvOnly: boolean): KeyvStore {
  // A client without sendCommand is read through Keyv, as before the raw reads.
  const surface = keyvOnly ? new Proxy(c as object, { get: (t, p) => (p === 'sendCommand' ? undefined : Reflect.get(t, p)) }) : c;
  return new KeyvStore(
    { kind: 'redis', adapter: new KeyvRedis(client as never, { throwOnErrors: true }), client: surface as RedisScanClient & RedisNativeClient, close: async () => undefined },
    { location: 'test', persistent: false },
  );
}

async function outcome(p: Promise<unknown>): Promise<unknown> {
  try {
    return { value: await p };
  } catch (err) {
    return { error: err instanceof KvcacheError ? err.code : String(err) };
  }
}

test('get and getMany return what Keyv returns for every kind of stored string, expired ones deleted', async () => {
  const past = Date.now() - 1000;
  const raws: Record<string, string> = {
    live: JSON.stringify({ value: { id: 'a', pinned: true } }),
    ttl: JSON.stringify({ value: [1, 'two'], expires: Date.now() + 60_000 }),
    expired: JSON.stringify({ value: 'old', expires: past }),
    nullValue: JSON.stringify({ value: null }),
    noValue: JSON.stringify({ expires: null }),
    jsonNull: 'null',
    number: '5',
    string: '"s"',
  };
  const raw = storeOn(client, false);
  const viaKeyv = storeOn(client, true);
  const keys = [...Object.keys(raws), 'absent'];
  const read = async (store: KeyvStore, prefix: string) => {
    for (const [k, v] of Object.entries(raws)) await client.set(prefix + k, v);
    const many = await store.getMany(keys.map((k) => prefix + k));
    const expiredAfterMany = await client.exists(prefix + 'expired');
    await client.set(prefix + 'expired', raws.expired as string);
    const one = [];
    for (const k of keys) one.push(await store.get(prefix + k));
    return { many, one, expiredAfterMany, expiredAfterGet: await client.exists(prefix + 'expired') };
  };
  const a = await read(raw, 'r2:');
  const b = await read(viaKeyv, 'k2:');
  expect(a).toEqual(b);
  expect(a.many[0]).toEqual({ id: 'a', pinned: true });
  expect(a.many[2]).toBeUndefined();
  expect(a.expiredAfterMany).toBe(0);
  expect(a.expiredAfterGet).toBe(0);
});

test('a stored string that is not JSON fails the read as it did through Keyv (STORE_UNAVAILABLE)', async () => {
  await client.set('bad', 'not json');
  expect(await outcome(storeOn(client, false).get('bad'))).toEqual(await outcome(storeOn(client, true).get('bad')));
  expect(await outcome(storeOn(client, false).getMany(['bad']))).toEqual({ error: 'STORE_UNAVAILABLE' });
});

test('no store call arms a per-command timer (the deadline is one shared ticking timer)', async () => {
  const store = await openStore(redis.url, tmpDir(), { commandTimeoutMs: 200 });
  await store.set('t', { x: 1 });
  const spy = jest.spyOn(AbortSignal, 'timeout');
  try {
    for (let i = 0; i < 50; i++) {
      expect(await store.get('t')).toEqual({ x: 1 });
      expect(await store.getMany(['t', 'none'])).toEqual([{ x: 1 }, undefined]);
    }
    await store.set('u', 1);
    await store.apply([{ op: 'set', key: 'v', value: 2 }]);
    expect(await store.claim('lock', 'me', 1000)).toBe(true);
    expect(spy).not.toHaveBeenCalled();
  } finally {
    spy.mockRestore();
    await store.close();
  }
});
