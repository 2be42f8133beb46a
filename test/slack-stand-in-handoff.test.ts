// What the hand-off to the support team needs from the Slack stand-in: modals with inputs (Block Kit limits,
// views.open and its one-use trigger_ids), permalinks, channel members, deleted channels, and the payloads of a
// modal's submission and of channel messages and edits.
import type { AddressInfo } from 'node:net';
import { App, LogLevel, type Logger } from '@slack/bolt';
import { WebClient } from '@slack/web-api';
import { LIMITS, validateBlocks, validateModal, validatePlacement, type BlockKitProblem } from '../testkit/block-kit';
import { DEFAULT_SCOPES, startSlackApi, type SlackApi, type SlackApiOptions } from '../testkit/slack-api';
import {
  channelMessage, checkboxValues, eventCallback, messageChanged, postSigned, selectValue, textValue, viewSubmissionBody, viewSubmissionPayload,
} from '../testkit/slack-signing';

type Block = Record<string, unknown>;
const x = (len: number): string => 'x'.repeat(len);
const plain = (text: string) => ({ type: 'plain_text', text });
const mrkdwn = (text: string) => ({ type: 'mrkdwn', text });
const textInput = (extra: Block = {}): Block => ({ type: 'plain_text_input', action_id: 'question', ...extra });
const input = (element: unknown, extra: Block = {}): Block => ({ type: 'input', block_id: 'q', label: plain('Your question'), element, ...extra });
const opt = (value: string, text: unknown = plain(value)): Block => ({ text, value });
const modal = (extra: Block = {}): Block => ({
  type: 'modal', callback_id: 'kvcache_handoff', title: plain('Ask the support team'), submit: plain('Send'), close: plain('Cancel'),
  blocks: [input(textInput({ multiline: true }))], ...extra,
});
const inModal = (...blocks: unknown[]) => validateBlocks(blocks, 'modal');
const problem = (error: string, detail: string | RegExp): BlockKitProblem =>
  expect.objectContaining({ error, detail: typeof detail === 'string' ? detail : expect.stringMatching(detail) }) as BlockKitProblem;
// WebClient's types want KnownBlock[] and ModalView; these tests send plain objects, some invalid on purpose.
const loose = (v: unknown): never => v as never;

