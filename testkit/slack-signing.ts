// Signed requests as Slack sends them to an HTTP-mode app, and builders for Slack's payload shapes.
import { createHmac } from 'node:crypto';

export interface SlackSignatureHeaders { 'x-slack-signature': string; 'x-slack-request-timestamp': string }

const nowSec = (): number => Math.floor(Date.now() / 1000);
// Slack's legacy verification token, still present in every payload (Bolt ignores it).
const VERIFICATION_TOKEN = 'legacy-verification-token';
const DEFAULT_APP_ID = 'A1';
const DEFAULT_BOT_USER_ID = 'U0BOT';
let triggerSeq = 0;
const triggerId = (): string => `${Date.now()}.${++triggerSeq}.harnesstrigger`;

export function signSlackRequest(secret: string, body: string, timestampSec: number = nowSec()): SlackSignatureHeaders {
  const ts = String(timestampSec);
  const hex = createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex');
  return { 'x-slack-signature': `v0=${hex}`, 'x-slack-request-timestamp': ts };
}

export interface PostSignedOptions {
  secret: string;
  /** Default: application/json for a body starting with '{', else application/x-www-form-urlencoded.
   *  Bolt compares the form content type exactly: a '; charset=…' suffix makes it parse the body as JSON (400). */
  contentType?: string;
  retryNum?: number;
  retryReason?: string; // e.g. 'http_timeout', 'http_error'
  timestampSec?: number;
  /** Sign with the wrong secret. */
  badSignature?: boolean;
}
export interface PostSignedResult { status: number; text: string; headers: Record<string, string> }

export async function postSigned(url: string, body: string | object, o: PostSignedOptions): Promise<PostSignedResult> {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const contentType = o.contentType ?? (raw.trimStart().startsWith('{') ? 'application/json' : 'application/x-www-form-urlencoded');
  const headers: Record<string, string> = {
    'content-type': contentType,
    'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
    ...signSlackRequest(o.badSignature === true ? `${o.secret}-wrong` : o.secret, raw, o.timestampSec),
  };
  if (o.retryNum !== undefined) headers['x-slack-retry-num'] = String(o.retryNum);
  if (o.retryReason !== undefined) headers['x-slack-retry-reason'] = o.retryReason;
  const res = await fetch(url, { method: 'POST', headers, body: raw });
  return { status: res.status, text: await res.text(), headers: Object.fromEntries(res.headers.entries()) };
}

// ---------------------------------------------------------------- Events API

export interface EventCallbackArgs {
  teamId: string;
  eventId: string;
  event: Record<string, unknown>;
  authedUsers?: string[];
  apiAppId?: string;
  botUserId?: string; // the authorization's user_id (the installing bot)
  eventTime?: number;
}

/** The `event_callback` envelope: the HTTP body of an Events API request and the `payload` of an `events_api` socket envelope. */
export function eventCallback(a: EventCallbackArgs): Record<string, unknown> {
  return {
    token: VERIFICATION_TOKEN,
    team_id: a.teamId,
    context_team_id: a.teamId,
    context_enterprise_id: null,
    api_app_id: a.apiAppId ?? DEFAULT_APP_ID,
    event: a.event,
    type: 'event_callback',
    event_id: a.eventId,
    event_time: a.eventTime ?? nowSec(),
    authorizations: [
      { enterprise_id: null, team_id: a.teamId, user_id: a.botUserId ?? DEFAULT_BOT_USER_ID, is_bot: true, is_enterprise_install: false },
    ],
    is_ext_shared_channel: false,
    event_context: `4-${Buffer.from(a.eventId).toString('base64url')}`,
    ...(a.authedUsers !== undefined ? { authed_users: a.authedUsers } : {}),
  };
}

const richText = (text: string): unknown[] => [
  { type: 'rich_text', block_id: 'harness', elements: [{ type: 'rich_text_section', elements: [{ type: 'text', text }] }] },
];

export function appMention(a: { user: string; channel: string; text: string; ts: string; threadTs?: string; team?: string }): Record<string, unknown> {
  return {
    type: 'app_mention', user: a.user, text: a.text, ts: a.ts, team: a.team ?? 'T0001', channel: a.channel, event_ts: a.ts,
    client_msg_id: `cm-${a.ts}`, blocks: richText(a.text), ...(a.threadTs !== undefined ? { thread_ts: a.threadTs } : {}),
  };
}

