/**
 * Grounded generation around the model: retrieval, abstention, single-flight, deadlines, caching and
 * invalidation. The model here is a scripted TextModel, so these tests pin down our logic; the bundled model
 * itself is tested end to end in its own suite once its files are in models/.
 */
import type { App } from '../src/app';
import { preload } from '../src/faq/preload';
import { answerFrom, GroundedGenerator } from '../src/generate/generator';
import type { GenerateRequest, TextModel } from '../src/generate/model';
import { buildPrompt } from '../src/generate/prompt';
import { GenerationQueue } from '../src/generate/queue';
import { FakeClock } from './helpers/clock';
import { openTestApp, rec } from './helpers/app';
import { runCli } from './helpers/cli';
import { tmpDir } from './helpers/app';

class ScriptedModel implements TextModel {
  readonly name = 'scripted';
  readonly kind = 'seq2seq' as const;
  prompts: string[] = [];
  delayMs = 0;
  async generate(req: GenerateRequest): Promise<string> {
    const input = req.flat;
    this.prompts.push(input);
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    // Copies the answer of the first context entry, as the trained model is meant to.
    return /\[1\] .*? => (.*?)(?: \[2\] |$)/.exec(input)?.[1] ?? '';
  }
  async close(): Promise<void> {}
}

const FAQ = [
  rec('warranty', 'What does the warranty cover?', 'Two years on defects in materials and workmanship.', ['Is my tent under warranty?']),
  rec('rentals', 'Do you rent camping gear?', 'Yes: tents, stoves and packs from $15 a day.', ['Can I hire a tent?']),
  rec('hours', 'When is the store open?', 'Monday to Saturday, 9 am to 6 pm.'),
];

describe('reading the model output', () => {
  const ctx = FAQ.map((r) => ({ id: r.id, question: r.question, answer: r.answer })) as unknown as Parameters<typeof answerFrom>[1];
  test('[n] copies entry n of the context; [0], an out-of-range number and empty output abstain; text is used as written', () => {
    expect(answerFrom('[2]', ctx)).toBe('Yes: tents, stoves and packs from $15 a day.');
    expect(answerFrom(' [1] whatever follows', ctx)).toBe('Two years on defects in materials and workmanship.');
    expect(answerFrom('[0]', ctx)).toBeNull();
    expect(answerFrom('[4]', ctx)).toBeNull();
    expect(answerFrom('  ', ctx)).toBeNull();
    expect(answerFrom('We open at nine.', ctx)).toBe('We open at nine.');
  });
});

describe('GroundedGenerator in the answer pipeline', () => {
  let app: App;
  let clock: FakeClock;
  let model: ScriptedModel;
  let queue: GenerationQueue;

  const open = async (timeoutMs = 5000, maxQueue = 32) => {
    clock = new FakeClock();
    model = new ScriptedModel();
    queue = new GenerationQueue({ concurrency: 1, maxQueue, timeoutMs });
    let gen: GroundedGenerator | null = null;
    app = await openTestApp({}, { clock, generator: { generate: (t, q) => (gen as GroundedGenerator).generate(t, q) } });
    gen = new GroundedGenerator(app.cache, model, queue, { topK: 3, minCoverage: 0.3, maxNewTokens: 64 });
    await preload(app.store, FAQ, { tenant: 'default', prune: false, dryRun: false }, clock);
    return gen;
  };
  afterEach(() => app.close());

  test('a miss in scope is generated from the retrieved FAQ context, cached, and hit the second time', async () => {
    await open();
    const r = await app.answerer.ask('default', 'how long is the warranty on defects?');
    expect(r).toMatchObject({ source: 'generated', answer: 'Two years on defects in materials and workmanship.', entrySource: 'generated' });
    expect(model.prompts).toHaveLength(1);
    expect(model.prompts[0]).toMatch(/^question: how long is the warranty on defects\? context: \[1\] What does the warranty cover\? => Two years/);
    const again = await app.answerer.ask('default', 'how long is the warranty on defects?');
    expect(again.source).toBe('exact');
    expect(model.prompts).toHaveLength(1);
    const entry = await app.cache.getEntry('default', r.entryId ?? '');
    expect(entry?.usedEntries?.[0]).toBe('warranty');
    const report = await app.report('default');
    expect(report.generation.calls).toBe(1);
    expect(report.generation.meanModelMs).not.toBeNull();
    expect([report.misses.generated, report.hits.exact]).toEqual([1, 1]);
  });

  test('an out-of-scope question abstains: no model call, the honest fallback, logged as unanswered', async () => {
    await open();
    const r = await app.answerer.ask('default', 'what is the capital of Australia?');
    expect(r.source).toBe('fallback');
    expect(model.prompts).toHaveLength(0);
    expect((await app.report('default')).unanswered[0]?.question).toBe('what is the capital of Australia?');
  });

  test('10 concurrent identical questions cause exactly 1 model call', async () => {
    await open();
    model.delayMs = 50;
    const rs = await Promise.all(Array.from({ length: 10 }, () => app.answerer.ask('default', 'can I rent a stove for the weekend?')));
    expect(model.prompts).toHaveLength(1);
    expect(new Set(rs.map((r) => r.answer))).toEqual(new Set(['Yes: tents, stoves and packs from $15 a day.']));
  });

  test('a model slower than the deadline gives the fallback, never a hung reply; a full queue answers busy', async () => {
    await open(30, 0);
    model.delayMs = 300;
    const slow = await app.answerer.ask('default', 'is my stove under warranty for defects?');
    expect(slow).toMatchObject({ source: 'fallback', answer: app.config.fallbackAnswer });
    const busy = await app.answerer.ask('default', 'can I rent a tent for a week?');
    expect(busy).toMatchObject({ source: 'fallback', answer: app.config.busyAnswer });
  });

  test('an FAQ change invalidates the generated answers that used it', async () => {
    await open();
    await app.answerer.ask('default', 'how long is the warranty on defects?');
    const changed = [...FAQ];
    changed[0] = rec('warranty', 'What does the warranty cover?', 'Three years on defects in materials and workmanship.', ['Is my tent under warranty?']);
    const plan = await preload(app.store, changed, { tenant: 'default', prune: false, dryRun: false }, clock);
    expect(plan.invalidated).toHaveLength(1);
    const r = await app.answerer.ask('default', 'how long is the warranty on defects?');
    expect(r).toMatchObject({ source: 'generated', answer: 'Three years on defects in materials and workmanship.' });
  });

  test('the prompt is exactly the training format (tools/model/format.py)', () => {
    expect(buildPrompt('  Where\tis my\norder? ', [{ question: 'Q1', answer: 'A  1' }, { question: 'Q2', answer: 'A2' }])).toBe(
      'question: Where is my order? context: [1] Q1 => A 1 [2] Q2 => A2',
    );
  });
});

describe('model configuration', () => {
  test('a model folder that does not exist stops the command with one message; none runs cache-only', async () => {
    const env = { KVCACHE_DATA_DIR: tmpDir(), KVCACHE_MODEL: 'no-such-model' };
    const r = await runCli(['ask', 'hello'], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/KVCACHE_MODEL=no-such-model is not a model folder.*KVCACHE_MODEL=none/);
    const stats = await runCli(['stats'], { env }); // commands that answer nothing never load the model
    expect(stats.code).toBe(0);
    const none = await runCli(['ask', '--json', 'hello'], { env: { ...env, KVCACHE_MODEL: 'none' } });
    expect(JSON.parse(none.stdout).source).toBe('fallback');
  });
});
