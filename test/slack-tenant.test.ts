/** One function decides the tenant of every Slack request: payloads shaped as Slack sends them, Grid and shared channels included. */
import { blockActionsPayload, eventCallback, slashCommandPayload } from '../testkit/slack-signing';
import { classifySlackError } from '../src/slack/errors';
import { tenantOf, type TenantFields } from '../src/slack/tenant';
import { ErrorCode } from '@slack/web-api';

const asFields = (o: object) => o as TenantFields;
const mention = { type: 'app_mention', user: 'U1', text: 'hi', ts: '1.1', channel: 'C1' };

describe('tenantOf', () => {
  test('a single workspace: events, commands and clicks all give its team id', () => {
    expect(tenantOf(asFields(eventCallback({ teamId: 'T0001', eventId: 'Ev1', event: mention })))).toBe('T0001');
    expect(tenantOf(asFields(slashCommandPayload({ teamId: 'T0001', userId: 'U1', channelId: 'C1', text: '', responseUrl: 'x' })))).toBe('T0001');
    const click = blockActionsPayload({ teamId: 'T0001', userId: 'U1', channelId: 'C1', messageTs: '1.1', actionId: 'a', value: 'v', responseUrl: 'x' });
    expect(tenantOf(asFields(click))).toBe('T0001');
  });

  test('a shared channel: a guest from another workspace is answered from the receiving installation’s FAQ', () => {
    const body = eventCallback({ teamId: 'T0GUEST', eventId: 'Ev2', event: { ...mention, team: 'T0GUEST', user_team: 'T0GUEST' }, authorizationTeamId: 'T0HOST' });
    expect(tenantOf(asFields(body))).toBe('T0HOST');
  });

  test('an org-wide install on Enterprise Grid: the workspace the request came from, else the org', () => {
    const grid = eventCallback({ teamId: 'T0WS1', eventId: 'Ev3', event: mention, enterpriseId: 'E0ORG', isEnterpriseInstall: true, authorizationTeamId: null, contextTeamId: 'T0WS1' });
    expect(tenantOf(asFields(grid))).toBe('T0WS1');
    const command = slashCommandPayload({ teamId: 'T0WS2', userId: 'U1', channelId: 'C1', text: '', responseUrl: 'x', enterpriseId: 'E0ORG', isEnterpriseInstall: true });
    expect(tenantOf(asFields(command))).toBe('T0WS2');
    // Org-wide installs send `team: null` on interactions: the clicker's workspace decides.
    const click = blockActionsPayload({ teamId: 'T0WS3', userId: 'U1', channelId: 'C1', messageTs: '1.1', actionId: 'a', value: 'v', responseUrl: 'x', enterpriseId: 'E0ORG', isEnterpriseInstall: true, teamIsNull: true, userTeamId: 'T0WS3' });
    expect(tenantOf(asFields(click))).toBe('T0WS3');
    // A payload that names only the org (an org-level surface).
    expect(tenantOf({ enterprise: { id: 'E0ORG' }, team: null, is_enterprise_install: true })).toBe('E0ORG');
    expect(tenantOf({ authorizations: [{ team_id: null, enterprise_id: 'E0ORG', is_enterprise_install: true }] })).toBe('E0ORG');
  });

  test('a click on one of our buttons belongs to the question’s tenant, whoever clicks', () => {
    const click = blockActionsPayload({ teamId: 'T0GUEST', userId: 'U1', channelId: 'C1', messageTs: '1.1', actionId: 'a', value: 'v', responseUrl: 'x' });
    expect(tenantOf(asFields(click), 'T0HOST')).toBe('T0HOST');
  });

  test('no team at all: null; a malformed id is refused', () => {
    expect(tenantOf({})).toBeNull();
    expect(() => tenantOf({ team_id: 'T 1; DROP' })).toThrow(/not a valid tenant id/);
  });
});

describe('classifySlackError', () => {
  const platform = (error: string) => Object.assign(new Error(error), { code: ErrorCode.PlatformError, data: { ok: false, error } });
  test.each([
    ['invalid_blocks', 'payload'],
    ['msg_blocks_too_long', 'payload'],
    ['msg_too_long', 'payload'],
    ['message_not_found', 'message'],
    ['cant_update_message', 'message'],
    ['not_in_channel', 'channel'],
    ['is_archived', 'channel'],
    ['missing_scope', 'auth'],
    ['ratelimited', 'rate_limited'],
    ['fatal_error', 'platform'],
  ])('%s is %s', (error, kind) => {
    expect(classifySlackError(platform(error)).kind).toBe(kind);
  });

  test('the WebClient’s exhausted 429 retries are a rate limit, not a network failure; a timeout is a timeout', () => {
    const exhausted = Object.assign(new Error('A request error occurred'), {
      code: ErrorCode.RequestError,
      original: new Error('A rate limit was exceeded (url: https://slack.com/api/chat.postMessage, retry-after: 7)'),
    });
    expect(classifySlackError(exhausted)).toMatchObject({ kind: 'rate_limited', retryAfterSec: 7 });
    const timeout = Object.assign(new Error('A request error occurred'), { code: ErrorCode.RequestError, original: Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' }) });
    expect(classifySlackError(timeout).kind).toBe('timeout');
    const refused = Object.assign(new Error('x'), { code: ErrorCode.RequestError, original: new Error('connect ECONNREFUSED 127.0.0.1:1') });
    expect(classifySlackError(refused).kind).toBe('network');
  });
});
