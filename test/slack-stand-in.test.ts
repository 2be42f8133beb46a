// The Slack stand-in refuses what Slack refuses: Block Kit limits (testkit/block-kit.ts, as pure functions), and
// over real HTTP through @slack/web-api's WebClient: unknown messages, channel membership, scopes, response_url
// expiry and uses, per-channel rate limits and slow answers. Plus the payload builders for edits and Enterprise Grid.
import type { AddressInfo } from 'node:net';
import { App, LogLevel, type BlockAction, type ButtonAction, type Logger } from '@slack/bolt';
import { ErrorCode, WebAPIRateLimitedError, WebClient } from '@slack/web-api';
import { LIMITS, validateBlocks, validateMessage, type BlockKitProblem } from '../testkit/block-kit';
import { startSlackApi, type SlackApi, type SlackApiOptions } from '../testkit/slack-api';
import {
  appMention, blockActionsBody, blockActionsPayload, editedAppMention, eventCallback, postSigned, slashCommandPayload,
} from '../testkit/slack-signing';

type Block = Record<string, unknown>;
const x = (len: number): string => 'x'.repeat(len);
const mrkdwn = (text: string) => ({ type: 'mrkdwn', text });
const plain = (text: string) => ({ type: 'plain_text', text });
const section = (text: string): Block => ({ type: 'section', text: mrkdwn(text) });
const button = (actionId: string, extra: Block = {}): Block => ({ type: 'button', action_id: actionId, text: plain('Go'), value: 'v', ...extra });
const actions = (...elements: unknown[]): Block => ({ type: 'actions', elements });
// WebClient's types want KnownBlock[]; these tests send plain objects, some invalid on purpose.
const kb = (blocks: unknown[]): never => blocks as never;
const msg = (...blocks: unknown[]) => validateMessage({ text: 'fallback', blocks });
const problem = (error: string, detail: string | RegExp): BlockKitProblem =>
  expect.objectContaining({ error, detail: typeof detail === 'string' ? detail : expect.stringMatching(detail) }) as BlockKitProblem;

