import type { App } from '../src/app';
import { KvcacheError } from '../src/errors';
import { preload } from '../src/faq/preload';
import { FakeClock } from './helpers/clock';
import { openTestApp, rec, tmpDir } from './helpers/app';
import { startRedis, type RedisServer } from '../testkit/redis';

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis.stop());
let db = 0;
const specFor = (kind: string) => (kind === 'memory' ? 'memory://' : kind === 'redis' ? `${redis.url}/${(db += 1) % 16}` : undefined);

const DAY = 86_400_000;
const faq = [
  rec('returns', 'How do I return an item?', 'Start a return within 30 days at pinecone.example/returns.', ['Can I send something back?']),
  rec('shipping', 'How much is shipping?', 'Shipping is free over $75, otherwise $6.95.', ['What does delivery cost']),
];

describe.each([['memory'], ['sqlite'], ['redis']])('AnswerCache on %s', (kind) => {
  let app: App;
  let clock: FakeClock;

  beforeEach(async () => {
    clock = new FakeClock();
    app = await openTestApp({ ttlMs: 7 * DAY, maxEntries: 3, store: specFor(kind), dataDir: tmpDir() }, { clock });
    for await (const [k] of app.store.scan('kv1:')) throw new Error(`store not empty: ${k}`);
    await preload(app.store, faq, { tenant: 'default', prune: false, dryRun: false }, clock);
  });
  afterEach(() => app.close());

  test('exact key hit, then normalized key hit for other casing, width, punctuation and markup', async () => {
    const a = await app.answerer.ask('default', 'How do I return an item?');
    expect(a).toMatchObject({ source: 'exact', entryId: 'returns', matchedQuestion: 'How do I return an item?', score: null });
    for (const q of ['how do i return an item', 'ＨＯＷ ＤＯ Ｉ ＲＥＴＵＲＮ ＡＮ ＩＴＥＭ？', '*How* do I return an item?!', '<@U123> how do I   return an item']) {
      const r = await app.answerer.ask('default', q);
      expect([q, r.source, r.entryId]).toEqual([q, 'normalized', 'returns']);
    }
  });

  test('alternates resolve to their entry and report the phrasing that matched', async () => {
    const r = await app.answerer.ask('default', 'can i send something back');
    expect(r).toMatchObject({ source: 'normalized', entryId: 'returns', matchedQuestion: 'Can I send something back?' });
  });

  test('a question that differs in meaning misses and gets the fallback, logged as unanswered', async () => {
    const r = await app.answerer.ask('default', "Can't I send something back?");
    expect(r.source).toBe('fallback');
    expect(r.answer).toBe(app.config.fallbackAnswer);
    const report = await app.report('default');
    expect(report.unanswered.map((u) => u.question)).toEqual(["Can't I send something back?"]);
  });

  test('tenants never see each other; a tenant without its own FAQ is served by the default FAQ', async () => {
    await preload(app.store, [rec('returns', 'How do I return an item?', 'Team A answer')], { tenant: 'TA', prune: false, dryRun: false }, clock);
    expect((await app.answerer.ask('TA', 'How do I return an item?')).answer).toBe('Team A answer');
    expect((await app.answerer.ask('default', 'How do I return an item?')).answer).toMatch(/30 days/);
    expect((await app.answerer.ask('TB', 'How do I return an item?')).answer).toMatch(/30 days/);
    // TA has its own FAQ, so the default FAQ does not leak into it.
    expect((await app.answerer.ask('TA', 'How much is shipping?')).source).toBe('fallback');
    // A manual answer in TB is TB's alone.
    await app.cache.put('TB', { question: 'Do you sell tents?', answer: 'Yes, 40 models.', source: 'manual' });
    expect((await app.answerer.ask('TB', 'do you sell tents')).source).toBe('normalized');
    expect((await app.answerer.ask('default', 'do you sell tents')).source).toBe('fallback');
  });

  test('generated and manual entries expire after the TTL (injected clock, no sleep); FAQ entries never do', async () => {
    await app.cache.put('default', { question: 'Do you sell tents?', answer: 'Yes.', source: 'generated' });
    clock.advance(7 * DAY - 1);
    expect((await app.answerer.ask('default', 'Do you sell tents?')).source).toBe('exact');
    clock.advance(2);
    expect((await app.answerer.ask('default', 'Do you sell tents?')).source).toBe('fallback');
    clock.advance(365 * DAY);
    expect((await app.answerer.ask('default', 'How much is shipping?')).source).toBe('exact');
  });

  test('capacity bound evicts the least recently used dynamic entry, counts it, and never touches FAQ entries', async () => {
    for (const q of ['q one', 'q two', 'q three']) {
      await app.cache.put('default', { question: q, answer: `a ${q}`, source: 'generated' });
      clock.advance(1000);
    }
    expect((await app.answerer.ask('default', 'q one')).source).toBe('exact'); // q one is now most recent
    await app.cache.put('default', { question: 'q four', answer: 'a q four', source: 'generated' });
    expect((await app.answerer.ask('default', 'q two')).source).toBe('fallback');
    for (const q of ['q one', 'q three', 'q four', 'How do I return an item?', 'How much is shipping?']) {
      expect([q, (await app.answerer.ask('default', q)).source]).toEqual([q, 'exact']);
    }
    const report = await app.report('default');
    expect(report.evictions).toBe(1);
    expect(report.entries).toEqual({ faq: 2, generated: 3, manual: 0, team: 0 });
  });

  test('an expired entry pushed out by capacity is not counted as an eviction', async () => {
    await app.cache.put('default', { question: 'old one', answer: 'x', source: 'generated' });
    clock.advance(8 * DAY);
    for (const q of ['n1', 'n2', 'n3']) await app.cache.put('default', { question: q, answer: q, source: 'generated' });
    expect((await app.report('default')).evictions).toBe(0);
  });

  test('the capacity bound holds across a restart: the LRU order is rebuilt from the store', async () => {
    for (const q of ['r1', 'r2', 'r3']) {
      await app.cache.put('default', { question: q, answer: q, source: 'generated' });
      clock.advance(1000);
    }
    const { AnswerCache } = await import('../src/core/cache');
    const fresh = new AnswerCache({ store: app.store, clock, stats: app.stats, ttlMs: 7 * DAY, maxEntries: 3 });
    await fresh.put('default', { question: 'r4', answer: 'r4', source: 'generated' });
    expect(await fresh.lookup('default', 'r1')).toBeNull();
    expect(await fresh.lookup('default', 'r2')).not.toBeNull();
    expect(await fresh.trackedCount()).toBe(3);
  });

  test('forget removes an entry and every key that points at it', async () => {
    const gone = await app.cache.forgetQuestion('default', 'what does delivery cost');
    expect(gone?.id).toBe('shipping');
    expect((await app.answerer.ask('default', 'How much is shipping?')).source).toBe('fallback');
    expect((await app.answerer.ask('default', 'What does delivery cost')).source).toBe('fallback');
    expect(await app.cache.forgetId('default', 'nope')).toBeNull();
  });

  test('a manual answer cannot shadow an FAQ question', async () => {
    await expect(app.cache.put('default', { question: 'how much is SHIPPING', answer: 'x', source: 'manual' })).rejects.toMatchObject({
      code: 'FAQ_CONFLICT',
    });
  });

  test('hit counts and last-hit times are written behind and persist in the entry', async () => {
    await app.answerer.ask('default', 'How much is shipping?');
    clock.advance(5000);
    await app.answerer.ask('default', 'what does delivery cost?');
    await app.cache.flushHits();
    const e = await app.cache.getEntry('default', 'shipping');
    expect(e).toMatchObject({ hitCount: 2, lastHitAt: clock.now() });
  });

  test('empty and over-long questions are refused with coded errors', async () => {
    await expect(app.answerer.ask('default', '   ')).rejects.toMatchObject({ code: 'QUESTION_EMPTY' });
    const long = 'x'.repeat(app.config.maxQuestionChars + 1);
    await expect(app.answerer.ask('default', long)).rejects.toBeInstanceOf(KvcacheError);
    await expect(app.answerer.ask('default', long)).rejects.toMatchObject({ code: 'QUESTION_TOO_LONG' });
  });

  test('invalid tenant ids are refused', async () => {
    const { checkTenant } = await import('../src/core/keys');
    expect(() => checkTenant('a:b')).toThrow(/not a valid tenant id/);
    expect(checkTenant('T0123ABCD')).toBe('T0123ABCD');
  });
});

