/**
 * Bolt listeners: each adapts a Slack payload to a handler in handlers.ts and nothing more. Every handler run
 * is tracked so shutdown can wait for in-flight answers.
 */
import type { App as BoltApp, BlockAction, ButtonAction, ViewSubmitAction } from '@slack/bolt';
import type { AdminCheck } from './admin';
import { ACTION_DOWN, ACTION_SUGGEST, ACTION_UP, feedbackReceived, homeView, plainMessage, type Block, type FeedbackValue } from './blocks';
import type { SlackDelivery } from './delivery';
import { classifySlackError } from './errors';
import { ReplyLog, type EventDedupe } from './guards';
import { answerQuestion, chooseSuggestion, parseFeedbackValue, recordVote, runCommand, type BotDeps } from './handlers';
import { tenantOf, type TenantFields } from './tenant';
import {
  ACTION_HANDOFF_ANSWER,
  ACTION_HANDOFF_CONFIRM,
  ACTION_HANDOFF_DISMISS,
  ACTION_HANDOFF_LINK,
  ACTION_HANDOFF_NONE,
  ACTION_HANDOFF_REQUEST,
  HANDOFF_MODAL,
  handoffHomeBlocks,
  HANDOFF_REPLY,
  parseDeskValue,
  type ModalMeta,
} from './handoff-blocks';
import { modalValues } from './support';

/** What the app subscribes to; manifest.yaml must list exactly these (a test checks). */
export const SLACK_BOT_EVENTS = ['app_mention', 'message.im', 'message.channels', 'message.groups', 'app_home_opened'] as const;
export const SLACK_COMMAND = '/kvcache';
export const SLACK_BOT_SCOPES = ['app_mentions:read', 'chat:write', 'im:history', 'users:read', 'commands', 'channels:history', 'groups:history', 'channels:read', 'groups:read'] as const;

export interface ListenerDeps extends BotDeps {
  dedupe: EventDedupe;
  admins: AdminCheck;
  delivery: SlackDelivery;
  replies: ReplyLog;
  botUserId: string;
  track<T>(p: Promise<T>): Promise<T>;
}

// Subtypes that are still a person writing text; edits, deletions, joins and bot posts are not questions.
const QUESTION_SUBTYPES = new Set([undefined, 'file_share', 'thread_broadcast']);
// A question being answered (in this process): an edit arriving meanwhile waits for the reply instead of adding one.
const PENDING = ReplyLog.PENDING;
const EDIT_WAIT_MS = 5000;

export const FOREIGN_VOTE_NOTE = 'Only the person who asked can rate this answer. Ask me yourself to get your own.';
export const FOREIGN_CHOICE_NOTE = 'Only the person who asked can pick from these suggestions. Ask me yourself to get your own.';

interface MessageLike {
  subtype?: string;
  bot_id?: string;
  user?: string;
  text?: string;
  channel: string;
  ts: string;
  thread_ts?: string;
  channel_type?: string;
  /** Present when Slack re-sends an app_mention because its message was edited. */
  edited?: { user?: string; ts?: string };
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

  /** The bot's reply to an edited mention: waits while the original is still being answered; null if none. */
  const replyToEdited = async (tenant: string, ev: MessageLike): Promise<string | null> => {
    const deadline = Date.now() + EDIT_WAIT_MS;
    for (;;) {
      const ts = await deps.replies.find(tenant, ev.channel, ev.ts);
      if (ts !== PENDING) return ts;
      if (Date.now() > deadline) return PENDING;
      await new Promise((r) => setTimeout(r, 200).unref());
    }
  };

  const ask = async (body: TenantFields, ev: MessageLike, threadTs: string | undefined, remember: boolean) => {
    if (!QUESTION_SUBTYPES.has(ev.subtype) || ev.bot_id || !ev.user || ev.user === deps.botUserId || !ev.text?.trim()) return;
    const tenant = tenantOf(body);
    if (tenant === null) return;
    // A mention in a hand-off's thread is the team talking (desk.onSupportMessage), not a question.
    if (deps.desk?.channel === ev.channel && ev.thread_ts && (await deps.core.handoffs.byPost(tenant, ev.channel, ev.thread_ts))) return;
    let replyTs: string | undefined;
    if (ev.edited) {
      const known = await replyToEdited(tenant, ev);
      if (known === PENDING) {
        deps.logger.info({ tenant, channel: ev.channel }, 'an edit arrived while the first wording was still being answered; the first answer stands');
        return;
      }
      // No reply known: the mention was added by the edit (or the reply is over a day old): answer it afresh.
      if (known !== null) replyTs = known;
    }
    if (remember && replyTs === undefined) deps.replies.pending(tenant, ev.channel, ev.ts);
    const done = await deps.track(
      answerQuestion(deps, deps.delivery.forTenant(tenant), {
        tenant, user: ev.user, channel: ev.channel, text: ev.text, botUserId: deps.botUserId, messageTs: ev.ts,
        ...(threadTs ? { threadTs } : {}), ...(replyTs ? { replyTs } : {}),
      }),
    );
    if (remember && done.replyTs !== null && done.replyTs !== replyTs) void deps.replies.remember(tenant, ev.channel, ev.ts, done.replyTs);
    else if (remember && done.replyTs === null) deps.replies.settle(tenant, ev.channel, ev.ts);
  };