/** Each limit: one payload just within passes, one just over fails with the code and a detail naming the path. */
describe('Block Kit validator', () => {
  test('blocks must be an array; at most 50 in a message, 100 in a home view or modal', () => {
    expect(validateBlocks({ type: 'section' }, 'message')).toEqual(problem('invalid_blocks_format', 'blocks: must be an array, got object'));
    expect(validateMessage({ text: 'a', blocks: '[{' })).toEqual(problem('invalid_blocks_format', 'blocks: must be an array, got string'));
    const n = (k: number) => Array.from({ length: k }, () => ({ type: 'divider' }));
    expect(validateBlocks(n(50), 'message')).toBeNull();
    expect(validateBlocks(n(51), 'message')).toEqual(problem('invalid_blocks', 'blocks: 51 blocks, the limit is 50 in a message'));
    for (const surface of ['home', 'modal'] as const) {
      expect(validateBlocks(n(100), surface)).toBeNull();
      expect(validateBlocks(n(101), surface)).toEqual(problem('invalid_blocks', `blocks: 101 blocks, the limit is 100 in a ${surface} view`));
    }
  });

  test('known block types only; block_id at most 255 and unique', () => {
    const known = [section('a'), { type: 'context', elements: [mrkdwn('c')] }, actions(button('a')), { type: 'header', text: plain('h') },
      { type: 'divider' }, { type: 'image', image_url: 'https://x/y.png', alt_text: 'y' }, { type: 'rich_text', elements: [] },
      { type: 'input', label: plain('l'), element: { type: 'plain_text_input', action_id: 'in' } }];
    expect(msg(...known)).toBeNull();
    expect(msg(section('a'), { type: 'video' })).toEqual(problem('invalid_blocks', 'blocks[1].type: unknown block type "video"'));
    expect(msg({ type: 'divider', block_id: x(255) })).toBeNull();
    expect(msg({ type: 'divider', block_id: x(256) })).toEqual(problem('invalid_blocks', 'blocks[0].block_id: 256 characters, the limit is 255'));
    expect(msg({ type: 'divider', block_id: 'b' }, { type: 'divider', block_id: 'b' })).toEqual(problem('invalid_blocks', 'blocks[1].block_id: duplicate block_id "b"'));
  });

  test('text objects: plain_text or mrkdwn, non-empty text, emoji only on plain_text, verbatim only on mrkdwn', () => {
    expect(msg({ type: 'section', text: { type: 'plain_text', text: 'a', emoji: true } }, { type: 'section', text: { type: 'mrkdwn', text: 'b', verbatim: true } })).toBeNull();
    expect(msg({ type: 'section', text: { type: 'markdown', text: 'a' } })).toEqual(problem('invalid_blocks', 'blocks[0].text.type: must be plain_text or mrkdwn, got "markdown"'));
    expect(msg({ type: 'section', text: mrkdwn('') })).toEqual(problem('invalid_blocks', 'blocks[0].text.text: must be a non-empty string'));
    expect(msg({ type: 'section', text: { type: 'mrkdwn', text: 'a', emoji: true } })).toEqual(problem('invalid_blocks', 'blocks[0].text.emoji: only allowed on plain_text'));
    expect(msg({ type: 'section', text: { type: 'plain_text', text: 'a', verbatim: false } })).toEqual(problem('invalid_blocks', 'blocks[0].text.verbatim: only allowed on mrkdwn'));
  });

  test('section: text and/or fields; text ≤ 3,000; at most 10 fields of ≤ 2,000', () => {
    expect(msg({ type: 'section' })).toEqual(problem('invalid_blocks', 'blocks[0]: a section needs text or fields'));
    expect(msg(section(x(3000)))).toBeNull();
    expect(msg(section('a'), section(x(3001)))).toEqual(problem('invalid_blocks', 'blocks[1].text.text: 3,001 characters, the limit is 3,000'));
    const fields = (k: number, len = 1) => ({ type: 'section', fields: Array.from({ length: k }, () => mrkdwn(x(len))) });
    expect(msg(fields(10, 1000))).toBeNull();
    expect(msg(fields(11))).toEqual(problem('invalid_blocks', 'blocks[0].fields: 11 elements, must be 1 to 10'));
    expect(msg(fields(1, 2000))).toBeNull();
    expect(msg({ type: 'section', fields: [mrkdwn('a'), mrkdwn(x(2001))] })).toEqual(problem('invalid_blocks', 'blocks[0].fields[1].text: 2,001 characters, the limit is 2,000'));
  });

  test('header: plain_text only, ≤ 150', () => {
    expect(msg({ type: 'header', text: plain(x(150)) })).toBeNull();
    expect(msg({ type: 'header', text: plain(x(151)) })).toEqual(problem('invalid_blocks', 'blocks[0].text.text: 151 characters, the limit is 150'));
    expect(msg({ type: 'header', text: mrkdwn('*h*') })).toEqual(problem('invalid_blocks', 'blocks[0].text.type: must be plain_text, got mrkdwn'));
  });

  test('context: 1 to 10 elements (text or images), each text ≤ 3,000', () => {
    const ctx = (...elements: unknown[]) => ({ type: 'context', elements });
    expect(msg(ctx())).toEqual(problem('invalid_blocks', 'blocks[0].elements: 0 elements, must be 1 to 10'));
    expect(msg(ctx(...Array.from({ length: 9 }, () => mrkdwn('a')), { type: 'image', image_url: 'https://x/i.png', alt_text: 'i' }))).toBeNull();
    expect(msg(ctx(...Array.from({ length: 11 }, () => mrkdwn('a'))))).toEqual(problem('invalid_blocks', 'blocks[0].elements: 11 elements, must be 1 to 10'));
    expect(msg(ctx(plain(x(3000))))).toBeNull();
    expect(msg(ctx(mrkdwn('a'), mrkdwn(x(3001))))).toEqual(problem('invalid_blocks', 'blocks[0].elements[1].text: 3,001 characters, the limit is 3,000'));
    expect(msg(ctx({ type: 'image', image_url: 'https://x/i.png' }))).toEqual(problem('invalid_blocks', 'blocks[0].elements[0].alt_text: must be a non-empty string'));
  });

  test('actions: 1 to 25 elements; buttons: label plain_text ≤ 75, action_id ≤ 255 and unique in the message, value ≤ 2,000, url ≤ 3,000, style primary/danger', () => {
    expect(msg(actions())).toEqual(problem('invalid_blocks', 'blocks[0].elements: 0 elements, must be 1 to 25'));
    const many = (k: number) => actions(...Array.from({ length: k }, (_, i) => button(`b${i}`)));
    expect(msg(many(25))).toBeNull();
    expect(msg(many(26))).toEqual(problem('invalid_blocks', 'blocks[0].elements: 26 elements, must be 1 to 25'));
    expect(msg(actions(button('a', { text: plain(x(75)) })))).toBeNull();
    expect(msg(actions(button('a', { text: plain(x(76)) })))).toEqual(problem('invalid_blocks', 'blocks[0].elements[0].text.text: 76 characters, the limit is 75'));
    expect(msg(actions(button('a', { text: mrkdwn('*go*') })))).toEqual(problem('invalid_blocks', 'blocks[0].elements[0].text.type: must be plain_text, got mrkdwn'));
    expect(msg(actions(button(x(255))))).toBeNull();
    expect(msg(actions(button(x(256))))).toEqual(problem('invalid_blocks', 'blocks[0].elements[0].action_id: 256 characters, the limit is 255'));
    // Unique across the message, not only within a block; an accessory counts too.
    expect(msg(actions(button('a')), { ...section('s'), accessory: button('a') })).toEqual(problem('invalid_blocks', 'blocks[1].accessory.action_id: duplicate action_id "a"'));
    expect(msg(actions(button('a'), button('a')))).toEqual(problem('invalid_blocks', 'blocks[0].elements[1].action_id: duplicate action_id "a"'));
    const fourth = (b: Block) => msg({ type: 'divider' }, { type: 'divider' }, { type: 'divider' }, actions(button('a'), b));
    expect(fourth(button('b', { value: x(2000) }))).toBeNull();
    expect(fourth(button('b', { value: x(2043) }))).toEqual(problem('invalid_blocks', 'blocks[3].elements[1].value: 2,043 characters, the limit is 2,000'));
    expect(msg(actions(button('a', { url: `https://e.x/${x(2988)}` })))).toBeNull();
    expect(msg(actions(button('a', { url: `https://e.x/${x(2989)}` })))).toEqual(problem('invalid_blocks', 'blocks[0].elements[0].url: 3,001 characters, the limit is 3,000'));
    expect(msg(actions(button('a', { style: 'primary' }), button('b', { style: 'danger' })))).toBeNull();
    expect(msg(actions(button('a', { style: 'default' })))).toEqual(problem('invalid_blocks', 'blocks[0].elements[0].style: must be primary or danger, got "default"'));
    expect(msg(actions({ type: 'slider', action_id: 's' }))).toEqual(problem('invalid_blocks', 'blocks[0].elements[0].type: unknown element type "slider"'));
  });

  test('lengths are UTF-16 units: 38 astral emoji are 76 units, over a button label’s 75', () => {
    expect(msg(actions(button('a', { text: plain('😀'.repeat(37)) })))).toBeNull();
    expect(msg(actions(button('a', { text: plain('😀'.repeat(38)) })))).toEqual(problem('invalid_blocks', /76 characters, the limit is 75$/));
  });

  test('a message needs text or blocks; text ≤ 40,000 (msg_too_long)', () => {
    expect(validateMessage({})).toEqual(problem('no_text', 'text: a message needs text or blocks'));
    expect(validateMessage({ text: '', blocks: [] })).toEqual(problem('no_text', /needs text or blocks/));
    expect(validateMessage({ blocks: [section('a')] })).toBeNull();
    expect(validateMessage({ attachments: [{ text: 'legacy' }] })).toBeNull();
    expect(validateMessage({ text: x(40_000) })).toBeNull();
    expect(validateMessage({ text: x(40_001) })).toEqual(problem('msg_too_long', 'text: 40,001 characters, the limit is 40,000'));
  });

  test('all text in a message’s blocks over 12,000 is msg_blocks_too_long; home views are not held to it', () => {
    const full = [section(x(3000)), section(x(3000)), section(x(3000)), section(x(2990))];
    expect(msg(...full, actions(button('a', { text: plain(x(10)) })))).toBeNull(); // 12,000 with the label
    expect(msg(...full, actions(button('a', { text: plain(x(11)) })))).toEqual(problem('msg_blocks_too_long', 'blocks: 12,001 characters of text in all, the limit is about 12,000'));
    expect(msg(...full, { type: 'context', elements: [mrkdwn(x(11))] })).toEqual(problem('msg_blocks_too_long', /^blocks: 12,001/));
    const homeBlocks = Array.from({ length: 100 }, () => section(x(3000)));
    expect(validateBlocks(homeBlocks, 'home')).toBeNull();
    expect(LIMITS.messageBlocksText).toBe(12_000);
  });
});

