/**
 * Chinese questions reach the paraphrase layer through its CJK lane (multilingual-e5-small), end to end: the CLI
 * on the demo FAQ, and the compiled bot over signed Slack requests. Real models, nothing mocked.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, runCli } from './helpers/cli';
import { tmpDir } from './helpers/app';
import { startHttpBot, type HttpBot } from './helpers/slack';
import { startSlackApi, type SlackApi } from '../testkit/slack-api';
import { blockActionsBody, directMessage, eventCallback, postSigned } from '../testkit/slack-signing';
import { openStore } from '../src/store/open';
import { keys } from '../src/core/keys';

const DEMO = path.join(ROOT, 'config', 'demo-faq.yaml');
const ZH_PARAPHRASE = '你们的营业时间是几点'; // "what are your opening hours": the demo's support-hours-zh entry
const SECRET = 'cjk-signing-secret';

interface Ask {
  answer: string;
  source: string;
  semantic?: { entryId: string; decision: string; similarity: number };
}

describe('Chinese questions in the paraphrase layer (CLI)', () => {
  const dataDir = path.join(tmpDir(), 'data');
  const env = { KVCACHE_DATA_DIR: dataDir };

  beforeAll(async () => {
    expect((await runCli(['preload', DEMO], { env })).code).toBe(0);
  }, 60_000);

  test('a Chinese paraphrase finds its Chinese entry (offered as "did you mean"), and its vectors are stored once', async () => {
    const r = await runCli(['ask', '--json', ZH_PARAPHRASE], { env });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as Ask;
    expect(out.semantic).toMatchObject({ entryId: 'support-hours-zh' });
    expect(['hit', 'suggest']).toContain(out.semantic?.decision);
    if (out.semantic?.decision === 'suggest') expect(out.answer).toMatch(/Did you mean one of these\?\n1\. 客服的工作时间是什么时候？/);
    const store = await openStore(undefined, dataDir);
    try {
      expect(await store.get(keys.cjkVectors('default', 'support-hours-zh'))).toMatchObject({ model: 'multilingual-e5-small', dims: 384 });
      // English entries have no Chinese phrasing: the CJK lane embedded nothing for them.
      expect(await store.get(keys.cjkVectors('default', 'international-shipping'))).toBeUndefined();
    } finally {
      await store.close();
    }
  }, 60_000);

  test('English questions still go to the English model; with KVCACHE_EMBED_MODEL_CJK=none Chinese skips the layer', async () => {
    const en = JSON.parse((await runCli(['ask', '--json', 'do you ship to canada'], { env })).stdout) as Ask;
    expect(en.semantic?.entryId).toBe('international-shipping');
    const off = JSON.parse((await runCli(['ask', '--json', ZH_PARAPHRASE], { env: { ...env, KVCACHE_EMBED_MODEL_CJK: 'none' } })).stdout) as Ask;
    expect(off.semantic).toBeUndefined();
    expect(off.source).toBe('fallback');
  }, 60_000);

  test('a CJK model folder that does not exist stops the start with one message naming the variable', async () => {
    const r = await runCli(['ask', ZH_PARAPHRASE], { env: { ...env, KVCACHE_EMBED_MODEL_CJK: 'no-such-model' } });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/KVCACHE_EMBED_MODEL_CJK: embedding model no-such-model is not a model folder.*or set it to none/);
  }, 60_000);
});

describe('Chinese questions in Slack', () => {
  let api: SlackApi;
  let bot: HttpBot;

  beforeAll(async () => {
    api = await startSlackApi({ users: { UZH: {} } });
    const dir = tmpDir();
    const env = { KVCACHE_DATA_DIR: path.join(dir, 'data'), KVCACHE_FAQ: '' };
    fs.copyFileSync(DEMO, path.join(dir, 'faq.yaml'));
    expect((await runCli(['preload', path.join(dir, 'faq.yaml')], { env })).code).toBe(0);
    bot = await startHttpBot(api, SECRET, env);
  }, 60_000);

  afterAll(async () => {
    bot.child.kill('SIGTERM');
    await bot.done;
    await api.close();
  });

  test('a Chinese DM gets the Chinese entry offered, and the click answers in Chinese', async () => {
    await postSigned(bot.events, eventCallback({ teamId: 'T0001', eventId: 'EvZh1', event: directMessage({ user: 'UZH', channel: 'DZH', text: ZH_PARAPHRASE, ts: '1720000000.000100' }) }), { secret: SECRET });
    const post = await api.waitFor((c) => c.method === 'chat.postMessage' && c.args.channel === 'DZH', 20_000);
    expect(post.response.ok).toBe(true);
    // The bot loaded the CJK model before it reported ready (the store has CJK vectors): no placeholder first.
    expect(post.args.text).not.toBe('Looking into it…');
    const shown = api.message('DZH', String(post.response.ts));
    const blocks = shown?.blocks as Array<{ type: string; elements?: Array<{ action_id: string; value: string; text: { text: string } }> }>;
    const first = blocks.find((b) => b.type === 'actions')?.elements?.[0];
    if (first === undefined) {
      // A hit: the answer itself.
      expect(shown?.text).toMatch(/人工客服时间/);
      return;
    }
    expect(first.text.text).toBe('客服的工作时间是什么时候？');
    const click = blockActionsBody({ teamId: 'T0001', userId: 'UZH', channelId: 'DZH', messageTs: String(post.response.ts), actionId: first.action_id, value: first.value, responseUrl: api.responseUrl('zh') });
    await postSigned(bot.events, click, { secret: SECRET });
    const upd = await api.waitFor((c) => c.method === 'chat.update' && c.args.channel === 'DZH' && /人工客服时间/.test(String(c.args.text)), 10_000);
    expect(upd.response.ok).toBe(true);
    expect(api.message('DZH', String(post.response.ts))?.text).toMatch(/^我们的人工客服时间/);
  }, 40_000);
});
