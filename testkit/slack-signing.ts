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
  // Enterprise Grid. An org-wide install (isEnterpriseInstall) is authorized for the organization, not a workspace:
  // its authorization has team_id null and the enterprise id; the envelope's team_id is still the workspace where
  // the event happened. Without these options the payload is a plain single-workspace one.
  /** The organization (E…): the envelope's enterprise_id and context_enterprise_id, and the authorization's. */
  enterpriseId?: string | null;
  isEnterpriseInstall?: boolean;
  /** The workspace the event's conversation belongs to (default teamId). */
  contextTeamId?: string;
  /** The authorization's team_id (default teamId; null for an org-wide install). */
  authorizationTeamId?: string | null;
  /** A Slack Connect channel shared with another organization's workspace. */
  isExtSharedChannel?: boolean;
}

/** The `event_callback` envelope: the HTTP body of an Events API request and the `payload` of an `events_api` socket envelope. */
export function eventCallback(a: EventCallbackArgs): Record<string, unknown> {
  const enterprise = a.enterpriseId ?? null;
  const orgWide = a.isEnterpriseInstall ?? false;
  return {
    token: VERIFICATION_TOKEN,
    team_id: a.teamId,
    ...(a.enterpriseId !== undefined ? { enterprise_id: enterprise } : {}),
    context_team_id: a.contextTeamId ?? a.teamId,
    context_enterprise_id: enterprise,
    api_app_id: a.apiAppId ?? DEFAULT_APP_ID,
    event: a.event,
    type: 'event_callback',
    event_id: a.eventId,
    event_time: a.eventTime ?? nowSec(),
    authorizations: [{
      enterprise_id: enterprise,
      team_id: a.authorizationTeamId !== undefined ? a.authorizationTeamId : orgWide ? null : a.teamId,
      user_id: a.botUserId ?? DEFAULT_BOT_USER_ID, is_bot: true, is_enterprise_install: orgWide,
    }],
    is_ext_shared_channel: a.isExtSharedChannel ?? false,
    event_context: `4-${Buffer.from(a.eventId).toString('base64url')}`,
    ...(a.authedUsers !== undefined ? { authed_users: a.authedUsers } : {}),
  };
}

const richText = (text: string): unknown[] => [
  { type: 'rich_text', block_id: 'harness', elements: [{ type: 'rich_text_section', elements: [{ type: 'text', text }] }] },
];

export interface AppMentionArgs {
  user: string; channel: string; text: string; ts: string; threadTs?: string;
  /** The author's workspace (default 'T0001'). In a shared channel it can be another workspace than the envelope's team_id. */
  team?: string;
  /** Shared channels: the author's workspace (user_team) and the one the message was sent from (source_team, default userTeam). */
  userTeam?: string;
  sourceTeam?: string;
}

const sharedTeams = (a: { userTeam?: string; sourceTeam?: string }): Record<string, string> =>
  a.userTeam === undefined && a.sourceTeam === undefined ? {} : {
    ...(a.userTeam !== undefined ? { user_team: a.userTeam } : {}),
    source_team: a.sourceTeam ?? a.userTeam ?? '',
  };

export function appMention(a: AppMentionArgs): Record<string, unknown> {
  return {
    type: 'app_mention', user: a.user, text: a.text, ts: a.ts, team: a.team ?? 'T0001', channel: a.channel, event_ts: a.ts,
    client_msg_id: `cm-${a.ts}`, blocks: richText(a.text), ...(a.threadTs !== undefined ? { thread_ts: a.threadTs } : {}),
    ...sharedTeams(a),
  };
}

/** Slack sends `app_mention` again when the message is edited: the same ts (and client_msg_id), the new text,
 *  `edited: { user, ts }`, and event_ts the edit's time. Send it in an envelope with a new event_id: to Slack
 *  it is a new event, so the retry/dedupe logic that keys on event_id does not catch it.
 *  `editedTs` defaults to one second after `ts`. */
export function editedAppMention(a: AppMentionArgs & { editedTs?: string }): Record<string, unknown> {
  const [sec = '0', frac = '000000'] = a.ts.split('.');
  const editedTs = a.editedTs ?? `${Number(sec) + 1}.${frac}`;
  return { ...appMention(a), edited: { user: a.user, ts: editedTs }, event_ts: editedTs };
}

export function directMessage(a: { user: string; channel: string; text: string; ts: string; team?: string }): Record<string, unknown> {
  return {
    type: 'message', channel_type: 'im', user: a.user, text: a.text, ts: a.ts, team: a.team ?? 'T0001',
    channel: a.channel, event_ts: a.ts, client_msg_id: `cm-${a.ts}`, blocks: richText(a.text),
  };
}

export interface ChannelMessageArgs {
  /** The author; a legacy bot_message usually has none. */
  user?: string;
  channel: string; text: string; ts: string; threadTs?: string;
  /** An app's or integration's post. With bot_id set the message has no client_msg_id or rich_text blocks. */
  botId?: string;
  /** e.g. 'bot_message' (integrations, webhooks). An app's chat.postMessage arrives with bot_id, its user and no subtype. */
  subtype?: string;
  team?: string;
  /** 'channel' (public, the default) or 'group' (private). */
  channelType?: 'channel' | 'group';
}

