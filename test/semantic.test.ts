import fs from 'node:fs';
import path from 'node:path';
import type { App } from '../src/app';
import { keys } from '../src/core/keys';
import { loadEmbedder, type Embedder } from '../src/embed/embedder';
import { loadFaqFiles } from '../src/faq/parse';
import { preload } from '../src/faq/preload';
import { silentLogger } from '../src/logger';
import { fitThresholds, type CalibrationSample } from '../src/semantic/calibrate';
import { packVectors, unpackVectors, VectorIndex } from '../src/semantic/index';
import { SemanticLayer } from '../src/semantic/layer';
import { decide, defaultThresholds, type Thresholds } from '../src/semantic/policy';
import { ReviewQueue } from '../src/semantic/review';
import { cjkShare } from '../src/semantic/script';
import { startRedis, type RedisServer } from '../testkit/redis';
import { openTestApp, tmpDir } from './helpers/app';
import { runCli } from './helpers/cli';
import { FakeClock } from './helpers/clock';

const unit = (...xs: number[]) => {
  const n = Math.hypot(...xs);
  return Float32Array.from(xs.map((x) => x / n));
};

describe('VectorIndex', () => {
  test('finds the nearest entries by their nearest phrasing, with the top-3 mean and the votes of the 5 nearest rows', () => {
    const ix = new VectorIndex(3, 1); // capacity 1: forces growth
    ix.add({ id: 'a', tenant: 't', phrasings: ['a1', 'a2', 'a3'] }, [unit(1, 0, 0), unit(0.9, 0.1, 0), unit(0, 1, 0)]);
    ix.add({ id: 'b', tenant: 't', phrasings: ['b1', 'b2'] }, [unit(0, 0, 1), unit(0.8, 0, 0.6)]);
    expect(ix.size).toBe(5);
    const [first, second, third] = ix.search(unit(1, 0, 0), 3);
    expect(third).toBeUndefined();
    expect(first).toMatchObject({ entry: 0, phrasing: 0 });
    expect(first?.similarity).toBeCloseTo(1, 5);
    expect(first?.top3).toBeCloseTo((1 + 0.9 / Math.hypot(0.9, 0.1) + 0) / 3, 5);
    expect(first?.votes).toBe(3);
    expect(second).toMatchObject({ entry: 1, phrasing: 1, votes: 2 });
    expect(second?.similarity).toBeCloseTo(0.8, 5);
    expect(() => ix.search(unit(1, 0), 1)).toThrow(/dimensions/);
  });

  test('vectors survive the trip through their stored form', () => {
    const vs = [unit(1, 2, 3), unit(-1, 0.5, 2)];
    const back = unpackVectors(packVectors(vs), 3);
    expect(back.map((v) => [...v])).toEqual(vs.map((v) => [...v]));
    expect(() => unpackVectors(packVectors(vs), 4)).toThrow(/4-dimension/);
  });
});

describe('decision rule', () => {
  const th: Thresholds = { ...defaultThresholds('m'), calibrated: ['a'], minConfidence: 0.9, uncalibratedConfidence: 0.99, suggestConfidence: 0.3 };
  const idOf = (i: number) => ['a', 'b', 'c'][i] ?? '';
  const n = (entry: number, similarity: number, votes = 1) => ({ entry, similarity, phrasing: 0, top3: similarity, votes });

  test('a close entry clearly ahead of the next one hits; the same closeness between two look-alikes does not', () => {
    expect(decide([n(0, 0.95, 5), n(1, 0.5)], idOf, th)?.decision).toBe('hit');
    const tie = decide([n(0, 0.95, 3), n(1, 0.94, 2)], idOf, th);
    expect(tie?.decision).not.toBe('hit');
    expect(tie?.margin).toBeCloseTo(0.01, 5);
  });

  test('far questions miss; plausible ones are offered; uncalibrated entries need more confidence', () => {
    expect(decide([n(0, 0.3), n(1, 0.28)], idOf, th)?.decision).toBe('miss');
    const mid = decide([n(0, 0.7, 2), n(1, 0.62, 1)], idOf, th);
    expect(mid?.decision).toBe('suggest');
    const cal = decide([n(0, 0.86, 4), n(1, 0.6)], idOf, th);
    const uncal = decide([n(2, 0.86, 4), n(1, 0.6)], idOf, th);
    expect(cal?.confidence).toBeCloseTo(uncal?.confidence ?? 0, 10);
    expect(uncal?.requiredConfidence).toBe(0.99);
    expect(cal?.requiredConfidence).toBe(0.9);
  });
});

