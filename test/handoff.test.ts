/**
 * Hand-offs through the core (src/handoff/), on every store backend: one hand-off per question however many
 * processes race to open it, answers that become pinned team entries (exact, normalized and paraphrase hits),
 * preload that keeps them unless told, and the console chat's desk.
 */
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { App } from '../src/app';
import { runChat } from '../src/console/chat';
import { keys } from '../src/core/keys';
import { preload } from '../src/faq/preload';
import { MAX_ASKERS, personRequest, shouldHandOff, type HandoffAsker } from '../src/handoff/handoffs';
import { startRedis, type RedisServer } from '../testkit/redis';
import { openTestApp, rec, tmpDir } from './helpers/app';
import { runCli } from './helpers/cli';
import { FakeClock } from './helpers/clock';

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis.stop());

const FAQ = [
  rec('shipping', 'How long does shipping take?', 'Three to five working days.', ['When will my order arrive?']),
  rec('returns', 'How do I return an item?', 'Returns are free within 30 days.'),
];
const asker = (user: string, channel = 'C1', threadTs = '1.1'): HandoffAsker => ({ via: 'slack', user, channel, threadTs, at: 0 });

const backends: Array<[string, () => string]> = [
  ['memory', () => 'memory://'],
  ['sqlite', () => `sqlite://${path.join(tmpDir(), 'kv.sqlite')}`],
  ['redis', () => `${redis.url}/3`],
];