describe('Block Kit: what a modal with inputs needs', () => {
  test('input: label plain_text ≤ 2,000 and an element, both required; hint ≤ 2,000; optional a boolean; no buttons in it', () => {
    expect(inModal(input(textInput(), { label: plain(x(2000)), hint: plain(x(2000)), optional: true }))).toBeNull();
    expect(inModal({ type: 'input', element: textInput() })).toEqual(problem('invalid_blocks', 'blocks[0].label: must be a text object'));
    expect(inModal(input(textInput(), { label: plain(x(2001)) }))).toEqual(problem('invalid_blocks', 'blocks[0].label.text: 2,001 characters, the limit is 2,000'));
    expect(inModal(input(textInput(), { label: mrkdwn('*q*') }))).toEqual(problem('invalid_blocks', 'blocks[0].label.type: must be plain_text, got mrkdwn'));
    expect(inModal(input(textInput(), { hint: plain(x(2001)) }))).toEqual(problem('invalid_blocks', 'blocks[0].hint.text: 2,001 characters, the limit is 2,000'));
    expect(inModal(input(textInput(), { optional: 'yes' }))).toEqual(problem('invalid_blocks', 'blocks[0].optional: must be a boolean, got "yes"'));
    expect(inModal(input(undefined))).toEqual(problem('invalid_blocks', 'blocks[0].element: an input needs an element'));
    expect(inModal(input({ type: 'button', action_id: 'b', text: plain('Go') }))).toEqual(problem('invalid_blocks', 'blocks[0].element.type: an input cannot hold a button'));
    expect(inModal(input(textInput(), { block_id: x(256) }))).toEqual(problem('invalid_blocks', 'blocks[0].block_id: 256 characters, the limit is 255'));
  });

  test('plain_text_input: action_id required (≤ 255), multiline a boolean, max_length 1 to 3,000, initial_value ≤ 3,000', () => {
    expect(inModal(input(textInput({ action_id: x(255), multiline: true, max_length: 3000, initial_value: x(3000), placeholder: plain('Ask') })))).toBeNull();
    expect(inModal(input(textInput({ initial_value: '' })))).toBeNull(); // a blank start is fine
    expect(inModal(input({ type: 'plain_text_input' }))).toEqual(problem('invalid_blocks', 'blocks[0].element.action_id: required on a plain_text_input'));
    expect(inModal(input(textInput({ action_id: x(256) })))).toEqual(problem('invalid_blocks', 'blocks[0].element.action_id: 256 characters, the limit is 255'));
    expect(inModal(input(textInput({ multiline: 'true' })))).toEqual(problem('invalid_blocks', 'blocks[0].element.multiline: must be a boolean, got "true"'));
    expect(inModal(input(textInput({ max_length: 3001 })))).toEqual(problem('invalid_blocks', 'blocks[0].element.max_length: must be an integer from 1 to 3,000, got 3001'));
    expect(inModal(input(textInput({ initial_value: x(3001) })))).toEqual(problem('invalid_blocks', 'blocks[0].element.initial_value: 3,001 characters, the limit is 3,000'));
    // action_ids are unique across the view, as in a message.
    expect(inModal(input(textInput()), input(textInput(), { block_id: 'q2' }))).toEqual(problem('invalid_blocks', 'blocks[1].element.action_id: duplicate action_id "question"'));
  });

  test('static_select: placeholder ≤ 150, 1 to 100 options of plain_text ≤ 75 and value ≤ 150, initial_option one of them', () => {
    const select = (extra: Block = {}): Block => ({ type: 'static_select', action_id: 'topic', placeholder: plain('Topic'), options: [opt('billing'), opt('returns')], ...extra });
    expect(inModal(input(select({ initial_option: opt('returns') })))).toBeNull();
    expect(inModal(input(select({ placeholder: plain(x(151)) })))).toEqual(problem('invalid_blocks', 'blocks[0].element.placeholder.text: 151 characters, the limit is 150'));
    expect(inModal(input(select({ options: [] })))).toEqual(problem('invalid_blocks', 'blocks[0].element.options: 0 elements, must be 1 to 100'));
    const many = (k: number) => Array.from({ length: k }, (_, i) => opt(`v${i}`));
    expect(inModal(input(select({ options: many(100) })))).toBeNull();
    expect(inModal(input(select({ options: many(101) })))).toEqual(problem('invalid_blocks', 'blocks[0].element.options: 101 elements, must be 1 to 100'));
    expect(inModal(input(select({ options: [opt('a', plain(x(75)))] })))).toBeNull();
    expect(inModal(input(select({ options: [opt('a', plain(x(76)))] })))).toEqual(problem('invalid_blocks', 'blocks[0].element.options[0].text.text: 76 characters, the limit is 75'));
    expect(inModal(input(select({ options: [opt('a', mrkdwn('*a*'))] })))).toEqual(problem('invalid_blocks', 'blocks[0].element.options[0].text.type: must be plain_text, got mrkdwn'));
    expect(inModal(input(select({ options: [{ text: plain('a'), value: x(151) }] })))).toEqual(problem('invalid_blocks', 'blocks[0].element.options[0].value: 151 characters, the limit is 150'));
    expect(inModal(input(select({ options: [opt('a'), opt('a')] })))).toEqual(problem('invalid_blocks', 'blocks[0].element.options[1].value: duplicate value "a"'));
    expect(inModal(input(select({ initial_option: opt('shipping') })))).toEqual(problem('invalid_blocks', 'blocks[0].element.initial_option: must be one of the options, got value "shipping"'));
  });

  test('checkboxes and radio_buttons: 1 to 10 options, text ≤ 75 (mrkdwn or plain_text), value ≤ 150, description ≤ 75', () => {
    for (const type of ['checkboxes', 'radio_buttons']) {
      const el = (options: unknown[], extra: Block = {}): Block => ({ type, action_id: 'pick', options, ...extra });
      const ten = Array.from({ length: 10 }, (_, i) => opt(`v${i}`, i % 2 === 0 ? mrkdwn(`*${i}*`) : plain(`${i}`)));
      expect(inModal(input(el(ten)))).toBeNull();
      expect(inModal(input(el([...ten, opt('v10')])))).toEqual(problem('invalid_blocks', 'blocks[0].element.options: 11 elements, must be 1 to 10'));
      expect(inModal(input(el([opt('a', mrkdwn(x(76)))])))).toEqual(problem('invalid_blocks', 'blocks[0].element.options[0].text.text: 76 characters, the limit is 75'));
      expect(inModal(input(el([{ ...opt('a'), description: mrkdwn(x(75)) }])))).toBeNull();
      expect(inModal(input(el([{ ...opt('a'), description: plain(x(76)) }])))).toEqual(problem('invalid_blocks', 'blocks[0].element.options[0].description.text: 76 characters, the limit is 75'));
      expect(inModal(input(el([{ text: plain('a'), value: x(151) }])))).toEqual(problem('invalid_blocks', 'blocks[0].element.options[0].value: 151 characters, the limit is 150'));
    }
    const boxes = { type: 'checkboxes', action_id: 'c', options: [opt('a'), opt('b')] };
    expect(inModal(input({ ...boxes, initial_options: [opt('b')] }))).toBeNull();
    expect(inModal(input({ ...boxes, initial_options: [opt('z')] }))).toEqual(problem('invalid_blocks', 'blocks[0].element.initial_options[0]: must be one of the options, got value "z"'));
  });

  test('input blocks go in modals only: validatePlacement refuses them in a message or a home tab', () => {
    const blocks = [{ type: 'divider' }, input(textInput())];
    expect(validatePlacement(blocks, 'modal')).toBeNull();
    expect(validatePlacement(blocks, 'message')).toEqual(problem('invalid_blocks', 'blocks[1]: unsupported surface for input block: only modals take them, not a message'));
    expect(validatePlacement(blocks, 'home')).toEqual(problem('invalid_blocks', /^blocks\[1\]: .*not a home tab$/));
    expect(validatePlacement([{ type: 'divider' }], 'message')).toBeNull();
  });

  test('a modal: type modal, title plain_text ≤ 24 (required), submit/close ≤ 24, callback_id ≤ 255, private_metadata ≤ 3,000, ≤ 100 blocks', () => {
    expect(validateModal(modal({ title: plain(x(24)), submit: plain(x(24)), close: plain(x(24)), callback_id: x(255), private_metadata: x(3000) }))).toBeNull();
    expect(validateModal(modal({ type: 'home' }))).toEqual(problem('invalid_arguments', 'view.type: must be modal, got "home"'));
    expect(validateModal(modal({ title: undefined }))).toEqual(problem('invalid_arguments', 'view.title: required'));
    expect(validateModal(modal({ title: plain(x(25)) }))).toEqual(problem('invalid_arguments', 'view.title.text: 25 characters, the limit is 24'));
    expect(validateModal(modal({ title: mrkdwn('*t*') }))).toEqual(problem('invalid_arguments', 'view.title.type: must be plain_text, got mrkdwn'));
    expect(validateModal(modal({ submit: plain(x(25)) }))).toEqual(problem('invalid_arguments', 'view.submit.text: 25 characters, the limit is 24'));
    expect(validateModal(modal({ close: plain(x(25)) }))).toEqual(problem('invalid_arguments', 'view.close.text: 25 characters, the limit is 24'));
    expect(validateModal(modal({ callback_id: x(256) }))).toEqual(problem('invalid_arguments', 'view.callback_id: 256 characters, the limit is 255'));
    expect(validateModal(modal({ private_metadata: x(3001) }))).toEqual(problem('invalid_arguments', 'view.private_metadata: 3,001 characters, the limit is 3,000'));
    const dividers = (k: number) => Array.from({ length: k }, () => ({ type: 'divider' }));
    expect(validateModal(modal({ blocks: dividers(100) }))).toBeNull();
    expect(validateModal(modal({ blocks: dividers(101) }))).toEqual(problem('invalid_blocks', 'view.blocks: 101 blocks, the limit is 100 in a modal view'));
    expect(validateModal(modal({ blocks: [input(textInput({ max_length: 0 }))] }))).toEqual(problem('invalid_blocks', /^view\.blocks\[0\]\.element\.max_length: /));
    // Slack: submit is required when the modal has an input block.
    expect(validateModal(modal({ submit: undefined }))).toEqual(problem('invalid_arguments', 'view.submit: required when the modal has input blocks'));
    expect(validateModal(modal({ submit: undefined, blocks: dividers(1) }))).toBeNull();
    expect([LIMITS.modalTitle, LIMITS.privateMetadata, LIMITS.callbackId]).toEqual([24, 3000, 255]);
  });
});

