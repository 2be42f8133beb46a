/**
 * The bundled model end to end: transformers.js on onnxruntime-node loads models/kvcache-t5-faq and greedy
 * decoding reproduces the outputs the Python export recorded; the CLI and the Slack app use it on a miss.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, runCli, runNode, spawnNode, collect } from './helpers/cli';
import { tmpDir } from './helpers/app';
import { freePort } from '../testkit/redis';
import { startSlackApi } from '../testkit/slack-api';
import { appMention, eventCallback, postSigned } from '../testkit/slack-signing';

const MODEL_DIR = path.join(ROOT, 'models', 'kvcache-t5-faq');
const DEMO = path.join(ROOT, 'config', 'demo-faq.yaml');

interface Expected {
  input: string;
  output: string;
}

function expectedPairs(): Expected[] {
  const raw = JSON.parse(fs.readFileSync(path.join(MODEL_DIR, 'expected.json'), 'utf8')) as unknown;
  const list = (Array.isArray(raw) ? raw : ((raw as { cases?: unknown[] }).cases ?? [])) as Array<Record<string, string>>;
  return list.map((c) => ({ input: c.input ?? '', output: c.expected_output ?? '' }));
}

describe('bundled model', () => {
  // In a child process: onnxruntime-node rejects typed arrays created in jest's sandboxed globals.
  test('greedy decoding in Node gives exactly the outputs recorded at export', async () => {
    const cases = expectedPairs();
    expect(cases.length).toBeGreaterThanOrEqual(3);
    const script = `
      const { loadModel } = require('./dist/src/generate/model.js');
      (async () => {
        const cases = JSON.parse(process.argv[1]);
        const model = await loadModel({ model: 'kvcache-t5-faq', device: 'cpu', dtype: 'q8', allowDownload: false });
        const out = [];
        for (const c of cases) out.push(await model.generate({ flat: c.input, chat: { system: '', user: '' }, maxNewTokens: 128 }));
        await model.close();
        process.stdout.write(JSON.stringify(out));
      })();`;
    const r = await runNode(['-e', script, JSON.stringify(cases)]);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual(cases.map((c) => c.output));
  }, 60_000);

  test('kvcache ask --json: a miss in scope is generated, the second ask of the same question is a cache hit', async () => {
    const env = { KVCACHE_DATA_DIR: tmpDir(), KVCACHE_MODEL: 'kvcache-t5-faq', KVCACHE_MIN_COVERAGE: '0.3' };
    await runCli(['preload', DEMO], { env });
    const q = 'what is the return policy for a jacket?';
    const first = JSON.parse((await runCli(['ask', '--json', q], { env })).stdout);
    expect(first).toMatchObject({ source: 'generated' });
    expect(first.answer.length).toBeGreaterThan(10);
    const second = JSON.parse((await runCli(['ask', '--json', q], { env })).stdout);
    expect(second).toMatchObject({ source: 'exact', answer: first.answer, entryId: first.entryId });
    const off = JSON.parse((await runCli(['ask', '--json', 'who won the football world cup in 1998'], { env })).stdout);
    expect(off.source).toBe('fallback');
  }, 120_000);

  test('in Slack, a generated answer is preceded by a placeholder that is then updated in place', async () => {
    const api = await startSlackApi();
    const env = { KVCACHE_DATA_DIR: tmpDir(), KVCACHE_FAQ: DEMO, KVCACHE_MODEL: 'kvcache-t5-faq', KVCACHE_MIN_COVERAGE: '0.3', KVCACHE_PLACEHOLDER_MS: '1' };
    const port = await freePort();
    const child = spawnNode([path.join(ROOT, 'bin', 'kvcache-bot.js')], {
      env: { ...env, SLACK_BOT_TOKEN: api.expectedBotToken, SLACK_SIGNING_SECRET: 's', SLACK_API_URL: api.url, PORT: String(port), KVCACHE_LOG_LEVEL: 'warn' },
    });
    const done = collect(child);
    try {
      for (let i = 0; i < 200; i++) {
        const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status === 200, () => false);
        if (ok) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const ts = '1700000001.000100';
      const body = eventCallback({ teamId: 'T0001', eventId: 'EvModel1', event: appMention({ user: 'U1', channel: 'CM', text: '<@U0BOT> what is the return policy for a jacket?', ts }) });
      expect((await postSigned(`http://127.0.0.1:${port}/slack/events`, body, { secret: 's' })).status).toBe(200);
      const placeholder = await api.waitFor((c) => c.method === 'chat.postMessage' && c.args.channel === 'CM', 20_000);
      expect(placeholder.args.text).toBe('Looking into it…');
      const update = await api.waitFor((c) => c.method === 'chat.update' && c.args.channel === 'CM', 20_000);
      expect(update.args.ts).toBe(placeholder.response.ts);
      expect(JSON.stringify(update.args.blocks)).toMatch(/Generated from the FAQ entries “What is your return policy\?”.*; may be imperfect/);
    } finally {
      child.kill('SIGTERM');
      await done;
      await api.close();
    }
  }, 120_000);
});
