/**
 * The Slack app end to end: the compiled bot runs as a child process (HTTP mode, then Socket Mode) against a
 * local server that speaks Slack's Web API; events, commands and button clicks arrive signed, as Slack sends
 * them. Nothing of the bot is mocked.
 */
import { startHttpBot, type HttpBot } from './helpers/slack';
import fs from 'node:fs';
import path from 'node:path';
import { AnswerCache } from '../src/core/cache';
import { StatsRecorder } from '../src/core/stats';
import { systemClock } from '../src/core/types';
import { openStore } from '../src/store/open';
import { collect, ROOT, runCli, spawnNode } from './helpers/cli';
import { tmpDir } from './helpers/app';
import { freePort } from '../testkit/redis';
import { startSlackApi, type ApiCall, type SlackApi } from '../testkit/slack-api';
import { appMention, blockActionsBody, directMessage, eventCallback, postSigned, slashCommandBody, appHomeOpened } from '../testkit/slack-signing';

const SECRET = 'test-signing-secret';
const BOT = path.join(ROOT, 'bin', 'kvcache-bot.js');
const TEAM_FAQ = `- id: returns
  question: How do I return an item?
  answer: Team one returns within 30 days.
- id: hours
  question: When are you open?
  answer: Team one is open 9 to 5.
`;
const OTHER_FAQ = `- id: returns
  question: How do I return an item?
  answer: Team two takes returns for 90 days.
`;


let seq = 0;
const nextTs = () => `1700000${String(100 + (seq += 1)).padStart(3, '0')}.000100`;
const eventId = () => `Ev${Date.now()}${(seq += 1)}`;


