/**
 * Bolt listeners: each adapts a Slack payload to a handler in handlers.ts and nothing more. Every handler run
 * is tracked so shutdown can wait for in-flight answers.
 */
import type { App as BoltApp, BlockAction, ButtonAction } from '@slack/bolt';
import type { HomeView, KnownBlock } from '@slack/types';
import type { WebClient } from '@slack/web-api';
import { checkTenant } from '../core/keys';
import type { AdminCheck } from './admin';
import { ACTION_DOWN, ACTION_SUGGEST, ACTION_UP, feedbackReceived, homeView, type Block } from './blocks';
import { classifySlackError } from './errors';
import type { EventDedupe } from './guards';
import { answerQuestion, chooseSuggestion, parseFeedbackValue, recordVote, runCommand, type BotDeps, type SlackPoster } from './handlers';

/** What the app subscribes to; manifest.yaml must list exactly these (a test checks). */
export const SLACK_BOT_EVENTS = ['app_mention', 'message.im', 'app_home_opened'] as const;
export const SLACK_COMMAND = '/kvcache';
export const SLACK_BOT_SCOPES = ['app_mentions:read', 'chat:write', 'im:history', 'users:read', 'commands'] as const;

export interface ListenerDeps extends BotDeps {
  dedupe: EventDedupe;
  admins: AdminCheck;
  botUserId: string;
  track<T>(p: Promise<T>): Promise<T>;
}

// Our builders produce plain objects in Block Kit's shape; this is the one place they meet Slack's types.
const kb = (blocks: Block[]) => blocks as unknown as KnownBlock[];

function poster(client: WebClient, deps: ListenerDeps): SlackPoster {
  return {
    async post(m) {
      try {
        const res = await client.chat.postMessage({ channel: m.channel, text: m.text, blocks: kb(m.blocks), ...(m.threadTs ? { thread_ts: m.threadTs } : {}) });
        return { ts: res.ts ?? '' };
      } catch (err) {
        deps.logger.error({ channel: m.channel, failure: classifySlackError(err).message }, 'chat.postMessage failed');
        throw err;
      }
    },
    async update(m) {
      try {
        await client.chat.update({ channel: m.channel, ts: m.ts, text: m.text, blocks: kb(m.blocks) });
      } catch (err) {
        deps.logger.error({ channel: m.channel, failure: classifySlackError(err).message }, 'chat.update failed');
        throw err;
      }
    },
  };
}

// Subtypes that are still a person writing text; edits, deletions, joins and bot posts are not questions.
const QUESTION_SUBTYPES = new Set([undefined, 'file_share', 'thread_broadcast']);

interface MessageLike {
  subtype?: string;
  bot_id?: string;
  user?: string;
  text?: string;
  channel: string;
  ts: string;
  thread_ts?: string;
  channel_type?: string;
}

export function registerListeners(bolt: BoltApp, deps: ListenerDeps): void {
  // Slack redelivers events it thinks failed; the first delivery of an event_id wins, wherever it lands.
  bolt.use(async ({ body, next }) => {
    const eventId = (body as { event_id?: unknown }).event_id;
    if (typeof eventId === 'string' && !(await deps.dedupe.claim(eventId))) {
      deps.logger.debug({ eventId }, 'duplicate event ignored');
      return;
    }
    await next();
  });

  const ask = async (client: WebClient, teamId: string | undefined, ev: MessageLike, threadTs: string | undefined) => {
    if (!QUESTION_SUBTYPES.has(ev.subtype) || ev.bot_id || !ev.user || ev.user === deps.botUserId || !ev.text?.trim()) return;
    const tenant = checkTenant(teamId ?? '');
    await deps.track(
      answerQuestion(deps, poster(client, deps), { tenant, user: ev.user, channel: ev.channel, text: ev.text, botUserId: deps.botUserId, ...(threadTs ? { threadTs } : {}) }),
    );
  };

  bolt.event('app_mention', async ({ event, body, client }) => {
    const ev = event as unknown as MessageLike;
    await ask(client, body.team_id, ev, ev.thread_ts ?? ev.ts);
  });

  bolt.message(async ({ message, body, client }) => {
    const ev = message as unknown as MessageLike;
    if (ev.channel_type !== 'im') return; // channel messages reach the bot as app_mention
    await ask(client, body.team_id, ev, ev.thread_ts);
  });

  bolt.command(SLACK_COMMAND, async ({ command, ack, respond, client }) => {
    await ack();
    const tenant = checkTenant(command.team_id);
    const msg = await deps.track(
      runCommand(deps, { tenant, user: command.user_id, text: command.text, isAdmin: () => deps.admins.isAdmin(client, tenant, command.user_id) }),
    );
    await respond({ response_type: 'ephemeral', replace_original: false, text: msg.text, blocks: kb(msg.blocks) });
  });

  for (const [actionId, vote] of [
    [ACTION_UP, 'up'],
    [ACTION_DOWN, 'down'],
  ] as const) {
    bolt.action<BlockAction<ButtonAction>>(actionId, async ({ ack, body, action, client }) => {
      await ack();
      const value = parseFeedbackValue(action.value);
      const teamId = body.team?.id ?? body.user.team_id;
      if (!value || !teamId) return;
      const { removed } = await deps.track(recordVote(deps, checkTenant(teamId), body.user.id, vote, value));
      const channel = body.channel?.id;
      const ts = body.message?.ts;
      const blocks = (body.message?.blocks ?? []) as Block[];
      if (channel && ts) {
        await client.chat.update({ channel, ts, text: String(body.message?.text ?? ''), blocks: kb(feedbackReceived(blocks, vote, removed)) });
      }
    });
  }

  bolt.action<BlockAction<ButtonAction>>(ACTION_SUGGEST, async ({ ack, body, action, client }) => {
    await ack();
    const value = parseFeedbackValue(action.value);
    const teamId = body.team?.id ?? body.user.team_id;
    if (!value || !teamId) return;
    const msg = await deps.track(chooseSuggestion(deps, checkTenant(teamId), value));
    const channel = body.channel?.id;
    const ts = body.message?.ts;
    if (channel && ts) await client.chat.update({ channel, ts, text: msg.text, blocks: kb(msg.blocks) });
  });

  bolt.event('app_home_opened', async ({ event, body, client }) => {
    if (event.tab !== 'home') return;
    const tenant = checkTenant(body.team_id);
    const admin = await deps.admins.isAdmin(client, tenant, event.user);
    const report = admin ? await deps.track(deps.core.report(tenant)) : null;
    await client.views.publish({ user_id: event.user, view: homeView(report) as unknown as HomeView });
  });
}
