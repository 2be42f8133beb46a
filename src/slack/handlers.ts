/**
 * What the bot does with a question, a command or a vote, as plain functions of the core and a small poster
 * interface, so tests can call them without Bolt. The listeners in listeners.ts only adapt Slack's payloads.
 */
import type { App } from '../app';
import { KvcacheError } from '../errors';
import { giveFeedback, type Vote } from '../core/feedback';
import { DEFAULT_TENANT } from '../core/keys';
import type { AnswerResult } from '../core/types';
import type { Logger } from '../logger';
import {
  answerMessages,
  HELP_TEXT,
  mrkdwnMessage,
  placeholderMessage,
  plainMessage,
  streamingMessage,
  statsBlocks,
  topMessage,
  unansweredMessage,
  escapeMrkdwn,
  type Block,
  type FeedbackValue,
  type SlackMessage,
} from './blocks';
import type { SlackPoster } from './delivery';
import type { RateLimiter } from './guards';
import { decodeEntities, truncate } from './text';
import { personRequest, shouldHandOff } from '../handoff/handoffs';
import { HANDOFF_REPLY, handoffList } from './handoff-blocks';
import type { SupportDesk } from './support';

export type { SlackPoster } from './delivery';

export interface BotDeps {
  core: App;
  logger: Logger;
  limiter: RateLimiter;
  placeholderMs: number;
  /** The support desk (KVCACHE_SUPPORT_CHANNEL); absent or disabled: unanswered questions get the fallback. */
  desk?: SupportDesk;
}

export interface IncomingQuestion {
  tenant: string;
  user: string;
  channel: string;
  threadTs?: string;
  text: string;
  botUserId: string;
  /** The question was edited: the bot's reply to it, to be replaced with the answer to the new wording. */
  replyTs?: string;
  /** The asker's message (for the support desk's link to it). */
  messageTs?: string;
}

export interface Answered {
  result: AnswerResult | null;
  /** The bot's reply (its first message), or null when none was sent. */
  replyTs: string | null;
}

export const RATE_LIMITED_REPLY = "You're asking faster than I can keep up. Please wait a minute and ask again.";
export const ERROR_REPLY = 'Sorry, something went wrong on my side. The team has been told; please try again in a moment.';
const EDITED_NOTE: Block = { type: 'context', elements: [{ type: 'mrkdwn', text: '_Updated for your edited question_' }] };

/** Removes the bot's own mention (with or without a label) before the question is normalized. */
export function stripBotMention(text: string, botUserId: string): string {
  return text.split(`<@${botUserId}>`).join(' ').replace(new RegExp(`<@${botUserId}\\|[^>]*>`, 'g'), ' ').trim();
}

const sleep = (ms: number) => new Promise<'slow'>((r) => setTimeout(() => r('slow'), ms).unref());

/**
 * Answers one question in Slack: a cache hit is posted at once; an answer that takes longer than
 * placeholderMs (the model) gets a placeholder first, then chat.update with the answer. A long answer
 * continues in further messages in the same place. An edited question replaces the bot's earlier reply.
 */
