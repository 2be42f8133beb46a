/**
 * The team answers once, the bot answers forever, end to end: compiled bots (HTTP mode) against the local
 * Slack, with signed events, clicks and modal submissions. Two replicas share a real redis-server; a third
 * bot runs on SQLite across a restart; a fourth has a support channel that does not exist.
 */
import fs from 'node:fs';
import path from 'node:path';
import { runCli } from './helpers/cli';
import { tmpDir } from './helpers/app';
import { startHttpBot, type HttpBot } from './helpers/slack';
import { startRedis, type RedisServer } from '../testkit/redis';
import { startSlackApi, type ApiCall, type SlackApi } from '../testkit/slack-api';
import {
  appMention,
  blockActionsBody,
  channelMessage,
  checkboxValues,
  directMessage,
  eventCallback,
  messageChanged,
  postSigned,
  slashCommandBody,
  textValue,
  viewSubmissionBody,
} from '../testkit/slack-signing';

const SECRET = 'handoff-signing-secret';
const SUPPORT = 'CSUPPORT';
const FAQ = `- id: shipping
  question: How long does shipping take?
  answer: Three to five working days.
  alternates: [When will my order arrive?]
- id: returns
  question: How do I return an item?
  answer: Returns are free within 30 days.
`;
const HANDOFF_REPLY = "passed your question to our support team";

let seq = 0;
const nextTs = () => `1720000${String(100 + (seq += 1)).padStart(3, '0')}.000100`;
const eventId = () => `EvH${Date.now()}${(seq += 1)}`;

