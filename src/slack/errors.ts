/** The one place that turns a Slack Web API failure into something the bot can act on and explain. */
import { ErrorCode as WebApiErrorCode } from '@slack/web-api';

/**
 * - auth: the token or its scopes; nothing but a person fixing the app helps.
 * - rate_limited: Slack said wait (429 with Retry-After, or `ratelimited`); the same call later works.
 * - payload: Slack refused what we sent (blocks, length); a plainer message can still get through.
 * - message: the message to update is gone or can no longer be edited; a new message can be posted.
 * - channel: the bot cannot write there (not a member, archived, unknown channel).
 * - timeout: no answer within the request timeout; network: no answer at all, or an HTTP error.
 */
export type SlackFailureKind = 'auth' | 'rate_limited' | 'payload' | 'message' | 'channel' | 'timeout' | 'network' | 'platform' | 'unknown';

export type SlackFailure =
  | { kind: 'auth'; error: string; message: string }
  | { kind: 'rate_limited'; retryAfterSec: number; message: string }
  | { kind: 'payload' | 'message' | 'channel' | 'platform'; error: string; message: string }
  | { kind: 'timeout' | 'network' | 'unknown'; message: string };

const AUTH = new Set(['invalid_auth', 'not_authed', 'account_inactive', 'token_revoked', 'token_expired', 'no_permission', 'missing_scope', 'not_allowed_token_type']);
const CHANNEL = new Set(['channel_not_found', 'not_in_channel', 'is_archived', 'restricted_action', 'user_not_in_channel', 'team_access_not_granted']);
const PAYLOAD = new Set([
  'invalid_blocks', 'invalid_blocks_format', 'msg_blocks_too_long', 'msg_too_long', 'no_text', 'invalid_arguments',
  'invalid_attachments', 'too_many_attachments', 'invalid_metadata_format', 'metadata_too_large', 'invalid_form_data',
]);
const MESSAGE = new Set(['message_not_found', 'cant_update_message', 'edit_window_closed', 'expired_url', 'used_url']);
// When the WebClient itself retried 429s and gave up, its last error is a request error with this text.
const EXHAUSTED_RATE_LIMIT = /rate limit was exceeded.*retry-after: (\d+)/i;

export function classifySlackError(err: unknown): SlackFailure {
  const e = err as { code?: string; data?: { error?: string; needed?: string }; retryAfter?: number; message?: string; original?: Error; statusCode?: number };
  if (e?.code === WebApiErrorCode.RateLimitedError) {
    return { kind: 'rate_limited', retryAfterSec: e.retryAfter ?? 1, message: `Slack rate-limited the call; retry after ${e.retryAfter ?? 1} s` };
  }
  if (e?.code === WebApiErrorCode.PlatformError) {
    const error = e.data?.error ?? 'unknown_error';
    if (AUTH.has(error)) {
      const scope = error === 'missing_scope' && e.data?.needed ? ` (needs ${e.data.needed}: add it in manifest.yaml and reinstall the app)` : '';
      return { kind: 'auth', error, message: `Slack refused the bot token: ${error}${scope}` };
    }
    if (error === 'ratelimited') return { kind: 'rate_limited', retryAfterSec: 1, message: 'Slack rate-limited the call; retry after 1 s' };
    if (CHANNEL.has(error)) return { kind: 'channel', error, message: `Slack refused the message: ${error}` };
    if (PAYLOAD.has(error)) return { kind: 'payload', error, message: `Slack refused the message's content: ${error}` };
    if (MESSAGE.has(error)) return { kind: 'message', error, message: `Slack cannot change that message: ${error}` };
    return { kind: 'platform', error, message: `Slack answered ${error}` };
  }
  if (e?.code === WebApiErrorCode.RequestError) {
    const original = e.original;
    const limited = EXHAUSTED_RATE_LIMIT.exec(original?.message ?? '');
    if (limited) {
      const retryAfterSec = Number(limited[1]);
      return { kind: 'rate_limited', retryAfterSec, message: `Slack rate-limited the call and retries ran out; retry after ${retryAfterSec} s` };
    }
    if (original?.name === 'TimeoutError' || original?.name === 'AbortError' || /aborted|timed? ?out/i.test(original?.message ?? '')) {
      return { kind: 'timeout', message: `the Slack Web API did not answer in time: ${original?.message ?? 'timeout'}` };
    }
    return { kind: 'network', message: `cannot reach the Slack Web API: ${original?.message ?? e.message ?? 'request failed'}` };
  }
  if (e?.code === WebApiErrorCode.HTTPError) {
    if (e.statusCode === 429) return { kind: 'rate_limited', retryAfterSec: 1, message: 'Slack rate-limited the call (HTTP 429 without Retry-After)' };
    return { kind: 'network', message: `the Slack Web API answered HTTP ${e.statusCode ?? '?'}: ${e.message ?? ''}`.trim() };
  }
  return { kind: 'unknown', message: e?.message ?? String(err) };
}
