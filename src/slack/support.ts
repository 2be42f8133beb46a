/**
 * The support desk in Slack (KVCACHE_SUPPORT_CHANNEL): what the bot cannot answer is posted there once, a team
 * member answers by the Answer button (a modal), by linking an FAQ entry, or by replying in the post's thread,
 * and every waiting asker gets the answer in their own thread. The hand-off itself (one per question, across
 * replicas; the team entry it becomes) is the core's (src/handoff/handoffs.ts); this file only speaks Slack.
 *
 * Who may answer: members of the support channel and admins. What is not an answer unless its author confirms
 * it: an edited reply. What never is: a reply by this bot or any other bot.
 */
import { LRUCache } from 'lru-cache';
import type { App } from '../app';
import { keys } from '../core/keys';
import type { AnswerResult } from '../core/types';
import { triedFor, type Handoff, type HandoffReason } from '../handoff/handoffs';
import type { Logger } from '../logger';
import type { AdminCheck } from './admin';
import { answerMessages, plainMessage, type Block } from './blocks';
import type { SlackDelivery } from './delivery';
import { classifySlackError } from './errors';
import {
  ACTION_HANDOFF_CONFIRM,
  answerModal,
  HANDOFF_DISMISSED_REPLY,
  supportClosed,
  supportPost,
  type DeskValue,
  type ModalMeta,
} from './handoff-blocks';
import { decodeEntities } from './text';

export interface DeskDeps {
  core: App;
  logger: Logger;
  delivery: SlackDelivery;
  /** The support channel's id, or null: no desk (the asker gets the fallback, as before). */
  channel: string | null;
  botUserId: string;
  admins: AdminCheck;
  /** How often closed hand-offs are relayed to their askers (answered elsewhere: the CLI, another replica). */
  relayEveryMs?: number;
  /** Work that outlives its Slack request (a modal's answer after the ack): shutdown waits for it. */
  track?: <T>(p: Promise<T>) => Promise<T>;
}

export interface SlackAsker {
  user: string;
  channel: string;
  threadTs?: string;
  /** The asker's own message, for the permalink in the support post. */
  messageTs?: string;
}

/** A message in the support channel, as listeners.ts sees it. */
export interface SupportMessage {
  channel: string;
  ts: string;
  thread_ts?: string;
  user?: string;
  bot_id?: string;
  subtype?: string;
  text?: string;
  /** message_changed: the message as it is now. */
  message?: { user?: string; bot_id?: string; text?: string; ts: string; thread_ts?: string };
}

const EDIT_TTL_MS = 24 * 3600_000;

export class SupportDesk {
  private readonly members = new LRUCache<string, Set<string>>({ max: 100, ttl: 60_000 });
  private timer: NodeJS.Timeout | null = null;
  private relaying: Promise<unknown> = Promise.resolve();

  constructor(private readonly d: DeskDeps) {}

  get enabled(): boolean {
    return this.d.channel !== null;
  }

  get channel(): string | null {
    return this.d.channel;
  }

