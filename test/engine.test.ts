/**
 * The OpenAI-compatible engine backend and the faithfulness guard, against a local engine that speaks the API
 * (testkit/openai-api.ts) and, through the product, with the real paraphrase model checking sentences.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadEmbedder, type Embedder } from '../src/embed/embedder';
import { KvcacheError } from '../src/errors';
import { EngineModel } from '../src/generate/engine';
import { contextFacts, DEFAULT_GUARD, factsOf, FaithfulnessGuard } from '../src/generate/guard';
import { ABSTAIN, buildChat, SYSTEM_PROMPT } from '../src/generate/prompt';
import { freePort } from '../testkit/redis';
import { firstFaqAnswer, startFakeEngine, type ChatMessage, type FakeEngine } from '../testkit/openai-api';
import { tmpDir } from './helpers/app';
import { runCli } from './helpers/cli';

const chat = buildChat('How long does shipping take?', [{ question: 'How long does shipping take?', answer: 'Three to five working days.' }]);
const req = (onText?: (s: string) => void) => ({ flat: '', chat, maxNewTokens: 64, ...(onText ? { onText } : {}) });

async function expectError(p: Promise<unknown>, code: string, message: RegExp): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(KvcacheError);
    expect((err as KvcacheError).code).toBe(code);
    expect((err as Error).message).toMatch(message);
    return (err as Error).message;
  }
  throw new Error('expected an error');
}

describe('the engine backend', () => {
  let engine: FakeEngine;
  beforeAll(async () => {
    engine = await startFakeEngine({ key: 'sk-secret-123', pieceMs: 2 });
  });
  afterAll(() => engine.close());
  const connect = (o: Partial<Parameters<typeof EngineModel.connect>[0]> = {}) =>
    EngineModel.connect({ url: engine.url, model: 'smollm2-135m-instruct', key: 'sk-secret-123', timeoutMs: 2000, sleep: async () => undefined, ...o });

  test('start-up says what is wrong: unreachable, a refused key, a model it does not serve; the key is never shown', async () => {
    const port = await freePort();
    await expectError(connect({ url: `http://127.0.0.1:${port}/v1` }), 'MODEL_LOAD_FAILED', /cannot reach the inference engine at KVCACHE_ENGINE_URL=http:\/\/127\.0\.0\.1:\d+\/v1: ECONNREFUSED; start the engine/);
    const refused = await expectError(connect({ key: 'sk-wrong-456' }), 'MODEL_LOAD_FAILED', /refused the request \(HTTP 401\): set KVCACHE_ENGINE_KEY/);
    expect(refused).not.toContain('sk-wrong-456');
    await expectError(connect({ key: null }), 'MODEL_LOAD_FAILED', /HTTP 401/);
    await expectError(connect({ model: 'llama-70b' }), 'MODEL_LOAD_FAILED', /KVCACHE_ENGINE_MODEL=llama-70b is not served by .*; it serves: smollm2-135m-instruct/);
  });

  test('streams: the text grows as pieces arrive; the shared instructions come first in every request', async () => {
    const m = await connect();
    const seen: string[] = [];
    expect(await m.generate(req((s) => seen.push(s)))).toBe('Three to five working days.');
    expect(seen.length).toBeGreaterThan(3);
    expect(seen.at(-1)).toBe('Three to five working days.');
    const body = engine.calls.at(-1)?.body as { messages: ChatMessage[]; stream: boolean; temperature: number; cache_prompt: boolean };
    expect(body).toMatchObject({ stream: true, temperature: 0, cache_prompt: true });
    expect(body.messages[0]).toEqual({ role: 'system', content: SYSTEM_PROMPT });
    // A second question reuses the engine's cache of the shared instructions.
    await m.generate({ ...req(), chat: buildChat('Where is my parcel?', [{ question: 'Where is my order?', answer: 'See the tracking link.' }]) });
    expect(engine.calls.at(-1)?.cachedTokens).toBeGreaterThanOrEqual(SYSTEM_PROMPT.split(/\s+/).length);
    expect(m.lastUsage.cachedTokens).toBe(engine.calls.at(-1)?.cachedTokens);
  });

  test('429 and 503 are retried (after Retry-After); other failures and timeouts fail at once, as ENGINE_FAILED', async () => {
    const waits: number[] = [];
    const m = await connect({ sleep: async (ms) => void waits.push(ms) });
    engine.failNext(429, 1, 2);
    engine.failNext(503, 1);
    const before = engine.calls.length;
    expect(await m.generate(req())).toBe('Three to five working days.');
    expect(engine.calls.length - before).toBe(3);
    expect(waits).toEqual([2000, 500]);
    engine.failNext(429, 4);
    await expectError(m.generate(req()), 'ENGINE_FAILED', /HTTP 429/);
    engine.failNext(500, 1);
    const n = engine.calls.length;
    await expectError(m.generate(req()), 'ENGINE_FAILED', /HTTP 500/);
    expect(engine.calls.length - n).toBe(1);
    const slow = await connect({ timeoutMs: 200 });
    engine.stallNext(1000);
    await expectError(slow.generate(req()), 'ENGINE_FAILED', /did not answer: timed out/);
  });
});

describe('the faithfulness guard', () => {
  let embedder: Embedder;
  beforeAll(async () => {
    embedder = await loadEmbedder({ model: 'all-MiniLM-L6-v2' });
  });
  afterAll(() => embedder.close());
  const ctx = [
    'How long does shipping take?\nStandard shipping takes 3 to 5 working days; express takes one day and costs $9.95.',
    'How do I contact support?\nWrite to help@shop.example or call +1 555 010 2000, Monday to Friday, 9 am to 5 pm.',
  ];

  test('facts are compared by value: digits, words, amounts, times, e-mails, phones, codes, weekdays', () => {
    expect(factsOf('Call +1 (555) 010-2000 or mail help@shop.example before 5 pm on Tuesday.').map((f) => `${f.kind}:${f.key}`)).toEqual(['email:help@shop.example', 'time:5pm', 'phone:15550102000', 'name:tuesday']);
    expect(factsOf('Use code SAVE10 for 10% off; 1,000 items, three days, see https://shop.example/x.').map((f) => `${f.kind}:${f.key}`)).toEqual(['url:shop.example/x', 'code:save10', 'number:10', 'number:1000', 'number:3']);
    expect(factsOf('退款需要3到5个工作日，周一到周五9点到18点。').map((f) => f.key)).toEqual(['9点', '18点', '周一', '周五', '3', '5']);
    const known = contextFacts(ctx.join('\n'));
    for (const k of ['number:3', 'number:5', 'number:9.95', 'number:1', 'email:help@shop.example', 'phone:15550102000', 'time:9am', 'name:monday']) expect(known.has(k)).toBe(true);
  });

  test('passes what the entries say, in other words; blocks a changed or added fact and an unsupported sentence', async () => {
    const guard = new FaithfulnessGuard({ ...DEFAULT_GUARD, embedder });
    expect(await guard.check('Standard shipping takes three to five working days.', ctx)).toMatchObject({ ok: true });
    expect(await guard.check('Express delivery takes one day and costs $9.95.', ctx)).toMatchObject({ ok: true });
    expect(await guard.check('You can email help@shop.example from Monday to Friday.', ctx)).toMatchObject({ ok: true });
    expect(await guard.check('Standard shipping takes 3 to 7 working days.', ctx)).toMatchObject({ ok: false, reason: 'unsupported_fact', detail: '7' });
    expect(await guard.check('Express costs $12.50.', ctx)).toMatchObject({ ok: false, reason: 'unsupported_fact' });
    expect(await guard.check('Call us at +1 555 010 9999.', ctx)).toMatchObject({ ok: false, reason: 'unsupported_fact' });
    expect(await guard.check('Write to refunds@shop.example.', ctx)).toMatchObject({ ok: false, reason: 'unsupported_fact', detail: 'refunds@shop.example' });
    expect(await guard.check('Support is open on Sunday.', ctx)).toMatchObject({ ok: false, reason: 'unsupported_fact', detail: 'Sunday' });
    expect(await guard.check('Shipping takes 3 to 5 working days. We also plant a tree for every order you place.', ctx)).toMatchObject({ ok: false, reason: 'unsupported_sentence' });
    expect(await guard.check('   ', ctx)).toMatchObject({ ok: false, reason: 'empty' });
    // A numbered list's markers state nothing; a number inside an item still must be in the entries.
    expect(factsOf('1. Standard takes 3 days.\n 2) Express takes one day.').map((f) => f.key)).toEqual(['3', '1']);
    expect(await guard.check('1. Standard shipping takes 3 to 5 working days.\n2. Express takes one day.', ctx)).toMatchObject({ ok: true });
    expect(await guard.check('1. Standard shipping takes 3 to 5 working days.\n2. Express takes 2 days.', ctx)).toMatchObject({ ok: false, reason: 'unsupported_fact', detail: '2' });
    // One entry must support the whole answer, and it must be the one the question asks about.
    expect(await guard.check('Standard shipping takes 3 to 5 working days. Write to help@shop.example.', ctx)).toMatchObject({ ok: false, reason: 'mixed_entries' });
    expect(await guard.check('You can email help@shop.example within 3 days.', ctx)).toMatchObject({ ok: false, reason: 'mixed_entries', detail: '3' });
    expect(await guard.check('Standard shipping takes 3 to 5 working days.', ctx, await guard.relevance('how many days does delivery take', ctx))).toMatchObject({ ok: true });
    expect(await guard.check('Standard shipping takes 3 to 5 working days.', ctx, await guard.relevance('how do I reach customer service?', ctx))).toMatchObject({ ok: false, reason: 'off_question', detail: 'How long does shipping take?' });
    // The entries' other wordings count: "get in touch" is how this FAQ's support entry is also asked.
    expect(guard.nearestEntry(await guard.relevance('can I get in touch with someone', ctx, [['How long does shipping take?'], ['How do I contact support?', 'how can I get in touch with you']]))).toBe(1);
    expect(guard.nearestEntry(await guard.relevance('how many days does delivery take', ctx))).toBe(0);
    expect(guard.nearestEntry(await guard.relevance('tell me a joke about penguins', ctx))).toBeNull();
    // Without an embedder, sentences are checked by their words.
    const lexical = new FaithfulnessGuard({ ...DEFAULT_GUARD, embedder: null });
    expect(await lexical.check('Standard shipping takes 3 to 5 working days.', ctx)).toMatchObject({ ok: true });
    expect(await lexical.check('Our founders met at a jazz festival.', ctx)).toMatchObject({ ok: false, reason: 'unsupported_sentence' });
    // Chinese by characters.
    const zh = ['退款多久到账？\n退款在3到5个工作日内退回原支付方式。'];
    expect(await guard.check('退款会在3到5个工作日内退回。', zh)).toMatchObject({ ok: true });
    expect(await guard.check('退款会在7个工作日内退回。', zh)).toMatchObject({ ok: false, reason: 'unsupported_fact' });
    expect(await guard.check('我们的创始人喜欢爵士乐。', zh)).toMatchObject({ ok: false, reason: 'unsupported_sentence' });
  });
});

describe('generation through an engine, end to end (kvcache ask)', () => {
  let engine: FakeEngine;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    engine = await startFakeEngine({ key: 'sk-e2e' });
    const dir = tmpDir();
    fs.writeFileSync(
      path.join(dir, 'faq.yaml'),
      `- id: shipping\n  question: How long does shipping take?\n  answer: Standard shipping takes 3 to 5 working days; express takes one day.\n- id: support\n  question: How do I contact support?\n  answer: Write to help@shop.example, Monday to Friday.\n`,
    );
    env = { KVCACHE_DATA_DIR: dir, KVCACHE_ENGINE_URL: engine.url, KVCACHE_ENGINE_MODEL: 'smollm2-135m-instruct', KVCACHE_ENGINE_KEY: 'sk-e2e', KVCACHE_EMBED_MODEL: 'none', KVCACHE_MIN_COVERAGE: '0.2' };
    expect((await runCli(['preload', path.join(dir, 'faq.yaml')], { env })).code).toBe(0);
  }, 60_000);
  afterAll(() => engine.close());

  test('a faithful answer is sent and cached; an invented fact or an abstention gets the fallback, counted', async () => {
    engine.setReply(() => 'Express shipping takes one day; standard shipping takes 3 to 5 working days.');
    const r = JSON.parse((await runCli(['ask', '--json', 'how many days is shipping with express?'], { env })).stdout) as { source: string; answer: string };
    expect(r).toMatchObject({ source: 'generated', answer: 'Express shipping takes one day; standard shipping takes 3 to 5 working days.' });
    expect((JSON.parse((await runCli(['ask', '--json', 'how many days is shipping with express?'], { env })).stdout) as { source: string }).source).toBe('exact');
    engine.setReply(() => 'Express shipping takes one day and costs $4.99.');
    const invented = JSON.parse((await runCli(['ask', '--json', 'what does express shipping cost in days and money?'], { env })).stdout) as { source: string; answer: string };
    expect(invented.source).toBe('fallback');
    engine.setReply(() => ABSTAIN);
    expect((JSON.parse((await runCli(['ask', '--json', 'how long does shipping take to the moon?'], { env })).stdout) as { source: string }).source).toBe('fallback');
    engine.setReply(firstFaqAnswer);
    const stats = await runCli(['stats'], { env });
    expect(stats.stdout).toMatch(/generated answers blocked {2}1 \(1 unsupported fact\)/);
    const json = JSON.parse((await runCli(['stats', '--json'], { env })).stdout) as { generation: { calls: number; blocked: number } };
    expect(json.generation).toMatchObject({ calls: 1, blocked: 1 });
  }, 60_000);

  test('start-up refuses a bad engine configuration with one line', async () => {
    const bad = await runCli(['ask', 'hi'], { env: { ...env, KVCACHE_ENGINE_KEY: 'sk-nope' } });
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toMatch(/^kvcache: the inference engine at KVCACHE_ENGINE_URL=.* refused the request \(HTTP 401\): set KVCACHE_ENGINE_KEY to the API key it expects$/);
    expect(bad.stderr).not.toContain('sk-nope');
    const noModel = await runCli(['ask', 'hi'], { env: { ...env, KVCACHE_ENGINE_MODEL: '' } });
    expect(noModel.stderr).toMatch(/KVCACHE_ENGINE_URL is set without KVCACHE_ENGINE_MODEL/);
    const url = await runCli(['ask', 'hi'], { env: { ...env, KVCACHE_ENGINE_URL: 'http://127.0.0.1:1/' } });
    expect(url.stderr).toMatch(/KVCACHE_ENGINE_URL="http:\/\/127\.0\.0\.1:1\/" is invalid: expected the base URL of an OpenAI-compatible engine, ending in \/v1/);
  });
});
