// A local stand-in for Slack: the Web API (as @slack/web-api calls it), response_url endpoints and the
// Socket Mode WebSocket (as @slack/socket-mode 3 talks to it). Real HTTP and WebSocket, nothing mocked.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';

export interface SlackUserSpec { is_admin?: boolean; is_owner?: boolean; is_bot?: boolean; name?: string; real_name?: string }
/** Defaults: botUserId 'U0BOT', botId 'B0BOT', teamId 'T0001', appId 'A1', botToken 'xoxb-test', appToken 'xapp-test'. */
export interface SlackApiOptions {
  botUserId?: string; botId?: string; teamId?: string; appId?: string; botToken?: string; appToken?: string;
  users?: Record<string, SlackUserSpec>; // the bot user is always known (is_bot: true)
}
export type Json = Record<string, unknown>;
/** One request to the Web API (`method` = 'chat.postMessage', …) or to a response_url (`method` = 'response_url'). */
export interface ApiCall {
  method: string;
  args: Json; // query merged with the parsed body; JSON-valued form fields (blocks, view, …) are parsed
  token: string | undefined; // Bearer header, else the `token` field
  at: number; // Date.now() on arrival
  status: number; // HTTP status answered
  response: Json; // body answered
  responseId?: string; // for method 'response_url'
}
export interface FailOptions { status?: number; retryAfter?: number }
export type EnvelopeType = 'events_api' | 'slash_commands' | 'interactive';
export interface SocketEnvelope {
  type: EnvelopeType; payload: object; envelope_id?: string;
  accepts_response_payload?: boolean; retry_attempt?: number; retry_reason?: string;
}
export interface SocketAck { envelope_id: string; payload?: Json; at: number }

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
  /** The next call to `method` is answered `{ ok: false, error }` (HTTP `status`, default 200; `Retry-After` if given). Queues. */
  failNext(method: string, error: string, opts?: FailOptions): void;
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

export async function startSlackApi(opts: SlackApiOptions = {}): Promise<SlackApi> {
  const botUserId = opts.botUserId ?? 'U0BOT';
  const botId = opts.botId ?? 'B0BOT';
  const teamId = opts.teamId ?? 'T0001';
  const appId = opts.appId ?? 'A1';
  const users = new Map<string, SlackUserSpec>(Object.entries({ [botUserId]: { is_bot: true, name: 'kvcache' }, ...opts.users }));
  const calls: ApiCall[] = [];
  const socketAcks: SocketAck[] = [];
  const failures = new Map<string, Array<FailOptions & { error: string }>>();
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

  const methods: Record<string, (a: Json) => Json> = {
    'auth.test': () => ({ ok: true, url: 'https://kvcache-test.slack.com/', team: 'kvcache test', user: 'kvcache', team_id: teamId, user_id: botUserId, bot_id: botId, is_enterprise_install: false }),
    'chat.postMessage': (a) => {
      const channel = str(a.channel);
      if (channel === undefined) return fail('channel_not_found');
      if (a.text === undefined && a.blocks === undefined && a.attachments === undefined) return fail('no_text');
      const ts = nextTs();
      return { ok: true, channel, ts, message: botMessage(a, ts) };
    },
    // Lenient on purpose: any ts is accepted (Slack would answer message_not_found for a message the bot did not post).
    'chat.update': (a) => {
      const [channel, ts] = [str(a.channel), str(a.ts)];
      if (channel === undefined) return fail('channel_not_found');
      if (ts === undefined) return fail('message_not_found');
      return { ok: true, channel, ts, text: a.text ?? '', message: botMessage(a, ts) };
    },
    'chat.postEphemeral': (a) => {
      if (str(a.channel) === undefined) return fail('channel_not_found');
      if (str(a.user) === undefined) return fail('user_not_in_channel');
      return { ok: true, message_ts: nextTs() };
    },
    'users.info': (a) => {
      const id = str(a.user) ?? '';
      const u = users.get(id);
      return u === undefined ? fail('user_not_found') : { ok: true, user: userObject(id, u) };
    },
    'views.publish': (a) => {
      if (str(a.user_id) === undefined || a.view === null || typeof a.view !== 'object') return fail('invalid_arguments');
      seq += 1;
      return { ok: true, view: { id: `V${String(seq).padStart(8, '0')}`, team_id: teamId, app_id: appId, bot_id: botId, hash: `${seq}.h`, ...(a.view as Json) } };
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
    const send = (status: number, body: Json, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(JSON.stringify(body));
    };
    const at = Date.now();
    const resp = /^\/response\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'POST' && resp?.[1] !== undefined) {
      const response = { ok: true };
      record({ method: 'response_url', args: args0, token: undefined, at, status: 200, response, responseId: decodeURIComponent(resp[1]) });
      return send(200, response);
    }
    const m = /^\/api\/([\w.]+)$/.exec(url.pathname);
    if (m?.[1] === undefined) return send(404, fail('not_found'));
    const method = m[1];
    const args: Json = { ...Object.fromEntries(url.searchParams), ...args0 };
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const token = bearer ?? str(args.token);
    let status = 200;
    const headers: Record<string, string> = {};
    let response: Json;
    const injected = failures.get(method)?.shift();
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
      else response = fn(args);
    }
    record({ method, args, token, at, status, response });
    send(status, response, headers);
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
        socketAcks.push({ envelope_id: envelopeId, ...(payload !== undefined ? { payload } : {}), at: Date.now() });
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
    responseUrl: (id) => `${base}/response/${encodeURIComponent(id)}`,
    callsTo: (method) => calls.filter((c) => c.method === method),
    waitFor: (predicate, timeoutMs = 5000) => until(() => calls.find(predicate), timeoutMs, 'a matching call'),
    onCall: (fn) => {
      events.on('call', fn);
      return () => { events.off('call', fn); };
    },
    failNext: (method, error, o = {}) => {
      const queue = failures.get(method) ?? [];
      queue.push({ ...o, error });
      failures.set(method, queue);
    },
    reset: () => { calls.length = 0; socketAcks.length = 0; failures.clear(); },
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
      wss.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
  return api;
}
