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
  answerMessage,
  HELP_TEXT,
  listOr,
  placeholderMessage,
  plainMessage,
  statsBlocks,
  escapeMrkdwn,
  type FeedbackValue,
  type SlackMessage,
} from './blocks';
import type { RateLimiter } from './guards';

export interface SlackPoster {
  post(msg: SlackMessage & { channel: string; threadTs?: string }): Promise<{ ts: string }>;
  update(msg: SlackMessage & { channel: string; ts: string }): Promise<void>;
}

export interface BotDeps {
  core: App;
  logger: Logger;
  limiter: RateLimiter;
  placeholderMs: number;
}

export interface IncomingQuestion {
  tenant: string;
  user: string;
  channel: string;
  threadTs?: string;
  text: string;
  botUserId: string;
}

export const RATE_LIMITED_REPLY = "You're asking faster than I can keep up. Please wait a minute and ask again.";
export const ERROR_REPLY = 'Sorry, something went wrong on my side. The team has been told; please try again in a moment.';

/** Removes the bot's own mention (with or without a label) before the question is normalized. */
export function stripBotMention(text: string, botUserId: string): string {
  return text.split(`<@${botUserId}>`).join(' ').replace(new RegExp(`<@${botUserId}\\|[^>]*>`, 'g'), ' ').trim();
}

const sleep = (ms: number) => new Promise<'slow'>((r) => setTimeout(() => r('slow'), ms).unref());

/**
 * Answers one question in Slack: a cache hit is posted at once; an answer that takes longer than
 * placeholderMs (the model) gets a placeholder first, then chat.update with the answer.
 */
export async function answerQuestion(deps: BotDeps, poster: SlackPoster, q: IncomingQuestion): Promise<AnswerResult | null> {
  const text = stripBotMention(q.text, q.botUserId);
  const where = { channel: q.channel, ...(q.threadTs ? { threadTs: q.threadTs } : {}) };
  if (text === '') return null;
  if (!deps.limiter.allow(`${q.tenant}:${q.user}`)) {
    await poster.post({ ...where, ...plainMessage(RATE_LIMITED_REPLY) });
    return null;
  }
  let failed: unknown = null;
  const pending = deps.core.answerer.ask(q.tenant, text).catch((err: unknown) => {
    failed = err;
    return null;
  });
  let placeholderTs: string | null = null;
  if ((await Promise.race([pending, sleep(deps.placeholderMs)])) === 'slow') {
    placeholderTs = (await poster.post({ ...where, ...placeholderMessage() })).ts;
  }
  const result = await pending;
  let msg: SlackMessage;
  if (result) {
    msg = answerMessage(result, result.entryTenant ?? q.tenant);
  } else if (failed instanceof KvcacheError && (failed.code === 'QUESTION_TOO_LONG' || failed.code === 'QUESTION_EMPTY')) {
    msg = plainMessage(`Sorry, ${failed.message}.`);
  } else {
    deps.logger.error({ err: failed, tenant: q.tenant }, 'answering a Slack question failed');
    msg = plainMessage(ERROR_REPLY);
  }
  if (placeholderTs) await poster.update({ channel: q.channel, ts: placeholderTs, ...msg });
  else await poster.post({ ...where, ...msg });
  return result;
}

export interface CommandInput {
  tenant: string;
  user: string;
  text: string;
  isAdmin: () => Promise<boolean>;
}

const SUBCOMMANDS = new Set(['stats', 'top', 'unanswered', 'forget', 'add', 'help']);