export async function answerQuestion(deps: BotDeps, poster: SlackPoster, q: IncomingQuestion): Promise<Answered> {
  const text = stripBotMention(q.text, q.botUserId);
  const where = { channel: q.channel, ...(q.threadTs ? { threadTs: q.threadTs } : {}) };
  if (text === '') return { result: null, replyTs: null };
  const verdict = deps.limiter.check(`${q.tenant}:${q.user}`);
  if (verdict !== 'ok') {
    deps.logger.debug({ tenant: q.tenant, user: q.user, told: verdict === 'tell' }, 'question over the per-user rate limit');
    return { result: null, replyTs: verdict === 'tell' ? await poster.post({ ...where, ...plainMessage(RATE_LIMITED_REPLY) }) : null };
  }
  let failed: unknown = null;
  const desk = deps.desk?.enabled ? deps.desk : null;
  const asker = { user: q.user, channel: q.channel, ...(q.threadTs ? { threadTs: q.threadTs } : {}), ...(q.messageTs ? { messageTs: q.messageTs } : {}) };
  const requested = desk ? personRequest(text) : null;
  if (requested === '') return { result: null, replyTs: await poster.post({ ...where, ...plainMessage(REQUEST_HOWTO) }) };
  // While the model writes, its checked sentences replace the placeholder, at most once a second (chat.update
  // is rate-limited per message); the final answer replaces them.
  let replaceTs: string | null = q.replyTs ?? null;
  const stream = new StreamedReply(poster, where);
  const pending = (async () => {
    // "talk to a person: …" goes straight to the team; anything else is looked up first.
    let r = await deps.core.answerer.ask(q.tenant, requested ?? text, requested ? { lookupOnly: true } : { onText: (shown) => stream.show(shown) });
    const reason = requested ? 'requested' : 'unanswered';
    if (desk && (requested !== null || shouldHandOff(r, deps.core.config.busyAnswer))) {
      const told = await desk.handOff(q.tenant, r, asker, reason).catch((err: unknown) => {
        deps.logger.error({ err, tenant: q.tenant }, 'handing a question to the support team failed');
        return false;
      });
      if (told) r = { ...r, answer: HANDOFF_REPLY, source: 'fallback', entryId: null, suggestions: [], entrySource: null };
    }
    return r;
  })().catch((err: unknown) => {
    failed = err;
    return null;
  });
  if (replaceTs === null && (await Promise.race([pending, sleep(deps.placeholderMs)])) === 'slow') {
    replaceTs = await poster.post({ ...where, ...placeholderMessage() });
  }
  if (replaceTs !== null) stream.attach(replaceTs);
  const result = await pending;
  await stream.end();
  let msgs: SlackMessage[];
  if (result) {
    msgs = answerMessages(result, result.entryTenant ?? q.tenant, { user: q.user, tenant: q.tenant }, { handoff: desk !== null });
  } else if (failed instanceof KvcacheError && (failed.code === 'QUESTION_TOO_LONG' || failed.code === 'QUESTION_EMPTY')) {
    msgs = [plainMessage(`Sorry, ${failed.message}.`)];
  } else {
    deps.logger.error({ err: failed, tenant: q.tenant }, 'answering a Slack question failed');
    msgs = [plainMessage(ERROR_REPLY)];
  }
  const [head, ...rest] = msgs as [SlackMessage, ...SlackMessage[]];
  const firstMsg = q.replyTs ? { ...head, blocks: [EDITED_NOTE, ...head.blocks] } : head;
  const replyTs = replaceTs !== null ? await poster.update({ ...where, ts: replaceTs, ...firstMsg }) : await poster.post({ ...where, ...firstMsg });
  // Continuations go where the first part went: in the thread, or after it in a DM.
  for (const m of rest) await poster.post({ ...where, ...m });
  return { result, replyTs };
}

const STREAM_EVERY_MS = 1000;

/** Updates the placeholder with the text shown so far, throttled, one update in flight, never after end(). */
class StreamedReply {
  private ts: string | null = null;
  private shown = '';
  private sent = '';
  private last = 0;
  private inFlight: Promise<unknown> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private ended = false;

  constructor(
    private readonly poster: SlackPoster,
    private readonly where: { channel: string; threadTs?: string },
  ) {}

  attach(ts: string): void {
    this.ts = ts;
    this.push();
  }

  show(text: string): void {
    this.shown = text;
    this.push();
  }

  private push(): void {
    if (this.ended || this.ts === null || this.inFlight || this.timer || this.shown === this.sent || this.shown === '') return;
    const wait = this.last + STREAM_EVERY_MS - Date.now();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.push();
      }, wait);
      this.timer.unref();
      return;
    }
    const text = this.shown;
    this.sent = text;
    this.last = Date.now();
    this.inFlight = this.poster.update({ ...this.where, ts: this.ts, ...streamingMessage(text) }, { orPost: false }).finally(() => {
      this.inFlight = null;
      this.push();
    });
  }

  /** No more updates; waits for the one in flight, so the final answer is the last word. */
  async end(): Promise<void> {
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.inFlight;
  }
}

export interface CommandInput {
  tenant: string;
  user: string;
  text: string;
  isAdmin: () => Promise<boolean>;
}

const SUBCOMMANDS = new Set(['stats', 'top', 'unanswered', 'handoffs', 'forget', 'add', 'help']);

export const REQUEST_HOWTO = 'Tell me your question along with it, for example "talk to a person: my parcel has not arrived", and I will pass it to our support team.';

