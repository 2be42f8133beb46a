/**
 * Generated answers in Slack, end to end: the compiled bot (HTTP mode) with an OpenAI-compatible engine
 * (testkit/openai-api.ts) that writes slowly. The placeholder grows with the checked sentences, throttled, and
 * the final message says it was generated and from which FAQ entries; a sentence with an invented fact never
 * reaches Slack, not even while streaming.
 */
import fs from 'node:fs';
import path from 'node:path';
import { runCli } from './helpers/cli';
import { tmpDir } from './helpers/app';
import { startHttpBot, type HttpBot } from './helpers/slack';
import { startFakeEngine, type FakeEngine } from '../testkit/openai-api';
import { startSlackApi, type ApiCall, type SlackApi } from '../testkit/slack-api';
import { directMessage, eventCallback, postSigned } from '../testkit/slack-signing';

const SECRET = 'generate-signing-secret';
const FAQ = `- id: shipping
  question: How long does shipping take?
  answer: Standard shipping takes 3 to 5 working days. Express shipping takes one day. Orders placed before noon leave the same day.
- id: returns
  question: How do I return an item?
  answer: Returns are free within 30 days.
`;
let seq = 0;
const nextTs = () => `1730000${String(100 + (seq += 1)).padStart(3, '0')}.000100`;

describe('generated answers in Slack', () => {
  let api: SlackApi;
  let engine: FakeEngine;
  let bot: HttpBot;
  beforeAll(async () => {
    api = await startSlackApi({ users: { UJOE: {} } });
    engine = await startFakeEngine({ pieceMs: 120 });
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'faq.yaml'), FAQ);
    const env = { KVCACHE_DATA_DIR: path.join(dir, 'data'), KVCACHE_FAQ: '', KVCACHE_EMBED_MODEL: 'none', KVCACHE_MIN_COVERAGE: '0.2' };
    expect((await runCli(['preload', '--team', 'T0001', path.join(dir, 'faq.yaml')], { env })).code).toBe(0);
    bot = await startHttpBot(api, SECRET, { ...env, KVCACHE_ENGINE_URL: engine.url, KVCACHE_ENGINE_MODEL: 'smollm2-135m-instruct', KVCACHE_PLACEHOLDER_MS: '100', KVCACHE_LOG_LEVEL: 'error' });
  }, 30_000);
  afterAll(async () => {
    bot.child.kill('SIGTERM');
    expect((await bot.done).code).toBe(0);
    await engine.close();
    await api.close();
  });
  const ask = (channel: string, text: string) =>
    postSigned(bot.events, eventCallback({ teamId: 'T0001', eventId: `EvG${(seq += 1)}`, event: directMessage({ user: 'UJOE', channel, text, ts: nextTs() }) }), { secret: SECRET });
  const updates = (channel: string) => api.calls.filter((c) => c.method === 'chat.update' && c.args.channel === channel);
  const textOf = (c: ApiCall) => `${String(c.args.text ?? '')} ${JSON.stringify(c.args.blocks ?? [])}`;

  test('the placeholder grows sentence by sentence, at most once a second, then becomes the answer with its sources', async () => {
    engine.setReply(() => 'Standard shipping takes 3 to 5 working days. Express shipping takes one day. Orders placed before noon leave the same day.');
    await ask('DSTREAM', 'shipping time: how many working days for standard and express?');
    const placeholder = await api.waitFor((c) => c.method === 'chat.postMessage' && c.args.channel === 'DSTREAM');
    expect(textOf(placeholder)).toContain('Looking into it');
    const final = await api.waitFor((c) => c.method === 'chat.update' && c.args.channel === 'DSTREAM' && /Generated from the FAQ entries/.test(textOf(c)), 15_000);
    expect(textOf(final)).toContain('Orders placed before noon leave the same day.');
    expect(textOf(final)).toContain('“How long does shipping take?”');
    const streamed = updates('DSTREAM').filter((c) => c !== final);
    expect(streamed.length).toBeGreaterThanOrEqual(1);
    expect(textOf(streamed[0] as ApiCall)).toMatch(/Standard shipping takes 3 to 5 working days\. …/);
    expect(textOf(streamed[0] as ApiCall)).toContain('Writing an answer from the FAQ');
    const times = updates('DSTREAM').map((c) => c.at);
    for (let i = 1; i < times.length - 1; i++) expect((times[i] as number) - (times[i - 1] as number)).toBeGreaterThanOrEqual(900);
    expect(final.at).toBe(Math.max(...times));
  }, 30_000);

  test('a sentence with an invented fact never reaches Slack; the asker gets the fallback', async () => {
    engine.setReply(() => 'Standard shipping takes 3 to 5 working days. Express shipping costs $4.99 and takes one day. Orders placed before noon leave the same day.');
    await ask('DLIE', 'shipping time and the price of express shipping?');
    const final = await api.waitFor((c) => c.method === 'chat.update' && c.args.channel === 'DLIE' && /logged your question/.test(textOf(c)), 15_000);
    expect(final.response.ok).toBe(true);
    for (const c of api.calls.filter((x) => x.args.channel === 'DLIE')) expect(textOf(c)).not.toContain('4.99');
  }, 30_000);
});