  /** Relays answers given anywhere (the CLI, another replica, a restart) on a timer. */
  start(): void {
    if (!this.enabled || this.timer) return;
    this.timer = setInterval(() => void this.relayNow(), this.d.relayEveryMs ?? 3000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.relaying.catch(() => undefined);
  }

  /** Tells the askers of every closed hand-off not told yet (one relay at a time in this process). */
  relayNow(): Promise<unknown> {
    this.relaying = this.relaying
      .catch(() => undefined)
      .then(() => this.d.core.handoffs.relay((h) => this.tell(h)))
      .catch((err: unknown) => this.d.logger.warn({ err: (err as Error).message }, 'relaying hand-off answers failed; retrying shortly'));
    return this.relaying;
  }

  /**
   * Hands the question to the team: opens the hand-off (or joins the open one) and, when this call opened it,
   * posts it in the support channel. True when the team has it, so the asker can be told so; false when the
   * support channel could not be reached (logged once per failure, counted in /kvcache stats): the asker
   * then gets the fallback, and the hand-off waits in `/kvcache handoffs` and `kvcache handoffs`.
   */
  async handOff(tenant: string, r: AnswerResult, asker: SlackAsker, reason: HandoffReason): Promise<boolean> {
    if (!this.enabled) return false;
    const permalink = asker.messageTs ? await this.permalink(asker.channel, asker.messageTs) : undefined;
    const opened = await this.d.core.handoffs.open(tenant, {
      question: r.question,
      reason,
      tried: await triedFor(this.d.core, tenant, r),
      asker: { via: 'slack', user: asker.user, channel: asker.channel, ...(asker.threadTs ? { threadTs: asker.threadTs } : {}), ...(permalink ? { permalink } : {}), at: this.d.core.clock.now() },
    });
    if (!opened) return false;
    if (opened.created) return this.post(tenant, opened.handoff);
    // Joined: the team has it once its post is made. The process that opened it may still be posting; if its post
    // failed, the channel may have been fixed since: one process (the claim) tries again.
    for (let waited = 0; ; waited += 100) {
      const h = await this.d.core.handoffs.get(tenant, opened.handoff.key);
      if (!h || h.post) return true;
      if (h.postError !== undefined) return this.post(tenant, h);
      if (waited >= 3000) return true;
      await new Promise((r) => setTimeout(r, 100).unref());
    }
  }

  /** Posts the hand-off in the support channel, once at a time across processes (a claim per hand-off). */
  private async post(tenant: string, h: Handoff): Promise<boolean> {
    const claim = keys.lease(`handoff-post:${tenant}:${h.key}`);
    const token = `${process.pid}-${h.key}-${Math.random()}`;
    if (!(await this.d.core.store.claim(claim, token, 30_000))) return true; // another process is posting it now
    try {
      const current = await this.d.core.handoffs.get(tenant, h.key);
      if (current?.post) return true;
      return await this.postNow(tenant, current ?? h);
    } finally {
      await this.d.core.store.releaseClaim(claim, token).catch(() => undefined);
    }
  }

  private async postNow(tenant: string, h: Handoff): Promise<boolean> {
    const channel = this.d.channel as string;
    const res = await this.d.delivery.tryPost(tenant, { channel, ...supportPost(h) });
    if ('ts' in res) {
      await this.d.core.handoffs.setPost(tenant, h.key, { channel, ts: res.ts });
      return true;
    }
    const f = res.failure;
    const kind = 'error' in f ? f.error : f.kind;
    this.d.core.stats.recordHandoff(tenant, `fail:${kind}`);
    await this.d.core.handoffs.setPost(tenant, h.key, { error: kind }).catch(() => undefined);
    this.d.logger.error(
      { tenant, channel, handoff: h.number, failure: f.message },
      `the support channel KVCACHE_SUPPORT_CHANNEL=${channel} cannot take hand-offs (${kind}): invite the bot there, unarchive it, or set another channel; the asker got the fallback answer`,
    );
    return false;
  }

  private async permalink(channel: string, ts: string): Promise<string | undefined> {
    try {
      const res = await this.d.delivery.client.chat.getPermalink({ channel, message_ts: ts });
      return typeof res.permalink === 'string' ? res.permalink : undefined;
    } catch {
      return undefined;
    }
  }

  /** Tells a closed hand-off's Slack askers, and marks the support post closed. Always true: failures are counted. */
  async tell(h: Handoff): Promise<boolean> {
    const poster = this.d.delivery.forTenant(h.tenant);
    let told = 0;
    for (const a of h.askers) {
      if (a.via !== 'slack' || !a.channel) continue;
      const where = { channel: a.channel, ...(a.threadTs ? { threadTs: a.threadTs } : {}) };
      const msgs =
        h.status === 'answered'
          ? answerMessages(
              { question: h.question, answer: h.answer ?? '', source: 'exact', entryId: h.entryId ?? null, matchedQuestion: null, score: null, latencyMs: 0, entryTenant: h.tenant, entrySource: 'team' },
              h.tenant,
              { user: a.user, tenant: h.tenant },
            )
          : [plainMessage(HANDOFF_DISMISSED_REPLY)];
      let ok = true;
      for (const m of msgs) ok = (await poster.post({ ...where, ...m })) !== null && ok;
      if (ok) told += 1;
    }
    if (h.post) await poster.update({ channel: h.post.channel, ts: h.post.ts, ...supportClosed(h, told) }, { orPost: false });
    this.d.logger.info({ tenant: h.tenant, handoff: h.number, status: h.status, told, askers: h.askers.length }, 'told the askers of a hand-off');
    return true;
  }

  /** A member of the support channel, or an admin: the people who may answer. */
  async mayAnswer(tenant: string, user: string): Promise<boolean> {
    if (!this.d.channel) return false;
    let members = this.members.get(this.d.channel);
    if (!members) {
      try {
        const res = await this.d.delivery.client.conversations.members({ channel: this.d.channel, limit: 1000 });
        members = new Set(res.members ?? []);
        this.members.set(this.d.channel, members);
      } catch (err) {
        this.d.logger.warn({ tenant, failure: classifySlackError(err).message }, 'cannot list the support channel members (needs channels:read / groups:read); only admins may answer meanwhile');
        members = new Set();
      }
    }
    return members.has(user) || (await this.d.admins.isAdmin(this.d.delivery.client, tenant, user));
  }

  /**
   * A message in the support channel. A reply in a hand-off's thread by a member answers it; an edit asks its
   * author to confirm; anything a bot writes is ignored. Returns whether the message belonged to a hand-off.
   */
  async onSupportMessage(tenant: string, ev: SupportMessage): Promise<boolean> {
    if (ev.channel !== this.d.channel) return false;
    const edited = ev.subtype === 'message_changed' ? ev.message : undefined;
    const msg = edited ?? ev;
    const threadTs = msg.thread_ts;
    if (!threadTs || threadTs === msg.ts) return false;
    const h = await this.d.core.handoffs.byPost(tenant, ev.channel, threadTs);
    if (!h) return false;
    const user = msg.user;
    if (msg.bot_id || !user || user === this.d.botUserId || (!edited && ev.subtype !== undefined && ev.subtype !== 'thread_broadcast')) {
      this.d.logger.info({ tenant, handoff: h.number, bot: msg.bot_id ?? null }, 'a bot\'s message in a hand-off thread is not taken as the answer');
      return true;
    }
    const poster = this.d.delivery.forTenant(tenant);
    if (h.status !== 'open') return true;
    if (!(await this.mayAnswer(tenant, user))) {
      await poster.ephemeral({ channel: ev.channel, user, threadTs, text: 'Only members of this channel and admins can answer hand-offs.' });
      return true;
    }
    const text = decodeEntities(msg.text ?? '').trim();
    if (text === '') return true;
    if (edited) {
      // An edit may be a correction of something else, or a second thought: its author says whether it is the answer.
      await this.d.core.store.set(keys.handoffEdit(tenant, ev.channel, msg.ts), { key: h.key, user, text }, EDIT_TTL_MS);
      const value = JSON.stringify({ t: tenant, h: h.key, c: ev.channel, ts: msg.ts });
      const blocks: Block[] = [
        { type: 'section', text: { type: 'mrkdwn', text: `You edited a reply in hand-off #${h.number}'s thread. Send it to the askers as the answer?` } },
        { type: 'actions', block_id: 'kvcache_handoff_confirm', elements: [{ type: 'button', action_id: ACTION_HANDOFF_CONFIRM, style: 'primary', text: { type: 'plain_text', text: 'Send as the answer' }, value }] },
      ];
      await poster.ephemeral({ channel: ev.channel, user, threadTs, text: `Send your edited reply as the answer to hand-off #${h.number}?`, blocks });
      return true;
    }
    await this.answer(tenant, h, { answer: text, by: user });
    return true;
  }

  /** The author of an edited reply confirmed it. */
  async confirmEdit(tenant: string, user: string, raw: string | undefined): Promise<void> {
    let v: { t?: string; h?: string; c?: string; ts?: string } = {};
    try {
      v = JSON.parse(raw ?? '{}') as typeof v;
    } catch {
      return;
    }
    if (v.t !== tenant || !v.h || !v.c || !v.ts) return;
    const edit = await this.d.core.store.get<{ key: string; user: string; text: string }>(keys.handoffEdit(tenant, v.c, v.ts));
    if (!edit || edit.user !== user || edit.key !== v.h) return;
    const h = await this.d.core.handoffs.get(tenant, v.h);
    if (!h || h.status !== 'open') return;
    await this.answer(tenant, h, { answer: edit.text, by: user });
  }

  private async answer(tenant: string, h: Handoff, a: { answer: string; by: string; learn?: 'team' | 'once'; linkTo?: string }): Promise<void> {
    try {
      await this.d.core.handoffs.answer(tenant, h.key, a);
    } catch (err) {
      const note = (err as Error).message;
      if (h.post) await this.d.delivery.forTenant(tenant).ephemeral({ channel: h.post.channel, user: a.by, threadTs: h.post.ts, text: `Not sent: ${note}.` });
      return;
    }
    await this.relayNow();
  }

  /** The Answer (or Link) button: the modal, if the clicker may answer. */
  async openModal(tenant: string, user: string, value: DeskValue, triggerId: string, mode: ModalMeta['mode'], where?: { channel: string; ts: string }): Promise<void> {
    const h = await this.d.core.handoffs.get(tenant, value.h);
    const poster = this.d.delivery.forTenant(tenant);
    const note = (text: string) => (where ? poster.ephemeral({ channel: where.channel, user, text }) : Promise.resolve(false));
    if (!h || h.status !== 'open') return void (await note(h ? `Hand-off #${h.number} is already closed.` : 'That hand-off is gone.'));
    if (!(await this.mayAnswer(tenant, user))) return void (await note('Only members of the support channel and admins can answer hand-offs.'));
    const entries: Array<{ id: string; question: string }> = [];
    for await (const e of this.d.core.cache.entries(await this.d.core.cache.faqTenant(tenant), 'faq')) if (e.source === 'faq') entries.push({ id: e.id, question: e.question });
    const view = answerModal(h, entries, { t: tenant, h: h.key, mode, ...(h.post ? { c: h.post.channel, ts: h.post.ts } : {}) });
    try {
      await this.d.delivery.client.views.open({ trigger_id: triggerId, view: view as never });
    } catch (err) {
      this.d.logger.warn({ tenant, handoff: h.number, failure: classifySlackError(err).message }, 'could not open the hand-off modal');
      await note('Slack could not open the form (it must open within 3 seconds of the click); please click again, or reply in the thread.');
    }
  }

  /** The modal's Send: the answer, or the entry to link. Returns field errors for Slack to show, or null. */
  async submit(tenant: string, user: string, meta: ModalMeta, values: ModalValues): Promise<Record<string, string> | null> {
    const text = values.answer?.trim() ?? '';
    const linkTo = values.entry;
    // Errors show under the modal's main input.
    const field = meta.mode === 'answer' ? 'answer' : 'link';
    if (text === '' && !linkTo) return { [field]: 'Write an answer, or choose an FAQ entry.' };
    if (!(await this.mayAnswer(tenant, user))) return { [field]: 'Only members of the support channel and admins can answer hand-offs.' };
    const h = await this.d.core.handoffs.get(tenant, meta.h);
    if (!h || h.status !== 'open') return { [field]: h ? `Hand-off #${h.number} was already ${h.status === 'answered' ? 'answered' : 'closed'}.` : 'That hand-off is gone.' };
    // Slack wants the modal's answer within 3 s: the answering and relaying go on after it, tracked for shutdown.
    const work = this.answer(tenant, h, { answer: text, by: user, learn: values.learn ? 'team' : 'once', ...(linkTo && text === '' ? { linkTo } : {}) });
    void (this.d.track ? this.d.track(work) : work).catch((err: unknown) => this.d.logger.error({ tenant, err: (err as Error).message }, 'answering a hand-off from its modal failed'));
    return null;
  }

  /** "Not for us". */
  async dismiss(tenant: string, user: string, value: DeskValue, where?: { channel: string }): Promise<void> {
    if (!(await this.mayAnswer(tenant, user))) {
      if (where) await this.d.delivery.forTenant(tenant).ephemeral({ channel: where.channel, user, text: 'Only members of the support channel and admins can close hand-offs.' });
      return;
    }
    try {
      await this.d.core.handoffs.dismiss(tenant, value.h, user);
    } catch (err) {
      if (where) await this.d.delivery.forTenant(tenant).ephemeral({ channel: where.channel, user, text: `Not closed: ${(err as Error).message}.` });
      return;
    }
    await this.relayNow();
  }
}

/** What the modal's inputs hold. */
export interface ModalValues {
  answer?: string;
  entry?: string;
  learn: boolean;
}

/** Reads the modal's state (view.state.values) into ModalValues. */
export function modalValues(state: unknown, mode: ModalMeta['mode']): ModalValues {
  const v = (state as { values?: Record<string, Record<string, { value?: string | null; selected_option?: { value?: string } | null; selected_options?: Array<{ value?: string }> }>> } | undefined)?.values ?? {};
  const answer = v.answer?.text?.value ?? undefined;
  const entry = v.link?.entry?.selected_option?.value ?? undefined;
  // Without the checkbox block (link mode) the question becomes the entry's wording: that is learning.
  const learn = mode === 'link' || (v.learn?.learn?.selected_options ?? []).some((o) => o.value === 'team');
  return { ...(answer ? { answer } : {}), ...(entry ? { entry } : {}), learn };
}
