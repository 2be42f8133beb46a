/**
 * Slack as it really behaves, end to end: the compiled bot (HTTP mode) against the strict local Slack, which
 * refuses what Slack refuses (Block Kit limits, updates of unknown messages, 429s on demand, stalls). Each
 * test is a way the bot used to leave an asker without a reply, or with a wrong one.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { AnswerCache } from '../src/core/cache';
import { StatsRecorder } from '../src/core/stats';
import { systemClock } from '../src/core/types';
import { openStore } from '../src/store/open';
import { runCli, type RunResult } from './helpers/cli';
import { tmpDir } from './helpers/app';
import { startHttpBot } from './helpers/slack';
import { startSlackApi, type ApiCall, type SlackApi } from '../testkit/slack-api';
import { appMention, blockActionsBody, directMessage, editedAppMention, eventCallback, postSigned, slashCommandBody } from '../testkit/slack-signing';

const SECRET = 'delivery-signing-secret';
const LONG_ANSWER = Array.from({ length: 400 }, (_, i) => `Step ${i + 1}: check the "refund" screen & wait <24 h>.`).join(' ').padEnd(30_000, ' more.').slice(0, 30_000);
const FAQ = `- id: hours
  question: When are you open?
  answer: "We are open 9 to 5. <!here> See <https://shop.example/hours?a=1&b=2|our hours page> & call us."
- id: refunds
  question: How do refunds work?
  answer: ${JSON.stringify(LONG_ANSWER)}
- id: returns
  question: How do I return an item?
  answer: Returns are free within 30 days.
`;

let seq = 0;
const nextTs = () => `1710000${String(100 + (seq += 1)).padStart(3, '0')}.000100`;
const eventId = () => `EvD${Date.now()}${(seq += 1)}`;

describe('Slack delivery against the strict local Slack', () => {
  let api: SlackApi;
  let child: ChildProcess;
  let done: Promise<RunResult>;
  let events: string;
  let dataDir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    api = await startSlackApi({ users: { UADMIN: { is_admin: true }, UJOE: {}, UEVE: {} } });
    const dir = tmpDir();
    dataDir = path.join(dir, 'data');
    env = { KVCACHE_DATA_DIR: dataDir, KVCACHE_FAQ: '' };
    fs.writeFileSync(path.join(dir, 'faq.yaml'), FAQ);
    expect((await runCli(['preload', '--team', 'T0001', path.join(dir, 'faq.yaml')], { env })).code).toBe(0);
    const bot = await startHttpBot(api, SECRET, {
      ...env,
      KVCACHE_RATE_LIMIT: '100/1m',
      KVCACHE_SLACK_TIMEOUT_MS: '600',
      KVCACHE_STATS_FLUSH_MS: '100',
      KVCACHE_LOG_LEVEL: 'error',
    });
    ({ child, done, events } = bot);
  });

  afterAll(async () => {
    child.kill('SIGTERM');
    const r = await done;
    await api.close();
    expect(r.code).toBe(0);
  });

  const send = (event: Record<string, unknown>, extra: Partial<Parameters<typeof eventCallback>[0]> = {}) =>
    postSigned(events, eventCallback({ teamId: 'T0001', eventId: eventId(), event, ...extra }), { secret: SECRET });
  const okPost = (pred: (c: ApiCall) => boolean, timeoutMs = 5000) => api.waitFor((c) => c.method === 'chat.postMessage' && c.response.ok === true && pred(c), timeoutMs);
  const refused = () => api.calls.filter((c) => c.response.ok === false && c.method !== 'response_url');
  const command = async (user: string, text: string) => {
    const id = `d${(seq += 1)}`;
    await postSigned(events, slashCommandBody({ teamId: 'T0001', userId: user, channelId: 'C1', text, responseUrl: api.responseUrl(id) }), { secret: SECRET });
    return api.waitFor((c) => c.method === 'response_url' && c.responseId === id);
  };

  test('a pasted question full of quotes and control characters gets a reply Slack accepts', async () => {
    const pasted = `${'{"level":"error","msg":"refund \\"failed\\"","code":"\u0001"} '.repeat(30)}`.slice(0, 1990);
    await send(directMessage({ user: 'UJOE', channel: 'DQUOTE', text: `How do I return an item? ${pasted}`, ts: nextTs() }));
    const post = await api.waitFor((c) => c.method === 'chat.postMessage' && c.args.channel === 'DQUOTE');
    expect(post.response).toMatchObject({ ok: true });
    expect(JSON.stringify(post.args.blocks)).not.toMatch(/"value":"[^"]{2001,}"/);
  });

  test('a 30,000-character FAQ answer arrives whole, in several accepted messages in the thread', async () => {
    const ts = nextTs();
    await send(appMention({ user: 'UJOE', channel: 'CLONG', text: '<@U0BOT> how do refunds work', ts }));
    const first = await okPost((c) => c.args.channel === 'CLONG');
    const parts = Number(/continues in (\d+) more/.exec(JSON.stringify(first.args.blocks))?.[1] ?? 0) + 1;
    expect(parts).toBeGreaterThan(1);
    await api.waitFor(() => api.messages('CLONG').length === parts);
    const msgs = api.messages('CLONG');
    expect(msgs.every((m) => m.thread_ts === ts)).toBe(true);
    const text = msgs.flatMap((m) => (m.blocks as Array<{ type: string; text?: { text: string } }>).filter((b) => b.type === 'section').map((b) => b.text?.text ?? '')).join(' ');
    expect(text.replace(/\s+/g, '')).toBe(LONG_ANSWER.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\s+/g, ''));
    expect(refused()).toEqual([]);
  });

  test('FAQ text: broadcasts stripped, links kept, escaped alike in blocks and notification text', async () => {
    await send(directMessage({ user: 'UJOE', channel: 'DESC', text: 'When are you open?', ts: nextTs() }));
    const post = await okPost((c) => c.args.channel === 'DESC');
    expect(post.args.text).toBe('We are open 9 to 5.  See <https://shop.example/hours?a=1&b=2|our hours page> &amp; call us.');
    expect(JSON.stringify(post.args.blocks)).toContain('We are open 9 to 5.  See <https://shop.example/hours?a=1&b=2|our hours page> &amp; call us.');
    expect(JSON.stringify(post.args)).not.toContain('<!here>');
  });

  test('an edited mention updates the bot’s reply instead of adding a second one; a mention added by an edit is answered', async () => {
    const ts = nextTs();
    await send(appMention({ user: 'UJOE', channel: 'CEDIT', text: '<@U0BOT> how do I retrun an itme', ts }));
    const first = await okPost((c) => c.args.channel === 'CEDIT');
    await send(editedAppMention({ user: 'UJOE', channel: 'CEDIT', text: '<@U0BOT> how do I return an item?', ts }));
    const upd = await api.waitFor((c) => c.method === 'chat.update' && c.args.channel === 'CEDIT');
    expect([upd.response.ok, upd.args.ts]).toEqual([true, first.response.ts]);
    expect(api.message('CEDIT', String(first.response.ts))?.text).toBe('Returns are free within 30 days.');
    expect(JSON.stringify(upd.args.blocks)).toMatch(/Updated for your edited question/);
    // A message that did not mention the bot until it was edited.
    const later = nextTs();
    await send(editedAppMention({ user: 'UJOE', channel: 'CEDIT', text: '<@U0BOT> when are you open?', ts: later }));
    await okPost((c) => c.args.channel === 'CEDIT' && c.args.thread_ts === later);
    expect(api.callsTo('chat.postMessage').filter((c) => c.args.channel === 'CEDIT')).toHaveLength(2);
  });

  test('Slack refusing a reply’s blocks gets a plain, short text reply instead of silence', async () => {
    api.failNext('chat.postMessage', 'invalid_blocks', { channel: 'DREFUSE' });
    await send(directMessage({ user: 'UJOE', channel: 'DREFUSE', text: 'How do I return an item?', ts: nextTs() }));
    const post = await okPost((c) => c.args.channel === 'DREFUSE');
    expect([post.args.text, post.args.blocks]).toEqual(['Returns are free within 30 days.', undefined]);
  });

  test('a failed chat.update posts the answer as a new message', async () => {
    await send(directMessage({ user: 'UJOE', channel: 'DSUG', text: 'can I send something back', ts: nextTs() }));
    const offer = await okPost((c) => c.args.channel === 'DSUG');
    const button = (offer.args.blocks as Array<{ type: string; elements?: Array<{ action_id: string; value: string }> }>).find((b) => b.type === 'actions')?.elements?.[0];
    expect(button?.action_id).toBe('kvcache_suggest_0');
    api.failNext('chat.update', 'cant_update_message', { channel: 'DSUG' });
    const click = blockActionsBody({ teamId: 'T0001', userId: 'UJOE', channelId: 'DSUG', messageTs: String(offer.response.ts), actionId: 'kvcache_suggest_0', value: button?.value ?? '', responseUrl: api.responseUrl('sug') });
    await postSigned(events, click, { secret: SECRET });
    const answer = await okPost((c) => c.args.channel === 'DSUG' && c.args.text === 'Returns are free within 30 days.');
    expect(answer.response.ok).toBe(true);
  });

  test('a 429 holds back only its channel: another channel is answered meanwhile, then the first after Retry-After', async () => {
    api.rateLimitNext('chat.postMessage', 1, { channel: 'CSLOW' });
    const t0 = Date.now();
    await send(appMention({ user: 'UJOE', channel: 'CSLOW', text: '<@U0BOT> how do I return an item', ts: nextTs() }));
    await api.waitFor((c) => c.method === 'chat.postMessage' && c.status === 429);
    await send(appMention({ user: 'UEVE', channel: 'CFAST', text: '<@U0BOT> how do I return an item', ts: nextTs() }));
    const fast = await okPost((c) => c.args.channel === 'CFAST');
    const slow = await okPost((c) => c.args.channel === 'CSLOW', 5000);
    expect(fast.at - t0).toBeLessThan(900);
    expect(slow.at - t0).toBeGreaterThanOrEqual(1000);
  });

  test('a Slack call that never answers times out and is retried, so the reply still arrives', async () => {
    api.stallNext('chat.postMessage', 4000, { channel: 'DSTALL' });
    const t0 = Date.now();
    await send(directMessage({ user: 'UJOE', channel: 'DSTALL', text: 'How do I return an item?', ts: nextTs() }));
    const post = await okPost((c) => c.args.channel === 'DSTALL' && c.stalledMs === undefined, 3500);
    expect(post.at - t0).toBeLessThan(3000);
  });

  test('only the asker’s 👎 counts; anyone else gets an ephemeral note and the answer stays', async () => {
    const store = await openStore(undefined, dataDir);
    const cache = new AnswerCache({ store, clock: systemClock, stats: new StatsRecorder(store, systemClock, 0), ttlMs: 3_600_000, maxEntries: 100 });
    await cache.put('T0001', { question: 'Can I rent a tent?', answer: 'Yes, tents from $20.', source: 'generated' });
    await store.close();
    await send(directMessage({ user: 'UJOE', channel: 'DVOTE', text: 'Can I rent a tent?', ts: nextTs() }));
    const post = await okPost((c) => c.args.channel === 'DVOTE');
    const down = (post.args.blocks as Array<{ type: string; elements?: Array<{ action_id: string; value: string }> }>).find((b) => b.type === 'actions')?.elements?.find((e) => e.action_id === 'kvcache_feedback_down');
    const click = (user: string) =>
      postSigned(events, blockActionsBody({ teamId: 'T0001', userId: user, channelId: 'DVOTE', messageTs: String(post.response.ts), actionId: 'kvcache_feedback_down', value: down?.value ?? '', responseUrl: api.responseUrl(`v${user}`), messageBlocks: post.args.blocks as unknown[] }), { secret: SECRET });
    await click('UEVE');
    const note = await api.waitFor((c) => c.method === 'chat.postEphemeral' && c.args.user === 'UEVE');
    expect(note.args.text).toMatch(/Only the person who asked/);
    expect(api.callsTo('chat.update').filter((c) => c.args.channel === 'DVOTE')).toHaveLength(0);
    await send(directMessage({ user: 'UJOE', channel: 'DVOTE2', text: 'Can I rent a tent?', ts: nextTs() }));
    expect((await okPost((c) => c.args.channel === 'DVOTE2')).args.text).toBe('Yes, tents from $20.');
    await click('UJOE');
    const upd = await api.waitFor((c) => c.method === 'chat.update' && c.args.channel === 'DVOTE');
    expect(JSON.stringify(upd.args.blocks)).toMatch(/was removed/);
  });

  test('a guest in a shared channel is answered from the receiving installation’s FAQ', async () => {
    const ev = appMention({ user: 'UGUEST', channel: 'CSHARED', text: '<@U0BOT> when are you open', ts: nextTs(), team: 'T0GUEST', userTeam: 'T0GUEST' });
    await send(ev, { teamId: 'T0GUEST', authorizationTeamId: 'T0001', isExtSharedChannel: true });
    expect((await okPost((c) => c.args.channel === 'CSHARED')).args.text).toMatch(/^We are open 9 to 5/);
  });

  test('admins see a person’s words once escaped, never &amp;lt;, and long confirmations within the section limit', async () => {
    // Slack sends a typed "<b> & </b>" as entities.
    await send(directMessage({ user: 'UJOE', channel: 'DTYPED', text: 'is &lt;b&gt;bold&lt;/b&gt; &amp; *this* allowed?', ts: nextTs() }));
    await okPost((c) => c.args.channel === 'DTYPED');
    const list = await command('UADMIN', 'unanswered');
    expect(list.status).toBe(200);
    const shown = JSON.stringify(list.args.blocks);
    expect(shown).toContain('is &lt;b&gt;bold&lt;/b&gt; &amp; *this* allowed?');
    expect(shown).not.toContain('&amp;lt;');
    expect(shown).toMatch(/"type":"plain_text","text":"1\. is &lt;b&gt;/);
    const added = await command('UADMIN', `add Do you sell kayaks? => ${'Yes, we do. '.repeat(300)}`);
    expect(added.status).toBe(200);
    expect(String(added.args.text)).toMatch(/\(3,599 characters\)/);
  });

  test('a channel the bot was removed from: the failure is logged and counted as undelivered, nothing retried in a loop', async () => {
    api.removeFromChannel('CGONE');
    await send(appMention({ user: 'UJOE', channel: 'CGONE', text: '<@U0BOT> when are you open', ts: nextTs() }));
    const refusal = await api.waitFor((c) => c.method === 'chat.postMessage' && c.args.channel === 'CGONE');
    expect(refusal.response).toEqual({ ok: false, error: 'not_in_channel' });
    await new Promise((r) => setTimeout(r, 200));
    expect(api.callsTo('chat.postMessage').filter((c) => c.args.channel === 'CGONE')).toHaveLength(1);
  });

  test('an edit of a mention that got no reply (Slack refused it) is answered as a new question', async () => {
    const ts = nextTs();
    api.failNext('chat.postMessage', 'channel_not_found', { channel: 'CLOST' });
    await send(appMention({ user: 'UJOE', channel: 'CLOST', text: '<@U0BOT> how do I retrun an itme', ts }));
    await api.waitFor((c) => c.method === 'chat.postMessage' && c.args.channel === 'CLOST');
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await send(editedAppMention({ user: 'UJOE', channel: 'CLOST', text: '<@U0BOT> how do I return an item?', ts }));
    const post = await okPost((c) => c.args.channel === 'CLOST', 3000);
    expect(post.args.text).toBe('Returns are free within 30 days.');
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  test('/kvcache stats shows Slack delivery failures by kind', async () => {
    await new Promise((r) => setTimeout(r, 300)); // the bot flushes statistics every 100 ms
    const stats = await command('UADMIN', 'stats');
    const shown = JSON.stringify(stats.args.blocks);
    expect(shown).toMatch(/Slack delivery failures/);
    expect(shown).toMatch(/\d+ rate_limited/);
    expect(shown).toMatch(/\d+ payload/);
    expect(shown).toMatch(/\d+ message/);
    expect(shown).toMatch(/\d+ recovered/);
    expect(shown).toMatch(/2 channel/);
    expect(shown).toMatch(/2 undelivered/);
    expect(shown).toMatch(/2 replies could not be delivered/);
  });
});