describe.each(backends)('hand-offs on %s', (_name, spec) => {
  let app: App;
  let clock: FakeClock;
  let store: string;
  beforeEach(async () => {
    clock = new FakeClock(1_700_000_000_000);
    store = spec();
    if (store.startsWith('redis')) await redis.command('FLUSHALL');
    app = await openTestApp({ store }, { clock, semantic: null });
    await preload(app.store, FAQ, { tenant: 'T1', prune: false, dryRun: false }, clock);
  });
  afterEach(() => app.close());

  test('a question is handed off once; askers join it (each once), numbered per team', async () => {
    const a = await app.handoffs.open('T1', { question: 'Can I pay with goats?', reason: 'unanswered', tried: [], asker: asker('UJOE') });
    const b = await app.handoffs.open('T1', { question: 'can i pay with GOATS', reason: 'unanswered', tried: [], asker: asker('UANN', 'D1', '2.2') });
    const again = await app.handoffs.open('T1', { question: 'Can I pay with goats?', reason: 'unanswered', tried: [], asker: asker('UJOE') });
    expect([a?.created, b?.created, again?.created]).toEqual([true, false, false]);
    expect(again?.handoff).toMatchObject({ number: 1, asked: 3, status: 'open' });
    expect(again?.handoff.askers.map((x) => x.user)).toEqual(['UJOE', 'UANN']);
    const other = await app.handoffs.open('T1', { question: 'Do you sell gift cards?', reason: 'unanswered', tried: [], asker: asker('UJOE') });
    const elsewhere = await app.handoffs.open('T2', { question: 'Can I pay with goats?', reason: 'unanswered', tried: [], asker: asker('UZED') });
    expect([other?.handoff.number, elsewhere?.handoff.number]).toEqual([2, 1]);
    expect((await app.handoffs.list('T1')).map((h) => h.question)).toEqual(['Can I pay with goats?', 'Do you sell gift cards?']);
  });

  test('processes racing to open the same question make one hand-off', async () => {
    // Other processes' views of the same store (memory is one process's own).
    const others = store === 'memory://' ? [] : await Promise.all([0, 1, 2].map(() => openTestApp({ store }, { clock, semantic: null })));
    try {
      const apps = [app, ...others];
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) => (apps[i % apps.length] as App).handoffs.open('T1', { question: 'Where is my parcel?', reason: 'unanswered', tried: [], asker: asker(`U${i}`) })),
      );
      expect(results.filter((r) => r?.created).length).toBe(1);
      const open = await app.handoffs.list('T1');
      expect(open).toHaveLength(1);
      expect(open[0]?.asked).toBe(12);
    } finally {
      await Promise.all(others.map((o) => o.close()));
    }
  });

  test('an answer becomes a pinned team entry, queued for the askers; a second answer is refused', async () => {
    await app.handoffs.open('T1', { question: 'Can I pay with goats?', reason: 'unanswered', tried: [], asker: asker('UJOE') });
    clock.advance(90_000);
    const { handoff, entry } = await app.handoffs.answer('T1', 1, { answer: 'Only on Tuesdays.', by: 'USUP' });
    expect(handoff).toMatchObject({ status: 'answered', closedBy: 'USUP', answer: 'Only on Tuesdays.', entryId: entry?.id });
    expect(entry).toMatchObject({ source: 'team', expiresAt: null, answeredBy: 'USUP', origin: 'hand-off #1' });
    await expect(app.handoffs.answer('T1', 1, { answer: 'No.', by: 'UOTHER' })).rejects.toThrow(/already answered by USUP/);
    // Exact and normalized keys answer from now on.
    const r = await app.answerer.ask('T1', 'can I pay with goats');
    expect([r.source, r.answer, r.entrySource]).toEqual(['normalized', 'Only on Tuesdays.', 'team']);
    // The relay queue hands it out once.
    const told: number[] = [];
    expect(await app.handoffs.relay(async (h) => (told.push(h.number), true))).toBe(1);
    expect(await app.handoffs.relay(async (h) => (told.push(h.number), true))).toBe(0);
    expect(told).toEqual([1]);
    const report = await app.report('T1');
    expect(report.handoffs).toMatchObject({ open: 0, opened: 1, answered: 1, reused: 1, medianAnswerMs: expect.any(Number) });
    expect(report.handoffs.medianAnswerMs ?? 0).toBeGreaterThan(80_000);
    expect(report.entries.team).toBe(1);
  });

  test('a failed relay stays queued for the next round', async () => {
    await app.handoffs.open('T1', { question: 'Q?', reason: 'unanswered', tried: [], asker: asker('UJOE') });
    await app.handoffs.dismiss('T1', 1, 'USUP');
    expect(await app.handoffs.relay(async () => false)).toBe(0);
    expect(await app.handoffs.relay(async (h) => h.status === 'dismissed')).toBe(1);
  });

  test('linking to an FAQ entry answers with it; a preload that changes the entry updates the link', async () => {
    await app.handoffs.open('T1', { question: 'my package is late', reason: 'unanswered', tried: [], asker: asker('UJOE') });
    const { entry } = await app.handoffs.answer('T1', 1, { answer: '', by: 'USUP', linkTo: 'shipping' });
    expect(entry).toMatchObject({ source: 'team', linkedTo: 'shipping', answer: 'Three to five working days.' });
    await expect(app.handoffs.answer('T1', 2, { answer: 'x', by: 'U' })).rejects.toThrow(/no hand-off #2/);
    const changed = [rec('shipping', 'How long does shipping take?', 'Two working days now.', ['When will my order arrive?']), ...FAQ.slice(1)];
    const plan = await preload(app.store, changed, { tenant: 'T1', prune: true, dryRun: false }, clock);
    expect(plan.teamRefreshed).toEqual([entry?.id]);
    expect((await app.answerer.ask('T1', 'My package is late!')).answer).toBe('Two working days now.');
    // The entry leaves: its wordings leave with it.
    const gone = await preload(app.store, FAQ.slice(1), { tenant: 'T1', prune: true, dryRun: false }, clock);
    expect(gone.teamRemoved).toEqual([entry?.id]);
    expect((await app.answerer.ask('T1', 'my package is late')).source).toBe('fallback');
  });

  test('preload keeps team entries (even with --prune), drops them with --prune-team, and gives way to the FAQ', async () => {
    await app.handoffs.open('T1', { question: 'Do you sell gift cards?', reason: 'unanswered', tried: [], asker: asker('UJOE') });
    await app.handoffs.answer('T1', 1, { answer: 'Yes, from 10 to 500 euros.', by: 'USUP' });
    await app.handoffs.open('T1', { question: 'Can I pay with goats?', reason: 'unanswered', tried: [], asker: asker('UJOE') });
    await app.handoffs.answer('T1', 2, { answer: 'Only on Tuesdays.', by: 'USUP' });
    const kept = await preload(app.store, FAQ, { tenant: 'T1', prune: true, dryRun: false }, clock);
    expect([kept.removed, kept.kept, kept.teamRemoved]).toEqual([[], [], []]);
    expect((await app.cache.counts('T1')).team).toBe(2);
    // The team's gift-card answer is curated into the FAQ: the FAQ entry takes the question over.
    const curated = [...FAQ, rec('gift-cards', 'Do you sell gift cards?', 'Yes: 10 to 500 euros, online and in shops.')];
    const plan = await preload(app.store, curated, { tenant: 'T1', prune: false, dryRun: false }, clock);
    expect(plan.teamRemoved).toHaveLength(1);
    expect(await app.answerer.ask('T1', 'do you sell gift cards')).toMatchObject({ entryId: 'gift-cards', entrySource: 'faq' });
    const pruned = await preload(app.store, curated, { tenant: 'T1', prune: false, pruneTeam: true, dryRun: false }, clock);
    expect(pruned.teamRemoved).toHaveLength(1);
    expect((await app.cache.counts('T1')).team).toBe(0);
    expect((await app.answerer.ask('T1', 'Can I pay with goats?')).source).toBe('fallback');
  });

  test('bounded: an open hand-off keeps at most MAX_ASKERS askers and counts every ask', async () => {
    for (let i = 0; i < MAX_ASKERS + 5; i++) await app.handoffs.open('T1', { question: 'Q?', reason: 'unanswered', tried: [], asker: asker(`U${i}`) });
    const [h] = await app.handoffs.list('T1');
    expect(h?.askers).toHaveLength(MAX_ASKERS);
    expect(h?.asked).toBe(MAX_ASKERS + 5);
  });
});

