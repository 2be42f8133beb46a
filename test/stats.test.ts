import { addSample, bucketOf, bucketUpperMs, quantile, type Histogram } from '../src/core/histogram';
import { buildReport, formatReport } from '../src/core/report';
import fs from 'node:fs';
import path from 'node:path';
import { keys } from '../src/core/keys';
import { spoolStats, takeSpooledStats } from '../src/core/spool';
import { emptyStats, MAX_REVIEWS, MAX_TRACKED_QUESTIONS, MAX_UNANSWERED, StatsRecorder, type FeedbackItem } from '../src/core/stats';
import { statsBlocks } from '../src/slack/blocks';
import { openStore } from '../src/store/open';
import type { KvStore } from '../src/store/types';
import { FakeClock } from './helpers/clock';
import { tmpDir } from './helpers/app';
import { startRedis, type RedisServer } from '../testkit/redis';

describe('latency histogram', () => {
  test('percentiles are within one bucket (10%) of the true value', () => {
    const h: Histogram = {};
    const samples: number[] = [];
    for (let i = 1; i <= 1000; i++) {
      const ms = i * 0.01; // 0.01 .. 10 ms
      samples.push(ms);
      addSample(h, ms);
    }
    for (const q of [0.5, 0.95, 0.99]) {
      const truth = samples[Math.ceil(q * samples.length) - 1] ?? 0;
      const got = quantile(h, q) ?? 0;
      expect(got).toBeGreaterThanOrEqual(truth);
      expect(got).toBeLessThanOrEqual(truth * 1.1 + 1e-9);
    }
    expect(quantile({}, 0.5)).toBeNull();
  });

  test('buckets are monotonic and cover microseconds to hours', () => {
    expect(bucketOf(0)).toBe(0);
    expect(bucketOf(0.0005)).toBe(0);
    expect(bucketUpperMs(bucketOf(3.7))).toBeGreaterThanOrEqual(3.7);
    expect(bucketOf(1e9)).toBe(bucketOf(1e10)); // capped, never unbounded
  });
});

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis.stop());

// The same behaviour on every backend: one document under a lease (memory, SQLite), Redis's atomic commands.
const backends: Array<[string, () => Promise<KvStore>]> = [
  ['memory', () => openStore('memory://', tmpDir())],
  ['sqlite', () => openStore(undefined, tmpDir())],
  ['redis', () => openStore(redis.url, tmpDir())],
];