const sendTo = (bot: HttpBot, event: Record<string, unknown>) => postSigned(bot.events, eventCallback({ teamId: 'T0001', eventId: eventId(), event }), { secret: SECRET });
const posts = (api: SlackApi, channel: string) => api.calls.filter((c) => c.method === 'chat.postMessage' && c.args.channel === channel && c.response.ok === true);
const postedText = (c: ApiCall) => `${String(c.args.text ?? '')} ${JSON.stringify(c.args.blocks ?? [])}`;
async function until(pred: () => boolean, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
/** The value of the button with actionId in a message's blocks. */
function buttonValueOf(blocks: unknown, actionId: string): string {
  for (const b of (blocks ?? []) as Array<{ elements?: Array<{ action_id?: string; value?: string }> }>) {
    for (const e of b.elements ?? []) if (e.action_id === actionId && typeof e.value === 'string') return e.value;
  }
  throw new Error(`no ${actionId} button in ${JSON.stringify(blocks)}`);
}
const stop = async (bot: HttpBot) => {
  bot.child.kill('SIGTERM');
  const r = await bot.done;
  expect(r.code).toBe(0);
  return r;
};

describe('hand-offs on two replicas sharing Redis', () => {
  let redis: RedisServer;
  let api: SlackApi;
  let a: HttpBot;
  let b: HttpBot;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    redis = await startRedis();
    api = await startSlackApi({ users: { UJOE: {}, UANN: {}, USUP: {}, UOUT: {} } });
    api.setMembers(SUPPORT, ['USUP', 'U0BOT']);
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'faq.yaml'), FAQ);
    env = { KVCACHE_STORE: `${redis.url}/1`, KVCACHE_DATA_DIR: path.join(dir, 'data'), KVCACHE_FAQ: '', KVCACHE_EMBED_MODEL_CJK: 'none' };
    expect((await runCli(['preload', '--team', 'T0001', path.join(dir, 'faq.yaml')], { env })).code).toBe(0);
    const botEnv = { ...env, KVCACHE_SUPPORT_CHANNEL: SUPPORT, KVCACHE_RATE_LIMIT: '100/1m', KVCACHE_STATS_FLUSH_MS: '100', KVCACHE_LOG_LEVEL: 'error' };
    [a, b] = await Promise.all([startHttpBot(api, SECRET, botEnv), startHttpBot(api, SECRET, botEnv)]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([stop(a), stop(b)]);
    await api.close();
    await redis.stop();
  });

  test('asked three times by two users on two replicas: one post in the support channel; a thread reply reaches every asker; a paraphrase is then answered from the cache', async () => {
    const t1 = nextTs();
    const t2 = nextTs();
    const t3 = nextTs();
    await Promise.all([
      sendTo(a, appMention({ user: 'UJOE', channel: 'CSHOP', text: '<@U0BOT> Can I pay with goats?', ts: t1 })),
      sendTo(b, directMessage({ user: 'UANN', channel: 'DANN', text: 'can I pay with goats', ts: t2 })),
      sendTo(a, appMention({ user: 'UANN', channel: 'CHELP', text: '<@U0BOT> Can I pay with GOATS?!', ts: t3 })),
    ]);
    await until(() => posts(api, 'CSHOP').length + posts(api, 'DANN').length + posts(api, 'CHELP').length === 3);
    for (const ch of ['CSHOP', 'DANN', 'CHELP']) expect(postedText(posts(api, ch)[0] as ApiCall)).toContain(HANDOFF_REPLY);
    await new Promise((r) => setTimeout(r, 300));
    const desk = posts(api, SUPPORT);
    expect(desk).toHaveLength(1);
    const post = desk[0] as ApiCall;
    expect(postedText(post)).toContain('Question for the team #1');
    expect(postedText(post)).toMatch(/asked 3 times by 2 people|Asked by <@U(JOE|ANN)>/);
    // The permalink of the first asker's message is in the post.
    expect(postedText(post)).toMatch(/https:\/\/kvcache-test\.slack\.com\/archives\/(CSHOP|DANN|CHELP)\/p\d+/);
    const postTs = String(post.response.ts);

    // A foreign bot's reply is not the answer; nor is one from someone outside the support channel.
    await sendTo(b, channelMessage({ channel: SUPPORT, botId: 'B0OTHER', subtype: 'bot_message', text: 'I am a bot: goats are fine', ts: nextTs(), threadTs: postTs }));
    await sendTo(a, channelMessage({ user: 'UOUT', channel: SUPPORT, text: 'sure, goats!', ts: nextTs(), threadTs: postTs }));
    await api.waitFor((c) => c.method === 'chat.postEphemeral' && c.args.user === 'UOUT' && /Only members/.test(String(c.args.text)));
    await new Promise((r) => setTimeout(r, 500));
    expect(posts(api, 'CSHOP')).toHaveLength(1);

    // A member replies in the thread (to the other replica): every asker gets the answer, in their own thread.
    await sendTo(b, channelMessage({ user: 'USUP', channel: SUPPORT, text: 'Yes &amp; gladly: goats are accepted on Tuesdays, see <https://shop.example/goats|the goat policy>.', ts: nextTs(), threadTs: postTs }));
    await until(() => posts(api, 'CSHOP').length === 2 && posts(api, 'DANN').length === 2 && posts(api, 'CHELP').length === 2);
    for (const [ch, thread] of [['CSHOP', t1], ['CHELP', t3]] as const) {
      const m = posts(api, ch)[1] as ApiCall;
      expect(m.args.thread_ts).toBe(thread);
      expect(postedText(m)).toContain('goats are accepted on Tuesdays');
      expect(postedText(m)).toContain('<https://shop.example/goats|the goat policy>');
      expect(postedText(m)).toContain('Answered by the support team');
    }
    // Each asker's 👍/👎 counts for that asker only.
    expect(JSON.stringify((posts(api, 'DANN')[1] as ApiCall).args.blocks)).toContain('\\"u\\":\\"UANN\\"');
    // The support post now says who answered and how many were told.
    await api.waitFor((c) => c.method === 'chat.update' && c.args.channel === SUPPORT && /Answered by <@USUP>/.test(JSON.stringify(c.args.blocks)));
    expect(JSON.stringify(api.message(SUPPORT, postTs)?.blocks)).toContain('sent to 3 askers');

    // The next asker, in other words, on either replica, gets the team's answer from the cache.
    await sendTo(a, directMessage({ user: 'UJOE', channel: 'DJOE', text: 'is it possible to pay using goats?', ts: nextTs() }));
    const reply = await api.waitFor((c) => c.method === 'chat.postMessage' && c.args.channel === 'DJOE');
    expect(postedText(reply)).toContain('goats are accepted on Tuesdays');
    expect(postedText(reply)).toContain('Answered by the support team, for a similar question');
    expect(posts(api, SUPPORT)).toHaveLength(1);

    await new Promise((r) => setTimeout(r, 300));
    const stats = JSON.parse((await runCli(['stats', '--json', '--team', 'T0001'], { env })).stdout) as { handoffs: Record<string, number>; entries: { team: number } };
    expect(stats.handoffs).toMatchObject({ open: 0, opened: 1, joined: 2, answered: 1, reused: 1 });
    expect(stats.entries.team).toBe(1);
    expect((await runCli(['handoffs', '--team', 'T0001'], { env })).stdout.trim()).toBe('no open hand-offs');
  }, 60_000);

  test('answered with the CLI while the bots run: the askers are told by a replica; the state survives a restart of both', async () => {
    const ts = nextTs();
    await sendTo(a, appMention({ user: 'UJOE', channel: 'CLATE', text: '<@U0BOT> what is your VAT number?', ts }));
    await api.waitFor((c) => c.method === 'chat.postMessage' && c.args.channel === SUPPORT && /VAT number/.test(String(c.args.text)));
    await Promise.all([stop(a), stop(b)]);
    const list = await runCli(['handoffs', '--team', 'T0001'], { env });
    expect(list.stdout).toMatch(/^#2 {2}what is your VAT number\?/m);
    expect((await runCli(['answer', '2', 'Not yet: Earth only.', '--team', 'T0001', '--by', 'ops'], { env })).code).toBe(0);
    const botEnv = { ...env, KVCACHE_SUPPORT_CHANNEL: SUPPORT, KVCACHE_RATE_LIMIT: '100/1m', KVCACHE_STATS_FLUSH_MS: '100', KVCACHE_LOG_LEVEL: 'error' };
    [a, b] = await Promise.all([startHttpBot(api, SECRET, botEnv), startHttpBot(api, SECRET, botEnv)]);
    const told = await api.waitFor((c) => c.method === 'chat.postMessage' && c.args.channel === 'CLATE' && c.args.thread_ts === ts && /Earth only/.test(postedText(c)), 10_000);
    expect(told.response.ok).toBe(true);
    await new Promise((r) => setTimeout(r, 3500)); // a relay round of each replica: told once, not twice
    expect(posts(api, 'CLATE').filter((c) => /Earth only/.test(postedText(c)))).toHaveLength(1);
  }, 60_000);
});

