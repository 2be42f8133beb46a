// A local stand-in for Slack: the Web API (as @slack/web-api calls it), response_url endpoints and the
// Socket Mode WebSocket (as @slack/socket-mode 3 talks to it). Real HTTP and WebSocket, nothing mocked.
// It refuses what Slack refuses, so tests catch payloads that would fail in production: Block Kit limits
// (block-kit.ts), updates of messages the bot never posted, channels it is not in, archived or deleted, missing
// scopes, trigger_ids used twice, and response_urls past their five uses or 30 minutes. Rate limits and slow
// answers come on demand.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { validateBlocks, validateMessage, validateModal, validatePlacement, type BlockKitProblem } from './block-kit';

export interface SlackUserSpec { is_admin?: boolean; is_owner?: boolean; is_bot?: boolean; name?: string; real_name?: string }
/** Defaults: botUserId 'U0BOT', botId 'B0BOT', teamId 'T0001', appId 'A1', botToken 'xoxb-test', appToken 'xapp-test'. */
export interface SlackApiOptions {
  botUserId?: string; botId?: string; teamId?: string; appId?: string; botToken?: string; appToken?: string;
  users?: Record<string, SlackUserSpec>; // the bot user is always known (is_bot: true)
  /** Channels the bot is not a member of: posting or updating there answers not_in_channel. */
  notInChannels?: string[];
  /** The bot token's scopes. Default DEFAULT_SCOPES. */
  scopes?: string[];
  /** The clock for ApiCall.at and response_url expiry (default Date.now): tests move time without sleeping. */
  now?: () => number;
}
/** What manifest.yaml asks for, and what the hand-off to the support team needs: conversations.members
 *  (channels:read, groups:read for private channels) and the message events of the channels it watches (*:history). */
export const DEFAULT_SCOPES: readonly string[] = [
  'app_mentions:read', 'chat:write', 'im:history', 'users:read', 'commands',
  'channels:read', 'groups:read', 'channels:history', 'groups:history',
];
/** A message the bot posted with chat.postMessage, as it now reads (chat.update replaces text and blocks). */
export interface StoredMessage {
  channel: string;
  ts: string;
  text: string;
  blocks?: unknown[];
  thread_ts?: string;
  updated: number; // how many chat.update calls succeeded on it
}
export type Json = Record<string, unknown>;
/** One request to the Web API (`method` = 'chat.postMessage', …) or to a response_url (`method` = 'response_url'). */
export interface ApiCall {
  method: string;
  args: Json; // query merged with the parsed body; JSON-valued form fields (blocks, view, …) are parsed
  token: string | undefined; // Bearer header, else the `token` field
  at: number; // the clock (options.now, default Date.now()) on arrival
  status: number; // HTTP status answered
  response: Json; // body answered
  responseId?: string; // for method 'response_url'
  stalledMs?: number; // the answer was held back this long (stallNext)
}
/** `channel`: only a call for that channel takes the failure; calls for other channels pass. */
export interface FailOptions { status?: number; retryAfter?: number; channel?: string }
export interface RateLimitOptions { channel?: string; times?: number }
export type EnvelopeType = 'events_api' | 'slash_commands' | 'interactive';
export interface SocketEnvelope {
  type: EnvelopeType; payload: object; envelope_id?: string;
  accepts_response_payload?: boolean; retry_attempt?: number; retry_reason?: string;
}
export interface SocketAck { envelope_id: string; payload?: Json; at: number }
/** A modal opened with views.open: its id, and the view as the app sent it. */
export interface OpenedView { id: string; view: Json }