describe('Slack app, HTTP mode', () => {
  let api: SlackApi;
  let bot: HttpBot;
  let dataDir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    api = await startSlackApi({ users: { UADMIN: { is_admin: true }, UOWNER: { is_owner: true }, UJOE: {} } });
    const dir = tmpDir();
    dataDir = path.join(dir, 'data');
    env = { KVCACHE_DATA_DIR: dataDir, KVCACHE_FAQ: '' };
    fs.writeFileSync(path.join(dir, 'one.yaml'), TEAM_FAQ);
    fs.writeFileSync(path.join(dir, 'two.yaml'), OTHER_FAQ);
    fs.writeFileSync(path.join(dir, 'default.yaml'), '- {id: hours, question: When are you open?, answer: The default FAQ says daily.}\n');
    expect((await runCli(['preload', path.join(dir, 'default.yaml')], { env })).code).toBe(0);
    expect((await runCli(['preload', '--team', 'T0001', path.join(dir, 'one.yaml')], { env })).code).toBe(0);
    expect((await runCli(['preload', '--team', 'T0002', path.join(dir, 'two.yaml')], { env })).code).toBe(0);
    bot = await startHttpBot(api, SECRET, { ...env, KVCACHE_ADMINS: 'UCONFIGADMIN', KVCACHE_RATE_LIMIT: '100/1m' });
  });

  afterAll(async () => {
    bot.child.kill('SIGTERM');
    const r = await bot.done;
    await api.close();
    expect(r.code).toBe(0); // SIGTERM is a clean shutdown
  });

  const send = (event: Record<string, unknown>, teamId = 'T0001', opts: { retryNum?: number; id?: string } = {}) =>
    postSigned(bot.events, eventCallback({ teamId, eventId: opts.id ?? eventId(), event }), { secret: SECRET, ...(opts.retryNum ? { retryNum: opts.retryNum } : {}) });

  const postsTo = (channel: string) => api.callsTo('chat.postMessage').filter((c) => c.args.channel === channel);
  const waitPost = (pred: (c: ApiCall) => boolean) => api.waitFor((c) => c.method === 'chat.postMessage' && pred(c));

  test('GET /healthz answers 200 once ready', async () => {
    const res = await fetch(`http://127.0.0.1:${bot.port}/healthz`);
    expect([res.status, await res.json()]).toEqual([200, { ok: true }]);
  });

  test('a mention is answered in its thread with the FAQ answer, feedback buttons and a context line', async () => {
    const ts = nextTs();
    const res = await send(appMention({ user: 'UJOE', channel: 'C1', text: '<@U0BOT> how do I RETURN an item??', ts }));
    expect(res.status).toBe(200);
    const post = await waitPost((c) => c.args.channel === 'C1' && c.args.thread_ts === ts);
    expect(post.args.text).toBe('Team one returns within 30 days.');
    const blocks = post.args.blocks as Array<{ type: string; elements?: Array<{ action_id?: string; text?: unknown }> }>;
    expect(blocks.map((b) => b.type)).toEqual(['section', 'context', 'actions']);
    expect(blocks[2]?.elements?.map((e) => e.action_id)).toEqual(['kvcache_feedback_up', 'kvcache_feedback_down']);
    expect(JSON.stringify(blocks[1])).toMatch(/From the FAQ/);
  });

  test('a mention inside a thread is answered in that thread', async () => {
    const parent = nextTs();
    await send(appMention({ user: 'UJOE', channel: 'C1', text: '<@U0BOT> when are you open', ts: nextTs(), threadTs: parent }));
    const post = await waitPost((c) => c.args.thread_ts === parent);
    expect(post.args.text).toBe('Team one is open 9 to 5.');
  });

  test('a DM is answered in the conversation', async () => {
    await send(directMessage({ user: 'UJOE', channel: 'D1', text: 'When are you open?', ts: nextTs() }));
    const post = await waitPost((c) => c.args.channel === 'D1');
    expect(post.args.text).toBe('Team one is open 9 to 5.');
  });

  test('a retry of the same event produces no second reply', async () => {
    const id = eventId();
    const ev = appMention({ user: 'UJOE', channel: 'CRETRY', text: '<@U0BOT> when are you open', ts: nextTs() });
    await send(ev, 'T0001', { id });
    await waitPost((c) => c.args.channel === 'CRETRY');
    const retry = await send(ev, 'T0001', { id, retryNum: 1 });
    expect(retry.status).toBe(200);
    // Let the retry be processed, proven by answering a later event first.
    await send(directMessage({ user: 'UJOE', channel: 'DAFTER', text: 'When are you open?', ts: nextTs() }));
    await waitPost((c) => c.args.channel === 'DAFTER');
    expect(postsTo('CRETRY')).toHaveLength(1);
  });

  test('a bad signature and a stale timestamp get 401 and nothing is posted', async () => {
    const before = api.callsTo('chat.postMessage').length;
    const body = eventCallback({ teamId: 'T0001', eventId: eventId(), event: appMention({ user: 'UJOE', channel: 'CBAD', text: '<@U0BOT> when are you open', ts: nextTs() }) });
    expect((await postSigned(bot.events, body, { secret: SECRET, badSignature: true })).status).toBe(401);
    expect((await postSigned(bot.events, body, { secret: SECRET, timestampSec: Math.floor(Date.now() / 1000) - 6 * 60 })).status).toBe(401);
    await new Promise((r) => setTimeout(r, 300));
    expect(api.callsTo('chat.postMessage').length).toBe(before);
  });

  test("the bot's own messages, other bots, edits and empty messages are ignored", async () => {
    const before = api.callsTo('chat.postMessage').length;
    await send({ ...directMessage({ user: 'U0BOT', channel: 'DSELF', text: 'When are you open?', ts: nextTs() }) });
    await send({ ...directMessage({ user: 'UJOE', channel: 'DSELF', text: 'When are you open?', ts: nextTs() }), bot_id: 'B999' });
    await send({ ...directMessage({ user: 'UJOE', channel: 'DSELF', text: 'When are you open?', ts: nextTs() }), subtype: 'message_changed' });
    await send(directMessage({ user: 'UJOE', channel: 'DSELF', text: '   ', ts: nextTs() }));
    await send(directMessage({ user: 'UJOE', channel: 'DMARK', text: 'When are you open?', ts: nextTs() }));
    await waitPost((c) => c.args.channel === 'DMARK');
    expect(postsTo('DSELF')).toHaveLength(0);
    expect(api.callsTo('chat.postMessage').length).toBe(before + 1);
  });

  test('two teams with different FAQs get different answers and never see each other; a team without an FAQ gets the default FAQ', async () => {
    await send(appMention({ user: 'UJOE', channel: 'CT2', text: '<@U0BOT> How do I return an item?', ts: nextTs() }), 'T0002');
    expect((await waitPost((c) => c.args.channel === 'CT2')).args.text).toBe('Team two takes returns for 90 days.');
    await send(appMention({ user: 'UJOE', channel: 'CT2', text: '<@U0BOT> When are you open?', ts: nextTs() }), 'T0002');
    const miss = await waitPost((c) => c.args.channel === 'CT2' && c.args.text !== 'Team two takes returns for 90 days.');
    expect(miss.args.text).toMatch(/I don't know yet/); // neither team one's answer nor the default FAQ's
    await send(appMention({ user: 'UJOE', channel: 'CT3', text: '<@U0BOT> When are you open?', ts: nextTs() }), 'T0003');
    expect((await waitPost((c) => c.args.channel === 'CT3')).args.text).toBe('The default FAQ says daily.');
  });

  test('an over-long question gets a polite reply', async () => {
    await send(directMessage({ user: 'UJOE', channel: 'DLONG', text: 'why '.repeat(600), ts: nextTs() }));
    expect((await waitPost((c) => c.args.channel === 'DLONG')).args.text).toMatch(/limit is 2000/);
  });

  const command = async (user: string, text: string, teamId = 'T0001') => {
    const id = `r${(seq += 1)}`;
    const res = await postSigned(bot.events, slashCommandBody({ teamId, userId: user, channelId: 'C1', text, responseUrl: api.responseUrl(id) }), { secret: SECRET });
    expect(res.status).toBe(200);
    return api.waitFor((c) => c.method === 'response_url' && c.responseId === id);
  };

  test('/kvcache stats: admins see the counts, others are refused', async () => {
    const mine = await command('UADMIN', 'stats');
    expect(mine.args.response_type).toBe('ephemeral');
    expect(JSON.stringify(mine.args.blocks)).toMatch(/Hit rate/);
    expect(String(mine.args.text)).toMatch(/lookups, hit rate/);
    const owner = await command('UOWNER', '');
    expect(JSON.stringify(owner.args.blocks)).toMatch(/Lookups/);
    const configured = await command('UCONFIGADMIN', 'top');
    expect(String(configured.args.text)).toMatch(/Top questions/);
    const joe = await command('UJOE', 'stats');
    expect(String(joe.args.text)).toMatch(/for workspace admins/);
    const help = await command('UJOE', 'help');
    expect(String(help.args.text)).toMatch(/kvcache stats/);
  });

  test('/kvcache add and forget by an admin take effect; a non-admin changes nothing', async () => {
    expect(String((await command('UJOE', 'add Do you sell kayaks? => Yes')).args.text)).toMatch(/for workspace admins/);
    expect(String((await command('UADMIN', 'add Do you sell kayaks? => Yes, 12 models.')).args.text)).toMatch(/^Added/);
    await send(directMessage({ user: 'UJOE', channel: 'DKAYAK', text: 'do you sell KAYAKS', ts: nextTs() }));
    expect((await waitPost((c) => c.args.channel === 'DKAYAK')).args.text).toBe('Yes, 12 models.');
    expect(String((await command('UJOE', 'forget do you sell kayaks')).args.text)).toMatch(/for workspace admins/);
    expect(String((await command('UADMIN', 'forget do you sell kayaks')).args.text)).toMatch(/Forgot the manual answer/);
    await send(directMessage({ user: 'UJOE', channel: 'DKAYAK2', text: 'do you sell KAYAKS', ts: nextTs() }));
    expect((await waitPost((c) => c.args.channel === 'DKAYAK2')).args.text).toMatch(/I don't know yet/);
    const unanswered = await command('UADMIN', 'unanswered');
    expect(String(unanswered.args.text)).toMatch(/do you sell KAYAKS/);
  });

  test('👎 on a generated answer removes it; 👎 on an FAQ answer keeps it', async () => {
    // A generated answer as the model (a later release) would leave it, written by another process.
    const store = await openStore(undefined, dataDir);
    const stats = new StatsRecorder(store, systemClock, 0);
    const cache = new AnswerCache({ store, clock: systemClock, stats, ttlMs: 3_600_000, maxEntries: 100 });
    const gen = await cache.put('T0001', { question: 'Can I rent a tent?', answer: 'Yes, tents from $20.', source: 'generated' });
    await store.close();

    await send(directMessage({ user: 'UJOE', channel: 'DGEN', text: 'Can I rent a tent?', ts: nextTs() }));
    const post = await waitPost((c) => c.args.channel === 'DGEN');
    expect(JSON.stringify(post.args.blocks)).toMatch(/may be imperfect/);
    const actions = (post.args.blocks as Array<{ type: string; elements?: Array<{ action_id: string; value: string }> }>).find((b) => b.type === 'actions');
    const down = actions?.elements?.find((e) => e.action_id === 'kvcache_feedback_down');
    expect(JSON.parse(down?.value ?? '{}')).toMatchObject({ t: 'T0001', id: gen.id });
    const click = blockActionsBody({ teamId: 'T0001', userId: 'UJOE', channelId: 'DGEN', messageTs: String(post.response.ts), actionId: 'kvcache_feedback_down', value: down?.value ?? '', responseUrl: api.responseUrl('act1') });
    expect((await postSigned(bot.events, click, { secret: SECRET })).status).toBe(200);
    const upd = await api.waitFor((c) => c.method === 'chat.update' && c.args.channel === 'DGEN');
    expect(JSON.stringify(upd.args.blocks)).toMatch(/was removed/);
    await send(directMessage({ user: 'UJOE', channel: 'DGEN2', text: 'Can I rent a tent?', ts: nextTs() }));
    expect((await waitPost((c) => c.args.channel === 'DGEN2')).args.text).toMatch(/I don't know yet/);

    await send(directMessage({ user: 'UJOE', channel: 'DFAQ', text: 'When are you open?', ts: nextTs() }));
    const faqPost = await waitPost((c) => c.args.channel === 'DFAQ');
    const faqValue = (faqPost.args.blocks as Array<{ type: string; elements?: Array<{ action_id: string; value: string }> }>).find((b) => b.type === 'actions')?.elements?.find((e) => e.action_id === 'kvcache_feedback_down')?.value ?? '';
    expect(JSON.parse(faqValue)).toMatchObject({ t: 'T0001', id: 'hours', u: 'UJOE', a: 'T0001' });
    const faqClick = blockActionsBody({ teamId: 'T0001', userId: 'UJOE', channelId: 'DFAQ', messageTs: String(faqPost.response.ts), actionId: 'kvcache_feedback_down', value: faqValue, responseUrl: api.responseUrl('act2') });
    await postSigned(bot.events, faqClick, { secret: SECRET });
    const faqUpdate = await api.waitFor((c) => c.method === 'chat.update' && c.args.channel === 'DFAQ');
    expect(faqUpdate.response.ok).toBe(true);
    expect(JSON.stringify(faqUpdate.args.blocks)).toMatch(/team will review/);
    await send(directMessage({ user: 'UJOE', channel: 'DFAQ2', text: 'When are you open?', ts: nextTs() }));
    expect((await waitPost((c) => c.args.channel === 'DFAQ2')).args.text).toBe('Team one is open 9 to 5.');

    const s = await command('UADMIN', 'stats');
    expect(JSON.stringify(s.args.blocks)).toMatch(/👎 2/);
  });

  test('"did you mean" buttons: a click answers with the chosen entry and sends the wording to review', async () => {
    await send(directMessage({ user: 'UJOE', channel: 'DSUG', text: 'can I send something back', ts: nextTs() }));
    const post = await waitPost((c) => c.args.channel === 'DSUG');
    expect(post.args.text).toMatch(/^I'm not sure I understood\. Did you mean one of these\?\n1\. How do I return an item\?/);
    const blocks = post.args.blocks as Array<{ type: string; elements?: Array<{ action_id: string; value: string; text: { text: string } }> }>;
    const first = blocks.find((b) => b.type === 'actions')?.elements?.[0];
    expect(first).toMatchObject({ action_id: 'kvcache_suggest_0', text: { text: 'How do I return an item?' } });
    const click = blockActionsBody({ teamId: 'T0001', userId: 'UJOE', channelId: 'DSUG', messageTs: String(post.response.ts), actionId: 'kvcache_suggest_0', value: first?.value ?? '', responseUrl: api.responseUrl('sug1') });
    expect((await postSigned(bot.events, click, { secret: SECRET })).status).toBe(200);
    const upd = await api.waitFor((c) => c.method === 'chat.update' && c.args.channel === 'DSUG');
    expect(upd.args.text).toBe('Team one returns within 30 days.');
    expect(JSON.stringify(upd.args.blocks)).toMatch(/kvcache_feedback_up/);
    const review = await runCli(['review', '--team', 'T0001', '--json'], { env });
    expect(JSON.parse(review.stdout)).toEqual([expect.objectContaining({ question: 'can I send something back', entryId: 'returns', entryTenant: 'T0001', count: 1 })]);
  });

  test('the App Home shows admins the stats and others the help', async () => {
    await send(appHomeOpened({ user: 'UADMIN' }));
    const admin = await api.waitFor((c) => c.method === 'views.publish' && c.args.user_id === 'UADMIN');
    expect(JSON.stringify(admin.args.view)).toMatch(/kvcache stats/);
    await send(appHomeOpened({ user: 'UJOE' }));
    const joe = await api.waitFor((c) => c.method === 'views.publish' && c.args.user_id === 'UJOE');
    expect(JSON.stringify(joe.args.view)).not.toMatch(/Hit rate/);
  });
});

describe('Slack app startup errors', () => {
  const start = (extra: NodeJS.ProcessEnv) => collect(spawnNode([BOT], { env: { KVCACHE_DATA_DIR: path.join(tmpDir(), 'data'), ...extra } }));

  test('a missing signing secret names the variable and where to get it', async () => {
    const r = await start({ SLACK_BOT_TOKEN: 'xoxb-1' });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/SLACK_SIGNING_SECRET is required in HTTP mode.*Basic Information/);
  });

  test('a malformed token is refused before any network call', async () => {
    const r = await start({ SLACK_BOT_TOKEN: 'xoxp-user-token', SLACK_SIGNING_SECRET: 's' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/SLACK_BOT_TOKEN must be the Bot User OAuth Token/);
  });

  test('a token Slack rejects, and a port already in use, exit non-zero with one message', async () => {
    const api = await startSlackApi();
    try {
      const bad = await start({ SLACK_BOT_TOKEN: 'xoxb-wrong', SLACK_SIGNING_SECRET: 's', SLACK_API_URL: api.url, PORT: String(await freePort()) });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/SLACK_BOT_TOKEN was rejected by Slack \(invalid_auth\)/);
      const busy = require('node:net').createServer() as import('node:net').Server;
      const port = await freePort();
      await new Promise<void>((r) => busy.listen(port, '0.0.0.0', () => r()));
      try {
        const r = await start({ SLACK_BOT_TOKEN: api.expectedBotToken, SLACK_SIGNING_SECRET: 's', SLACK_API_URL: api.url, PORT: String(port) });
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(new RegExp(`PORT ${port} is already in use`));
      } finally {
        busy.close();
      }
    } finally {
      await api.close();
    }
  });
});

describe('Slack app, Socket Mode', () => {
  test('connects through apps.connections.open, answers a mention and a command, acks every envelope', async () => {
    const api = await startSlackApi({ users: { UADMIN: { is_admin: true } } });
    const dir = tmpDir();
    const env = { KVCACHE_DATA_DIR: path.join(dir, 'data'), KVCACHE_FAQ: '' };
    fs.writeFileSync(path.join(dir, 'one.yaml'), TEAM_FAQ);
    await runCli(['preload', '--team', 'T0001', path.join(dir, 'one.yaml')], { env });
    const child = spawnNode([BOT], {
      env: { ...env, SLACK_BOT_TOKEN: api.expectedBotToken, SLACK_APP_TOKEN: api.expectedAppToken, SLACK_API_URL: api.url, KVCACHE_LOG_LEVEL: 'warn' },
    });
    const done = collect(child);
    try {
      await api.socketConnected(20_000);
      expect(api.callsTo('apps.connections.open')).toHaveLength(1);
      const ts = nextTs();
      const id = eventId();
      const envelope = { type: 'events_api' as const, payload: eventCallback({ teamId: 'T0001', eventId: id, event: appMention({ user: 'UJOE', channel: 'CS', text: '<@U0BOT> when are you open?', ts }) }) };
      const ack = await api.socketSend(envelope);
      expect(ack.envelope_id).toBeTruthy();
      const post = await api.waitFor((c) => c.method === 'chat.postMessage' && c.args.channel === 'CS');
      expect([post.args.text, post.args.thread_ts]).toEqual(['Team one is open 9 to 5.', ts]);
      // Slack's redelivery of the same event over the socket is acked but not answered again.
      await api.socketSend({ ...envelope, retry_attempt: 1, retry_reason: 'timeout' });
      const cmd = await api.socketSend({
        type: 'slash_commands',
        accepts_response_payload: true,
        payload: { team_id: 'T0001', user_id: 'UADMIN', channel_id: 'CS', command: '/kvcache', text: 'stats', response_url: api.responseUrl('s1'), trigger_id: 't1', api_app_id: 'A1' },
      });
      expect(cmd.envelope_id).toBeTruthy();
      const reply = await api.waitFor((c) => c.method === 'response_url' && c.responseId === 's1');
      expect(JSON.stringify(reply.args.blocks)).toMatch(/Lookups/);
      expect(api.callsTo('chat.postMessage').filter((c) => c.args.channel === 'CS')).toHaveLength(1);
    } finally {
      child.kill('SIGTERM');
      const r = await done;
      await api.close();
      expect(r.code).toBe(0);
    }
  });

  test('an app token Slack rejects stops the start with one message', async () => {
    const api = await startSlackApi();
    try {
      const r = await collect(
        spawnNode([BOT], { env: { KVCACHE_DATA_DIR: path.join(tmpDir(), 'data'), SLACK_BOT_TOKEN: api.expectedBotToken, SLACK_APP_TOKEN: 'xapp-wrong', SLACK_API_URL: api.url } }),
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/SLACK_APP_TOKEN was rejected by Slack/);
    } finally {
      await api.close();
    }
  });
});