describe('calibration', () => {
  // Synthetic searches: right answers are close and well ahead; wrong ones and out-of-scope ones are not.
  const samples: CalibrationSample[] = [];
  let seed = 7;
  const r = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  // 2,500 questions: half fit the model, and the other half must admit the 530 that the certificate of 1% at
  // 90% starts from.
  for (let i = 0; i < 2500; i++) {
    const right = r() < 0.7;
    const sim = right ? 0.7 + 0.3 * r() : 0.45 + 0.35 * r();
    const margin = right ? 0.05 + 0.25 * r() : 0.1 * r();
    const entry = `e${i % 10}`;
    samples.push({ label: right ? entry : i % 3 === 0 ? null : `e${(i + 1) % 10}`, nearest: entry, f: { similarity: sim, margin, top3: sim - 0.05, votes: right ? 0.8 : 0.4 } });
  }

  test('picks a bar certified within the target on held-out questions, and reports it', () => {
    const fit = fitThresholds(samples, { target: 0.01 });
    expect(fit.metTarget).toBe(true);
    expect(fit.falseHitRate).toBeLessThanOrEqual(0.01);
    expect(fit.hitRate).toBeGreaterThan(0.5);
    expect(fit.thresholds.minConfidence).toBeGreaterThanOrEqual(0.5);
    expect(fit.thresholds.uncalibratedConfidence).toBeGreaterThan(fit.thresholds.minConfidence);
    expect(fit.thresholds.weights.similarity).toBeGreaterThan(0);
    expect(fit.thresholds.calibrated).toContain('e3');
    // A stricter target never gives more hits.
    expect(fitThresholds(samples, { target: 0.001 }).hitRate).toBeLessThanOrEqual(fit.hitRate);
  });

  test('refuses a labelled set with nothing right (or nothing wrong) to learn from', () => {
    expect(() => fitThresholds(samples.filter((s) => s.label !== s.nearest), { target: 0.01 })).toThrow(/paraphrases of FAQ entries and out-of-scope/);
  });
});

test('script detection: CJK questions are not embedded', () => {
  expect(cjkShare('你们可以寄到中国吗？')).toBe(1);
  expect(cjkShare('How long to 上海?')).toBeLessThan(0.3);
  expect(cjkShare('1234 !!')).toBe(0);
});

// ---- the layer over a real store and the real embedding model ------------------------------------------

const DEMO = path.join(__dirname, '..', 'config', 'demo-faq.yaml');
let redis: RedisServer;
let embedder: Embedder;
let embedded = 0;
const counting = (): Embedder => ({
  name: embedder.name,
  dims: embedder.dims,
  embed: (texts) => {
    embedded += texts.length;
    return embedder.embed(texts);
  },
  close: async () => undefined,
});

beforeAll(async () => {
  redis = await startRedis();
  embedder = await loadEmbedder({ model: 'all-MiniLM-L6-v2' });
}, 60_000);
afterAll(async () => {
  await embedder?.close();
  redis?.stop();
});

