/**
 * A Redis that accepts commands and answers nothing (redis-server paused with SIGSTOP): every call fails
 * within the store timeout instead of hanging, and the store works again when the server resumes.
 */
import { withDeadlines } from '../src/store/deadline';
import { openStore } from '../src/store/open';
import { startRedis } from '../testkit/redis';
import { tmpDir } from './helpers/app';

test('a hung Redis: calls fail within the deadline, sent or not, and recover when it answers again', async () => {
  const redis = await startRedis();
  const store = await openStore(redis.url, tmpDir(), { commandTimeoutMs: 200 });
  try {
    await store.set('k', 'v');
    redis.pause();
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['get', () => store.get('k')],
      ['getMany', () => store.getMany(['k', 'j'])],
      ['set', () => store.set('k', 'w')],
      ['apply', () => store.apply([{ op: 'set', key: 'a', value: 1 }, { op: 'delete', key: 'b' }])],
      ['claim', () => store.claim('lock', 'me', 1000)],
      ['scan', async () => {
        for await (const kv of store.scan('')) void kv;
      }],
    ];
    for (const [op, call] of calls) {
      const t0 = Date.now();
      await expect(call()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringMatching(/did not answer within 200 ms/) });
      const took = Date.now() - t0;
      expect([op, took < 600]).toEqual([op, true]);
    }
    redis.resume();
    const by = Date.now() + 5000;
    let value: unknown;
    while (Date.now() < by) {
      value = await store.get('k').catch(() => 'still failing');
      if (value !== 'still failing') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // A write that timed out may still have landed once the server woke: both values are legitimate.
    expect(['v', 'w']).toContain(value);
  } finally {
    redis.resume();
    await store.close();
    await redis.stop();
  }
});

describe('withDeadlines allowance', () => {
  // A stand-in connection that answers after a fixed delay, to time the deadline itself.
  const slow = (ms: number) => {
    const reply = () => new Promise((r) => setTimeout(() => r('OK'), ms));
    const chain = { set: () => chain, exec: reply };
    return { set: (_k: string, _v: string) => reply(), multi: () => chain };
  };

  test('a small command past the deadline fails; one carrying a lot gets time in proportion', async () => {
    const c = withDeadlines(slow(300), 100);
    await expect(c.set('k', 'small')).rejects.toThrow('Redis did not answer within 100 ms');
    // 4 MB at 10 MB/s: 400 ms more.
    await expect(c.set('k', 'x'.repeat(4_000_000))).resolves.toBe('OK');
    const m = c.multi();
    m.set();
    await expect(m.exec()).rejects.toThrow(/within 100 ms/);
  });

  test("a MULTI's allowance counts everything queued on it", async () => {
    const c = withDeadlines(slow(300), 100);
    const m = c.multi() as unknown as { set: (k: string, v: string) => unknown; exec: () => Promise<unknown> };
    m.set('a', 'x'.repeat(2_000_000));
    m.set('b', 'x'.repeat(2_000_000));
    await expect(m.exec()).resolves.toBe('OK');
  });
});