// ------------------------------------------------------------------- over HTTP

const quiet = (): Logger => {
  let lvl = LogLevel.ERROR;
  const none = (): void => undefined;
  return { debug: none, info: none, warn: none, error: none, setLevel: (l: LogLevel) => { lvl = l; }, getLevel: () => lvl, setName: none };
};
let api: SlackApi;
const start = async (o: SlackApiOptions = {}): Promise<SlackApi> => (api = await startSlackApi({ users: { U1: {} }, ...o }));
afterEach(async () => { await api?.close(); });
const client = (o: { timeout?: number } = {}) =>
  new WebClient(api.expectedBotToken, { slackApiUrl: api.url, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, logger: quiet(), ...o });
const caught = (p: Promise<unknown>): Promise<{ code?: string; data?: Record<string, unknown>; retryAfter?: number }> =>
  p.then(() => { throw new Error('expected the call to fail'); }, (e: unknown) => e as { code?: string; data?: Record<string, unknown> });
const postTo = (url: string, body: object) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    .then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));

describe('the stand-in enforces what Slack enforces', () => {
  test('invalid blocks are refused with Slack’s error and details, and recorded like any call', async () => {
    await start();
    const err = await caught(client().chat.postMessage({ channel: 'C1', text: 'x', blocks: kb([section('a'), section(x(3001))]) }));
    expect(err).toMatchObject({ code: ErrorCode.PlatformError, data: { ok: false, error: 'invalid_blocks', response_metadata: { messages: ['[ERROR] blocks[1].text.text: 3,001 characters, the limit is 3,000'] } } });
    expect(api.callsTo('chat.postMessage')).toEqual([expect.objectContaining({ status: 200, response: expect.objectContaining({ error: 'invalid_blocks' }) })]);
    await expect(client().chat.postMessage({ channel: 'C1', text: x(40_001) })).rejects.toMatchObject({ data: { error: 'msg_too_long' } });
    await expect(client().chat.postMessage({ channel: 'C1' } as never)).rejects.toMatchObject({ data: { error: 'no_text' } });
    await expect(client().chat.postEphemeral({ channel: 'C1', user: 'U1', text: 'x', blocks: [{ type: 'nope' }] as never })).rejects.toMatchObject({ data: { error: 'invalid_blocks' } });
    const tooMany = Array.from({ length: 101 }, () => ({ type: 'divider' }));
    await expect(client().views.publish({ user_id: 'U1', view: { type: 'home', blocks: tooMany } as never })).rejects.toMatchObject({ data: { error: 'invalid_blocks' } });
    const bigHome = Array.from({ length: 100 }, () => section(x(3000)));
    await expect(client().views.publish({ user_id: 'U1', view: { type: 'home', blocks: bigHome } as never })).resolves.toMatchObject({ ok: true });
    expect(api.messages('C1')).toEqual([]); // nothing refused was stored
  });

  test('the bot’s messages are kept per channel; chat.update only works on them and replaces them', async () => {
    await start();
    const c = client();
    const first = await c.chat.postMessage({ channel: 'C1', text: 'one', blocks: kb([section('one')]) });
    const second = await c.chat.postMessage({ channel: 'C1', text: 'two', thread_ts: first.ts! });
    await c.chat.postMessage({ channel: 'C2', text: 'elsewhere' });
    expect(api.messages('C1')).toEqual([
      { channel: 'C1', ts: first.ts, text: 'one', blocks: [section('one')], updated: 0 },
      { channel: 'C1', ts: second.ts, text: 'two', thread_ts: first.ts, updated: 0 },
    ]);

    const upd = await c.chat.update({ channel: 'C1', ts: first.ts!, text: 'one, edited', blocks: kb([section('edited')]) });
    expect(upd).toMatchObject({ ok: true, ts: first.ts, text: 'one, edited', message: { text: 'one, edited', blocks: [section('edited')] } });
    await c.chat.update({ channel: 'C1', ts: first.ts!, text: 'text only' }); // blocks left out are kept, as in Slack
    expect(api.message('C1', first.ts!)).toEqual({ channel: 'C1', ts: first.ts, text: 'text only', blocks: [section('edited')], updated: 2 });
    expect(api.messages('C1').map((m) => m.ts)).toEqual([first.ts, second.ts]); // post order

    await expect(c.chat.update({ channel: 'C1', ts: '1700000000.999999', text: 'made up' })).rejects.toMatchObject({ data: { error: 'message_not_found' } });
    await expect(c.chat.update({ channel: 'C2', ts: first.ts!, text: 'wrong channel' })).rejects.toMatchObject({ data: { error: 'message_not_found' } });
    await expect(c.chat.update({ channel: 'C1', ts: first.ts!, text: 'x', blocks: kb([section(x(3001))]) })).rejects.toMatchObject({ data: { error: 'invalid_blocks' } });
    expect(api.message('C1', first.ts!)?.updated).toBe(2); // a refused update changes nothing

    api.reset();
    expect([api.messages('C1'), api.calls]).toEqual([[], []]);
    await expect(c.chat.update({ channel: 'C1', ts: first.ts!, text: 'after reset' })).rejects.toMatchObject({ data: { error: 'message_not_found' } });
  });

  test('not_in_channel and is_archived, from options and at run time; other channels work; reset restores the options', async () => {
    await start({ notInChannels: ['CNOT'] });
    const c = client();
    await expect(c.chat.postMessage({ channel: 'CNOT', text: 'x' })).rejects.toMatchObject({ data: { error: 'not_in_channel' } });
    await expect(c.chat.postEphemeral({ channel: 'CNOT', user: 'U1', text: 'x' })).rejects.toMatchObject({ data: { error: 'not_in_channel' } });
    const kept = await c.chat.postMessage({ channel: 'C1', text: 'x' });
    api.removeFromChannel('C1');
    await expect(c.chat.update({ channel: 'C1', ts: kept.ts!, text: 'y' })).rejects.toMatchObject({ data: { error: 'not_in_channel' } });
    api.archiveChannel('C2');
    await expect(c.chat.postMessage({ channel: 'C2', text: 'x' })).rejects.toMatchObject({ data: { error: 'is_archived' } });
    await expect(c.chat.postMessage({ channel: 'C3', text: 'x' })).resolves.toMatchObject({ ok: true });
    api.reset();
    await expect(c.chat.postMessage({ channel: 'C1', text: 'x' })).resolves.toMatchObject({ ok: true });
    await expect(c.chat.postMessage({ channel: 'C2', text: 'x' })).resolves.toMatchObject({ ok: true });
    await expect(c.chat.postMessage({ channel: 'CNOT', text: 'x' })).rejects.toMatchObject({ data: { error: 'not_in_channel' } });
  });

  test('missing_scope names the scope needed and those provided', async () => {
    await start({ scopes: ['users:read', 'commands'] });
    const c = client();
    await expect(c.chat.postMessage({ channel: 'C1', text: 'x' })).rejects.toMatchObject({ data: { ok: false, error: 'missing_scope', needed: 'chat:write', provided: 'users:read,commands' } });
    await expect(c.users.info({ user: 'U1' })).resolves.toMatchObject({ ok: true });
    api.setScopes(['chat:write']);
    await expect(c.users.info({ user: 'U1' })).rejects.toMatchObject({ data: { error: 'missing_scope', needed: 'users:read', provided: 'chat:write' } });
    await expect(c.chat.postMessage({ channel: 'C1', text: 'x' })).resolves.toMatchObject({ ok: true });
    await expect(c.views.publish({ user_id: 'U1', view: { type: 'home', blocks: [] } })).resolves.toMatchObject({ ok: true }); // needs no scope
  });

  test('a response_url works five times within 30 minutes of its first use (clock moved, no sleeping)', async () => {
    let t = 1_700_000_000_000;
    await start({ now: () => t });
    const url = api.responseUrl('cmd1'); // the clock starts here
    t += 30 * 60_000;
    expect(await postTo(url, { text: 'at 30 min' })).toEqual({ status: 200, body: { ok: true } });
    t += 1;
    expect(await postTo(url, { text: 'late' })).toEqual({ status: 404, body: { ok: false, error: 'expired_url' } });
    expect(api.callsTo('response_url').map((c) => [c.at, c.status])).toEqual([[t - 1, 200], [t, 404]]);

    // Without responseUrl(): the first post starts the clock. Five uses, then used_url.
    const direct = new URL('/response/direct', api.url).toString();
    for (let i = 1; i <= 5; i++) expect((await postTo(direct, { text: `use ${i}` })).status).toBe(200);
    expect(await postTo(direct, { text: 'sixth' })).toEqual({ status: 404, body: { ok: false, error: 'used_url' } });

    // Bad blocks are refused with HTTP 400, as an incoming webhook does.
    const bad = await postTo(api.responseUrl('cmd2'), { text: 'x', blocks: [{ type: 'header', text: mrkdwn('*no*') }] });
    expect(bad).toEqual({ status: 400, body: { ok: false, error: 'invalid_blocks', response_metadata: { messages: ['[ERROR] blocks[0].text.type: must be plain_text, got mrkdwn'] } } });
    api.reset(); // forgets uses
    expect((await postTo(direct, { text: 'fresh' })).status).toBe(200);
  });

  test('rateLimitNext: 429 with Retry-After for one channel, other channels pass meanwhile; times; failNext per channel', async () => {
    await start();
    const c = client();
    api.rateLimitNext('chat.postMessage', 3, { channel: 'C1', times: 2 });
    await expect(c.chat.postMessage({ channel: 'C2', text: 'other channel' })).resolves.toMatchObject({ ok: true });
    const err = await caught(c.chat.postMessage({ channel: 'C1', text: 'x' }));
    expect(err).toBeInstanceOf(WebAPIRateLimitedError);
    expect(err).toMatchObject({ code: ErrorCode.RateLimitedError, retryAfter: 3 });
    const raw = await fetch(`${api.url}chat.postMessage`, { method: 'POST', headers: { authorization: 'Bearer xoxb-test' }, body: new URLSearchParams({ channel: 'C1', text: 'x' }) });
    expect([raw.status, raw.headers.get('retry-after'), await raw.json()]).toEqual([429, '3', { ok: false, error: 'ratelimited' }]);
    await expect(c.chat.postMessage({ channel: 'C1', text: 'third' })).resolves.toMatchObject({ ok: true });
    expect(api.callsTo('chat.postMessage').map((x) => [x.args.channel, x.status])).toEqual([['C2', 200], ['C1', 429], ['C1', 429], ['C1', 200]]);

    api.rateLimitNext('users.info', 1); // no channel: the next call, whatever it is for
    await expect(c.users.info({ user: 'U1' })).rejects.toMatchObject({ code: ErrorCode.RateLimitedError, retryAfter: 1 });
    api.failNext('chat.update', 'cant_update_message', { channel: 'C9' });
    await expect(c.chat.update({ channel: 'C1', ts: '1.1', text: 'x' })).rejects.toMatchObject({ data: { error: 'message_not_found' } });
    await expect(c.chat.update({ channel: 'C9', ts: '1.1', text: 'x' })).rejects.toMatchObject({ data: { error: 'cant_update_message' } });
  });

  test('stallNext holds an answer back for request-timeout tests; close() does not wait for it', async () => {
    await start();
    api.stallNext('chat.postMessage', 400, { channel: 'CSLOW' });
    await expect(client().chat.postMessage({ channel: 'CFAST', text: 'x' })).resolves.toMatchObject({ ok: true });
    expect(api.callsTo('chat.postMessage')[0]).not.toHaveProperty('stalledMs'); // another channel is not held back
    const timedOut = await caught(client({ timeout: 100 }).chat.postMessage({ channel: 'CSLOW', text: 'x' }));
    expect(timedOut.code).toBe(ErrorCode.RequestError);
    expect(api.callsTo('chat.postMessage').at(-1)).toMatchObject({ args: { channel: 'CSLOW' }, stalledMs: 400, status: 200 });

    api.stallNext('chat.postMessage', 250);
    const t1 = Date.now();
    await expect(client().chat.postMessage({ channel: 'C1', text: 'slow' })).resolves.toMatchObject({ ok: true });
    expect(Date.now() - t1).toBeGreaterThanOrEqual(240);

    api.stallNext('auth.test', 60_000);
    const hanging = client().auth.test().catch(() => 'failed');
    await api.waitFor((c) => c.method === 'auth.test');
    const t2 = Date.now();
    await api.close();
    expect(Date.now() - t2).toBeLessThan(1000);
    await hanging;
    api = await startSlackApi(); // for afterEach
  });
});