// ------------------------------------------------------------------- over HTTP

const quiet = (): Logger => {
  let lvl = LogLevel.ERROR;
  const none = (): void => undefined;
  return { debug: none, info: none, warn: none, error: none, setLevel: (l: LogLevel) => { lvl = l; }, getLevel: () => lvl, setName: none };
};
let api: SlackApi;
const start = async (o: SlackApiOptions = {}): Promise<SlackApi> => (api = await startSlackApi({ users: { U1: {}, UAGENT: {} }, ...o }));
afterEach(async () => { await api?.close(); });
const client = () => new WebClient(api.expectedBotToken, { slackApiUrl: api.url, retryConfig: { retries: 0 }, logger: quiet() });

describe('the stand-in’s methods for the hand-off', () => {
  test('chat.getPermalink: Slack’s URL for any ts; channel_not_found without a channel, message_not_found without a ts', async () => {
    await start();
    const c = client();
    await expect(c.chat.getPermalink({ channel: 'C1', message_ts: '1700000001.000100' })).resolves.toMatchObject({
      ok: true, channel: 'C1', permalink: 'https://kvcache-test.slack.com/archives/C1/p1700000001000100',
    });
    await expect(c.chat.getPermalink({ message_ts: '1.2' } as never)).rejects.toMatchObject({ data: { ok: false, error: 'channel_not_found' } });
    await expect(c.chat.getPermalink({ channel: 'C1' } as never)).rejects.toMatchObject({ data: { ok: false, error: 'message_not_found' } });
    api.archiveChannel('C2'); // archived or left, a message still has its link
    api.removeFromChannel('C2');
    await expect(c.chat.getPermalink({ channel: 'C2', message_ts: '1.2' })).resolves.toMatchObject({ ok: true });
  });

  test('views.open: opens a modal once per trigger_id, records it; refuses a bad modal without using up the trigger', async () => {
    await start();
    const c = client();
    const view = modal({ private_metadata: JSON.stringify({ channel: 'C1', ts: '1.2' }) });
    const res = await c.views.open({ trigger_id: 't1', view: loose(view) });
    expect(res).toMatchObject({ ok: true, view: { id: expect.stringMatching(/^V\d+$/), type: 'modal', callback_id: 'kvcache_handoff', team_id: 'T0001' } });
    expect(api.views()).toEqual([{ id: res.view?.id, view }]);

    await expect(c.views.open({ trigger_id: 't1', view: loose(view) })).rejects.toMatchObject({ data: { ok: false, error: 'expired_trigger_id' } });
    await expect(c.views.open({ view: loose(view) } as never)).rejects.toMatchObject({ data: { ok: false, error: 'invalid_arguments' } });
    await expect(c.views.open({ trigger_id: 't2' } as never)).rejects.toMatchObject({ data: { ok: false, error: 'invalid_arguments' } });

    const err = c.views.open({ trigger_id: 't2', view: loose(modal({ title: plain('Ask the support team now!') })) });
    await expect(err).rejects.toMatchObject({
      data: { ok: false, error: 'invalid_arguments', response_metadata: { messages: ['[ERROR] view.title.text: 25 characters, the limit is 24'] } },
    });
    await expect(c.views.open({ trigger_id: 't2', view: loose(modal({ blocks: [input({ type: 'plain_text_input' })] })) }))
      .rejects.toMatchObject({ data: { error: 'invalid_blocks', response_metadata: { messages: ['[ERROR] view.blocks[0].element.action_id: required on a plain_text_input'] } } });
    await expect(c.views.open({ trigger_id: 't2', view: loose(view) })).resolves.toMatchObject({ ok: true }); // t2 was not used up
    expect(api.views().map((v) => v.view.callback_id)).toEqual(['kvcache_handoff', 'kvcache_handoff']);

    await c.views.publish({ user_id: 'U1', view: { type: 'home', blocks: [] } });
    expect(api.views()).toHaveLength(2); // home views are not modals
    api.reset();
    expect(api.views()).toEqual([]);
    await expect(c.views.open({ trigger_id: 't1', view: loose(view) })).resolves.toMatchObject({ ok: true }); // reset forgets used triggers
  });

  test('an input block is refused in a message (postMessage, update, ephemeral, response_url) and in a home tab', async () => {
    await start();
    const c = client();
    const blocks = loose([{ type: 'section', text: mrkdwn('Ask us') }, input(textInput())]);
    const refused = { data: { ok: false, error: 'invalid_blocks', response_metadata: { messages: ['[ERROR] blocks[1]: unsupported surface for input block: only modals take them, not a message'] } } };
    await expect(c.chat.postMessage({ channel: 'C1', text: 'x', blocks })).rejects.toMatchObject(refused);
    await expect(c.chat.postEphemeral({ channel: 'C1', user: 'U1', text: 'x', blocks })).rejects.toMatchObject(refused);
    const posted = await c.chat.postMessage({ channel: 'C1', text: 'x' });
    await expect(c.chat.update({ channel: 'C1', ts: posted.ts!, text: 'x', blocks })).rejects.toMatchObject(refused);
    const viaUrl = await fetch(api.responseUrl('r1'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'x', blocks }) });
    expect([viaUrl.status, await viaUrl.json()]).toEqual([400, expect.objectContaining({ error: 'invalid_blocks' })]);
    await expect(c.views.publish({ user_id: 'U1', view: loose({ type: 'home', blocks: [input(textInput())] }) })).rejects.toMatchObject({ data: { error: 'invalid_blocks' } });
    expect(api.message('C1', posted.ts!)?.updated).toBe(0);
  });

  test('conversations.members: the known users and the bot by default, setMembers per channel; needs channels:read', async () => {
    await start();
    const c = client();
    const page = await c.conversations.members({ channel: 'C1' });
    expect(page).toMatchObject({ ok: true, response_metadata: { next_cursor: '' } });
    expect([...(page.members ?? [])].sort()).toEqual(['U0BOT', 'U1', 'UAGENT']);
    api.setMembers('CSUPPORT', ['UAGENT', 'U0BOT']);
    await expect(c.conversations.members({ channel: 'CSUPPORT' })).resolves.toMatchObject({ members: ['UAGENT', 'U0BOT'] });
    await expect(c.conversations.members({ channel: 'C1' })).resolves.toMatchObject({ members: expect.arrayContaining(['U1']) }); // others keep the default
    api.removeFromChannel('C2'); // the bot left: it is no longer a member by default
    expect((await c.conversations.members({ channel: 'C2' })).members).not.toContain('U0BOT');
    await expect(c.conversations.members({} as never)).rejects.toMatchObject({ data: { error: 'channel_not_found' } });

    api.setScopes(DEFAULT_SCOPES.filter((s) => s !== 'channels:read'));
    await expect(c.conversations.members({ channel: 'C1' })).rejects.toMatchObject({ data: { ok: false, error: 'missing_scope', needed: 'channels:read' } });
    api.reset();
    await expect(c.conversations.members({ channel: 'CSUPPORT' })).resolves.toMatchObject({ members: expect.arrayContaining(['U1', 'UAGENT', 'U0BOT']) });
    expect(DEFAULT_SCOPES).toEqual(expect.arrayContaining(['channels:read', 'groups:read', 'channels:history', 'groups:history', 'chat:write']));
  });

  test('removeChannel: chat.*, getPermalink and members answer channel_not_found there, its messages are gone; reset brings it back', async () => {
    await start();
    const c = client();
    const kept = await c.chat.postMessage({ channel: 'CGONE', text: 'before' });
    api.archiveChannel('CGONE'); // deleted wins over archived
    api.removeChannel('CGONE');
    const gone = { data: { ok: false, error: 'channel_not_found' } };
    await expect(c.chat.postMessage({ channel: 'CGONE', text: 'x' })).rejects.toMatchObject(gone);
    await expect(c.chat.update({ channel: 'CGONE', ts: kept.ts!, text: 'x' })).rejects.toMatchObject(gone);
    await expect(c.chat.postEphemeral({ channel: 'CGONE', user: 'U1', text: 'x' })).rejects.toMatchObject(gone);
    await expect(c.chat.getPermalink({ channel: 'CGONE', message_ts: kept.ts! })).rejects.toMatchObject(gone);
    await expect(c.conversations.members({ channel: 'CGONE' })).rejects.toMatchObject(gone);
    expect(api.messages('CGONE')).toEqual([]);
    await expect(c.chat.postMessage({ channel: 'C1', text: 'x' })).resolves.toMatchObject({ ok: true });
    api.reset();
    await expect(c.chat.postMessage({ channel: 'CGONE', text: 'x' })).resolves.toMatchObject({ ok: true });
  });
});