/** `/kvcache <subcommand>`: the reply is shown to the caller only (ephemeral). */
export async function runCommand(deps: BotDeps, c: CommandInput): Promise<SlackMessage> {
  const text = c.text.trim();
  const [word = 'stats'] = text.split(/\s+/).filter(Boolean);
  const sub = word.toLowerCase();
  const rest = text.slice(text.indexOf(word) + word.length).trim();
  if (sub === 'help') return plainMessageMrkdwn(HELP_TEXT);
  if (!SUBCOMMANDS.has(sub)) return plainMessageMrkdwn(`I don't know \`${escapeMrkdwn(word)}\`.\n\n${HELP_TEXT}`);
  if (!(await c.isAdmin())) {
    return plainMessage('Sorry, /kvcache commands other than help are for workspace admins and the admins listed in KVCACHE_ADMINS.');
  }
  const { core } = deps;
  switch (sub) {
    case 'stats': {
      const r = await core.report(c.tenant);
      return { text: `kvcache stats: ${r.lookups} lookups, hit rate ${r.hitRate === null ? '–' : `${(100 * r.hitRate).toFixed(1)}%`}`, blocks: statsBlocks(r) };
    }
    case 'top': {
      const r = await core.report(c.tenant);
      return plainMessageMrkdwn(`*Top questions*\n${listOr(r.topQuestions.map((q) => `${escapeMrkdwn(q.question)} ×${q.count} (${q.lastOutcome})`))}`);
    }
    case 'unanswered': {
      const r = await core.report(c.tenant);
      return plainMessageMrkdwn(`*Latest unanswered questions*\n${listOr(r.unanswered.map((u) => `${escapeMrkdwn(u.question)} (${u.at.slice(0, 16).replace('T', ' ')})`), '_none_')}`);
    }
    case 'forget': {
      if (rest === '') return plainMessage('Usage: /kvcache forget <question>');
      const gone = await core.cache.forgetQuestion(c.tenant, rest);
      if (!gone) return plainMessage(`Nothing is cached for "${rest}" in this workspace.`);
      const note = gone.source === 'faq' ? ' It is an FAQ entry: it comes back at the next preload unless it is removed from the FAQ file.' : '';
      return plainMessage(`Forgot the ${gone.source} answer to "${gone.question}".${note}`);
    }
    case 'add': {
      const sep = rest.indexOf('=>');
      const question = sep < 0 ? '' : rest.slice(0, sep).trim();
      const answer = sep < 0 ? '' : rest.slice(sep + 2).trim();
      if (question === '' || answer === '') return plainMessage('Usage: /kvcache add <question> => <answer>');
      try {
        core.answerer.checkQuestion(question);
        const e = await core.cache.put(c.tenant, { question, answer, source: 'manual' });
        return plainMessage(`Added: "${e.question}" now answers "${answer}".`);
      } catch (err) {
        if (err instanceof KvcacheError) return plainMessage(`Not added: ${err.message}.`);
        throw err;
      }
    }
    default:
      return plainMessageMrkdwn(HELP_TEXT);
  }
}

function plainMessageMrkdwn(mrkdwn: string): SlackMessage {
  return { text: mrkdwn.replace(/[*_`]/g, ''), blocks: [{ type: 'section', text: { type: 'mrkdwn', text: mrkdwn } }] };
}

export function parseFeedbackValue(raw: string | undefined): FeedbackValue | null {
  try {
    const v = JSON.parse(raw ?? '') as Partial<FeedbackValue>;
    return typeof v.t === 'string' && typeof v.id === 'string' && typeof v.q === 'string' ? { t: v.t, id: v.id, q: v.q } : null;
  } catch {
    return null;
  }
}

/**
 * A click on a "did you mean" button: the chosen FAQ entry answers, and the asker's wording goes to review
 * (`kvcache review`). Like votes, a choice can only name the clicker's own team or the default FAQ.
 */
export async function chooseSuggestion(deps: BotDeps, tenant: string, value: FeedbackValue): Promise<SlackMessage> {
  const entryTenant = value.t === tenant ? tenant : DEFAULT_TENANT;
  const entry = await deps.core.review.choose(tenant, value.q, { entryTenant, entryId: value.id });
  deps.logger.info({ tenant, entryId: value.id, found: entry !== null }, 'did-you-mean choice');
  if (!entry) return plainMessage('That answer was just removed. Please ask again.');
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
  return answerMessage(result, entryTenant);
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
