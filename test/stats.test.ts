import { addSample, bucketOf, bucketUpperMs, quantile, type Histogram } from '../src/core/histogram';
import { buildReport, formatReport } from '../src/core/report';
import { MAX_TRACKED_QUESTIONS, MAX_UNANSWERED, StatsRecorder } from '../src/core/stats';
import { openStore } from '../src/store/open';
import type { KvStore } from '../src/store/types';
import { FakeClock } from './helpers/clock';
import { tmpDir } from './helpers/app';

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

describe('StatsRecorder', () => {
  let store: KvStore;
  const clock = new FakeClock();
  beforeEach(async () => {
    store = await openStore(undefined, tmpDir());
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
    expect(doc.questions.q1?.count).toBe(2);
    expect(doc.unanswered.map((u) => u.question)).toEqual(['Q2']);
    expect((await c.read('T2')).outcomes.normalized).toBe(1);
    const report = buildReport('T1', doc, { faq: 1, generated: 0, manual: 0 }, 2000);
    expect(report.hitRate).toBeCloseTo(2 / 3, 3);
    expect(report.timeSavedMs).toBe(Math.round(2 * 2000 - 0.5));
    expect(report.missCostMeasured).toBe(false);
    expect(formatReport(report)).toMatch(/hit rate\s+66\.7%/);
  });

  test('tracked questions and the unanswered log are bounded', async () => {
    const r = new StatsRecorder(store, clock, 0);
    for (let i = 0; i < MAX_TRACKED_QUESTIONS * 3; i++) {
      r.record('T', { outcome: 'fallback', latencyMs: 1, question: `Q${i}`, normalized: `q${i}` });
      if (i % 700 === 0) await r.flush();
    }
    for (let i = 0; i < 5; i++) r.record('T', { outcome: 'exact', latencyMs: 1, question: 'popular', normalized: 'popular' });
    const doc = await r.read('T');
    expect(Object.keys(doc.questions).length).toBeLessThanOrEqual(MAX_TRACKED_QUESTIONS);
    expect(doc.questions.popular?.count).toBe(5);
    expect(doc.unanswered).toHaveLength(MAX_UNANSWERED);
    expect(doc.unanswered.at(-1)?.question).toBe(`Q${MAX_TRACKED_QUESTIONS * 3 - 1}`);
    expect(doc.outcomes.fallback).toBe(MAX_TRACKED_QUESTIONS * 3);
    await r.close();
  });

  test('a failed flush keeps the counts for the next one instead of dropping them', async () => {
    let failNext = true;
    const flaky: KvStore = Object.create(store) as KvStore;
    flaky.set = async (k, v, ttl) => {
      if (failNext) {
        failNext = false;
        throw new Error('store down');
      }
      return store.set(k, v, ttl);
    };
    const r = new StatsRecorder(flaky, clock, 0);
    r.record('T', { outcome: 'exact', latencyMs: 1, question: 'a', normalized: 'a' });
    await expect(r.flush()).rejects.toThrow('store down');
    r.record('T', { outcome: 'exact', latencyMs: 1, question: 'a', normalized: 'a' });
    await r.flush();
    expect((await r.read('T')).outcomes.exact).toBe(2);
    await r.close();
  });
});