  bolt.event('app_mention', async ({ event, body }) => {
    const ev = event as unknown as MessageLike;
    await ask(body as TenantFields, ev, ev.thread_ts ?? ev.ts, true);
  });

  bolt.message(async ({ message, body }) => {
    const ev = message as unknown as MessageLike;
    const desk = deps.desk;
    if (desk?.enabled && ev.channel === desk.channel) {
      const tenant = tenantOf(body as TenantFields);
      if (tenant !== null) await deps.track(desk.onSupportMessage(tenant, message as never));
      return;
    }
    if (ev.channel_type !== 'im') return; // channel messages reach the bot as app_mention
    // DM edits arrive as subtype message_changed and are ignored: the reply stays next to the first wording.
    await ask(body as TenantFields, ev, ev.thread_ts, false);
  });

  bolt.command(SLACK_COMMAND, async ({ command, ack, respond, body }) => {
    await ack();
    const tenant = tenantOf(body as unknown as TenantFields);
    if (tenant === null) return;
    const client = deps.delivery.client;
    const msg = await deps.track(
      runCommand(deps, { tenant, user: command.user_id, text: command.text, isAdmin: () => deps.admins.isAdmin(client, tenant, command.user_id) }),
    );
    try {
      await respond({ response_type: 'ephemeral', replace_original: false, text: msg.text, blocks: msg.blocks as never });
    } catch (err) {
      // response_url spent or expired: the same answer as an ephemeral message.
      deps.logger.warn({ tenant, failure: classifySlackError(err).message }, 'the slash command response_url failed; answering ephemerally');
      await deps.delivery.forTenant(tenant).ephemeral({ channel: command.channel_id, user: command.user_id, text: msg.text });
    }
  });

  /** A click on one of our buttons: its value, its tenant, and whether the clicker may act on it. */
  const click = async (body: BlockAction, action: ButtonAction, foreignNote: string): Promise<{ value: FeedbackValue; tenant: string } | null> => {
    const value = parseFeedbackValue(action.value);
    if (!value) return null;
    const tenant = tenantOf(body as unknown as TenantFields, value.a);
    if (tenant === null) return null;
    if (value.u !== undefined && value.u !== body.user.id) {
      deps.logger.info({ tenant, clicker: body.user.id }, 'a click on another person\'s answer was not counted');
      const channel = body.channel?.id;
      const threadTs = (body.message as { thread_ts?: string } | undefined)?.thread_ts;
      if (channel) await deps.delivery.forTenant(tenant).ephemeral({ channel, user: body.user.id, text: foreignNote, ...(threadTs ? { threadTs } : {}) });
      return null;
    }
    return { value, tenant };
  };

  for (const [actionId, vote] of [
    [ACTION_UP, 'up'],
    [ACTION_DOWN, 'down'],
  ] as const) {
    bolt.action<BlockAction<ButtonAction>>(actionId, async ({ ack, body, action }) => {
      await ack();
      const ok = await click(body, action, FOREIGN_VOTE_NOTE);
      if (!ok) return;
      const { removed } = await deps.track(recordVote(deps, ok.tenant, body.user.id, vote, ok.value));
      const channel = body.channel?.id;
      const ts = body.message?.ts;
      const blocks = (body.message?.blocks ?? []) as Block[];
      if (channel && ts) {
        const poster = deps.delivery.forTenant(ok.tenant);
        const shown = await poster.update({ channel, ts, text: String(body.message?.text ?? ''), blocks: feedbackReceived(blocks, vote, removed) }, { orPost: false });
        if (shown === null) await poster.ephemeral({ channel, user: body.user.id, text: vote === 'up' ? 'Thanks for the feedback!' : 'Thanks: the team will review this answer.' });
      }
    });
  }

  bolt.action<BlockAction<ButtonAction>>(ACTION_SUGGEST, async ({ ack, body, action }) => {
    await ack();
    const ok = await click(body, action, FOREIGN_CHOICE_NOTE);
    if (!ok) return;
    const msgs = await deps.track(chooseSuggestion(deps, ok.tenant, ok.value));
    const channel = body.channel?.id;
    const ts = body.message?.ts;
    if (!channel || !ts) return;
    const threadTs = (body.message as { thread_ts?: string } | undefined)?.thread_ts;
    const where = { channel, ...(threadTs ? { threadTs } : {}) };
    const poster = deps.delivery.forTenant(ok.tenant);
    const [head, ...rest] = msgs;
    if (head) await poster.update({ ...where, ts, ...head });
    for (const m of rest) await poster.post({ ...where, ...m });
  });