describe.each(backends)('StatsRecorder on %s', (kind, open) => {
  let store: KvStore;
  const clock = new FakeClock();
  beforeEach(async () => {
    if (kind === 'redis') await redis.command('FLUSHALL');
    store = await open();
  });
  afterEach(() => store.close());

  test('counters persist in the store and two recorders (two processes) add up', async () => {
    const a = new StatsRecorder(store, clock, 0);
    const b = new StatsRecorder(store, clock, 0);
    a.record('T1', { outcome: 'exact', latencyMs: 0.2, question: 'Q1', normalized: 'q1' });
    b.record('T1', { outcome: 'exact', latencyMs: 0.3, question: 'q1!', normalized: 'q1' });
    b.record('T1', { outcome: 'fallback', latencyMs: 1.5, question: 'Q2', normalized: 'q2' });
    a.record('T2', { outcome: 'normalized', latencyMs: 0.4, question: 'Q3', normalized: 'q3' });
    await a.close();
    await b.close();
    const c = new StatsRecorder(store, clock, 0);
    const doc = await c.read('T1');
    expect(doc.outcomes).toEqual({ exact: 2, normalized: 0, semantic: 0, generated: 0, fallback: 1 });
    expect(doc.latencySumMs.exact).toBeCloseTo(0.5, 9);
    expect(doc.questions.q1?.count).toBe(2);
    expect(doc.questions.q1?.question).toBe('q1!');
    expect(doc.unanswered.map((u) => u.question)).toEqual(['Q2']);
    expect((await c.read('T2')).outcomes.normalized).toBe(1);
    const report = buildReport('T1', doc, { faq: 1, generated: 0, manual: 0, team: 0 }, 2000);
    expect(report.hitRate).toBeCloseTo(2 / 3, 3);
    expect(report.timeSavedMs).toBe(Math.round(2 * 2000 - 0.5));
    expect(report.missCostMeasured).toBe(false);
    expect(report.latencyMs.hitP50).toBeGreaterThanOrEqual(0.2);
    expect(report.latencyMs.missP50).toBeGreaterThanOrEqual(1.5);
    expect(formatReport(report)).toMatch(/hit rate\s+66\.7%/);
    expect(formatReport(report)).not.toMatch(/store outages/);
  });

  test('tracked questions and the unanswered log are bounded', async () => {
    const r = new StatsRecorder(store, clock, 0);
    for (let i = 0; i < MAX_TRACKED_QUESTIONS * 3; i++) {
      r.record('T', { outcome: 'fallback', latencyMs: 1, question: `Q${i}`, normalized: `q${i}` });
      if (i % 150 === 0) await r.flush();
    }
    for (let i = 0; i < 5; i++) r.record('T', { outcome: 'exact', latencyMs: 1, question: 'popular', normalized: 'popular' });
    const doc = await r.read('T');
    expect(Object.keys(doc.questions).length).toBeLessThanOrEqual(MAX_TRACKED_QUESTIONS);
    expect(doc.questions.popular?.count).toBe(5);
    expect(doc.unanswered).toHaveLength(MAX_UNANSWERED);
    expect(doc.unanswered.at(-1)?.question).toBe(`Q${MAX_TRACKED_QUESTIONS * 3 - 1}`);
    expect(doc.unanswered[0]?.question).toBe(`Q${MAX_TRACKED_QUESTIONS * 3 - MAX_UNANSWERED}`);
    expect(doc.outcomes.fallback).toBe(MAX_TRACKED_QUESTIONS * 3);
    // Rotation of the stored log is by design, not a loss: every line was written once.
    expect(doc.lost.unanswered).toBe(0);
    await r.close();
  });

  test('Slack delivery failures are counted by kind, and two recorders add up', async () => {
    const a = new StatsRecorder(store, clock, 0);
    const b = new StatsRecorder(store, clock, 0);
    a.recordDelivery('T', 'rate_limited', null);
    a.recordDelivery('T', 'payload', 'recovered');
    b.recordDelivery('T', 'payload', 'recovered');
    b.recordDelivery('T', 'channel', 'undelivered');
    await a.close();
    await b.close();
    const doc = await new StatsRecorder(store, clock, 0).read('T');
    expect(doc.delivery).toEqual({ rate_limited: 1, payload: 2, recovered: 2, channel: 1, undelivered: 1 });
    const report = buildReport('T', doc, { faq: 0, generated: 0, manual: 0, team: 0 }, 2000);
    expect(report.slackDelivery).toEqual({ failures: { rate_limited: 1, payload: 2, channel: 1 }, recovered: 2, undelivered: 1 });
    expect(formatReport(report)).toMatch(/slack failures\s+2 payload, 1 rate_limited, 1 channel; 2 recovered, 1 undelivered/);
  });

  test('feedback counts and the review log, newest last, bounded', async () => {
    const r = new StatsRecorder(store, clock, 0);
    const item = (i: number, vote: 'up' | 'down'): FeedbackItem => ({ at: 1000 + i, vote, user: 'U1', entryId: `e${i}`, source: 'generated', question: `q${i}`, answer: `a${i}`, removed: vote === 'down' });
    for (let i = 0; i < MAX_REVIEWS + 10; i++) {
      r.recordFeedback('T', item(i, 'down'));
      if (i % 50 === 0) await r.flush();
    }
    r.recordFeedback('T', item(9999, 'up'));
    r.recordEvictions('T', 3);
    const doc = await r.read('T');
    expect(doc.feedback).toEqual({ up: 1, down: MAX_REVIEWS + 10, removed: MAX_REVIEWS + 10 });
    expect(doc.reviews).toHaveLength(MAX_REVIEWS);
    expect(doc.reviews.at(-1)?.entryId).toBe(`e${MAX_REVIEWS + 9}`);
    expect(doc.evictions).toBe(3);
    await r.close();
  });

  test('a failed flush keeps the counts, and the write after recovery reports them late and what was lost', async () => {
    let down = true;
    const r = new StatsRecorder(store, clock, 0);
    // The store is down for the backend's writes: both layouts go through these two calls or the raw client.
    const realAdd = (r as unknown as { backend: { add: (t: string, d: unknown) => Promise<void> } }).backend;
    const add = realAdd.add.bind(realAdd);
    realAdd.add = async (t, d) => {
      if (down) throw new Error('store down');
      return add(t, d);
    };
    for (let i = 0; i < MAX_UNANSWERED + 5; i++) {
      r.record('T', { outcome: 'fallback', latencyMs: 1, question: `u${i}`, normalized: `u${i}` });
      if (i % 100 === 0) await expect(r.flush()).rejects.toThrow('store down');
    }
    r.record('T', { outcome: 'exact', latencyMs: 1, question: 'a', normalized: 'a' });
    expect(r.pendingSummary()).toEqual({ T: MAX_UNANSWERED + 6 });
    down = false;
    await r.flush();
    expect(r.pendingSummary()).toEqual({});
    const doc = await r.read('T');
    expect(doc.outcomes.exact).toBe(1);
    expect(doc.outcomes.fallback).toBe(MAX_UNANSWERED + 5);
    expect(doc.late).toEqual({ flushes: 3, lookups: MAX_UNANSWERED + 6 });
    expect(doc.lost.unanswered).toBe(5);
    expect(doc.unanswered.at(-1)?.question).toBe(`u${MAX_UNANSWERED + 4}`);
    const report = buildReport('T', doc, { faq: 0, generated: 0, manual: 0, team: 0 }, 2000);
    const text = formatReport(report);
    expect(JSON.stringify(statsBlocks(report))).toMatch(/Store outages: 206 lookups counted late after 3 failed writes; lost 5 unanswered-log lines/);
    expect(text).toMatch(/store outages\s+206 lookups written late after 3 failed writes; lost: 5 unanswered-log lines/);
    await r.close();
  });
});