/** A `message` event in a channel (message.channels / message.groups): what a bot that watches a channel receives
 *  besides app_mention. Wrap it in eventCallback(). */
export function channelMessage(a: ChannelMessageArgs): Record<string, unknown> {
  const byBot = a.botId !== undefined;
  return {
    type: 'message', ...(a.subtype !== undefined ? { subtype: a.subtype } : {}), channel: a.channel, channel_type: a.channelType ?? 'channel',
    ...(a.user !== undefined ? { user: a.user } : {}), ...(byBot ? { bot_id: a.botId } : {}),
    text: a.text, ts: a.ts, team: a.team ?? 'T0001', event_ts: a.ts,
    ...(byBot ? {} : { client_msg_id: `cm-${a.ts}`, blocks: richText(a.text) }),
    ...(a.threadTs !== undefined ? { thread_ts: a.threadTs } : {}),
  };
}

export interface MessageChangedArgs {
  channel: string; ts: string; user: string; text: string; threadTs?: string;
  /** The text before the edit (default the same text: Slack also sends message_changed when only an unfurl changed). */
  previousText?: string;
  channelType?: 'channel' | 'group' | 'im';
  /** The edit's time: the event's ts and event_ts, and edited.ts. Default one second after `ts`. */
  editedTs?: string;
}

/** A `message` event with subtype message_changed: the edited message under `message` (its own ts, `edited`),
 *  the old one under `previous_message`; the event's own ts is the edit's. Default channel_type 'channel'. */
export function messageChanged(a: MessageChangedArgs): Record<string, unknown> {
  const [sec = '0', frac = '000000'] = a.ts.split('.');
  const editedTs = a.editedTs ?? `${Number(sec) + 1}.${frac}`;
  const base = (text: string): Record<string, unknown> => ({
    type: 'message', user: a.user, text, ts: a.ts, team: 'T0001', client_msg_id: `cm-${a.ts}`, blocks: richText(text),
    ...(a.threadTs !== undefined ? { thread_ts: a.threadTs } : {}),
  });
  return {
    type: 'message', subtype: 'message_changed', hidden: true,
    message: { ...base(a.text), edited: { user: a.user, ts: editedTs } },
    previous_message: base(a.previousText ?? a.text),
    channel: a.channel, channel_type: a.channelType ?? 'channel', ts: editedTs, event_ts: editedTs,
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
  /** Enterprise Grid: the organization (enterprise_id, enterprise_name) and whether the app is installed org-wide. */
  enterpriseId?: string; isEnterpriseInstall?: boolean;
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
    ...(a.enterpriseId !== undefined ? { enterprise_id: a.enterpriseId, enterprise_name: 'kvcache org' } : {}),
    // Form fields are strings: Slack sends 'true' / 'false'.
    ...(a.isEnterpriseInstall !== undefined ? { is_enterprise_install: String(a.isEnterpriseInstall) } : {}),
  };
}

/** The form-encoded HTTP body of a slash command. */
export function slashCommandBody(a: SlashCommandArgs): string {
  return new URLSearchParams(slashCommandPayload(a)).toString();
}

export interface BlockActionsArgs {
  teamId: string; userId: string; channelId: string; messageTs: string; actionId: string; value: string; responseUrl: string;
  blockId?: string; apiAppId?: string; botUserId?: string; messageText?: string;
  /** The blocks of the message the button is on (e.g. the bot's real post, from SlackApi.message()); default one
   *  actions block with the clicked button. The clicked button's block_id and label are taken from them when found. */
  messageBlocks?: unknown[];
  /** The message's author (default the bot, botUserId, with bot_id B0BOT). */
  messageUser?: string;
  /** Enterprise Grid: `enterprise: { id, name }`, and `team.enterprise_id`. */
  enterpriseId?: string;
  isEnterpriseInstall?: boolean;
  /** Org-wide installs get `team: null` and must use `user.team_id`. */
  teamIsNull?: boolean;
  /** The clicking user's workspace (default teamId): another one in a shared channel or across an organization. */
  userTeamId?: string;
}

type Obj = Record<string, unknown>;
/** The button with `actionId` in `blocks` (actions elements or section accessories), with its block's block_id. */
function findButton(blocks: unknown[] | undefined, actionId: string): { blockId?: string; button: Obj } | undefined {
  for (const b of blocks ?? []) {
    if (b === null || typeof b !== 'object') continue;
    const block = b as Obj;
    const elements = [...(Array.isArray(block.elements) ? block.elements : []), block.accessory] as unknown[];
    const button = elements.find((e): e is Obj => e !== null && typeof e === 'object' && (e as Obj).action_id === actionId);
    if (button !== undefined) return { ...(typeof block.block_id === 'string' ? { blockId: block.block_id } : {}), button };
  }
  return undefined;
}