describe.each([['memory'], ['sqlite'], ['redis']])('SemanticLayer on %s', (kind) => {
  let app: App;
  let layer: SemanticLayer;
  let dataDir: string;
  const clock = new FakeClock();
  const spec = () => (kind === 'memory' ? 'memory://' : kind === 'redis' ? `${redis.url}/3` : undefined);

  beforeAll(async () => {
    dataDir = tmpDir();
    app = await openTestApp({ store: spec(), dataDir }, { clock, semantic: null });
    for await (const [k] of app.store.scan('kv1:')) await app.store.delete(k);
    await preload(app.store, await loadFaqFiles([DEMO]), { tenant: 'default', prune: false, dryRun: false }, clock);
    layer = new SemanticLayer(app.cache, counting(), silentLogger);
    embedded = 0;
    const s = await layer.sync('default');
    expect(s).toMatchObject({ embedded: 37, removed: 0, entries: 37 });
    expect(embedded).toBeGreaterThan(37 * 4);
  }, 60_000);
  afterAll(() => app.close());

  test('paraphrases hit their entry, off-topic and look-alike questions do not, and every answer says why', async () => {
    const hit = await layer.match('default', 'do you ship to canada');
    expect(hit.hit?.entry.id).toBe('international-shipping');
    expect(hit.score).toMatchObject({ entryId: 'international-shipping', decision: 'hit' });
    expect(hit.score?.confidence).toBeGreaterThanOrEqual(hit.score?.requiredConfidence ?? 1);
    const off = await layer.match('default', 'what is the capital of France');
    expect(off.hit).toBeNull();
    expect(off.score?.decision).toBe('miss');
    expect(off.suggestions).toEqual([]);
    // A TEAM without its own FAQ is served by the default FAQ.
    expect((await layer.match('T0TEAM', 'do you ship to canada')).hit?.entry.tenant).toBe('default');
  });

  test('a plausible but uncertain question gets "did you mean" offers instead of an answer', async () => {
    const r = await layer.match('default', 'can I send something back');
    expect(r.hit).toBeNull();
    expect(r.score?.decision).toBe('suggest');
    expect(r.suggestions.length).toBeGreaterThanOrEqual(1);
    expect(r.suggestions.length).toBeLessThanOrEqual(3);
    expect(r.suggestions[0]).toMatchObject({ entryId: 'start-return', entryTenant: 'default' });
  });

  test('Chinese questions skip the layer (the model reads no Chinese); their keys still work', async () => {
    const r = await layer.match('default', '寄到北京要多久？');
    expect(r).toEqual({ hit: null, score: null, suggestions: [] });
    expect((await app.cache.lookup('default', '能发货到中国大陆吗'))?.entry.id).toBe('international-shipping-china');
  });

  test('a restart embeds nothing; an FAQ change re-embeds only the changed entry and the index follows it', async () => {
    const fresh = new SemanticLayer(app.cache, counting(), silentLogger);
    embedded = 0;
    await fresh.match('default', 'do you ship to canada');
    expect(embedded).toBe(1); // the question only
    const records = await loadFaqFiles([DEMO]);
    const ship = records.find((x) => x.id === 'international-shipping');
    if (!ship) throw new Error('demo FAQ changed');
    ship.alternates = ['Can a parcel go to Reykjavik?'];
    await preload(app.store, records, { tenant: 'default', prune: false, dryRun: false }, clock);
    embedded = 0;
    expect(await fresh.sync('default')).toMatchObject({ embedded: 1, removed: 0 });
    expect(embedded).toBe(2);
    const r = await fresh.match('default', 'can you send a parcel to reykjavik');
    expect(r.score?.entryId).toBe('international-shipping');
    expect(r.hit?.matchedQuestion ?? r.suggestions[0]?.question).toBeDefined();
  });

  test('stored thresholds are picked up at the next lookup; thresholds of another model are ignored', async () => {
    const base = await layer.match('default', 'do you ship to canada');
    expect(base.score?.confidence).toBeLessThan(0.999999);
    await app.store.set(keys.thresholds('default'), { ...defaultThresholds(embedder.name), minConfidence: 0.999999, uncalibratedConfidence: 0.999999, calibratedAt: 5 });
    expect((await layer.match('default', 'do you ship to canada')).score?.decision).not.toBe('hit');
    await app.store.set(keys.thresholds('default'), { ...defaultThresholds('another-model'), minConfidence: 0.999999, uncalibratedConfidence: 0.999999, calibratedAt: 6 });
    expect((await layer.match('default', 'do you ship to canada')).score?.decision).toBe(base.score?.decision);
    await app.store.delete(keys.thresholds('default'));
  });

  test('review: a chosen suggestion becomes a candidate; accepting makes it an alternate with its own keys and vector', async () => {
    const review = new ReviewQueue(app.cache, clock, layer);
    const q = 'Could I possibly send my jacket back to you';
    expect(await app.cache.lookup('default', q)).toBeNull();
    await review.choose('default', q, { entryTenant: 'default', entryId: 'start-return' });
    await review.choose('default', q.toLowerCase(), { entryTenant: 'default', entryId: 'start-return' });
    await review.choose('default', 'no such thing', { entryTenant: 'default', entryId: 'store-hours' });
    const list = await review.list('default');
    expect(list.map((c) => [c.question, c.entryId, c.count])).toEqual([[q, 'start-return', 2], ['no such thing', 'store-hours', 1]]);
    await expect(review.accept('default', 9)).rejects.toThrow(/no candidate number 9.*2 waiting/);
    const { entry } = await review.accept('default', 1);
    expect(entry.alternates).toContain(q);
    expect((await app.cache.lookup('default', q.toUpperCase()))?.entry.id).toBe('start-return');
    expect((await layer.match('default', q)).score).toMatchObject({ entryId: 'start-return' });
    expect((await review.reject('default', 1)).question).toBe('no such thing');
    expect(await review.list('default')).toEqual([]);
  });
});