describe('StatsRecorder on Redis: atomic commands, no lease', () => {
  let store: KvStore;
  const clock = new FakeClock();
  beforeEach(async () => {
    await redis.command('FLUSHALL');
    store = await openStore(redis.url, tmpDir());
  });
  afterEach(() => store.close());

  test('counters are a hash, top questions a sorted set, the logs capped lists', async () => {
    const r = new StatsRecorder(store, clock, 0);
    r.record('T', { outcome: 'fallback', latencyMs: 2, question: 'Where is my order?', normalized: 'where is my order' });
    r.record('T', { outcome: 'generated', latencyMs: 40, question: 'x', normalized: 'x', generation: { queuedMs: 1, modelMs: 30 } });
    r.recordFeedback('T', { at: 1, vote: 'down', user: 'U', entryId: 'e', source: 'generated', question: 'x', answer: 'y', removed: true });
    await r.flush();
    const k = keys.redisStats('T');
    expect(await redis.command(`TYPE ${k.counters}`)).toBe('+hash');
    expect(await redis.command(`TYPE ${k.questions}`)).toBe('+zset');
    expect(await redis.command(`TYPE ${k.questionMeta}`)).toBe('+hash');
    expect(await redis.command(`TYPE ${k.unanswered}`)).toBe('+list');
    expect(await redis.command(`TYPE ${k.reviews}`)).toBe('+list');
    expect(await redis.command(`HGET ${k.counters} o:fallback`)).toBe('$1');
    expect(await redis.command(`ZSCORE ${k.questions} x`)).toBe('$1');
    expect(await redis.command(`LLEN ${k.unanswered}`)).toBe(':1');
    // No statistics lease was taken: that is the point of atomic counters.
    expect(await redis.command(`EXISTS ${keys.lease('stats:T')}`)).toBe(':0');
    const doc = await r.read('T');
    expect(doc.generation).toMatchObject({ calls: 1, queueMsSum: 1, modelMsSum: 30 });
    await r.close();
  });

  test('eight recorders flushing at once over separate connections lose no count', async () => {
    const stores = await Promise.all(Array.from({ length: 8 }, () => openStore(redis.url, tmpDir())));
    const recorders = stores.map((s) => new StatsRecorder(s, clock, 0));
    for (let round = 0; round < 5; round++) {
      recorders.forEach((r, i) => {
        for (let j = 0; j < 50; j++) r.record('T', { outcome: j % 2 ? 'exact' : 'normalized', latencyMs: 0.5, question: `q${j % 7}`, normalized: `q${j % 7}` });
        r.record('T', { outcome: 'fallback', latencyMs: 1, question: `r${round}-${i}`, normalized: `r${round}-${i}` });
      });
      await Promise.all(recorders.map((r) => r.flush()));
    }
    const doc = await new StatsRecorder(store, clock, 0).read('T');
    expect(doc.outcomes.exact + doc.outcomes.normalized).toBe(8 * 5 * 50);
    expect(doc.outcomes.fallback).toBe(8 * 5);
    expect(Object.values(doc.questions).reduce((s, q) => s + (q.question.startsWith('q') ? q.count : 0), 0)).toBe(8 * 5 * 50);
    expect(doc.unanswered).toHaveLength(40);
    await Promise.all(recorders.map((r) => r.close()));
    await Promise.all(stores.map((s) => s.close()));
  });

  test("a team's statistics document from before the Redis layout is added in, not lost", async () => {
    const old = emptyStats(500);
    old.outcomes.exact = 7;
    old.questions.old = { question: 'Old one', count: 7, lastAt: 600, lastOutcome: 'exact' };
    old.unanswered = [{ question: 'older unanswered', at: 550 }];
    await store.set(keys.stats('T'), old);
    const r = new StatsRecorder(store, clock, 0);
    r.record('T', { outcome: 'exact', latencyMs: 1, question: 'new', normalized: 'new' });
    r.record('T', { outcome: 'fallback', latencyMs: 1, question: 'newer unanswered', normalized: 'nu' });
    const doc = await r.read('T');
    expect(doc.outcomes.exact).toBe(8);
    expect(doc.since).toBe(500);
    expect(doc.questions.old?.count).toBe(7);
    expect(doc.unanswered.map((u) => u.question)).toEqual(['older unanswered', 'newer unanswered']);
    await r.close();
  });
});

describe('statistics kept in the data folder', () => {
  test('a spooled file round-trips; an unreadable one is renamed .bad and named, never half-read', () => {
    const dir = tmpDir();
    const d = emptyStats(5);
    d.outcomes.exact = 4;
    const file = spoolStats(dir, { T: d });
    expect(file).not.toBeNull();
    expect(spoolStats(dir, {})).toBeNull();
    fs.writeFileSync(path.join(dir, 'unwritten-stats-1-1.json'), '{"version":1,"delt');
    const taken = takeSpooledStats(dir);
    expect(taken.deltas).toEqual([{ T: expect.objectContaining({ outcomes: expect.objectContaining({ exact: 4 }) }) }]);
    expect(taken.problems).toEqual([expect.stringMatching(/unwritten-stats-1-1\.json: /)]);
    expect(fs.readdirSync(dir).sort()).toEqual(['unwritten-stats-1-1.json.bad']);
    expect(takeSpooledStats(dir).deltas).toEqual([]);
  });
});