describe('payloads as Slack sends them', () => {
  test('an edited mention: same ts and client_msg_id, new text, edited { user, ts }; Bolt delivers it as app_mention', async () => {
    const original = appMention({ user: 'U1', channel: 'C1', text: '<@U0BOT> how do I return', ts: '1700000001.000100' });
    const edited = editedAppMention({ user: 'U1', channel: 'C1', text: '<@U0BOT> how do I return a jacket', ts: '1700000001.000100' });
    expect(edited).toMatchObject({
      type: 'app_mention', ts: '1700000001.000100', client_msg_id: original.client_msg_id, text: '<@U0BOT> how do I return a jacket',
      edited: { user: 'U1', ts: '1700000002.000100' }, event_ts: '1700000002.000100',
    });
    expect(editedAppMention({ user: 'U1', channel: 'C1', text: 'b', ts: '5.5', editedTs: '9.9', threadTs: '4.4' })).toMatchObject({ edited: { ts: '9.9' }, thread_ts: '4.4' });

    await start();
    const app = new App({ token: 'xoxb-test', signingSecret: 's', clientOptions: { slackApiUrl: api.url }, logger: quiet() });
    const seen: Array<Record<string, unknown>> = [];
    app.event('app_mention', async ({ event }) => { seen.push(event as unknown as Record<string, unknown>); });
    const server = await app.start(0);
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`;
      expect((await postSigned(url, eventCallback({ teamId: 'T0001', eventId: 'EvA', event: original }), { secret: 's' })).status).toBe(200);
      expect((await postSigned(url, eventCallback({ teamId: 'T0001', eventId: 'EvB', event: edited }), { secret: 's' })).status).toBe(200);
      for (let i = 0; i < 50 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
      expect(seen.map((e) => [e.ts, e.text, e.edited])).toEqual([
        ['1700000001.000100', '<@U0BOT> how do I return', undefined],
        ['1700000001.000100', '<@U0BOT> how do I return a jacket', { user: 'U1', ts: '1700000002.000100' }],
      ]);
    } finally {
      await app.stop();
    }
  });

  test('Enterprise Grid: an org-wide install’s event, a shared channel, a team:null click, a Grid slash command', () => {
    const orgWide = eventCallback({ teamId: 'T0001', eventId: 'EvG', enterpriseId: 'E01', isEnterpriseInstall: true, event: appMention({ user: 'U1', channel: 'C1', text: 'x', ts: '1.1' }) });
    expect(orgWide).toMatchObject({
      team_id: 'T0001', enterprise_id: 'E01', context_team_id: 'T0001', context_enterprise_id: 'E01',
      authorizations: [{ enterprise_id: 'E01', team_id: null, user_id: 'U0BOT', is_bot: true, is_enterprise_install: true }],
    });
    // A workspace-level install in a Grid workspace keeps its team in the authorization.
    expect(eventCallback({ teamId: 'T0001', eventId: 'EvW', enterpriseId: 'E01', event: {} }).authorizations).toEqual([
      { enterprise_id: 'E01', team_id: 'T0001', user_id: 'U0BOT', is_bot: true, is_enterprise_install: false },
    ]);
    const plainEnvelope = eventCallback({ teamId: 'T0001', eventId: 'EvP', event: {} });
    expect(plainEnvelope).not.toHaveProperty('enterprise_id');
    expect(plainEnvelope).toMatchObject({ context_enterprise_id: null, is_ext_shared_channel: false, authorizations: [{ enterprise_id: null, team_id: 'T0001', is_enterprise_install: false }] });

    const shared = eventCallback({
      teamId: 'T0001', eventId: 'EvS', isExtSharedChannel: true, contextTeamId: 'T0002',
      event: appMention({ user: 'UEXT', channel: 'CSHARED', text: 'x', ts: '2.2', team: 'T0002', userTeam: 'T0002' }),
    });
    expect(shared).toMatchObject({ team_id: 'T0001', context_team_id: 'T0002', is_ext_shared_channel: true, event: { team: 'T0002', user_team: 'T0002', source_team: 'T0002' } });
    expect(appMention({ user: 'U1', channel: 'C1', text: 'x', ts: '1.1' })).not.toHaveProperty('user_team');

    const posted = [section('answer'), { type: 'actions', block_id: 'kvcache_feedback', elements: [button('kvcache_feedback_up', { text: { type: 'plain_text', text: '👍', emoji: true } })] }];
    const click = blockActionsPayload({
      teamId: 'T0001', userId: 'U1', channelId: 'C1', messageTs: '3.3', actionId: 'kvcache_feedback_up', value: 'v', responseUrl: 'r',
      enterpriseId: 'E01', isEnterpriseInstall: true, teamIsNull: true, userTeamId: 'T0002', messageBlocks: posted, messageText: 'answer',
    });
    expect(click).toMatchObject({
      team: null, enterprise: { id: 'E01' }, is_enterprise_install: true, user: { id: 'U1', team_id: 'T0002' },
      message: { ts: '3.3', user: 'U0BOT', bot_id: 'B0BOT', text: 'answer', blocks: posted },
      actions: [{ action_id: 'kvcache_feedback_up', block_id: 'kvcache_feedback', text: { text: '👍' }, value: 'v' }],
    });
    const onUsers = blockActionsPayload({ teamId: 'T0001', userId: 'U1', channelId: 'C1', messageTs: '3.3', actionId: 'a', value: 'v', responseUrl: 'r', messageUser: 'U7', enterpriseId: 'E01' });
    expect(onUsers).toMatchObject({ team: { id: 'T0001', enterprise_id: 'E01' }, message: { user: 'U7' } });
    expect(onUsers.message).not.toHaveProperty('bot_id');

    const cmd = slashCommandPayload({ teamId: 'T0001', userId: 'U1', channelId: 'C1', text: 'stats', responseUrl: 'r', enterpriseId: 'E01', isEnterpriseInstall: true });
    expect(cmd).toMatchObject({ team_id: 'T0001', enterprise_id: 'E01', is_enterprise_install: 'true' });
    expect(slashCommandPayload({ teamId: 'T0001', userId: 'U1', channelId: 'C1', text: 'stats', responseUrl: 'r' })).not.toHaveProperty('enterprise_id');
  });

  test('a click can carry the bot’s real posted message, and Bolt hands an org-wide team:null click to the listener', async () => {
    await start();
    const post = await client().chat.postMessage({
      channel: 'C1', text: 'answer', blocks: kb([section('answer'), { type: 'actions', block_id: 'fb', elements: [button('kvcache_feedback_up')] }]),
    });
    const stored = api.message('C1', post.ts!);
    const app = new App({ token: 'xoxb-test', signingSecret: 's', clientOptions: { slackApiUrl: api.url }, logger: quiet() });
    app.action<BlockAction<ButtonAction>>('kvcache_feedback_up', async ({ ack, body, client: c }) => {
      await ack();
      const blocks = (body.message?.blocks ?? []) as Block[];
      await c.chat.update({ channel: body.channel?.id ?? '', ts: body.message?.ts ?? '', text: `thanks from ${body.user.team_id}`, blocks: blocks.filter((b) => b.type !== 'actions') as never });
    });
    const server = await app.start(0);
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`;
      const click = blockActionsBody({
        teamId: 'T0001', userId: 'U1', channelId: 'C1', messageTs: post.ts!, actionId: 'kvcache_feedback_up', value: 'v', responseUrl: api.responseUrl('a1'),
        messageBlocks: stored?.blocks, messageText: stored?.text, enterpriseId: 'E01', isEnterpriseInstall: true, teamIsNull: true, userTeamId: 'T0002',
      });
      expect((await postSigned(url, click, { secret: 's' })).status).toBe(200);
      const upd = await api.waitFor((c) => c.method === 'chat.update');
      expect(upd.response).toMatchObject({ ok: true });
      expect(api.message('C1', post.ts!)).toMatchObject({ text: 'thanks from T0002', blocks: [section('answer')], updated: 1 });
    } finally {
      await app.stop();
    }
  });
});