test('team answers are embedded at once: a paraphrase of the question hits them, under the usual rule', async () => {
  const clock = new FakeClock(1_700_000_000_000);
  // The real wiring: openApp loads the bundled MiniLM, and the hand-offs embed what the team answers.
  const app = await openTestApp({ cjkEmbedModel: 'none' }, { clock, withEmbedder: true });
  try {
    await preload(app.store, FAQ, { tenant: 'T1', prune: false, dryRun: false }, clock);
    await app.semantic?.sync('T1');
    await app.handoffs.open('T1', { question: 'Can I pay for my order with bitcoin?', reason: 'unanswered', tried: [], asker: asker('UJOE') });
    await app.handoffs.answer('T1', 1, { answer: 'No, we take cards and PayPal only.', by: 'USUP' });
    const r = await app.answerer.ask('T1', 'can i pay for my order using bitcoin');
    expect([r.source, r.answer, r.entrySource]).toEqual(['semantic', 'No, we take cards and PayPal only.', 'team']);
    // Unrelated questions still miss.
    expect((await app.answerer.ask('T1', 'what is the capital of France')).source).toBe('fallback');
  } finally {
    await app.close();
  }
}, 60_000);

test('what goes to the team, and how a person is asked for', () => {
  const base = { question: 'q', matchedQuestion: null, score: null, latencyMs: 1, entryTenant: null, entrySource: null, entryId: null } as const;
  expect(shouldHandOff({ ...base, answer: 'fallback', source: 'fallback' }, 'busy')).toBe(true);
  expect(shouldHandOff({ ...base, answer: 'busy', source: 'fallback' }, 'busy')).toBe(false);
  expect(shouldHandOff({ ...base, answer: 'x', source: 'fallback', suggestions: [{ entryId: 'a', entryTenant: 't', question: 'q', similarity: 0.6 }] }, 'busy')).toBe(false);
  expect(shouldHandOff({ ...base, answer: 'x', source: 'exact', entryId: 'a' }, 'busy')).toBe(false);
  expect(personRequest('talk to a person: my parcel is lost')).toBe('my parcel is lost');
  expect(personRequest('Please speak to an agent')).toBe('');
  expect(personRequest('speak to a human, my card was stolen')).toBe('my card was stolen');
  expect(personRequest('human')).toBe('');
  expect(personRequest('转人工 我的快递丢了')).toBe('我的快递丢了');
  expect(personRequest('转人工我的快递丢了')).toBe('我的快递丢了');
  expect(personRequest('humans are great')).toBeNull();
  expect(personRequest('How do I talk to a person at the bank?')).toBeNull();
});