describe('feedback', () => {
  test('👎 removes a generated answer, keeps a curated one for review, and every vote is counted', async () => {
    const clock = new FakeClock();
    const app = await openTestApp({}, { clock });
    try {
      const { giveFeedback } = await import('../src/core/feedback');
      await preload(app.store, faq, { tenant: 'default', prune: false, dryRun: false }, clock);
      const gen = await app.cache.put('default', { question: 'Do you sell tents?', answer: 'Wrong answer', source: 'generated' });
      const deps = { cache: app.cache, stats: app.stats, clock };
      const base = { tenant: 'default', entryTenant: 'default', user: 'U1' };
      const r1 = await giveFeedback(deps, { ...base, entryId: gen.id, vote: 'down', question: 'Do you sell tents?' });
      expect(r1.removed).toBe(true);
      expect((await app.answerer.ask('default', 'Do you sell tents?')).source).toBe('fallback');
      const r2 = await giveFeedback(deps, { ...base, entryId: 'returns', vote: 'down', question: 'How do I return an item?' });
      expect(r2.removed).toBe(false);
      expect((await app.answerer.ask('default', 'How do I return an item?')).source).toBe('exact');
      await giveFeedback(deps, { ...base, entryId: 'returns', vote: 'up', question: 'How do I return an item?' });
      const report = await app.report('default');
      expect(report.feedback).toEqual({ up: 1, down: 2, removed: 1 });
      expect(report.reviews.map((r) => [r.entryId, r.source, r.removed])).toEqual([
        ['returns', 'faq', false],
        [gen.id, 'generated', true],
      ]);
    } finally {
      await app.close();
    }
  });
});
