/**
 * Slack configuration from the environment. Checked once at start: a missing or malformed variable stops the
 * process with one message naming it and saying where to get it.
 */
import { parseDuration } from '../config';
import { KvcacheError } from '../errors';

export interface SlackConfig {
  botToken: string;
  /** Set: Socket Mode. Unset: HTTP mode on `port`. */
  appToken: string | null;
  signingSecret: string | null;
  port: number;
  /** Web API base URL (tests, Slack-compatible gateways); null = Slack's own. */
  apiUrl: string | null;
  admins: Set<string>;
  rateLimit: { max: number; windowMs: number };
  /** A reply slower than this gets a placeholder first, then chat.update. */
  placeholderMs: number;
  /** On SIGTERM, how long in-flight answers may take to finish. */
  shutdownMs: number;
  /** A Web API call that has not answered in this long is abandoned (and retried by the client). */
  requestTimeoutMs: number;
  /** Where unanswered questions are handed to the support team (a channel id the bot is in); null: nowhere. */
  supportChannel: string | null;
}

const fail = (message: string): never => {
  throw new KvcacheError('CONFIG_INVALID', message);
};

/** null when SLACK_BOT_TOKEN is not set: the process runs the console chat instead. */
export function loadSlackConfig(env: NodeJS.ProcessEnv = process.env): SlackConfig | null {
  const botToken = env.SLACK_BOT_TOKEN?.trim();
  if (!botToken) return null;
  if (!botToken.startsWith('xoxb-')) {
    fail('SLACK_BOT_TOKEN must be the Bot User OAuth Token, which starts with "xoxb-": copy it from your app\'s "OAuth & Permissions" page at api.slack.com/apps');
  }
  const appToken = env.SLACK_APP_TOKEN?.trim() || null;
  if (appToken && !appToken.startsWith('xapp-')) {
    fail('SLACK_APP_TOKEN must be an App-Level Token, which starts with "xapp-": create one with the connections:write scope under "Basic Information" → "App-Level Tokens", or unset it to use HTTP mode');
  }
  const signingSecret = env.SLACK_SIGNING_SECRET?.trim() || null;
  if (!appToken && !signingSecret) {
    fail('SLACK_SIGNING_SECRET is required in HTTP mode (SLACK_APP_TOKEN is not set): copy the Signing Secret from "Basic Information" → "App Credentials" at api.slack.com/apps');
  }
  const portText = env.PORT?.trim() || '3000';
  const port = /^\d+$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) fail(`PORT=${JSON.stringify(portText)} is invalid: use a TCP port number from 1 to 65535`);
  let apiUrl = env.SLACK_API_URL?.trim() || null;
  if (apiUrl) {
    try {
      const u = new URL(apiUrl);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol');
    } catch {
      fail(`SLACK_API_URL=${JSON.stringify(apiUrl)} is not an http(s) URL: use the Web API base such as https://slack.com/api/, or unset it`);
    }
    if (!apiUrl.endsWith('/')) apiUrl += '/';
  }
  const admins = new Set((env.KVCACHE_ADMINS ?? '').split(',').map((s) => s.trim()).filter(Boolean));
  for (const a of admins) {
    if (!/^[UW][A-Z0-9]{2,}$/.test(a)) fail(`KVCACHE_ADMINS contains "${a}", which is not a Slack user id (like U0123ABCD): copy ids from each admin's profile → ⋮ → "Copy member ID"`);
  }
  const rl = (env.KVCACHE_RATE_LIMIT?.trim() || '10/1m').split('/');
  const max = Number(rl[0]);
  const windowMs = parseDuration(rl[1] ?? '');
  if (rl.length !== 2 || !Number.isInteger(max) || max < 1 || windowMs === null || windowMs < 1000) {
    fail(`KVCACHE_RATE_LIMIT=${JSON.stringify(env.KVCACHE_RATE_LIMIT)} is invalid: write questions per user per window, such as 10/1m or 100/1h`);
  }
  const placeholderText = env.KVCACHE_PLACEHOLDER_MS?.trim() || '700';
  const placeholderMs = /^\d+$/.test(placeholderText) ? Number(placeholderText) : NaN;
  if (!(placeholderMs >= 0 && placeholderMs <= 60_000)) {
    fail(`KVCACHE_PLACEHOLDER_MS=${JSON.stringify(placeholderText)} is invalid: milliseconds from 0 to 60000 before a slow answer gets a "Looking into it…" placeholder`);
  }
  const timeoutText = env.KVCACHE_SLACK_TIMEOUT_MS?.trim() || '10000';
  const requestTimeoutMs = /^\d+$/.test(timeoutText) ? Number(timeoutText) : NaN;
  if (!(requestTimeoutMs >= 100 && requestTimeoutMs <= 120_000)) {
    fail(`KVCACHE_SLACK_TIMEOUT_MS=${JSON.stringify(timeoutText)} is invalid: milliseconds from 100 to 120000 that one Slack Web API call may take`);
  }
  const supportChannel = env.KVCACHE_SUPPORT_CHANNEL?.trim() || null;
  if (supportChannel !== null && !/^[CG][A-Z0-9]{2,}$/.test(supportChannel)) {
    fail(`KVCACHE_SUPPORT_CHANNEL=${JSON.stringify(supportChannel)} is not a channel id (like C0123ABCD): open the channel's details in Slack and copy the Channel ID at the bottom, then invite the bot there`);
  }
  return {
    botToken,
    appToken,
    signingSecret,
    port,
    apiUrl,
    admins,
    rateLimit: { max, windowMs: windowMs ?? 60_000 },
    placeholderMs,
    shutdownMs: 10_000,
    requestTimeoutMs,
    supportChannel,
  };
}