/** A `block_actions` payload for a button click on a bot message — the `payload` of an `interactive` socket envelope. */
export function blockActionsPayload(a: BlockActionsArgs): Record<string, unknown> {
  const found = findButton(a.messageBlocks, a.actionId);
  const blockId = a.blockId ?? found?.blockId ?? 'kvcache_actions';
  const label = found?.button.text ?? { type: 'plain_text', text: a.value, emoji: true };
  const button = { type: 'button', action_id: a.actionId, text: label, value: a.value };
  const author = a.messageUser ?? a.botUserId ?? DEFAULT_BOT_USER_ID;
  const byBot = a.messageUser === undefined || a.messageUser === (a.botUserId ?? DEFAULT_BOT_USER_ID);
  const team = a.teamIsNull === true ? null : {
    id: a.teamId, domain: 'kvcache-test', ...(a.enterpriseId !== undefined ? { enterprise_id: a.enterpriseId, enterprise_name: 'kvcache org' } : {}),
  };
  return {
    type: 'block_actions',
    user: { id: a.userId, username: a.userId.toLowerCase(), name: a.userId.toLowerCase(), team_id: a.userTeamId ?? a.teamId },
    api_app_id: a.apiAppId ?? DEFAULT_APP_ID,
    token: VERIFICATION_TOKEN,
    container: { type: 'message', message_ts: a.messageTs, channel_id: a.channelId, is_ephemeral: false },
    trigger_id: triggerId(),
    team,
    enterprise: a.enterpriseId !== undefined ? { id: a.enterpriseId, name: 'kvcache org' } : null,
    is_enterprise_install: a.isEnterpriseInstall ?? false,
    channel: { id: a.channelId, name: a.channelId.startsWith('D') ? 'directmessage' : 'general' },
    message: {
      type: 'message', user: author, ...(byBot ? { bot_id: 'B0BOT' } : {}), ts: a.messageTs, team: a.teamId,
      text: a.messageText ?? '', blocks: a.messageBlocks ?? [{ type: 'actions', block_id: blockId, elements: [button] }],
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

// ------------------------------------------------------------ modals

/** The entry of one input in view.state.values[block_id][action_id], as Slack sends it on submission. */
export type PlainTextInputValue = { type: 'plain_text_input'; value: string };
export type SelectedOption = { text: { type: 'plain_text'; text: string }; value: string };
export type StaticSelectValue = { type: 'static_select'; selected_option: SelectedOption };
export type CheckboxesValue = { type: 'checkboxes'; selected_options: SelectedOption[] };

export const textValue = (text: string): PlainTextInputValue => ({ type: 'plain_text_input', value: text });
const selected = (value: string, text: string = value): SelectedOption => ({ text: { type: 'plain_text', text }, value });
/** `text`: the option's label (default the value). */
export const selectValue = (value: string, text?: string): StaticSelectValue => ({ type: 'static_select', selected_option: selected(value, text) });
export const checkboxValues = (values: string[]): CheckboxesValue => ({ type: 'checkboxes', selected_options: values.map((v) => selected(v)) });

export interface ViewSubmissionArgs {
  teamId: string; userId: string; callbackId: string; privateMetadata?: string;
  /** view.state.values: block_id → action_id → the input's value (textValue, selectValue, checkboxValues). */
  values: Record<string, Record<string, unknown>>;
  viewId?: string; apiAppId?: string;
  /** The view as opened (e.g. SlackApi.views()[i].view): its title, blocks, submit… are carried into the payload;
   *  its private_metadata too unless privateMetadata is given. */
  view?: Record<string, unknown>;
}

let viewSeq = 0;
/** A `view_submission` payload: a modal's submit button — the `payload` of an `interactive` socket envelope. */
export function viewSubmissionPayload(a: ViewSubmissionArgs): Record<string, unknown> {
  const id = a.viewId ?? `VHARNESS${++viewSeq}`;
  const appId = a.apiAppId ?? DEFAULT_APP_ID;
  return {
    type: 'view_submission',
    team: { id: a.teamId, domain: 'kvcache-test' },
    user: { id: a.userId, username: a.userId.toLowerCase(), name: a.userId.toLowerCase(), team_id: a.teamId },
    api_app_id: appId,
    token: VERIFICATION_TOKEN,
    trigger_id: triggerId(),
    view: {
      blocks: [], ...a.view,
      id, team_id: a.teamId, type: 'modal', callback_id: a.callbackId, private_metadata: a.privateMetadata ?? (typeof a.view?.private_metadata === 'string' ? a.view.private_metadata : ''),
      state: { values: a.values }, hash: `${nowSec()}.harnesshash`, previous_view_id: null, root_view_id: id,
      app_id: appId, app_installed_team_id: a.teamId, bot_id: 'B0BOT', external_id: '',
    },
    response_urls: [],
    is_enterprise_install: false,
    enterprise: null,
  };
}

/** The form-encoded HTTP body of a view submission: `payload=<JSON>`. */
export function viewSubmissionBody(a: ViewSubmissionArgs): string {
  return new URLSearchParams({ payload: JSON.stringify(viewSubmissionPayload(a)) }).toString();
}