export function directMessage(a: { user: string; channel: string; text: string; ts: string; team?: string }): Record<string, unknown> {
  return {
    type: 'message', channel_type: 'im', user: a.user, text: a.text, ts: a.ts, team: a.team ?? 'T0001',
    channel: a.channel, event_ts: a.ts, client_msg_id: `cm-${a.ts}`, blocks: richText(a.text),
  };
}

export function appHomeOpened(a: { user: string; tab?: 'home' | 'messages'; channel?: string }): Record<string, unknown> {
  return { type: 'app_home_opened', user: a.user, channel: a.channel ?? `D${a.user.slice(1)}`, tab: a.tab ?? 'home', event_ts: `${nowSec()}.000100` };
}

export function urlVerification(challenge: string): Record<string, unknown> {
  return { token: VERIFICATION_TOKEN, challenge, type: 'url_verification' };
}

// ------------------------------------------------------- commands, interactivity

export interface SlashCommandArgs {
  teamId: string; userId: string; channelId: string; text: string; responseUrl: string;
  command?: string; userName?: string; channelName?: string; apiAppId?: string; triggerId?: string;
}

/** The fields of a slash command — the `payload` of a `slash_commands` socket envelope. */
export function slashCommandPayload(a: SlashCommandArgs): Record<string, string> {
  return {
    token: VERIFICATION_TOKEN,
    team_id: a.teamId,
    team_domain: 'kvcache-test',
    channel_id: a.channelId,
    channel_name: a.channelName ?? (a.channelId.startsWith('D') ? 'directmessage' : 'general'),
    user_id: a.userId,
    user_name: a.userName ?? a.userId.toLowerCase(),
    command: a.command ?? '/kvcache',
    text: a.text,
    api_app_id: a.apiAppId ?? DEFAULT_APP_ID,
    response_url: a.responseUrl,
    trigger_id: a.triggerId ?? triggerId(),
  };
}

/** The form-encoded HTTP body of a slash command. */
export function slashCommandBody(a: SlashCommandArgs): string {
  return new URLSearchParams(slashCommandPayload(a)).toString();
}

export interface BlockActionsArgs {
  teamId: string; userId: string; channelId: string; messageTs: string; actionId: string; value: string; responseUrl: string;
  blockId?: string; apiAppId?: string; botUserId?: string; messageText?: string;
}

/** A `block_actions` payload for a button click on a bot message — the `payload` of an `interactive` socket envelope. */
export function blockActionsPayload(a: BlockActionsArgs): Record<string, unknown> {
  const blockId = a.blockId ?? 'kvcache_actions';
  const button = { type: 'button', action_id: a.actionId, text: { type: 'plain_text', text: a.value, emoji: true }, value: a.value };
  return {
    type: 'block_actions',
    user: { id: a.userId, username: a.userId.toLowerCase(), name: a.userId.toLowerCase(), team_id: a.teamId },
    api_app_id: a.apiAppId ?? DEFAULT_APP_ID,
    token: VERIFICATION_TOKEN,
    container: { type: 'message', message_ts: a.messageTs, channel_id: a.channelId, is_ephemeral: false },
    trigger_id: triggerId(),
    team: { id: a.teamId, domain: 'kvcache-test' },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: a.channelId, name: a.channelId.startsWith('D') ? 'directmessage' : 'general' },
    message: {
      type: 'message', user: a.botUserId ?? DEFAULT_BOT_USER_ID, bot_id: 'B0BOT', ts: a.messageTs, team: a.teamId,
      text: a.messageText ?? '', blocks: [{ type: 'actions', block_id: blockId, elements: [button] }],
    },
    state: { values: {} },
    response_url: a.responseUrl,
    actions: [{ ...button, block_id: blockId, action_ts: `${nowSec()}.000200` }],
  };
}

/** The form-encoded HTTP body of a block action: `payload=<JSON>`. */
export function blockActionsBody(a: BlockActionsArgs): string {
  return new URLSearchParams({ payload: JSON.stringify(blockActionsPayload(a)) }).toString();
}