describe('payloads for the hand-off', () => {
  test('viewSubmissionPayload: Slack’s view_submission shape, state values from the helpers; the body is payload=<JSON>', () => {
    const values = { q: { question: textValue('Where is my order?') }, t: { topic: selectValue('billing') }, c: { consent: checkboxValues(['share']) } };
    const opened = modal({ private_metadata: '{"ts":"1.2"}' });
    const p = viewSubmissionPayload({ teamId: 'T0001', userId: 'U1', callbackId: 'kvcache_handoff', values, viewId: 'V42', view: opened });
    expect(p).toMatchObject({
      type: 'view_submission', team: { id: 'T0001', domain: 'kvcache-test' }, user: { id: 'U1', username: 'u1', name: 'u1', team_id: 'T0001' },
      api_app_id: 'A1', token: expect.any(String), trigger_id: expect.any(String), response_urls: [], is_enterprise_install: false, enterprise: null,
      view: {
        id: 'V42', team_id: 'T0001', type: 'modal', callback_id: 'kvcache_handoff', private_metadata: '{"ts":"1.2"}', hash: expect.any(String),
        title: opened.title, blocks: opened.blocks, state: { values },
      },
    });
    expect(values).toEqual({
      q: { question: { type: 'plain_text_input', value: 'Where is my order?' } },
      t: { topic: { type: 'static_select', selected_option: { text: { type: 'plain_text', text: 'billing' }, value: 'billing' } } },
      c: { consent: { type: 'checkboxes', selected_options: [{ text: { type: 'plain_text', text: 'share' }, value: 'share' }] } },
    });
    const bare = viewSubmissionPayload({ teamId: 'T0001', userId: 'U1', callbackId: 'cb', values: {}, apiAppId: 'A9', privateMetadata: 'm' });
    expect(bare).toMatchObject({ api_app_id: 'A9', view: { id: expect.stringMatching(/^V/), private_metadata: 'm', blocks: [], state: { values: {} } } });
    const body = viewSubmissionBody({ teamId: 'T0001', userId: 'U1', callbackId: 'cb', values });
    expect(JSON.parse(new URLSearchParams(body).get('payload') ?? '')).toMatchObject({ type: 'view_submission', view: { callback_id: 'cb', state: { values } } });
  });

  test('channelMessage and messageChanged: message events a channel-watching bot receives, wrapped by eventCallback', () => {
    const said = channelMessage({ user: 'U1', channel: 'C1', text: 'my order is late', ts: '1700000001.000100', threadTs: '1700000000.000100' });
    expect(said).toMatchObject({
      type: 'message', channel: 'C1', channel_type: 'channel', user: 'U1', text: 'my order is late', ts: '1700000001.000100',
      event_ts: '1700000001.000100', thread_ts: '1700000000.000100', team: 'T0001', client_msg_id: expect.any(String),
    });
    expect(said).not.toHaveProperty('subtype');
    const bot = channelMessage({ channel: 'G1', channelType: 'group', text: 'from an integration', ts: '2.2', botId: 'B9', subtype: 'bot_message' });
    expect(bot).toMatchObject({ channel_type: 'group', bot_id: 'B9', subtype: 'bot_message' });
    expect(bot).not.toHaveProperty('user');
    expect(bot).not.toHaveProperty('client_msg_id');

    const edit = messageChanged({ channel: 'C1', ts: '1700000001.000100', user: 'U1', text: 'my order is very late', previousText: 'my order is late' });
    expect(edit).toMatchObject({
      type: 'message', subtype: 'message_changed', hidden: true, channel: 'C1', channel_type: 'channel',
      ts: '1700000002.000100', event_ts: '1700000002.000100',
      message: { type: 'message', user: 'U1', text: 'my order is very late', ts: '1700000001.000100', edited: { user: 'U1', ts: '1700000002.000100' } },
      previous_message: { type: 'message', user: 'U1', text: 'my order is late', ts: '1700000001.000100' },
    });
    expect(messageChanged({ channel: 'D1', channelType: 'im', ts: '5.5', user: 'U1', text: 't', threadTs: '4.4' })).toMatchObject({
      channel_type: 'im', message: { thread_ts: '4.4' }, previous_message: { text: 't', thread_ts: '4.4' },
    });
    expect(eventCallback({ teamId: 'T0001', eventId: 'EvE', event: edit })).toMatchObject({ type: 'event_callback', event: { subtype: 'message_changed' } });
  });

  test('Bolt routes the submission to app.view(callback_id) with its values, and a channel message to app.message', async () => {
    await start();
    const app = new App({ token: 'xoxb-test', signingSecret: 's', clientOptions: { slackApiUrl: api.url }, logger: quiet() });
    const got: unknown[] = [];
    app.view('kvcache_handoff', async ({ ack, view }) => { got.push(view.state.values); await ack(); });
    app.message(async ({ message }) => { got.push(message.type === 'message' && !('subtype' in message && message.subtype) ? message.text : 'other'); });
    const server = await app.start(0);
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`;
      const values = { q: { question: textValue('help') } };
      const sub = await postSigned(url, viewSubmissionBody({ teamId: 'T0001', userId: 'U1', callbackId: 'kvcache_handoff', values }), { secret: 's' });
      expect(sub.status).toBe(200);
      const ev = eventCallback({ teamId: 'T0001', eventId: 'EvM', event: channelMessage({ user: 'U1', channel: 'C1', text: 'hello', ts: '1.1' }) });
      expect((await postSigned(url, ev, { secret: 's' })).status).toBe(200);
      for (let i = 0; i < 50 && got.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
      expect(got).toEqual([values, 'hello']);
    } finally {
      await app.stop();
    }
  });
});
