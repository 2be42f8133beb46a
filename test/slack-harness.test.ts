// Proves the Slack stand-in (test/helpers/slack-api.ts, slack-signing.ts) against the real SDKs:
// @slack/web-api's WebClient and @slack/bolt Apps in HTTP mode and in Socket Mode.
import type { AddressInfo } from 'node:net';
import { App, LogLevel, verifySlackRequest, webApi, type BlockAction, type ButtonAction, type Logger } from '@slack/bolt';
import { startSlackApi, type SlackApi } from '../testkit/slack-api';
import {
  appHomeOpened, appMention, blockActionsBody, eventCallback, postSigned, signSlackRequest,
  slashCommandBody, slashCommandPayload, urlVerification,
} from '../testkit/slack-signing';

const SECRET = 'harness-signing-secret';

function quietLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (level: string) => (...msg: unknown[]): void => { lines.push(`${level} ${msg.map(String).join(' ')}`); };
  let lvl = LogLevel.DEBUG;
  return {
    lines, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'),
    setLevel: (l: LogLevel) => { lvl = l; }, getLevel: () => lvl, setName: () => undefined,
  };
}

let api: SlackApi;
beforeEach(async () => {
  api = await startSlackApi({ users: { U1: { is_admin: true }, U2: {} } });
});
afterEach(async () => {
  await api.close();
});