test('console chat: an unanswered question is handed off, answered with /answer, and the answer comes back', async () => {
  const clock = new FakeClock(1_700_000_000_000);
  const app = await openTestApp({}, { clock, semantic: null });
  try {
    await preload(app.store, FAQ, { tenant: 'default', prune: false, dryRun: false }, clock);
    const input = new PassThrough();
    const output = new PassThrough();
    let text = '';
    output.on('data', (d: Buffer) => (text += d.toString('utf8')));
    const done = runChat(app, { tenant: 'default', input, output });
    input.end(['Can I pay with goats?', '/handoffs', '/answer 1 Only on Tuesdays.', '/answer 1 again', 'can i pay with goats', 'talk to a person', 'talk to a person: I was charged twice', '/dismiss 2', '/quit', ''].join('\n'));
    await done;
    expect(text).toContain("I've passed your question to the support team");
    expect(text).toMatch(/#1 {2}Can I pay with goats\? {2}\(asked 1×/);
    expect(text).toContain('answered hand-off #1 and saved it as team entry t-');
    expect(text).toContain('The support team answered "Can I pay with goats?": Only on Tuesdays.');
    expect(text).toContain('error: hand-off #1 was already answered by console');
    expect(text).toMatch(/bot> Only on Tuesdays\.\n {5}\(answered by the support team/);
    expect(text).toContain('Tell me your question along with it');
    expect(text).toContain('(hand-off #2:');
    expect(text).toContain('The support team could not answer "I was charged twice" here.');
    expect((await app.handoffs.get('default', 2))?.reason).toBe('requested');
  } finally {
    await app.close();
  }
});

test('CLI: handoffs, answer, dismiss, export --source team, with one clear line for each mistake', async () => {
  const dir = tmpDir();
  const env = { KVCACHE_DATA_DIR: dir, KVCACHE_EMBED_MODEL: 'none' };
  const clock = new FakeClock(1_700_000_000_000);
  const app = await openTestApp({ store: `sqlite://${path.join(dir, 'kvcache.sqlite')}` }, { clock, semantic: null });
  await preload(app.store, FAQ, { tenant: 'default', prune: false, dryRun: false }, clock);
  await app.handoffs.open('default', { question: 'Can I pay with goats?', reason: 'unanswered', tried: [{ entryId: 'returns', question: 'How do I return an item?', similarity: 0.31 }], asker: asker('UJOE') });
  await app.handoffs.open('default', { question: 'my package is late', reason: 'unanswered', tried: [], asker: asker('UANN') });
  await app.handoffs.open('default', { question: 'Is this a bank?', reason: 'unanswered', tried: [], asker: asker('UANN') });
  await app.close();
  const list = await runCli(['handoffs'], { env });
  expect(list.code).toBe(0);
  expect(list.stdout).toMatch(/^#1 {2}Can I pay with goats\? {2}\(asked 1×, waiting \d+ min; nearest: returns 0\.31\)$/m);
  expect((await runCli(['answer', '1', 'Only', 'on', 'Tuesdays.', '--by', 'ops'], { env })).stdout).toMatch(/answered hand-off #1 \(saved as team entry t-[0-9a-f]+\); 1 asker will be told/);
  expect((await runCli(['answer', '2', '--link', 'shipping'], { env })).code).toBe(0);
  expect((await runCli(['dismiss', '3'], { env })).stdout).toMatch(/closed hand-off #3 as not for us/);
  const bad = await runCli(['answer', '1', 'again'], { env });
  expect([bad.code, bad.stderr.trim()]).toEqual([1, 'kvcache: hand-off #1 was already answered by ops']);
  const both = await runCli(['answer', '9'], { env });
  expect([both.code, both.stderr.trim()]).toEqual([2, 'kvcache: answer takes either the ANSWER text or --link ENTRY (not both, not neither)']);
  const nan = await runCli(['answer', 'x', 'y'], { env });
  expect([nan.code, nan.stderr]).toEqual([2, expect.stringContaining('"x" is not a hand-off number')]);
  const exported = await runCli(['export', '--source', 'team'], { env });
  expect(exported.stdout).toContain('answer: Only on Tuesdays.');
  expect(exported.stdout).toContain('alternate-of:shipping');
  expect((await runCli(['handoffs'], { env })).stdout.trim()).toBe('no open hand-offs');
  expect((await runCli(['handoffs', '--all'], { env })).stdout).toMatch(/#3 {2}\[dismissed\]/);
  const stats = JSON.parse((await runCli(['stats', '--json'], { env })).stdout) as { handoffs: Record<string, unknown> };
  expect(stats.handoffs).toMatchObject({ open: 0, opened: 3, answered: 2, dismissed: 1 });
  // The relay key queue is what a Slack replica reads: every closed hand-off is in it.
  const reopened = await openTestApp({ store: `sqlite://${path.join(dir, 'kvcache.sqlite')}` }, { clock, semantic: null });
  try {
    let queued = 0;
    for await (const _ of reopened.store.scan(keys.handoffRelay())) queued += 1;
    expect(queued).toBe(3);
  } finally {
    await reopened.close();
  }
});