export interface SlackApi {
  url: string; // 'http://127.0.0.1:<port>/api/' — WebClient's slackApiUrl
  port: number;
  expectedBotToken: string;
  expectedAppToken: string;
  readonly calls: ApiCall[];
  readonly socketAcks: SocketAck[];
  responseUrl(id: string): string;
  callsTo(method: string): ApiCall[];
  waitFor(predicate: (call: ApiCall) => boolean, timeoutMs?: number): Promise<ApiCall>;
  /** Calls `fn` synchronously as each call is recorded (benchmarks time arrivals with it); returns an unsubscribe. */
  onCall(fn: (call: ApiCall) => void): () => void;
  /** The next call to `method` (for `opts.channel`, if given) is answered `{ ok: false, error }` (HTTP `status`, default 200;
   *  `Retry-After` if given). Queues. Taken before any other check, so it also works for calls that would fail anyway. */
  failNext(method: string, error: string, opts?: FailOptions): void;
  /** The next `times` (default 1) matching calls get HTTP 429, `Retry-After: retryAfterSec` and `{ ok: false, error: 'ratelimited' }`. */
  rateLimitNext(method: string, retryAfterSec: number, opts?: RateLimitOptions): void;
  /** The next matching call's answer is held back `ms` (a real timer): for request-timeout tests. The call is recorded on arrival. */
  stallNext(method: string, ms: number, opts?: { channel?: string }): void;
  /** The messages the bot posted in `channel` that still exist, in post order, with their current content. */
  messages(channel: string): StoredMessage[];
  message(channel: string, ts: string): StoredMessage | undefined;
  /** The bot leaves / the channel is archived: chat.* there answers not_in_channel / is_archived. */
  removeFromChannel(channel: string): void;
  archiveChannel(channel: string): void;
  /** The channel is deleted: chat.postMessage, chat.update, chat.postEphemeral, chat.getPermalink and
   *  conversations.members there answer channel_not_found, and the bot's messages in it are gone. */
  removeChannel(channel: string): void;
  /** conversations.members of `channel`. Default: every user in options.users, and the bot unless it left (removeFromChannel). */
  setMembers(channel: string, users: string[]): void;
  /** The modals opened with views.open, in order (views.publish's home views are not among them). */
  views(): OpenedView[];
  /** Replaces the bot token's scopes. */
  setScopes(scopes: string[]): void;
  /** Forgets calls, acks, stored messages, opened views and used trigger_ids, queued failures and stalls, response_url
   *  uses; membership, members, archived and removed channels and scopes go back to what the options said. */
  reset(): void;
  socketConnected(timeoutMs?: number): Promise<void>;
  socketDisconnected(timeoutMs?: number): Promise<void>;
  /** Sends an envelope to the newest connected client and resolves with its ack. */
  socketSend(envelope: SocketEnvelope, timeoutMs?: number): Promise<SocketAck>;
  /** Slack's `{ type: 'disconnect' }` message: the client closes and (if auto-reconnecting) opens a new connection. */
  socketDisconnect(reason?: 'refresh_requested' | 'warning' | 'link_disabled'): void;
  close(): Promise<void>;
}

// Form fields that @slack/web-api JSON-encodes (it stringifies any object/array argument).
const JSON_FIELDS = new Set(['blocks', 'attachments', 'view', 'metadata', 'unfurls', 'user_auth_blocks']);

