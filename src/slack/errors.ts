/** The one place that turns a Slack Web API failure into something the bot can act on and explain. */
import { ErrorCode as WebApiErrorCode } from '@slack/web-api';

export type SlackFailure =
  | { kind: 'auth'; error: string; message: string }
  | { kind: 'rate_limited'; retryAfterSec: number; message: string }
  | { kind: 'channel'; error: string; message: string }
  | { kind: 'network'; message: string }
  | { kind: 'platform'; error: string; message: string }
  | { kind: 'unknown'; message: string };

const AUTH = new Set(['invalid_auth', 'not_authed', 'account_inactive', 'token_revoked', 'token_expired', 'no_permission', 'missing_scope']);
const CHANNEL = new Set(['channel_not_found', 'not_in_channel', 'is_archived', 'msg_too_long', 'restricted_action']);

export function classifySlackError(err: unknown): SlackFailure {
  const e = err as { code?: string; data?: { error?: string; needed?: string }; retryAfter?: number; message?: string; original?: Error };
  if (e?.code === WebApiErrorCode.RateLimitedError) {
    return { kind: 'rate_limited', retryAfterSec: e.retryAfter ?? 1, message: `Slack rate-limited the call; retry after ${e.retryAfter ?? 1} s` };
  }
  if (e?.code === WebApiErrorCode.PlatformError) {
    const error = e.data?.error ?? 'unknown_error';
    if (AUTH.has(error)) {
      const scope = error === 'missing_scope' && e.data?.needed ? ` (needs ${e.data.needed}: add it in manifest.yaml and reinstall the app)` : '';
      return { kind: 'auth', error, message: `Slack refused the bot token: ${error}${scope}` };
    }
    if (CHANNEL.has(error)) return { kind: 'channel', error, message: `Slack refused the message: ${error}` };
    return { kind: 'platform', error, message: `Slack answered ${error}` };
  }
  if (e?.code === WebApiErrorCode.RequestError || e?.code === WebApiErrorCode.HTTPError) {
    return { kind: 'network', message: `cannot reach the Slack Web API: ${e.original?.message ?? e.message ?? 'request failed'}` };
  }
  return { kind: 'unknown', message: e?.message ?? String(err) };
}