/** `/kvcache <subcommand>`: the reply is shown to the caller only (ephemeral). */
export async function runCommand(deps: BotDeps, c: CommandInput): Promise<SlackMessage> {
  const text = c.text.trim();
  const [word = 'stats'] = text.split(/\s+/).filter(Boolean);
  const sub = word.toLowerCase();
  const rest = text.slice(text.indexOf(word) + word.length).trim();
  if (sub === 'help') return mrkdwnMessage(HELP_TEXT);
  if (!SUBCOMMANDS.has(sub)) return mrkdwnMessage(`I don't know \`${escapeMrkdwn(truncate(decodeEntities(word), 60))}\`.\n\n${HELP_TEXT}`);
  if (!(await c.isAdmin())) {
    return plainMessage('Sorry, /kvcache commands other than help are for workspace admins and the admins listed in KVCACHE_ADMINS.');
  }
  const { core } = deps;
  switch (sub) {
    case 'stats': {
      const r = await core.report(c.tenant);
      return { text: `kvcache stats: ${r.lookups} lookups, hit rate ${r.hitRate === null ? '–' : `${(100 * r.hitRate).toFixed(1)}%`}`, blocks: statsBlocks(r) };
    }
    case 'top':
      return topMessage(await core.report(c.tenant));
    case 'unanswered':
      return unansweredMessage(await core.report(c.tenant));
    case 'handoffs':
      return handoffList(await core.handoffs.list(c.tenant), core.clock.now());
    case 'forget': {
      if (rest === '') return plainMessage('Usage: /kvcache forget <question>');
      const question = decodeEntities(rest);
      const gone = await core.cache.forgetQuestion(c.tenant, question);
      if (!gone) return plainMessage(`Nothing is cached for "${echo(question)}" in this workspace.`);
      const note = gone.source === 'faq' ? ' It is an FAQ entry: it comes back at the next preload unless it is removed from the FAQ file.' : '';
      return plainMessage(`Forgot the ${gone.source} answer to "${echo(gone.question)}".${note}`);
    }
    case 'add': {
      // Slack sends a typed `=>` as `=&gt;`, and < > & in the answer as entities: decoded once, stored as typed.
      const typed = decodeEntities(rest);
      const sep = typed.indexOf('=>');
      const question = sep < 0 ? '' : typed.slice(0, sep).trim();
      const answer = sep < 0 ? '' : typed.slice(sep + 2).trim();
      if (question === '' || answer === '') return plainMessage('Usage: /kvcache add <question> => <answer>');
      try {
        core.answerer.checkQuestion(question);
        const e = await core.cache.put(c.tenant, { question, answer, source: 'manual' });
        return plainMessage(`Added: "${echo(e.question)}" now answers "${echo(answer, 1000)}".`);
      } catch (err) {
        if (err instanceof KvcacheError) return plainMessage(`Not added: ${err.message}.`);
        throw err;
      }
    }
    default:
      return mrkdwnMessage(HELP_TEXT);
  }
}

/** A confirmation repeats what it confirms, cut to max characters once escaped, saying how long the whole was. */
function echo(text: string, max = 300): string {
  if (escapeMrkdwn(text).length <= max) return text;
  let keep = max;
  while (keep > 0 && escapeMrkdwn(text.slice(0, keep)).length > max) keep = Math.floor(keep * 0.8);
  return `${truncate(text, keep)} (${text.length.toLocaleString('en-US')} characters)`;
}

export function parseFeedbackValue(raw: string | undefined): FeedbackValue | null {
  try {
    const v = JSON.parse(raw ?? '') as Partial<FeedbackValue>;
    if (typeof v.t !== 'string' || typeof v.id !== 'string' || typeof v.q !== 'string') return null;
    return { t: v.t, id: v.id, q: v.q, ...(typeof v.u === 'string' ? { u: v.u } : {}), ...(typeof v.a === 'string' ? { a: v.a } : {}) };
  } catch {
    return null;
  }
}

/**
 * A click on a "did you mean" button: the chosen FAQ entry answers, and the asker's wording goes to review
 * (`kvcache review`). Like votes, a choice can only name the clicker's own team or the default FAQ.
 */
export async function chooseSuggestion(deps: BotDeps, tenant: string, value: FeedbackValue): Promise<SlackMessage[]> {
  const entryTenant = value.t === tenant ? tenant : DEFAULT_TENANT;
  const entry = await deps.core.review.choose(tenant, value.q, { entryTenant, entryId: value.id });
  deps.logger.info({ tenant, entryId: value.id, found: entry !== null }, 'did-you-mean choice');
  if (!entry) return [plainMessage('That answer was just removed. Please ask again.')];
  const result: AnswerResult = {
    question: value.q,
    answer: entry.answer,
    source: 'semantic',
    entryId: entry.id,
    matchedQuestion: entry.question,
    score: null,
    latencyMs: 0,
    entryTenant,
    entrySource: entry.source,
  };
  return answerMessages(result, entryTenant, value.u ? { user: value.u, tenant } : undefined);
}

export async function recordVote(deps: BotDeps, tenant: string, user: string, vote: Vote, value: FeedbackValue): Promise<{ removed: boolean }> {
  const { core } = deps;
  // A vote may only touch the voter's own team; the default FAQ it falls back to is read-only from Slack.
  const entryTenant = value.t === tenant ? tenant : DEFAULT_TENANT;
  const r = await giveFeedback(
    { cache: core.cache, stats: core.stats, clock: core.clock },
    { tenant, entryTenant, entryId: value.id, vote, user, question: value.q, readOnly: entryTenant !== tenant },
  );
  deps.logger.info({ tenant, entryId: value.id, vote, removed: r.removed }, 'feedback');
  return { removed: r.removed };
}