  // The support desk's buttons (in the support channel and the App Home) and its modal.
  const deskClick = (body: BlockAction, action: ButtonAction) => {
    const value = parseDeskValue(action.value);
    const tenant = value ? tenantOf(body as unknown as TenantFields, value.t) : null;
    return value && tenant !== null && deps.desk?.enabled ? { value, tenant, desk: deps.desk } : null;
  };
  for (const [actionId, mode] of [
    [ACTION_HANDOFF_ANSWER, 'answer'],
    [ACTION_HANDOFF_LINK, 'link'],
  ] as const) {
    bolt.action<BlockAction<ButtonAction>>(actionId, async ({ ack, body, action }) => {
      await ack();
      const ok = deskClick(body, action);
      if (!ok) return;
      const channel = body.channel?.id;
      const ts = body.message?.ts;
      await deps.track(ok.desk.openModal(ok.tenant, body.user.id, ok.value, body.trigger_id, mode, channel && ts ? { channel, ts } : undefined));
    });
  }
  bolt.action<BlockAction<ButtonAction>>(ACTION_HANDOFF_DISMISS, async ({ ack, body, action }) => {
    await ack();
    const ok = deskClick(body, action);
    if (!ok) return;
    const channel = body.channel?.id;
    await deps.track(ok.desk.dismiss(ok.tenant, body.user.id, ok.value, channel ? { channel } : undefined));
  });
  bolt.action<BlockAction<ButtonAction>>(ACTION_HANDOFF_CONFIRM, async ({ ack, body, action }) => {
    await ack();
    const tenant = tenantOf(body as unknown as TenantFields);
    if (tenant === null || !deps.desk?.enabled) return;
    await deps.track(deps.desk.confirmEdit(tenant, body.user.id, action.value));
  });
  bolt.view<ViewSubmitAction>(HANDOFF_MODAL, async ({ ack, body, view }) => {
    let meta: ModalMeta | null = null;
    try {
      meta = JSON.parse(view.private_metadata) as ModalMeta;
    } catch {
      meta = null;
    }
    const tenant = meta ? tenantOf(body as unknown as TenantFields, meta.t) : null;
    if (!meta || tenant === null || !deps.desk?.enabled) return void (await ack());
    const errors = await deps.track(deps.desk.submit(tenant, body.user.id, meta, modalValues(view.state, meta.mode)));
    await ack(errors ? { response_action: 'errors', errors } : undefined);
  });
  // The asker's own buttons: "Ask a person" under an answer, "None of these" under "did you mean".
  for (const [actionId, reason] of [
    [ACTION_HANDOFF_REQUEST, 'requested'],
    [ACTION_HANDOFF_NONE, 'dismissed-suggestions'],
  ] as const) {
    bolt.action<BlockAction<ButtonAction>>(actionId, async ({ ack, body, action }) => {
      await ack();
      const ok = await click(body, action, FOREIGN_CHOICE_NOTE);
      const channel = body.channel?.id;
      if (!ok || !channel || !deps.desk?.enabled) return;
      const desk = deps.desk;
      const threadTs = (body.message as { thread_ts?: string } | undefined)?.thread_ts ?? body.message?.ts;
      const poster = deps.delivery.forTenant(ok.tenant);
      await deps.track(
        (async () => {
          const r = await deps.core.answerer.ask(ok.tenant, ok.value.q, { lookupOnly: true });
          const told = await desk.handOff(ok.tenant, r, { user: body.user.id, channel, ...(threadTs ? { threadTs } : {}) }, reason);
          await poster.post({ channel, ...(threadTs ? { threadTs } : {}), ...plainMessage(told ? HANDOFF_REPLY : deps.core.config.fallbackAnswer) });
        })(),
      );
    });
  }

  bolt.event('app_home_opened', async ({ event, body }) => {
    if (event.tab !== 'home') return;
    const tenant = tenantOf(body as TenantFields);
    if (tenant === null) return;
    const admin = await deps.admins.isAdmin(deps.delivery.client, tenant, event.user);
    const report = admin ? await deps.track(deps.core.report(tenant)) : null;
    const handoffs = admin && deps.desk?.enabled ? handoffHomeBlocks(await deps.core.handoffs.list(tenant), deps.core.clock.now()) : [];
    await deps.delivery.publishHome(tenant, event.user, homeView(report, handoffs));
  });
}
