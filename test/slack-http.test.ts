/** The bot's WebClient transport (undici) behaves like fetch for everything the WebClient relies on. */
import { ErrorCode, WebClient } from '@slack/web-api';
import { slackFetch } from '../src/slack/http';
import { classifySlackError } from '../src/slack/errors';
import { startSlackApi, type SlackApi } from '../testkit/slack-api';

describe('slackFetch under @slack/web-api', () => {
  let api: SlackApi;
  beforeAll(async () => {
    api = await startSlackApi();
  });
  afterAll(() => api.close());
  const client = (token = api.expectedBotToken) =>
    new WebClient(token, { slackApiUrl: api.url, fetch: slackFetch, rejectRateLimitedCalls: true, retryConfig: { retries: 0 } });

  test('calls go out form-encoded with the token, and JSON answers come back', async () => {
    const res = await client().chat.postMessage({ channel: 'C1', text: 'héllo & <you>', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'x' } }] });
    expect(res.ok).toBe(true);
    expect(typeof res.ts).toBe('string');
    const call = api.callsTo('chat.postMessage').at(-1);
    expect(call?.args).toMatchObject({ channel: 'C1', text: 'héllo & <you>', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'x' } }] });
    expect(call?.token).toBe(api.expectedBotToken);
  });

  test('Slack errors, rate limits and HTTP failures keep their meaning', async () => {
    const auth = await client('xoxb-wrong').auth.test().catch((e: unknown) => e);
    expect(classifySlackError(auth)).toMatchObject({ kind: 'auth', error: 'invalid_auth' });
    api.failNext('chat.postMessage', 'ratelimited', { status: 429, retryAfter: 7 });
    const limited = (await client().chat.postMessage({ channel: 'C1', text: 'x' }).catch((e: unknown) => e)) as { code: string; retryAfter: number };
    expect([limited.code, limited.retryAfter]).toEqual([ErrorCode.RateLimitedError, 7]);
    api.failNext('chat.postMessage', 'internal_error', { status: 500 });
    const http = (await client().chat.postMessage({ channel: 'C1', text: 'x' }).catch((e: unknown) => e)) as { code: string; statusCode: number };
    expect([http.code, http.statusCode]).toEqual([ErrorCode.HTTPError, 500]);
  });
});
