/**
 * The Slack transport: Bolt in Socket Mode (SLACK_APP_TOKEN set) or HTTP mode (signed requests on
 * /slack/events, GET /healthz), over the same core as the CLI. Startup fails loudly with one message naming
 * what to fix; SIGTERM stops taking events, lets in-flight answers finish (bounded), then closes the store.
 */
import type { Server } from 'node:http';
import { App as BoltApp, HTTPReceiver, LogLevel, SocketModeReceiver, type Logger as BoltLogger } from '@slack/bolt';
import { WebClient, type WebClientOptions } from '@slack/web-api';
import type { App } from '../app';
import { KvcacheError } from '../errors';
import type { Logger } from '../logger';
import { AdminCheck } from './admin';
import type { SlackConfig } from './config';
import { classifySlackError } from './errors';
import { SlackDelivery } from './delivery';
import { EventDedupe, RateLimiter, ReplyLog } from './guards';
import { slackFetch } from './http';
import { registerListeners } from './listeners';
import { SupportDesk } from './support';

export interface SlackBot {
  mode: 'socket' | 'http';
  botUserId: string;
  /** HTTP mode: the port actually bound. */
  port: number | null;
  stop(): Promise<void>;
}

function boltLogger(log: Logger): BoltLogger {
  const fmt = (msg: unknown[]) => msg.map((m) => (typeof m === 'string' ? m : m instanceof Error ? m.message : JSON.stringify(m))).join(' ');
  // Format only what will be written: Bolt and the WebClient log a lot at debug level.
  const at = (lvl: 'debug' | 'info' | 'warn' | 'error') => (...m: unknown[]) => {
    if (log.isLevelEnabled(lvl)) log[lvl]({ src: 'bolt' }, fmt(m));
  };
  let level = LogLevel.WARN;
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    setLevel: (l) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}

export async function startSlackBot(core: App, cfg: SlackConfig, logger: Logger): Promise<SlackBot> {
  // A reply that cannot be sent in a few seconds is better logged than retried for half an hour.
  const clientOptions: WebClientOptions = {
    ...(cfg.apiUrl ? { slackApiUrl: cfg.apiUrl } : {}),
    retryConfig: { retries: 2, factor: 2, minTimeout: 300, maxTimeout: 2000 },
    fetch: slackFetch,
    logger: boltLogger(logger),
    // Without a timeout a call Slack never answers holds its reply forever.
    timeout: cfg.requestTimeoutMs,
  };
  const web = new WebClient(cfg.botToken, clientOptions);
  let auth;
  try {
    auth = await web.auth.test();
  } catch (err) {
    const f = classifySlackError(err);
    const what =
      f.kind === 'auth'
        ? `SLACK_BOT_TOKEN was rejected by Slack (${f.error}): copy the Bot User OAuth Token (xoxb-…) again from "OAuth & Permissions", and reinstall the app if it was revoked`
        : `cannot check SLACK_BOT_TOKEN with Slack: ${f.message}${cfg.apiUrl ? ` (SLACK_API_URL=${cfg.apiUrl})` : ''}`;
    throw new KvcacheError('CONFIG_INVALID', what);
  }
  const botUserId = auth.user_id ?? '';
  const boltLog = boltLogger(logger);
  const inFlight = new Set<Promise<unknown>>();
  let ready = false;
  let server: Server | null = null;

  const receiver = cfg.appToken
    ? new SocketModeReceiver({ appToken: cfg.appToken, logger: boltLog, installerOptions: { clientOptions } })
    : new HTTPReceiver({
        signingSecret: cfg.signingSecret ?? '',
        endpoints: '/slack/events',
        logger: boltLog,
        customRoutes: [
          {
            path: '/healthz',
            method: ['GET'],
            handler: (_req, res) => {
              // Degraded (store down) still answers, from memory, the model or the fallback: 200, flagged.
              const store = core.health.status();
              res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' });
              res.end(JSON.stringify(ready ? (store.degraded ? { ok: true, degraded: true, store } : { ok: true }) : { ok: false, status: 'starting' }));
            },
          },
        ],
      });
  const bolt = new BoltApp({
    receiver,
    token: cfg.botToken,
    botId: auth.bot_id ?? '',
    botUserId,
    tokenVerificationEnabled: false,
    // The conversation store is unused and costs an Error with a stack trace per event.
    convoStore: false,
    clientOptions,
    logger: boltLog,
  });
  bolt.error(async (err) => {
    logger.error({ failure: classifySlackError((err as { original?: unknown }).original ?? err).message }, 'a Slack listener failed');
  });
  // Replies get their own client: a 429 comes back at once (rejectRateLimitedCalls) so that delivery.ts holds
  // back only that channel, where the WebClient's own handling would pause every call of the workspace.
  const replyClient = new WebClient(cfg.botToken, { ...clientOptions, rejectRateLimitedCalls: true });
  const delivery = new SlackDelivery({
    client: replyClient,
    logger,
    onFailure: (tenant, kind, outcome) => core.stats.recordDelivery(tenant, kind, outcome),
  });
  const admins = new AdminCheck(cfg.admins, logger);
  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p)).catch(() => undefined);
    return p;
  };
  const desk = new SupportDesk({ core, logger, delivery, channel: cfg.supportChannel, botUserId, admins, track });
  registerListeners(bolt, {
    core,
    logger,
    delivery,
    desk,
    replies: new ReplyLog(core.store, logger),
    limiter: new RateLimiter(cfg.rateLimit.max, cfg.rateLimit.windowMs, core.clock),
    placeholderMs: cfg.placeholderMs,
    dedupe: new EventDedupe(core.store, logger),
    admins,
    botUserId,
    track,
  });

  try {
    if (cfg.appToken) {
      await bolt.start();
    } else {
      server = (await bolt.start(cfg.port)) as Server;
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') throw new KvcacheError('CONFIG_INVALID', `PORT ${cfg.port} is already in use: stop the other process or set PORT to a free port`);
    if (e.code === 'EACCES') throw new KvcacheError('CONFIG_INVALID', `PORT ${cfg.port} needs privileges to bind: use a port above 1023`);
    const f = classifySlackError(err);
    if (f.kind === 'auth') {
      throw new KvcacheError('CONFIG_INVALID', `SLACK_APP_TOKEN was rejected by Slack (${f.error}): create an App-Level Token with connections:write under "Basic Information"`);
    }
    throw new KvcacheError('CONFIG_INVALID', `cannot start the Slack app: ${f.message}`);
  }
  desk.start();
  if (desk.enabled) logger.info({ channel: cfg.supportChannel }, 'unanswered questions are handed to the support channel');
  ready = true;
  const address = server?.address();
  const port = address && typeof address === 'object' ? address.port : null;
  logger.info({ mode: cfg.appToken ? 'socket' : 'http', port, team: auth.team_id, botUserId }, 'kvcache-bot is answering in Slack');

  return {
    mode: cfg.appToken ? 'socket' : 'http',
    botUserId,
    port,
    async stop() {
      ready = false;
      await desk.stop();
      await bolt.stop().catch((err: unknown) => logger.warn({ err: String(err) }, 'stopping the Slack receiver failed'));
      const deadline = new Promise<void>((r) => setTimeout(r, cfg.shutdownMs).unref());
      await Promise.race([Promise.allSettled([...inFlight]), deadline]);
      if (inFlight.size > 0) logger.warn({ unfinished: inFlight.size }, 'shutdown: in-flight answers did not finish in time');
    },
  };
}
