/**
 * The in-process L1 in front of Redis when a write fails (redis-server stopped): a failed set keeps the copy
 * that still answers, a failed delete drops it so nothing removed is served.
 */
import { keys } from '../src/core/keys';
import { openStore } from '../src/store/open';
import { startRedis } from '../testkit/redis';
import { tmpDir } from './helpers/app';

test('a failed set keeps the L1 copy; a failed delete drops it', async () => {
  const redis = await startRedis();
  const store = await openStore(redis.url, tmpDir(), { commandTimeoutMs: 200, l1: { max: 100, ttlMs: 60_000 } });
  try {
    const a = keys.entry('T', 'a', true);
    const b = keys.entry('T', 'b', true);
    await store.set(a, { answer: 'A' });
    await store.set(b, { answer: 'B' });
    expect(await store.getMany([a, b])).toEqual([{ answer: 'A' }, { answer: 'B' }]);
    await redis.stop();
    await expect(store.set(a, { answer: 'A, counted' })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(await store.get(a)).toEqual({ answer: 'A' });
    await expect(store.delete(b)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    await expect(store.get(b)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  } finally {
    await store.close();
    await redis.stop();
  }
});