function parseBody(raw: string, contentType: string | undefined): Json {
  if (raw === '') return {};
  if ((contentType ?? '').includes('application/json')) {
    try { const v: unknown = JSON.parse(raw); return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {}; } catch { return {}; }
  }
  const out: Json = {};
  for (const [k, v] of new URLSearchParams(raw)) {
    out[k] = v;
    if (JSON_FIELDS.has(k)) try { out[k] = JSON.parse(v); } catch { /* keep the string */ }
  }
  return out;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const fail = (error: string): Json => ({ ok: false, error });
// How Slack reports what is wrong with blocks: the error code, and the details in response_metadata.messages.
const refuse = (p: BlockKitProblem): Json => ({ ok: false, error: p.error, response_metadata: { messages: [`[ERROR] ${p.detail}`] } });

// The scope each method needs (a bot token without it gets missing_scope). views.publish, views.open,
// chat.getPermalink and auth.test need none. conversations.members wants groups:read for a private channel, im:read
// for a DM: the stand-in does not know channel types and asks channels:read for all.
const NEEDED_SCOPE: Record<string, string> = {
  'chat.postMessage': 'chat:write', 'chat.update': 'chat:write', 'chat.postEphemeral': 'chat:write', 'users.info': 'users:read',
  'conversations.members': 'channels:read',
};
// A response_url works five times within 30 minutes of its first use, then answers 404 (as Slack documents).
const RESPONSE_URL_USES = 5;
const RESPONSE_URL_TTL_MS = 30 * 60_000;

interface Injected { channel?: string }
/** Takes the first queued entry for `method` that applies to `channel` (entries without a channel apply to all). */
function take<T extends Injected>(queues: Map<string, T[]>, method: string, channel: string | undefined): T | undefined {
  const queue = queues.get(method);
  const i = queue?.findIndex((e) => e.channel === undefined || e.channel === channel) ?? -1;
  return i < 0 ? undefined : queue?.splice(i, 1)[0];
}
const enqueue = <T>(queues: Map<string, T[]>, method: string, ...entries: T[]): void => {
  queues.set(method, [...(queues.get(method) ?? []), ...entries]);
};

export async function startSlackApi(opts: SlackApiOptions = {}): Promise<SlackApi> {
  const botUserId = opts.botUserId ?? 'U0BOT';
  const botId = opts.botId ?? 'B0BOT';
  const teamId = opts.teamId ?? 'T0001';
  const appId = opts.appId ?? 'A1';
  const users = new Map<string, SlackUserSpec>(Object.entries({ [botUserId]: { is_bot: true, name: 'kvcache' }, ...opts.users }));
  const now = opts.now ?? Date.now;
  const calls: ApiCall[] = [];
  const socketAcks: SocketAck[] = [];
  const failures = new Map<string, Array<FailOptions & { error: string }>>();
  const stalls = new Map<string, Array<{ ms: number; channel?: string }>>();
  const releases = new Set<() => void>(); // stalled answers, let go on close()
  const posted = new Map<string, Map<string, StoredMessage>>(); // channel → ts → message; Maps keep post order
  const responseUses = new Map<string, { first: number; uses: number }>();
  let notIn = new Set(opts.notInChannels ?? []);
  let archived = new Set<string>();
  let removed = new Set<string>();
  const members = new Map<string, string[]>(); // setMembers()
  const opened: OpenedView[] = []; // views.open
  const usedTriggers = new Set<string>();
  let scopes = new Set(opts.scopes ?? DEFAULT_SCOPES);
  const tickets = new Set<string>();
  const sockets = new Set<WebSocket>();
  const events = new EventEmitter();
  events.setMaxListeners(0);
  let seq = 0;
  let port = 0;
  // Message timestamps: unique and increasing, "1700000000.000100", "1700000000.000200", …
  const nextTs = (): string => {
    seq += 1;
    const micros = 1_700_000_000_000_000 + seq * 100;
    return `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, '0')}`;
  };

  const userObject = (id: string, u: SlackUserSpec): Json => {
    const name = u.name ?? id.toLowerCase();
    const realName = u.real_name ?? name;
    return {
      id, team_id: teamId, name, deleted: false, real_name: realName, tz: 'Etc/UTC',
      is_admin: u.is_admin ?? false, is_owner: u.is_owner ?? false, is_primary_owner: false,
      is_restricted: false, is_ultra_restricted: false, is_bot: u.is_bot ?? false, is_app_user: false,
      profile: { real_name: realName, display_name: name, team: teamId, ...(u.is_bot ? { bot_id: botId } : {}) },
    };
  };
  const botMessage = (a: Json, ts: string): Json => ({
    type: 'message', user: botUserId, bot_id: botId, app_id: appId, team: teamId, text: a.text ?? '', ts,
    ...(a.blocks !== undefined ? { blocks: a.blocks } : {}), ...(a.thread_ts !== undefined ? { thread_ts: a.thread_ts } : {}),
  });
  /** Why the bot cannot write in `channel`, if it cannot. */
  const channelError = (channel: string): Json | undefined =>
    removed.has(channel) ? fail('channel_not_found') : archived.has(channel) ? fail('is_archived') : notIn.has(channel) ? fail('not_in_channel') : undefined;
  /** A message's blocks: shapes and limits, then placement (no input blocks in messages). */
  const messageProblem = (a: Json): BlockKitProblem | null => validateMessage(a) ?? validatePlacement(a.blocks, 'message');
  const viewId = (): string => { seq += 1; return `V${String(seq).padStart(8, '0')}`; };
  const copy = (m: StoredMessage): StoredMessage => ({ ...m, ...(m.blocks !== undefined ? { blocks: [...m.blocks] } : {}) });
  /** A response_url's use: its clock starts on first sight (a post, or responseUrl(id)). */
  const useOf = (id: string): { first: number; uses: number } => {
    let u = responseUses.get(id);
    if (u === undefined) responseUses.set(id, (u = { first: now(), uses: 0 }));
    return u;
  };

  const methods: Record<string, (a: Json) => Json> = {
    'auth.test': () => ({ ok: true, url: 'https://kvcache-test.slack.com/', team: 'kvcache test', user: 'kvcache', team_id: teamId, user_id: botUserId, bot_id: botId, is_enterprise_install: false }),
    'chat.postMessage': (a) => {
      const channel = str(a.channel);
      if (channel === undefined) return fail('channel_not_found');
      const refused = channelError(channel);
      if (refused !== undefined) return refused;
      const problem = messageProblem(a);
      if (problem !== null) return refuse(problem);
      const ts = nextTs();
      const thread = str(a.thread_ts);
      const stored: StoredMessage = {
        channel, ts, text: typeof a.text === 'string' ? a.text : '', updated: 0,
        ...(Array.isArray(a.blocks) ? { blocks: a.blocks as unknown[] } : {}), ...(thread !== undefined ? { thread_ts: thread } : {}),
      };
      const inChannel = posted.get(channel) ?? new Map<string, StoredMessage>();
      posted.set(channel, inChannel.set(ts, stored));
      return { ok: true, channel, ts, message: botMessage(a, ts) };
    },
    // Only a message the bot posted in that channel can be updated (Slack: message_not_found, also for a ts from
    // another channel). Blocks left out keep the old ones, as Slack does; an empty array removes them.
    'chat.update': (a) => {
      const [channel, ts] = [str(a.channel), str(a.ts)];
      if (channel === undefined) return fail('channel_not_found');
      const refused = channelError(channel);
      if (refused !== undefined) return refused;
      const stored = ts === undefined ? undefined : posted.get(channel)?.get(ts);
      if (stored === undefined || ts === undefined) return fail('message_not_found');
      const problem = messageProblem(a);
      if (problem !== null) return refuse(problem);
      if (typeof a.text === 'string') stored.text = a.text;
      if (Array.isArray(a.blocks)) stored.blocks = a.blocks as unknown[];
      stored.updated += 1;
      const message = botMessage({ text: stored.text, blocks: stored.blocks, thread_ts: stored.thread_ts }, ts);
      return { ok: true, channel, ts, text: stored.text, message };
    },
    // Ephemeral messages are not stored: they cannot be updated with chat.update.
    'chat.postEphemeral': (a) => {
      const channel = str(a.channel);
      if (channel === undefined) return fail('channel_not_found');
      const refused = channelError(channel);
      if (refused !== undefined) return refused;
      if (str(a.user) === undefined) return fail('user_not_in_channel');
      const problem = messageProblem(a);
      if (problem !== null) return refuse(problem);
      return { ok: true, message_ts: nextTs() };
    },
    'users.info': (a) => {
      const id = str(a.user) ?? '';
      const u = users.get(id);
      return u === undefined ? fail('user_not_found') : { ok: true, user: userObject(id, u) };
    },
    // Any ts gives a permalink: users' messages are not stored, so the stand-in cannot tell a made-up one.
    'chat.getPermalink': (a) => {
      const [channel, ts] = [str(a.channel), str(a.message_ts)];
      if (channel === undefined || removed.has(channel)) return fail('channel_not_found');
      if (ts === undefined) return fail('message_not_found');
      return { ok: true, channel, permalink: `https://kvcache-test.slack.com/archives/${channel}/p${ts.replace('.', '')}` };
    },
    // One page: next_cursor is always ''.
    'conversations.members': (a) => {
      const channel = str(a.channel);
      if (channel === undefined || removed.has(channel)) return fail('channel_not_found');
      const list = members.get(channel) ?? [...users.keys()].filter((id) => id !== botUserId || !notIn.has(channel));
      return { ok: true, members: [...list], response_metadata: { next_cursor: '' } };
    },
    'views.publish': (a) => {
      if (str(a.user_id) === undefined || a.view === null || typeof a.view !== 'object') return fail('invalid_arguments');
      const blocks = (a.view as Json).blocks;
      const problem = validateBlocks(blocks, 'home') ?? validatePlacement(blocks, 'home');
      if (problem !== null) return refuse(problem);
      const id = viewId();
      return { ok: true, view: { id, team_id: teamId, app_id: appId, bot_id: botId, hash: `${seq}.h`, ...(a.view as Json) } };
    },
    // A trigger_id opens one view (Slack also expires it after 3 s; the stand-in does not know when it was issued).
    // A refused call leaves the trigger_id unused, so a test can retry with a fixed view.
    'views.open': (a) => {
      const trigger = str(a.trigger_id);
      if (trigger === undefined || a.view === null || typeof a.view !== 'object' || Array.isArray(a.view)) return fail('invalid_arguments');
      if (usedTriggers.has(trigger)) return fail('expired_trigger_id');
      const view = a.view as Json;
      const problem = validateModal(view);
      if (problem !== null) return refuse(problem);
      usedTriggers.add(trigger);
      const id = viewId();
      opened.push({ id, view });
      return { ok: true, view: { id, team_id: teamId, app_id: appId, bot_id: botId, hash: `${seq}.h`, ...view } };
    },
    'apps.connections.open': () => {
      const ticket = randomUUID();
      tickets.add(ticket);
      return { ok: true, url: `ws://127.0.0.1:${port}/socket?ticket=${ticket}&app_id=${appId}` };
    },
  };

  const record = (call: ApiCall): void => { calls.push(call); events.emit('call', call); events.emit('change'); };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const args0 = parseBody(Buffer.concat(chunks).toString('utf8'), req.headers['content-type']);
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const at = now();
    const send = async (stall: { ms: number } | undefined, status: number, body: Json, headers: Record<string, string> = {}): Promise<void> => {
      if (stall !== undefined) {
        await new Promise<void>((resolve) => {
          const release = (): void => { clearTimeout(timer); releases.delete(release); resolve(); };
          const timer = setTimeout(release, stall.ms);
          releases.add(release);
        });
        if (res.destroyed) return; // the client gave up waiting
      }
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(JSON.stringify(body));
    };
    const resp = /^\/response\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'POST' && resp?.[1] !== undefined) {
      const responseId = decodeURIComponent(resp[1]);
      const stall = take(stalls, 'response_url', undefined);
      const injected = take(failures, 'response_url', undefined);
      const use = useOf(responseId);
      let status = 200;
      let response: Json = { ok: true };
      if (injected !== undefined) [status, response] = [injected.status ?? 200, fail(injected.error)];
      else if (at - use.first > RESPONSE_URL_TTL_MS) [status, response] = [404, fail('expired_url')];
      else if ((use.uses += 1) > RESPONSE_URL_USES) [status, response] = [404, fail('used_url')];
      else if (args0.blocks !== undefined) {
        // Like an incoming webhook, a response_url refuses bad blocks with HTTP 400.
        const problem = messageProblem(args0);
        if (problem !== null) [status, response] = [400, refuse(problem)];
      }
      record({ method: 'response_url', args: args0, token: undefined, at, status, response, responseId, ...(stall ? { stalledMs: stall.ms } : {}) });
      return send(stall, status, response);
    }
    const m = /^\/api\/([\w.]+)$/.exec(url.pathname);
    if (m?.[1] === undefined) return send(undefined, 404, fail('not_found'));
    const method = m[1];
    const args: Json = { ...Object.fromEntries(url.searchParams), ...args0 };
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const token = bearer ?? str(args.token);
    let status = 200;
    const headers: Record<string, string> = {};
    let response: Json;
    const channel = str(args.channel);
    const stall = take(stalls, method, channel);
    const injected = take(failures, method, channel);
    if (injected !== undefined) {
      status = injected.status ?? 200;
      if (injected.retryAfter !== undefined) headers['retry-after'] = String(injected.retryAfter);
      response = fail(injected.error);
    } else {
      const fn = methods[method];
      const expected = method === 'apps.connections.open' ? api.expectedAppToken : api.expectedBotToken;
      const other = method === 'apps.connections.open' ? api.expectedBotToken : api.expectedAppToken;
      if (fn === undefined) response = fail('unknown_method');
      else if (token === undefined) response = fail('not_authed');
      else if (token === other) response = fail('not_allowed_token_type');
      else if (token !== expected) response = fail('invalid_auth');
      else if (NEEDED_SCOPE[method] !== undefined && !scopes.has(NEEDED_SCOPE[method])) {
        response = { ok: false, error: 'missing_scope', needed: NEEDED_SCOPE[method], provided: [...scopes].join(',') };
      } else response = fn(args);
    }
    record({ method, args, token, at, status, response, ...(stall ? { stalledMs: stall.ms } : {}) });
    await send(stall, status, response, headers);
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(e));
    });
  });

  // Socket Mode. The client (undici WebSocket) pings every clientPingTimeout/3 and needs a pong within
  // clientPingTimeout (5 s): ws answers pings automatically. It only watches for *server* pings after the
  // first one arrives, so not pinging is safe. An ack is `{ envelope_id, payload: {...} }` (payload `{}` when empty).
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    const ticket = u.searchParams.get('ticket') ?? '';
    if (u.pathname !== '/socket' || !tickets.delete(ticket)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      ws.on('error', () => undefined);
      ws.on('close', () => { sockets.delete(ws); events.emit('change'); });
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        let msg: Json;
        try { msg = JSON.parse(data.toString()) as Json; } catch { return; }
        const envelopeId = str(msg.envelope_id);
        if (envelopeId === undefined) return;
        const payload = msg.payload !== null && typeof msg.payload === 'object' ? (msg.payload as Json) : undefined;
        socketAcks.push({ envelope_id: envelopeId, ...(payload !== undefined ? { payload } : {}), at: now() });
        events.emit('change');
      });
      ws.send(JSON.stringify({
        type: 'hello', num_connections: sockets.size,
        debug_info: { host: 'applink-harness', build_number: 1, approximate_connection_time: 18060 },
        connection_info: { app_id: appId },
      }));
      events.emit('change');
    });
  });

  /** Resolves with check()'s first defined result, re-checking on every recorded change. */
  const until = <T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const onChange = (): void => {
        const v = check();
        if (v === undefined) return;
        events.off('change', onChange);
        clearTimeout(timer);
        resolve(v);
      };
      const timer = setTimeout(() => {
        events.off('change', onChange);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; calls: ${calls.map((c) => c.method).join(', ') || 'none'}`));
      }, timeoutMs);
      events.on('change', onChange);
      onChange();
    });
  const openSockets = (): WebSocket[] => [...sockets].filter((s) => s.readyState === WebSocket.OPEN);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;

  const api: SlackApi = {
    url: `${base}/api/`,
    port,
    expectedBotToken: opts.botToken ?? 'xoxb-test',
    expectedAppToken: opts.appToken ?? 'xapp-test',
    calls,
    socketAcks,
    responseUrl: (id) => {
      useOf(id);
      return `${base}/response/${encodeURIComponent(id)}`;
    },
    callsTo: (method) => calls.filter((c) => c.method === method),
    waitFor: (predicate, timeoutMs = 5000) => until(() => calls.find(predicate), timeoutMs, 'a matching call'),
    onCall: (fn) => {
      events.on('call', fn);
      return () => { events.off('call', fn); };
    },
    failNext: (method, error, o = {}) => { enqueue(failures, method, { ...o, error }); },
    rateLimitNext: (method, retryAfterSec, o = {}) => {
      const entry = { error: 'ratelimited', status: 429, retryAfter: retryAfterSec, ...(o.channel !== undefined ? { channel: o.channel } : {}) };
      enqueue(failures, method, ...Array.from({ length: o.times ?? 1 }, () => ({ ...entry })));
    },
    stallNext: (method, ms, o = {}) => { enqueue(stalls, method, { ms, ...(o.channel !== undefined ? { channel: o.channel } : {}) }); },
    messages: (channel) => [...(posted.get(channel)?.values() ?? [])].map(copy),
    message: (channel, ts) => {
      const m = posted.get(channel)?.get(ts);
      return m === undefined ? undefined : copy(m);
    },
    removeFromChannel: (channel) => { notIn.add(channel); },
    archiveChannel: (channel) => { archived.add(channel); },
    removeChannel: (channel) => { removed.add(channel); posted.delete(channel); },
    setMembers: (channel, list) => { members.set(channel, [...list]); },
    views: () => opened.map((v) => ({ id: v.id, view: { ...v.view } })),
    setScopes: (list) => { scopes = new Set(list); },
    reset: () => {
      calls.length = 0; socketAcks.length = 0; failures.clear(); stalls.clear(); posted.clear(); responseUses.clear();
      notIn = new Set(opts.notInChannels ?? []);
      archived = new Set();
      removed = new Set();
      members.clear(); opened.length = 0; usedTriggers.clear();
      scopes = new Set(opts.scopes ?? DEFAULT_SCOPES);
    },
    socketConnected: async (timeoutMs = 5000) => { await until(() => (openSockets().length > 0 || undefined), timeoutMs, 'a Socket Mode connection'); },
    socketDisconnected: async (timeoutMs = 5000) => { await until(() => (sockets.size === 0 || undefined), timeoutMs, 'Socket Mode clients to close'); },
    socketSend: (envelope, timeoutMs = 5000) => {
      const ws = openSockets().at(-1);
      if (ws === undefined) return Promise.reject(new Error('no Socket Mode client is connected'));
      const id = envelope.envelope_id ?? randomUUID();
      const acked = until(() => socketAcks.find((a) => a.envelope_id === id), timeoutMs, `the ack of envelope ${id}`);
      ws.send(JSON.stringify({
        envelope_id: id,
        payload: envelope.payload,
        type: envelope.type,
        accepts_response_payload: envelope.accepts_response_payload ?? envelope.type !== 'events_api',
        ...(envelope.type === 'events_api' ? { retry_attempt: envelope.retry_attempt ?? 0, retry_reason: envelope.retry_reason ?? '' } : {}),
      }));
      return acked;
    },
    socketDisconnect: (reason = 'refresh_requested') => {
      for (const ws of openSockets()) ws.send(JSON.stringify({ type: 'disconnect', reason, debug_info: { host: 'applink-harness' } }));
    },
    close: async () => {
      // Stop Socket Mode apps first (app.stop() + socketDisconnected()): a client whose socket the harness
      // kills reconnects, and its apps.connections.open then fails against the closed server.
      for (const ws of sockets) ws.terminate();
      for (const release of [...releases]) release();
      wss.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
  return api;
}