describe('Web API against @slack/web-api WebClient', () => {
  test('auth.test, chat.postMessage, users.info, views.publish answer like Slack and are recorded', async () => {
    const client = new webApi.WebClient('xoxb-test', { slackApiUrl: api.url, logger: quietLogger() });
    expect(await client.auth.test()).toMatchObject({ ok: true, user_id: 'U0BOT', bot_id: 'B0BOT', team_id: 'T0001', url: expect.any(String) });

    const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: '*hi*' } }];
    const first = await client.chat.postMessage({ channel: 'C1', text: 'hi', blocks });
    const second = await client.chat.postMessage({ channel: 'C1', text: 'again', thread_ts: first.ts });
    expect(first).toMatchObject({ ok: true, channel: 'C1', ts: '1700000000.000100', message: { text: 'hi', user: 'U0BOT', bot_id: 'B0BOT' } });
    expect(second.ts! > first.ts!).toBe(true);

    expect((await client.users.info({ user: 'U1' })).user).toMatchObject({ id: 'U1', is_admin: true, is_owner: false, is_bot: false });
    await expect(client.users.info({ user: 'U404' })).rejects.toMatchObject({ code: webApi.ErrorCode.PlatformError, data: { error: 'user_not_found' } });
    const home = await client.views.publish({ user_id: 'U1', view: { type: 'home', blocks } });
    expect(home.view).toMatchObject({ type: 'home', id: expect.stringMatching(/^V/) });

    const [post] = api.callsTo('chat.postMessage');
    expect(post).toMatchObject({ token: 'xoxb-test', status: 200, args: { channel: 'C1', text: 'hi', blocks } });
    expect(api.callsTo('views.publish')[0]?.args).toMatchObject({ user_id: 'U1', view: { type: 'home' } });
    expect(api.calls.map((c) => c.method)).toEqual(['auth.test', 'chat.postMessage', 'chat.postMessage', 'users.info', 'users.info', 'views.publish']);
    await expect(api.waitFor((c) => c.method === 'chat.postMessage' && c.args.text === 'again')).resolves.toMatchObject({ args: { thread_ts: first.ts } });
  });

  test('a wrong token gets invalid_auth; unknown methods and JSON/form-token callers are answered and recorded', async () => {
    const wrong = new webApi.WebClient('xoxb-wrong', { slackApiUrl: api.url, logger: quietLogger() });
    const err: unknown = await wrong.chat.postMessage({ channel: 'C1', text: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(webApi.WebAPIPlatformError);
    expect((err as InstanceType<typeof webApi.WebAPIPlatformError>).data.error).toBe('invalid_auth');

    const right = new webApi.WebClient('xoxb-test', { slackApiUrl: api.url, logger: quietLogger() });
    await expect(right.apiCall('no.such.method')).rejects.toMatchObject({ data: { error: 'unknown_method' } });
    await expect(right.apps.connections.open()).rejects.toMatchObject({ data: { error: 'not_allowed_token_type' } });

    const json = await fetch(`${api.url}chat.postEphemeral`, {
      method: 'POST', headers: { authorization: 'Bearer xoxb-test', 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ channel: 'C1', user: 'U1', text: 'only you' }),
    });
    expect(await json.json()).toMatchObject({ ok: true, message_ts: expect.any(String) });
    const form = await fetch(`${api.url}users.info?user=U2`, { method: 'POST', body: new URLSearchParams({ token: 'xoxb-test' }) });
    expect(await form.json()).toMatchObject({ ok: true, user: { id: 'U2' } });
    expect(api.callsTo('users.info')[0]).toMatchObject({ token: 'xoxb-test', args: { user: 'U2' } });
    expect(api.callsTo('no.such.method')).toHaveLength(1);
    api.reset();
    expect(api.calls).toHaveLength(0);
  });

  test('failNext with 429 + Retry-After is a WebAPIRateLimitedError for rejectRateLimitedCalls clients', async () => {
    const client = new webApi.WebClient('xoxb-test', { slackApiUrl: api.url, rejectRateLimitedCalls: true, logger: quietLogger() });
    api.failNext('chat.postMessage', 'ratelimited', { status: 429, retryAfter: 1 });
    const err: unknown = await client.chat.postMessage({ channel: 'C1', text: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(webApi.WebAPIRateLimitedError);
    expect(err).toMatchObject({ code: webApi.ErrorCode.RateLimitedError, retryAfter: 1 });
    expect(api.callsTo('chat.postMessage')[0]).toMatchObject({ status: 429, response: { ok: false, error: 'ratelimited' } });
    await expect(client.chat.postMessage({ channel: 'C1', text: 'y' })).resolves.toMatchObject({ ok: true }); // one-shot

    api.failNext('chat.update', 'cant_update_message');
    await expect(client.chat.update({ channel: 'C1', ts: '1.2', text: 'z' })).rejects.toMatchObject({ data: { error: 'cant_update_message' } });
  });
});

describe('Bolt App in HTTP mode', () => {
  let app: App | undefined;
  afterEach(async () => {
    await app?.stop();
    app = undefined;
  });

  async function startHttpApp(logger: Logger): Promise<string> {
    // clientOptions.slackApiUrl reaches App.client and every per-request client (say, client, respond is fetch).
    app = new App({ token: 'xoxb-test', signingSecret: SECRET, clientOptions: { slackApiUrl: api.url }, logger });
    const server = await app.start(0); // port 0: the OS picks a free port; start() resolves with the http.Server
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`;
  }

  test('a signed app_mention is acked at once, the listener says, retries reach context, bad/stale signatures get 401', async () => {
    const logger = quietLogger();
    const url = await startHttpApp(logger);
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const seen: Array<{ retryNum?: number; retryReason?: string }> = [];
    app!.event('app_mention', async ({ event, say, context }) => {
      seen.push({ retryNum: context.retryNum, retryReason: context.retryReason });
      await gate;
      await say({ text: `echo: ${event.text}`, thread_ts: event.ts });
    });
    const body = JSON.stringify(eventCallback({
      teamId: 'T0001', eventId: 'Ev1', event: appMention({ user: 'U1', channel: 'C1', text: '<@U0BOT> hello', ts: '1700000001.000100' }),
    }));

    const res = await postSigned(url, body, { secret: SECRET });
    expect(res).toMatchObject({ status: 200, text: '' }); // acked before the listener finished
    expect(api.callsTo('chat.postMessage')).toHaveLength(0);
    release();
    const post = await api.waitFor((c) => c.method === 'chat.postMessage');
    expect(post).toMatchObject({ token: 'xoxb-test', args: { channel: 'C1', text: 'echo: <@U0BOT> hello', thread_ts: '1700000001.000100', team_id: 'T0001' } });

    expect((await postSigned(url, body, { secret: SECRET, retryNum: 1, retryReason: 'http_timeout' })).status).toBe(200);
    await api.waitFor((c) => c.method === 'chat.postMessage' && c !== post); // Bolt does not dedupe retries
    expect(seen).toEqual([{ retryNum: undefined, retryReason: undefined }, { retryNum: 1, retryReason: 'http_timeout' }]);

    expect((await postSigned(url, body, { secret: SECRET, badSignature: true })).status).toBe(401);
    const stale = Math.floor(Date.now() / 1000) - 6 * 60;
    expect(await postSigned(url, body, { secret: SECRET, timestampSec: stale })).toMatchObject({ status: 401, text: '' });
    expect(logger.lines.some((l) => l.includes('stale'))).toBe(true);
    expect(seen).toHaveLength(2);

    const challenge = await postSigned(url, urlVerification('chal-123'), { secret: SECRET });
    expect(JSON.parse(challenge.text)).toEqual({ challenge: 'chal-123' });
    // Bolt only rejects timestamps older than 5 minutes: one 10 minutes in the future passes.
    const future = Math.floor(Date.now() / 1000) + 10 * 60;
    expect((await postSigned(url, urlVerification('later'), { secret: SECRET, timestampSec: future })).status).toBe(200);
    // The signature helper agrees with Bolt's own verifier.
    const h = signSlackRequest(SECRET, 'a=b');
    const headers = { 'x-slack-signature': h['x-slack-signature'], 'x-slack-request-timestamp': Number(h['x-slack-request-timestamp']) };
    expect(() => verifySlackRequest({ signingSecret: SECRET, body: 'a=b', headers })).not.toThrow();
  });

  test('a bot token Slack rejects (auth.test invalid_auth) turns every event into a 401', async () => {
    api.expectedBotToken = 'xoxb-rotated';
    const url = await startHttpApp(quietLogger());
    let ran = false;
    app!.event('app_mention', async () => { ran = true; });
    const body = eventCallback({ teamId: 'T0001', eventId: 'Ev9', event: appMention({ user: 'U1', channel: 'C1', text: 'x', ts: '1.1' }) });
    expect((await postSigned(url, body, { secret: SECRET })).status).toBe(401);
    expect(ran).toBe(false);
    expect(api.callsTo('auth.test')[0]?.response).toEqual({ ok: false, error: 'invalid_auth' });
  });

  test('slash command → respond() hits response_url; button → chat.update; app_home_opened → views.publish', async () => {
    const url = await startHttpApp(quietLogger());
    app!.command('/kvcache', async ({ ack, respond, command }) => {
      await ack();
      await respond({ response_type: 'ephemeral', text: `you asked: ${command.text}` });
    });
    app!.action<BlockAction<ButtonAction>>('faq_helpful', async ({ ack, body, action, client }) => {
      await ack();
      await client.chat.update({ channel: body.channel?.id ?? '', ts: body.message?.ts ?? '', text: `thanks (${action.value})` });
    });
    app!.event('app_home_opened', async ({ event, client }) => {
      await client.views.publish({ user_id: event.user, view: { type: 'home', blocks: [] } });
    });

    const cmd = slashCommandBody({ teamId: 'T0001', userId: 'U1', channelId: 'C1', text: 'reset password', responseUrl: api.responseUrl('cmd1') });
    expect((await postSigned(url, cmd, { secret: SECRET })).status).toBe(200);
    expect(await api.waitFor((c) => c.method === 'response_url')).toMatchObject({ responseId: 'cmd1', args: { text: 'you asked: reset password' } });

    // The stand-in updates only messages the bot posted, as Slack does: post the message the button is on first.
    const posted = await fetch(`${api.url}chat.postMessage`, {
      method: 'POST',
      headers: { authorization: `Bearer ${api.expectedBotToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'C1', text: 'was this helpful?' }),
    });
    const ts = String(((await posted.json()) as { ts?: string }).ts);
    const click = blockActionsBody({
      teamId: 'T0001', userId: 'U1', channelId: 'C1', messageTs: ts, actionId: 'faq_helpful', value: 'yes', responseUrl: api.responseUrl('act1'),
    });
    expect((await postSigned(url, click, { secret: SECRET })).status).toBe(200);
    expect(await api.waitFor((c) => c.method === 'chat.update')).toMatchObject({ args: { channel: 'C1', ts, text: 'thanks (yes)' }, response: { ok: true } });

    const home = eventCallback({ teamId: 'T0001', eventId: 'Ev2', event: appHomeOpened({ user: 'U1' }) });
    expect((await postSigned(url, home, { secret: SECRET })).status).toBe(200);
    expect(await api.waitFor((c) => c.method === 'views.publish')).toMatchObject({ args: { user_id: 'U1', view: { type: 'home' } } });
  });
});

