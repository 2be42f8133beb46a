/**
 * Several replicas sharing one Redis (a real redis-server on a free port): one model call per new question
 * across replicas, a dead runner's question taken over, statistics summed, and a Slack event retried to
 * another replica answered once. Each replica has its own Redis connection, as separate processes do; the
 * Slack test runs two bot processes.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { App } from '../src/app';
import { keys, hashText } from '../src/core/keys';
import { normalizeQuestion } from '../src/core/normalize';
import type { GeneratedAnswer, Generator } from '../src/core/types';
import { preload } from '../src/faq/preload';
import { startRedis, freePort, type RedisServer } from '../testkit/redis';
import { startSlackApi, type SlackApi } from '../testkit/slack-api';
import { appMention, eventCallback, postSigned } from '../testkit/slack-signing';
import { openTestApp, rec, tmpDir } from './helpers/app';
import { collect, runCli, spawnNode } from './helpers/cli';
import { waitHealthy } from './helpers/slack';

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis.stop());

const FAQ = [rec('rentals', 'Do you rent camping gear?', 'Yes: tents, stoves and packs from $15 a day.')];

class CountingModel implements Generator {
  calls = 0;
  constructor(private readonly delayMs: number) {}
  async generate(): Promise<GeneratedAnswer> {
    this.calls += 1;
    await new Promise((r) => setTimeout(r, this.delayMs));
    return { answer: 'Tents are $15 a day.', usedEntries: ['rentals'] };
  }
}

describe('two replicas on one Redis', () => {
  let db = 5;
  let a: App;
  let b: App;
  let modelA: CountingModel;
  let modelB: CountingModel;

  beforeEach(async () => {
    db += 1;
    const store = `${redis.url}/${db}`;
    modelA = new CountingModel(300);
    modelB = new CountingModel(300);
    a = await openTestApp({ store, statsFlushMs: 0 }, { generator: modelA });
    b = await openTestApp({ store, statsFlushMs: 0 }, { generator: modelB });
    await preload(a.store, FAQ, { tenant: 'default', prune: false, dryRun: false }, a.clock);
  });
  afterEach(async () => {
    await a.close();
    await b.close();
  });

  test('50 concurrent identical new questions spread over both replicas cause exactly 1 model call', async () => {
    const q = 'how much is a tent per day';
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? b : a).answerer.ask('default', q)));
    expect(modelA.calls + modelB.calls).toBe(1);
    expect(new Set(results.map((r) => r.answer))).toEqual(new Set(['Tents are $15 a day.']));
    expect(results.filter((r) => r.source === 'generated')).toHaveLength(1);
  });

  test('hit counts written by both replicas at once add up, and never bring back a forgotten answer', async () => {
    for (let i = 0; i < 20; i++) await (i % 2 ? b : a).answerer.ask('default', 'Do you rent camping gear?');
    await Promise.all([a.cache.flushHits(), b.cache.flushHits()]);
    const entry = await a.store.get<{ hitCount: number; answer: string }>(keys.entry('default', 'rentals', true));
    expect(entry).toMatchObject({ hitCount: 20, answer: 'Yes: tents, stoves and packs from $15 a day.' });
    // Counts pending on A while B forgets the entry: A's flush must not write the old entry back.
    for (let i = 0; i < 5; i++) await a.answerer.ask('default', 'Do you rent camping gear?');
    expect(await b.cache.forgetId('default', 'rentals')).toBeTruthy();
    await a.cache.flushHits();
    expect(await b.store.get(keys.entry('default', 'rentals', true))).toBeUndefined();
  });

  test('when the replica running the model dies, its lease lapses and another replica answers', async () => {
    const q = 'can i hire a stove';
    // A runner that took the question and died: its lease is never renewed.
    const lease = keys.lease(`gen:default:${hashText(normalizeQuestion(q))}`);
    expect(await a.store.claim(lease, 'dead-replica', 400)).toBe(true);
    const t0 = Date.now();
    const r = await b.answerer.ask('default', q);
    expect(r).toMatchObject({ source: 'generated', answer: 'Tents are $15 a day.' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(350);
    expect(modelA.calls + modelB.calls).toBe(1);
  });

  test('an invalidation on one replica reaches the other replica\'s L1 within a second', async () => {
    const q = 'Do you rent camping gear?';
    expect((await b.answerer.ask('default', q)).source).toBe('exact'); // now in B's L1
    expect((await b.answerer.ask('default', q)).source).toBe('exact');
    const gone = await a.cache.forgetQuestion('default', q);
    expect(gone?.id).toBe('rentals');
    const t0 = Date.now();
    let seenAfter = -1;
    while (Date.now() - t0 < 2000) {
      if ((await b.answerer.ask('default', q)).source !== 'exact') {
        seenAfter = Date.now() - t0;
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(seenAfter).toBeGreaterThanOrEqual(0);
    expect(seenAfter).toBeLessThan(1000);
  });

  test('statistics of both replicas add up, whatever the interleaving of their flushes', async () => {
    await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const app = i % 2 ? b : a;
        await app.answerer.ask('default', 'Do you rent camping gear?');
        if (i % 10 === 0) await app.stats.flush();
      }),
    );
    await Promise.all([a.stats.flush(), b.stats.flush()]);
    expect((await a.report('default')).hits.exact).toBe(200);
    expect((await b.report('default')).hits.exact).toBe(200);
  });
});

describe('two bot processes on one Redis', () => {
  let api: SlackApi;
  beforeAll(async () => {
    api = await startSlackApi({ users: { UJOE: {} } });
  });
  afterAll(() => api.close());

  test('a Slack event delivered to replica A and its retry to replica B get one reply; the two processes sum their statistics', async () => {
    const store = `${redis.url}/15`;
    const faq = path.join(tmpDir(), 'faq.yaml');
    fs.writeFileSync(faq, '- {id: hours, question: When are you open?, answer: Daily from 9 to 5.}\n');
    expect((await runCli(['preload', faq], { env: { KVCACHE_STORE: store, KVCACHE_EMBED_MODEL: 'none' } })).code).toBe(0);
    const bots = [];
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const child = spawnNode([path.join(__dirname, '..', 'bin', 'kvcache-bot.js')], {
        env: { KVCACHE_STORE: store, KVCACHE_FAQ: '', KVCACHE_EMBED_MODEL: 'none', SLACK_BOT_TOKEN: api.expectedBotToken, SLACK_SIGNING_SECRET: 's', SLACK_API_URL: api.url, PORT: String(port), KVCACHE_LOG_LEVEL: 'warn' },
      });
      bots.push({ child, done: collect(child), port });
      await waitHealthy(port, child);
    }
    try {
      const body = eventCallback({ teamId: 'T0001', eventId: 'EvREPLICA1', event: appMention({ user: 'UJOE', channel: 'CREP', text: '<@U0BOT> When are you open?', ts: '1700000000.000100' }) });
      const [first, second] = bots;
      if (!first || !second) throw new Error('bots did not start');
      expect((await postSigned(`http://127.0.0.1:${first.port}/slack/events`, body, { secret: 's' })).status).toBe(200);
      expect((await postSigned(`http://127.0.0.1:${second.port}/slack/events`, body, { secret: 's', retryNum: 1 })).status).toBe(200);
      await api.waitFor((c) => c.method === 'chat.postMessage' && c.args.channel === 'CREP');
      await new Promise((r) => setTimeout(r, 500));
      expect(api.callsTo('chat.postMessage').filter((c) => c.args.channel === 'CREP')).toHaveLength(1);

      // Statistics: 3 more questions on A, 4 on B; the shared numbers count all 8 lookups.
      for (let i = 0; i < 7; i++) {
        const bot = i < 3 ? first : second;
        const ev = eventCallback({ teamId: 'T0001', eventId: `EvSTATS${i}`, event: appMention({ user: 'UJOE', channel: `CST${i}`, text: '<@U0BOT> When are you open?', ts: `1700000001.00000${i}` }) });
        expect((await postSigned(`http://127.0.0.1:${bot.port}/slack/events`, ev, { secret: 's' })).status).toBe(200);
        await api.waitFor((c) => c.method === 'chat.postMessage' && c.args.channel === `CST${i}`);
      }
      await new Promise((r) => setTimeout(r, 2500)); // both replicas flush every second
      const stats = JSON.parse((await runCli(['stats', '--json', '--team', 'T0001'], { env: { KVCACHE_STORE: store, KVCACHE_EMBED_MODEL: 'none' } })).stdout) as { lookups: number };
      expect(stats.lookups).toBe(8);
    } finally {
      for (const bot of bots) bot.child.kill('SIGTERM');
      for (const bot of bots) await bot.done;
    }
  }, 60_000);
});