// ---- the CLI, as an operator uses it --------------------------------------------------------------------

describe('kvcache calibrate, ask --json and review (CLI)', () => {
  let env: NodeJS.ProcessEnv;
  let dir: string;
  beforeAll(async () => {
    dir = tmpDir();
    env = { KVCACHE_DATA_DIR: path.join(dir, 'data') };
    const r = await runCli(['preload', DEMO], { env });
    expect(r.code).toBe(0);
  }, 60_000);

  test('ask --json shows the nearest entry, its similarity, margin and confidence, on hits and misses', async () => {
    const hit = JSON.parse((await runCli(['ask', '--json', 'do you ship to canada'], { env })).stdout) as Record<string, unknown>;
    expect(hit).toMatchObject({ source: 'semantic', entryId: 'international-shipping', semantic: { entryId: 'international-shipping', decision: 'hit' } });
    expect(typeof hit.score).toBe('number');
    const miss = JSON.parse((await runCli(['ask', '--json', 'what is the capital of France'], { env })).stdout) as Record<string, unknown>;
    expect(miss).toMatchObject({ source: 'fallback', semantic: { decision: 'miss' } });
    const exact = JSON.parse((await runCli(['ask', '--json', 'Do you ship internationally?'], { env })).stdout) as Record<string, unknown>;
    expect(exact).toMatchObject({ source: 'exact', score: null });
    expect(exact.semantic).toBeUndefined();
  }, 60_000);

  test('calibrate names the file, line and field of a bad line and writes nothing', async () => {
    const bad = path.join(dir, 'bad.jsonl');
    fs.writeFileSync(bad, ['{"question": "do you ship to canada", "entryId": "international-shipping"}', '{"question": "x", "entryId": "no-such-entry"}', 'not json', '{"entryId": null}'].join('\n'));
    const r = await runCli(['calibrate', bad], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${bad}:2: field "entryId": "no-such-entry" is not an FAQ entry`);
    expect(r.stderr).toContain(`${bad}:3:`);
    expect(r.stderr).toContain(`${bad}:4: field "question": must be a non-empty string`);
    expect(r.stderr).toMatch(/nothing was written/);
    const missing = await runCli(['calibrate', path.join(dir, 'nope.jsonl')], { env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read .*nope\.jsonl: ENOENT/);
  }, 60_000);

  test('calibrate fits thresholds on labelled questions and the next ask uses them', async () => {
    const records = await loadFaqFiles([DEMO]);
    const lines: string[] = [];
    // In-scope: each entry's alternates with a small rewording; out-of-scope: questions no outdoor shop answers.
    for (const r of records) for (const a of r.alternates) lines.push(JSON.stringify({ question: `please, ${a.toLowerCase()}`, entryId: r.id }));
    for (const q of ['what is the capital of France', 'who won the world cup', 'how do I bake bread', 'what is my credit score', 'recommend a movie', 'is it going to rain tomorrow', 'translate hello to Spanish', 'how tall is Everest']) {
      lines.push(JSON.stringify({ question: q, entryId: null }));
    }
    const file = path.join(dir, 'labelled.jsonl');
    fs.writeFileSync(file, `${lines.join('\n')}\n`);
    const r = await runCli(['calibrate', '--json', '--target', '0.02', file], { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { samples: number; written: boolean; calibratedEntries: number; minConfidence: number; lanes: Array<{ lane: string; samples: number }> };
    // The 9 Chinese questions go to the CJK lane, the rest to the English one.
    expect(out).toMatchObject({ lane: 'en', samples: lines.length - 9, written: true });
    expect(out.lanes.map((l) => [l.lane, l.samples])).toEqual([['en', lines.length - 9], ['cjk', 9]]);
    expect(out.calibratedEntries).toBeGreaterThan(30);
    const ask = JSON.parse((await runCli(['ask', '--json', 'do you ship to canada'], { env })).stdout) as { semantic: { requiredConfidence: number } };
    expect(ask.semantic.requiredConfidence).toBe(out.minConfidence);
    const bad = await runCli(['calibrate', '--target', '2', file], { env });
    expect([bad.code, bad.stderr]).toEqual([2, 'kvcache: --target 2 is not a rate between 0 and 1 (e.g. 0.005)\n']);
  }, 120_000);

  test('calibrate --faq learns from the FAQ itself, says when nothing could be certified, and needs a file or --faq', async () => {
    const r = await runCli(['calibrate', '--faq', '--json', '--dry-run'], { env });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { faqPhrasings: number; samples: number; bound: { certified: boolean }; written: boolean };
    // The demo FAQ's ~100 other phrasings are far fewer than the 230 right answers a 0.5% bound needs.
    expect(out.faqPhrasings).toBeGreaterThan(80);
    expect(out).toMatchObject({ written: false, bound: { certified: false } });
    const text = await runCli(['calibrate', '--faq', '--dry-run'], { env });
    expect(text.stdout).toMatch(/warning: no bar could be certified at 0\.50% with 90\.00% confidence/);
    const none = await runCli(['calibrate'], { env });
    expect([none.code, none.stderr]).toEqual([2, 'kvcache: calibrate needs a file of labelled questions, or --faq to learn from the FAQ itself (or both)\n']);
  }, 120_000);

  test('console chat: a "did you mean" list, a number picks the entry, and the wording waits in review', async () => {
    // Its own store: the calibration above may have moved the bar.
    const env = { KVCACHE_DATA_DIR: path.join(tmpDir(), 'data') };
    expect((await runCli(['preload', DEMO], { env })).code).toBe(0);
    const r = await runCli(['chat'], { env, input: 'can I send something back\n1\n/quit\n' });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/bot> I'm not sure I understood\. Did you mean one of these\?\n1\. How do I start a return\?/);
    expect(r.stdout).toMatch(/type a number to pick one/);
    expect(r.stdout).toMatch(/your wording was sent to the team for review/);
    const list = JSON.parse((await runCli(['review', '--json'], { env })).stdout) as Array<{ question: string; entryId: string }>;
    expect(list).toEqual([expect.objectContaining({ question: 'can I send something back', entryId: 'start-return' })]);
    const rejected = await runCli(['review', '--reject', '1'], { env });
    expect(rejected.stdout).toBe('rejected: "can I send something back" (entry "start-return")\n');
  }, 60_000);

  test('review lists nothing, then refuses a bad number with a usage error', async () => {
    const r = await runCli(['review'], { env });
    expect(r.stdout).toBe('no candidates waiting for team "default"\n');
    const bad = await runCli(['review', '--accept', 'x'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--accept x: give a candidate number/);
  }, 60_000);
});
