/**
 * The engine backend inside the product (openApp → answerer → generator → engine), against a local
 * OpenAI-compatible server: what an asker gets when the engine fails in each way, that out-of-scope questions
 * never cost an engine call, single-flight on one process and across two replicas on a real redis-server, and
 * that the key never reaches the logs.
 */
import pino from 'pino';
import type { App } from '../src/app';
import type { Config } from '../src/config';
import { preload } from '../src/faq/preload';
import { startFakeEngine, type FakeEngine } from '../testkit/openai-api';
import { startRedis, type RedisServer } from '../testkit/redis';
import { openTestApp, rec, testConfig } from './helpers/app';

const KEY = 'sk-product-secret-789';
const FAQ = [
  rec('shipping', 'How long does shipping take?', 'Standard shipping takes 3 to 5 working days; express takes one day.'),
  rec('support', 'How do I contact support?', 'Write to help@shop.example, Monday to Friday.'),
  rec('returns', 'What is your return policy?', 'Unused items can be returned within 30 days for a full refund.'),
];
const TIMEOUT_MS = 1500;
const FALLBACK = testConfig().fallbackAnswer;

let engine: FakeEngine;
beforeAll(async () => {
  engine = await startFakeEngine({ key: KEY, pieceMs: 5 });
});
afterAll(() => engine.close());

const chatCalls = () => engine.calls.filter((c) => c.path === '/v1/chat/completions').length;

function engineConfig(overrides: Partial<Config> = {}): Partial<Config> {
  const base = testConfig();
  return {
    embedModel: 'none',
    ...overrides,
    generation: { ...base.generation, minCoverage: 0.2, timeoutMs: TIMEOUT_MS, engine: { url: engine.url, model: 'smollm2-135m-instruct', key: KEY } },
  };
}

async function openWithEngine(overrides: Partial<Config> = {}, logs?: string[]): Promise<App> {
  const logger = logs ? pino({ level: 'trace' }, { write: (s: string) => void logs.push(s) }) : undefined;
  const app = await openTestApp(engineConfig(overrides), { withModel: true, ...(logger ? { logger } : {}) });
  await preload(app.store, FAQ, { tenant: 'default', prune: false, dryRun: false }, app.clock);
  return app;
}

describe('the engine inside the product', () => {
  let app: App;
  let logs: string[];
  beforeAll(async () => {
    logs = [];
    app = await openWithEngine({}, logs);
  });
  afterAll(() => app.close());
  beforeEach(() => engine.setReply(() => 'Express shipping takes one day.'));

  test('each engine failure ends in the fallback within the generation timeout, and nothing is cached', async () => {
    const faults: Array<[string, () => void]> = [
      ['HTTP 500', () => engine.failNext(500, 1)],
      ['429 with a Retry-After longer than the timeout', () => engine.failNext(429, 1, 30)],
      ['a stream that stalls after its first piece', () => engine.faultNext('stall')],
      ['an event that is not JSON', () => engine.faultNext('malformed')],
      ['a dropped connection mid-stream', () => engine.faultNext('cut')],
    ];
    for (const [i, [what, arrange]] of faults.entries()) {
      arrange();
      const q = `how many days does express shipping take, case ${i}`;
      const started = Date.now();
      const r = await app.answerer.ask('default', q);
      expect({ what, source: r.source, answer: r.answer }).toEqual({ what, source: 'fallback', answer: FALLBACK });
      expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 1000);
      // Not cached: the same question asked again goes to the engine, which now answers.
      const again = await app.answerer.ask('default', q);
      expect({ what, source: again.source }).toEqual({ what, source: 'generated' });
    }
  }, 60_000);

  test('an out-of-scope question never reaches the engine', async () => {
    const before = chatCalls();
    const r = await app.answerer.ask('default', 'who won the football world cup in 1998');
    expect(r.source).toBe('fallback');
    expect(chatCalls()).toBe(before);
  });

  test('10 concurrent identical questions make one engine call', async () => {
    const before = chatCalls();
    const results = await Promise.all(Array.from({ length: 10 }, () => app.answerer.ask('default', 'how long will express shipping take me')));
    expect(chatCalls() - before).toBe(1);
    expect(new Set(results.map((r) => r.answer))).toEqual(new Set(['Express shipping takes one day.']));
  });

  test('the key is never logged, even at trace level', async () => {
    engine.failNext(500, 1);
    await app.answerer.ask('default', 'how long does express shipping take to arrive');
    expect(logs.length).toBeGreaterThan(0);
    expect(logs.join('\n')).not.toContain(KEY);
  });
});

describe('the engine across two replicas on one Redis', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis.stop());

  test('10 concurrent identical questions spread over both replicas make one engine call', async () => {
    const store = `${redis.url}/3`;
    const a = await openWithEngine({ store });
    const b = await openTestApp(engineConfig({ store }), { withModel: true });
    try {
      engine.setReply(() => 'Express shipping takes one day.');
      const before = chatCalls();
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? b : a).answerer.ask('default', 'express shipping, how many days is it')));
      expect(chatCalls() - before).toBe(1);
      expect(results.filter((r) => r.source === 'generated')).toHaveLength(1);
      expect(new Set(results.map((r) => r.answer))).toEqual(new Set(['Express shipping takes one day.']));
    } finally {
      await a.close();
      await b.close();
    }
  }, 30_000);
});
