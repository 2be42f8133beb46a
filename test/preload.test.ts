import type { App } from '../src/app';
import { FaqValidationError } from '../src/errors';
import { keys } from '../src/core/keys';
import { applyPlan, planPreload, preload, recoverJournals } from '../src/faq/preload';
import type { FaqRecord } from '../src/faq/parse';
import type { KvStore, StoreOp } from '../src/store/types';
import { FakeClock } from './helpers/clock';
import { openTestApp, rec, tmpDir } from './helpers/app';
import { startRedis, type RedisServer } from '../testkit/redis';

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis.stop());

const base = (): FaqRecord[] => [
  rec('returns', 'How do I return an item?', 'Within 30 days.', ['Can I send something back?']),
  rec('shipping', 'How much is shipping?', 'Free over $75.', ['What does delivery cost']),
  rec('hours', 'When are you open?', '9 to 5.', []),
];

async function dump(store: KvStore): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  for await (const [k, v] of store.scan('kv1:')) m.set(k, JSON.stringify(v));
  return m;
}

const storeSpec = (kind: string, db: number): string | undefined =>
  kind === 'memory' ? 'memory://' : kind === 'redis' ? `${redis.url}/${db}` : undefined;
let dbCounter = 0;

describe.each([['memory'], ['sqlite'], ['redis']])('preload on %s', (kind) => {
  let app: App;
  let clock: FakeClock;
  const opts = { tenant: 'default', prune: false, dryRun: false };

  beforeEach(async () => {
    clock = new FakeClock();
    // Each Redis test gets its own database (0-15), so no test sees another's keys.
    app = await openTestApp({ store: storeSpec(kind, (dbCounter += 1) % 16), dataDir: tmpDir() }, { clock });
    expect((await dump(app.store)).size).toBe(0);
  });
  afterEach(() => app.close());

  test('first run adds everything; a re-run is idempotent and writes nothing', async () => {
    const first = await preload(app.store, base(), opts, clock);
    expect([first.added, first.changed, first.unchanged]).toEqual([['hours', 'returns', 'shipping'], [], []]);
    const before = await dump(app.store);
    clock.advance(60_000);
    const again = await preload(app.store, base(), opts, clock);
    expect([again.added, again.changed, again.unchanged]).toEqual([[], [], ['hours', 'returns', 'shipping']]);
    expect(await dump(app.store)).toEqual(before); // untouched: same bytes, same timestamps
  });

  test('a changed entry is updated, keeps its creation time and hit count, and drops its old phrasings', async () => {
    await preload(app.store, base(), opts, clock);
    await app.answerer.ask('default', 'How do I return an item?');
    await app.cache.flushHits();
    clock.advance(1000);
    const next = base();
    next[0] = rec('returns', 'How do I return an item?', 'Within 60 days now.', ['How can I make a return?']);
    const plan = await preload(app.store, next, opts, clock);
    expect(plan.changed).toEqual(['returns']);
    const e = await app.cache.getEntry('default', 'returns');
    expect(e).toMatchObject({ answer: 'Within 60 days now.', hitCount: 1, createdAt: clock.now() - 1000, updatedAt: clock.now() });
    expect((await app.answerer.ask('default', 'how can i make a return')).entryId).toBe('returns');
    expect((await app.answerer.ask('default', 'Can I send something back?')).source).toBe('fallback');
  });

  test('--prune removes entries no longer in the files; without it they are kept and reported', async () => {
    await preload(app.store, base(), opts, clock);
    const kept = await preload(app.store, base().slice(0, 2), opts, clock);
    expect(kept.kept).toEqual(['hours']);
    expect((await app.answerer.ask('default', 'When are you open?')).source).toBe('exact');
    const pruned = await preload(app.store, base().slice(0, 2), { ...opts, prune: true }, clock);
    expect(pruned.removed).toEqual(['hours']);
    expect((await app.answerer.ask('default', 'When are you open?')).source).toBe('fallback');
    expect(await app.cache.getEntry('default', 'hours')).toBeNull();
  });

  test('--dry-run reports the plan and writes nothing', async () => {
    await preload(app.store, base(), opts, clock);
    const before = await dump(app.store);
    const next = [...base().slice(1), rec('new', 'Do you ship abroad?', 'Yes.')];
    next[0] = rec('shipping', 'How much is shipping?', 'Free over $50.', ['What does delivery cost']);
    const plan = await preload(app.store, next, { ...opts, prune: true, dryRun: true }, clock);
    expect([plan.added, plan.changed, plan.removed]).toEqual([['new'], ['shipping'], ['returns']]);
    expect(await dump(app.store)).toEqual(before);
  });

  test('two entries claiming the same normalized question: an error naming both, and nothing written', async () => {
    const bad = [...base(), rec('dup', 'how much is SHIPPING??', 'Other answer.')];
    const err = await preload(app.store, bad, opts, clock).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FaqValidationError);
    const p = (err as FaqValidationError).problems[0];
    expect(p).toMatchObject({ file: 'test.yaml', field: 'question' });
    expect(p?.message).toMatch(/entry "shipping"/);
    expect((await dump(app.store)).size).toBe(0);
  });

  test('a phrasing with no words after normalization is an error', async () => {
    const err = await preload(app.store, [rec('emoji', ':wave: ???', 'Hi')], opts, clock).catch((e: unknown) => e);
    expect((err as FaqValidationError).problems[0]?.message).toMatch(/no words left/);
  });

  test('an FAQ question held by a kept entry that is not in the files is a conflict', async () => {
    await preload(app.store, base(), opts, clock);
    const err = await preload(app.store, [rec('hours-2', 'When are you open', 'Always.')], opts, clock).catch((e: unknown) => e);
    expect((err as FaqValidationError).problems[0]?.message).toMatch(/already answered by FAQ entry "hours".*--prune/);
    // With --prune the old entry leaves and the new one takes the question.
    await preload(app.store, [rec('hours-2', 'When are you open', 'Always.')], { ...opts, prune: true }, clock);
    expect((await app.answerer.ask('default', 'when are you open?')).entryId).toBe('hours-2');
  });

  test('the FAQ overrides a generated answer to the same question; FAQ changes invalidate answers built on them', async () => {
    await preload(app.store, base(), opts, clock);
    await app.cache.put('default', { question: 'Do you rent kayaks?', answer: 'Maybe.', source: 'generated', usedEntries: ['hours'] });
    await app.cache.put('default', { question: 'Is there a warranty?', answer: 'Two years.', source: 'generated', usedEntries: ['returns'] });
    const next = [...base(), rec('kayaks', 'Do you rent kayaks?', 'Yes, from $40 a day.')];
    next[2] = rec('hours', 'When are you open?', '8 to 6.', []);
    const plan = await preload(app.store, next, opts, clock);
    expect(plan.overridden).toHaveLength(1);
    expect(plan.invalidated).toHaveLength(0); // the kayak answer used "hours" but was overridden first
    expect((await app.answerer.ask('default', 'Do you rent kayaks?')).answer).toBe('Yes, from $40 a day.');
    expect((await app.answerer.ask('default', 'Is there a warranty?')).source).toBe('exact');
    const next2 = [...next];
    next2[0] = rec('returns', 'How do I return an item?', 'Within 45 days.', ['Can I send something back?']);
    const plan2 = await preload(app.store, next2, opts, clock);
    expect(plan2.invalidated).toHaveLength(1);
    expect((await app.answerer.ask('default', 'Is there a warranty?')).source).toBe('fallback');
  });

  test('10,000 entries with 5 alternates each preload in one batch', async () => {
    const big: FaqRecord[] = [];
    for (let i = 0; i < 10_000; i++) {
      big.push(rec(`e${i}`, `question number ${i}`, `answer ${i}`, [1, 2, 3, 4, 5].map((j) => `variant ${j} of question ${i}`)));
    }
    const plan = await preload(app.store, big, opts, clock);
    expect(plan.added).toHaveLength(10_000);
    expect((await app.answerer.ask('default', 'VARIANT 3 of question 9999')).entryId).toBe('e9999');
  }, 120_000);
});

describe('journal for stores without transactions', () => {
  test('a preload interrupted after its journal was written is rolled forward on the next open', async () => {
    const clock = new FakeClock();
    const app = await openTestApp({ store: 'memory://' }, { clock });
    try {
      const plan = await planPreload(app.store, base(), { tenant: 'default', prune: false, dryRun: false }, clock);
      // Simulate a crash: journal written and only the first op applied.
      await app.store.set(keys.journal('default'), { at: clock.now(), ops: plan.ops });
      await app.store.apply(plan.ops.slice(0, 1) as StoreOp[]);
      expect((await app.answerer.ask('default', 'When are you open?')).source).toBe('fallback');
      expect(await recoverJournals(app.store)).toEqual(['default']);
      expect((await app.answerer.ask('default', 'When are you open?')).source).toBe('exact');
      expect(await app.store.get(keys.journal('default'))).toBeUndefined();
      // A clean apply leaves no journal behind.
      await applyPlan(app.store, await planPreload(app.store, base().slice(0, 1), { tenant: 'T2', prune: false, dryRun: false }, clock), clock);
      expect(await recoverJournals(app.store)).toEqual([]);
    } finally {
      await app.close();
    }
  });
});