describe('Bolt App in Socket Mode', () => {
  test('connects via apps.connections.open, acks envelopes, replies, reconnects on disconnect, stops cleanly', async () => {
    // clientOptions is handed to SocketModeReceiver (as installerOptions.clientOptions) and from there to the
    // SocketModeClient's own WebClient, so apps.connections.open goes to the harness too.
    const app = new App({ token: 'xoxb-test', appToken: 'xapp-test', socketMode: true, clientOptions: { slackApiUrl: api.url }, logger: quietLogger() });
    app.event('app_mention', async ({ event, say }) => { await say(`socket echo: ${event.text}`); });
    app.command('/kvcache', async ({ ack, command }) => { await ack({ text: `pong ${command.text}` }); });
    try {
      await app.start(); // resolves on the harness's hello
      await api.socketConnected();
      expect(api.callsTo('apps.connections.open')).toEqual([expect.objectContaining({ token: 'xapp-test' })]);

      const payload = eventCallback({ teamId: 'T0001', eventId: 'Ev3', event: appMention({ user: 'U1', channel: 'C9', text: '<@U0BOT> hi', ts: '1700000002.000100' }) });
      const ack = await api.socketSend({ type: 'events_api', payload, envelope_id: 'env-1' });
      expect(ack).toMatchObject({ envelope_id: 'env-1', payload: {} });
      expect(await api.waitFor((c) => c.method === 'chat.postMessage')).toMatchObject({ args: { channel: 'C9', text: 'socket echo: <@U0BOT> hi' } });

      const cmd = slashCommandPayload({ teamId: 'T0001', userId: 'U1', channelId: 'C9', text: 'ping', responseUrl: api.responseUrl('c2') });
      expect((await api.socketSend({ type: 'slash_commands', payload: cmd })).payload).toEqual({ text: 'pong ping' });

      // Slack's "disconnect" message: the client closes, waits clientPingTimeout (5 s) and opens a new connection.
      api.socketDisconnect('refresh_requested');
      await api.socketDisconnected();
      await api.waitFor((c) => c.method === 'apps.connections.open' && api.callsTo('apps.connections.open').length === 2, 10_000);
      await api.socketConnected();
      expect((await api.socketSend({ type: 'slash_commands', payload: cmd })).payload).toEqual({ text: 'pong ping' });
    } finally {
      await app.stop(); // resolves before the close handshake is done…
      await api.socketDisconnected(); // …so wait for it before closing the harness
    }
  }, 20_000);

  test('a wrong app-level token makes start() fail with invalid_auth (no reconnect loop)', async () => {
    const app = new App({ token: 'xoxb-test', appToken: 'xapp-wrong', socketMode: true, clientOptions: { slackApiUrl: api.url }, logger: quietLogger() });
    await expect(app.start()).rejects.toMatchObject({ data: { error: 'invalid_auth' } });
    expect(api.callsTo('apps.connections.open')).toHaveLength(1);
  });
});