describe('hand-offs on SQLite: the modal, an edit, "Ask a person", and a restart', () => {
  let api: SlackApi;
  let bot: HttpBot;
  let botEnv: NodeJS.ProcessEnv;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    api = await startSlackApi({ users: { UJOE: {}, USUP: {}, UADMIN: { is_admin: true } } });
    api.setMembers(SUPPORT, ['USUP', 'U0BOT']);
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'faq.yaml'), FAQ);
    env = { KVCACHE_DATA_DIR: path.join(dir, 'data'), KVCACHE_FAQ: '', KVCACHE_EMBED_MODEL: 'none' };
    expect((await runCli(['preload', '--team', 'T0001', path.join(dir, 'faq.yaml')], { env })).code).toBe(0);
    botEnv = { ...env, KVCACHE_SUPPORT_CHANNEL: SUPPORT, KVCACHE_RATE_LIMIT: '100/1m', KVCACHE_STATS_FLUSH_MS: '100', KVCACHE_LOG_LEVEL: 'error' };
    bot = await startHttpBot(api, SECRET, botEnv);
  }, 30_000);
  afterAll(async () => {
    await stop(bot);
    await api.close();
  });

  test('a hand-off survives a restart; the Answer modal answers it; an edited reply needs its author to confirm', async () => {
    const ts = nextTs();
    await sendTo(bot, directMessage({ user: 'UJOE', channel: 'DJOE2', text: 'Do you have a loyalty programme?', ts }));
    const deskPost = await api.waitFor((c) => c.method === 'chat.postMessage' && c.args.channel === SUPPORT && /loyalty/.test(String(c.args.text)));
    await stop(bot);
    bot = await startHttpBot(api, SECRET, botEnv);
    const postTs = String(deskPost.response.ts);

    // An edit of a thread reply is not the answer until its author confirms it.
    const replyTs = nextTs();
    await sendTo(bot, messageChanged({ user: 'USUP', channel: SUPPORT, ts: replyTs, threadTs: postTs, text: 'Yes: one point per euro.', previousText: 'Yes' }));
    const eph = await api.waitFor((c) => c.method === 'chat.postEphemeral' && c.args.user === 'USUP').catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n${JSON.stringify(api.calls.filter((c) => c.method === 'chat.postEphemeral' || c.method === 'conversations.members').map((c) => [c.args, c.response]))}`);
    });
    expect(String(eph.args.text)).toMatch(/edited reply/);
    await new Promise((r) => setTimeout(r, 300));
    expect(posts(api, 'DJOE2')).toHaveLength(1);

    // Instead, the Answer button on the (restarted) bot's post: the modal opens, and its answer is sent.
    const blocks = api.message(SUPPORT, postTs)?.blocks;
    const value = buttonValueOf(blocks, 'kvcache_handoff_answer');
    await postSigned(bot.events, blockActionsBody({ teamId: 'T0001', userId: 'USUP', channelId: SUPPORT, messageTs: postTs, actionId: 'kvcache_handoff_answer', value, responseUrl: api.responseUrl('m1'), messageBlocks: blocks }), { secret: SECRET });
    await api.waitFor((c) => c.method === 'views.open');
    const opened = api.views().at(-1);
    expect(JSON.stringify(opened?.view)).toContain('Do you have a loyalty programme?');
    // An empty answer is refused in the modal itself.
    const empty = await postSigned(bot.events, viewSubmissionBody({ teamId: 'T0001', userId: 'USUP', callbackId: 'kvcache_handoff_modal', view: opened?.view, values: { answer: { text: textValue('') }, learn: { learn: checkboxValues(['team']) } } }), { secret: SECRET });
    expect(JSON.parse(empty.text || '{}')).toMatchObject({ response_action: 'errors' });
    const sent = await postSigned(bot.events, viewSubmissionBody({ teamId: 'T0001', userId: 'USUP', callbackId: 'kvcache_handoff_modal', view: opened?.view, values: { answer: { text: textValue('Yes: 1 point per euro, 100 points = 5 euros off.') }, learn: { learn: checkboxValues(['team']) } } }), { secret: SECRET });
    expect(sent.status).toBe(200);
    const relayed = await api.waitFor((c) => c.method === 'chat.postMessage' && c.args.channel === 'DJOE2' && /100 points/.test(postedText(c)));
    expect(postedText(relayed)).toContain('Answered by the support team');
    // A 👎 on the team's answer goes to review, and the answer stays.
    await postSigned(bot.events, blockActionsBody({ teamId: 'T0001', userId: 'UJOE', channelId: 'DJOE2', messageTs: String(relayed.response.ts), actionId: 'kvcache_feedback_down', value: buttonValueOf(relayed.args.blocks, 'kvcache_feedback_down'), responseUrl: api.responseUrl('m6'), messageBlocks: relayed.args.blocks as unknown[] }), { secret: SECRET });
    await api.waitFor((c) => c.method === 'chat.update' && c.args.channel === 'DJOE2' && /the team will review this answer/.test(JSON.stringify(c.args.blocks)));

    // The edit's confirmation now comes too late: the hand-off is answered, nothing more is sent.
    const confirm = buttonValueOf(eph.args.blocks, 'kvcache_handoff_confirm');
    await postSigned(bot.events, blockActionsBody({ teamId: 'T0001', userId: 'USUP', channelId: SUPPORT, messageTs: replyTs, actionId: 'kvcache_handoff_confirm', value: confirm, responseUrl: api.responseUrl('m2') }), { secret: SECRET });
    await new Promise((r) => setTimeout(r, 500));
    expect(posts(api, 'DJOE2').filter((c) => /point/.test(postedText(c)))).toHaveLength(1);
    // The next asker of that exact question is answered from the cache.
    await sendTo(bot, directMessage({ user: 'UJOE', channel: 'DJOE3', text: 'do you have a loyalty programme', ts: nextTs() }));
    const again = await api.waitFor((c) => c.method === 'chat.postMessage' && c.args.channel === 'DJOE3');
    expect(postedText(again)).toContain('100 points');
  }, 60_000);

  test('"Ask a person" under an answer hands the question off; an edit confirmed by its author answers it', async () => {
    const ts = nextTs();
    await sendTo(bot, directMessage({ user: 'UJOE', channel: 'DJOE4', text: 'How long does shipping take?', ts }));
    const answer = await api.waitFor((c) => c.method === 'chat.postMessage' && c.args.channel === 'DJOE4');
    const blocks = answer.args.blocks as unknown[];
    const value = buttonValueOf(blocks, 'kvcache_handoff_request');
    await postSigned(bot.events, blockActionsBody({ teamId: 'T0001', userId: 'UJOE', channelId: 'DJOE4', messageTs: String(answer.response.ts), actionId: 'kvcache_handoff_request', value, responseUrl: api.responseUrl('m3'), messageBlocks: blocks }), { secret: SECRET });
    const deskPost = await api.waitFor((c) => c.method === 'chat.postMessage' && c.args.channel === SUPPORT && /How long does shipping take/.test(String(c.args.text)));
    expect(postedText(deskPost)).toContain('The asker asked for a person');
    await api.waitFor((c) => c.method === 'chat.postMessage' && c.args.channel === 'DJOE4' && postedText(c).includes(HANDOFF_REPLY));
    const postTs = String(deskPost.response.ts);
    const replyTs = nextTs();
    await sendTo(bot, messageChanged({ user: 'USUP', channel: SUPPORT, ts: replyTs, threadTs: postTs, text: 'Express shipping takes one day.' }));
    const eph = await api.waitFor((c) => c.method === 'chat.postEphemeral' && c.args.user === 'USUP' && /hand-off #\d+/.test(String(c.args.text)) && String(c.args.thread_ts) === postTs);
    const confirm = buttonValueOf(eph.args.blocks, 'kvcache_handoff_confirm');
    // Only its author can confirm it.
    await postSigned(bot.events, blockActionsBody({ teamId: 'T0001', userId: 'UADMIN', channelId: SUPPORT, messageTs: replyTs, actionId: 'kvcache_handoff_confirm', value: confirm, responseUrl: api.responseUrl('m4') }), { secret: SECRET });
    await new Promise((r) => setTimeout(r, 400));
    expect(posts(api, 'DJOE4').filter((c) => /Express/.test(postedText(c)))).toHaveLength(0);
    await postSigned(bot.events, blockActionsBody({ teamId: 'T0001', userId: 'USUP', channelId: SUPPORT, messageTs: replyTs, actionId: 'kvcache_handoff_confirm', value: confirm, responseUrl: api.responseUrl('m5') }), { secret: SECRET });
    await api.waitFor((c) => c.method === 'chat.postMessage' && c.args.channel === 'DJOE4' && /Express shipping takes one day/.test(postedText(c)));
  }, 30_000);

  test('the App Home shows admins the open hand-offs with the desk\'s buttons', async () => {
    await sendTo(bot, directMessage({ user: 'UJOE', channel: 'DJOE5', text: 'Can I book a private shopping session?', ts: nextTs() }));
    await api.waitFor((c) => c.method === 'chat.postMessage' && c.args.channel === SUPPORT && /private shopping/.test(String(c.args.text)));
    await sendTo(bot, { type: 'app_home_opened', user: 'UADMIN', channel: 'DADMIN', tab: 'home', event_ts: `${Math.floor(Date.now() / 1000)}.000100` });
    const home = await api.waitFor((c) => c.method === 'views.publish' && c.args.user_id === 'UADMIN');
    const view = JSON.stringify(home.args.view);
    expect(view).toContain('Open hand-offs');
    expect(view).toContain('Can I book a private shopping session?');
    expect(view).toContain('kvcache_handoff_answer');
    expect(home.response.ok).toBe(true);
  }, 30_000);
});

test('a support channel that is gone: the asker gets the fallback, one clear log line, and /kvcache stats says so', async () => {
  const api = await startSlackApi({ users: { UJOE: {}, UADMIN: { is_admin: true } } });
  api.removeChannel('CGONE');
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'faq.yaml'), FAQ);
  const env = { KVCACHE_DATA_DIR: path.join(dir, 'data'), KVCACHE_FAQ: '', KVCACHE_EMBED_MODEL: 'none' };
  expect((await runCli(['preload', '--team', 'T0001', path.join(dir, 'faq.yaml')], { env })).code).toBe(0);
  const bot = await startHttpBot(api, SECRET, { ...env, KVCACHE_SUPPORT_CHANNEL: 'CGONE', KVCACHE_STATS_FLUSH_MS: '100', KVCACHE_LOG_LEVEL: 'error' });
  try {
    await sendTo(bot, directMessage({ user: 'UJOE', channel: 'DJOE', text: 'Can I pay with goats?', ts: nextTs() }));
    const reply = await api.waitFor((c) => c.method === 'chat.postMessage' && c.args.channel === 'DJOE');
    expect(postedText(reply)).toContain("I've logged your question");
    expect(postedText(reply)).not.toContain(HANDOFF_REPLY);
    const id = 'stats1';
    await postSigned(bot.events, slashCommandBody({ teamId: 'T0001', userId: 'UADMIN', channelId: 'C1', text: 'stats', responseUrl: api.responseUrl(id) }), { secret: SECRET });
    const stats = await api.waitFor((c) => c.method === 'response_url' && c.responseId === id);
    expect(JSON.stringify(stats.args.blocks)).toContain('The support channel could not take hand-offs: channel_not_found');
    // The hand-off waits for the team elsewhere.
    expect((await runCli(['handoffs', '--team', 'T0001'], { env })).stdout).toMatch(/^#1 {2}Can I pay with goats\?/m);
  } finally {
    const r = await stop(bot);
    await api.close();
    expect(r.stderr.match(/KVCACHE_SUPPORT_CHANNEL=CGONE cannot take hand-offs \(channel_not_found\)/g)).toHaveLength(1);
  }
}, 30_000);
