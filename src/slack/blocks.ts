/**
 * Block Kit for replies, feedback, admin summaries and the App Home. Pure functions of core results. Every
 * builder keeps within Slack's documented limits (section text 3,000, button label 75 and value 2,000, about
 * 12,000 characters of block text per message), so Slack never refuses what they build (test/slack-blocks).
 */
import { deliverySummary, handoffSummary, supportChannelSummary, type StatsReport } from '../core/report';
import type { AnswerResult } from '../core/types';
import { authorMrkdwn, escapeMrkdwn, fitList, fromSlackText, plainList, safeCut, splitText, truncate } from './text';
import { noneButton, requestButton } from './handoff-blocks';

export { escapeMrkdwn } from './text';

export type Block = Record<string, unknown>;
export interface SlackMessage {
  text: string;
  blocks: Block[];
}

export const ACTION_UP = 'kvcache_feedback_up';
export const ACTION_DOWN = 'kvcache_feedback_down';
/** "Did you mean" buttons: kvcache_suggest_0, _1, _2 (action ids must differ within a message). */
export const ACTION_SUGGEST = /^kvcache_suggest_\d$/;

/** What a feedback or suggestion button carries back: which entry, in which tenant, for whose question. */
export interface FeedbackValue {
  t: string;
  id: string;
  q: string;
  /** The asker: only their click counts. Absent on buttons posted before it was recorded. */
  u?: string;
  /** The tenant the question was asked in (see tenant.ts); absent on older buttons. */
  a?: string;
}

export const SECTION_MAX = 3000;
export const BUTTON_VALUE_MAX = 2000;
const BUTTON_LABEL_MAX = 75;
/** Answer characters per message: three full sections leave room for the context line and buttons under 12,000. */
const PART_MAX = 3 * SECTION_MAX;
const TEXT_MAX = 3000;

/**
 * The button's value as JSON within Slack's 2,000 characters. JSON escaping can grow a character sixfold
 * (quotes, backslashes, control characters), so the question is cut to the longest prefix whose encoding fits.
 */
export function buttonValue(v: FeedbackValue): string {
  const encode = (q: string) => JSON.stringify({ t: v.t, id: v.id, q, ...(v.u !== undefined ? { u: v.u } : {}), ...(v.a !== undefined ? { a: v.a } : {}) });
  const whole = encode(v.q);
  if (whole.length <= BUTTON_VALUE_MAX) return whole;
  let lo = 0;
  let hi = v.q.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (encode(v.q.slice(0, mid)).length <= BUTTON_VALUE_MAX) lo = mid;
    else hi = mid - 1;
  }
  return encode(v.q.slice(0, safeCut(v.q, lo)));
}

const section = (mrkdwn: string): Block => ({ type: 'section', text: { type: 'mrkdwn', text: mrkdwn } });
const context = (mrkdwn: string): Block => ({ type: 'context', elements: [{ type: 'mrkdwn', text: mrkdwn }] });

/** The discreet line under an answer: who wrote it, and how sure we are. */
function contextLine(r: AnswerResult): string {
  if (r.source === 'fallback') return "I've logged this question for the team";
  if (r.entrySource === 'generated') {
    if (r.source === 'generated' && r.sources && r.sources.length > 0) {
      return fitLine(`Generated from the FAQ entries ${r.sources.map((q) => `“${truncate(authorMrkdwn(q), 120)}”`).join(', ')}; may be imperfect`);
    }
    return 'Generated from the FAQ, may be imperfect';
  }
  const who = r.entrySource === 'manual' ? 'Answered by the team' : r.entrySource === 'team' ? 'Answered by the support team' : 'From the FAQ';
  return r.source === 'semantic' && r.matchedQuestion ? `${who}, for a similar question: “${truncate(authorMrkdwn(r.matchedQuestion), 500)}”` : who;
}

/**
 * An answer as one message, or several when it is longer than one message may carry: the first says how many
 * follow, the last carries the source line and the feedback buttons. Nothing is dropped.
 */
/** Who asked, where: recorded in the buttons so that only the asker's click counts, in the asker's tenant. */
export interface Asker {
  user: string;
  tenant: string;
}
const askerFields = (a?: Asker) => (a ? { u: a.user, a: a.tenant } : {});

/** `handoff`: a support channel is set, so answers offer "Ask a person" and suggestions "None of these". */
export function answerMessages(r: AnswerResult, entryTenant: string, asker?: Asker, opts: { handoff?: boolean } = {}): SlackMessage[] {
  if (r.suggestions && r.suggestions.length > 0) return [suggestMessage(r, asker, opts.handoff === true)];
  const parts = splitText(authorMrkdwn(r.answer), PART_MAX);
  const buttons: Block[] = [];
  if (r.entryId !== null) {
    const value = buttonValue({ t: entryTenant, id: r.entryId, q: r.question, ...askerFields(asker) });
    buttons.push({
      type: 'actions',
      block_id: 'kvcache_feedback',
      elements: [
        { type: 'button', action_id: ACTION_UP, text: { type: 'plain_text', text: '👍', emoji: true }, value },
        { type: 'button', action_id: ACTION_DOWN, text: { type: 'plain_text', text: '👎', emoji: true }, value },
        ...(opts.handoff ? [requestButton(value)] : []),
      ],
    });
  }
  return parts.map((part, i) => {
    const last = i === parts.length - 1;
    const blocks = splitText(part, SECTION_MAX).map(section);
    if (parts.length > 1) {
      blocks.push(context(i === 0 ? `The answer continues in ${parts.length - 1} more message${parts.length > 2 ? 's' : ''} below (1/${parts.length})` : `Continued (${i + 1}/${parts.length})`));
    }
    if (last) blocks.push(context(contextLine(r)), ...buttons);
    return { text: truncate(part, TEXT_MAX), blocks };
  });
}

/** "Did you mean…?": one button per FAQ question; a click answers with it (see chooseSuggestion). */
function suggestMessage(r: AnswerResult, asker: Asker | undefined, handoff: boolean): SlackMessage {
  const list = r.suggestions ?? [];
  const elements = list.map((s, i) => ({
    type: 'button',
    action_id: `kvcache_suggest_${i}`,
    text: { type: 'plain_text', text: truncate(s.question, BUTTON_LABEL_MAX), emoji: true },
    value: buttonValue({ t: s.entryTenant, id: s.entryId, q: r.question, ...askerFields(asker) }),
  }));
  const first = list[0];
  if (handoff && first) elements.push(noneButton(buttonValue({ t: first.entryTenant, id: first.entryId, q: r.question, ...askerFields(asker) })) as (typeof elements)[number]);
  const head = r.answer.split('\n')[0] ?? r.answer;
  return {
    text: truncate(authorMrkdwn(r.answer), TEXT_MAX),
    blocks: [
      section(truncate(authorMrkdwn(head), SECTION_MAX)),
      { type: 'actions', block_id: 'kvcache_suggest', elements },
      context(handoff ? 'None of these? Ask again in other words, or ask the team.' : 'None of these? Ask again in other words, and I will log it for the team.'),
    ],
  };
}

const fitLine = (mrkdwn: string) => truncate(mrkdwn, 2000);

/** The placeholder while the model writes: the checked sentences so far, and that more is coming. */
export function streamingMessage(shown: string): SlackMessage {
  const body = truncate(authorMrkdwn(shown), SECTION_MAX - 2);
  return { text: truncate(shown, TEXT_MAX), blocks: [section(`${body} …`), context('_Writing an answer from the FAQ…_')] };
}

export function placeholderMessage(): SlackMessage {
  return { text: 'Looking into it…', blocks: [context('_Looking into it…_')] };
}

/** Our own words (replies, confirmations): escaped, cut to one section. */
export function plainMessage(text: string): SlackMessage {
  const mrkdwn = truncate(escapeMrkdwn(text), SECTION_MAX);
  return { text: mrkdwn, blocks: [section(mrkdwn)] };
}

/** Text that is already mrkdwn (help, lists we formatted): the notification text loses the markers. */
export function mrkdwnMessage(mrkdwn: string, more: Block[] = []): SlackMessage {
  const fitted = truncate(mrkdwn, SECTION_MAX);
  return { text: fitted.replace(/[*_`]/g, ''), blocks: [section(fitted), ...more] };
}

/** A heading and a list of people's words (questions), numbered, as plain text so nothing in them formats. */
export function listMessage(title: string, items: string[], empty: string): SlackMessage {
  // The notification text (and screen readers) get the same list, without blocks.
  return { text: items.length === 0 ? `${title}: ${empty}` : `${title}\n${fitList(items.map(escapeMrkdwn), TEXT_MAX - title.length - 1)}`, blocks: listBlocks(title, items, empty) };
}

function listBlocks(title: string, items: string[], empty: string): Block[] {
  if (items.length === 0) return [section(`*${title}*\n_${empty}_`)];
  return [section(`*${title}*`), { type: 'section', text: plainList(items, SECTION_MAX) }];
}

/** The text-only reply sent when Slack refuses a message's blocks: short, and nothing in it can be refused. */
export function plainFallback(m: SlackMessage): { text: string } {
  return { text: truncate(m.text, TEXT_MAX) || 'Sorry, I could not show this reply here.' };
}

/** The answer's blocks with the buttons replaced by an acknowledgement. */
export function feedbackReceived(blocks: Block[], vote: 'up' | 'down', removed: boolean): Block[] {
  const note =
    vote === 'up'
      ? '👍 Thanks for the feedback!'
      : removed
        ? '👎 Thanks: this generated answer was removed and the team will review it.'
        : '👎 Thanks: the team will review this answer.';
  return [...blocks.filter((b) => b.type !== 'actions'), context(note)];
}

const ms = (v: number | null) => (v === null ? '–' : v < 1 ? `${v.toFixed(2)} ms` : v < 1000 ? `${v.toFixed(0)} ms` : `${(v / 1000).toFixed(1)} s`);
const pct = (n: number, d: number) => (d === 0 ? '–' : `${((100 * n) / d).toFixed(1)}%`);

/** Questions as people typed them (Slack markup and entities) for display in a list. */
const shown = (raw: string) => fromSlackText(raw);

export function statsBlocks(r: StatsReport): Block[] {
  const hits = r.hits.exact + r.hits.normalized + r.hits.semantic;
  const field = (label: string, value: string) => ({ type: 'mrkdwn', text: `*${label}*\n${value}` });
  const saved = r.timeSavedMs < 120_000 ? `${Math.round(r.timeSavedMs / 1000)} s` : `${(r.timeSavedMs / 3_600_000).toFixed(1)} h`;
  const delivery = deliverySummary(r);
  const support = supportChannelSummary(r);
  return [
    { type: 'header', text: { type: 'plain_text', text: 'kvcache stats' } },
    {
      type: 'section',
      fields: [
        field('Lookups', `${r.lookups}`),
        field('Hit rate', r.hitRate === null ? '–' : `${(100 * r.hitRate).toFixed(1)}%`),
        field('Hits by tier', `exact ${r.hits.exact} · normalized ${r.hits.normalized} · semantic ${r.hits.semantic}`),
        field('Misses', `generated ${r.misses.generated} · fallback ${r.misses.fallback} (${pct(r.misses.generated + r.misses.fallback, r.lookups)})`),
        field('Latency p50 / p95', `hits ${ms(r.latencyMs.hitP50)} / ${ms(r.latencyMs.hitP95)}\nmisses ${ms(r.latencyMs.missP50)} / ${ms(r.latencyMs.missP95)}`),
        field('Time saved', `~${saved} over ${hits} hits`),
        field('Entries', `${r.entries.faq} FAQ · ${r.entries.team} team · ${r.entries.generated} generated · ${r.entries.manual} manual`),
        field('Evictions · feedback', `${r.evictions} · 👍 ${r.feedback.up} 👎 ${r.feedback.down}`),
        field('Slack delivery failures', delivery ?? 'none'),
        field('Hand-offs', handoffSummary(r) ?? 'none'),
      ],
    },
    ...(support ? [context(`:warning: The support channel could not take hand-offs: ${support}. Invite the bot there or check KVCACHE_SUPPORT_CHANNEL; askers got the fallback meanwhile.`)] : []),
    ...listBlocks('Top questions', r.topQuestions.map((q) => `${shown(q.question)} ×${q.count}`), 'none yet'),
    ...(r.outages.failedWrites > 0 || r.outages.lostUnanswered > 0 || r.outages.lostReviews > 0
      ? [
          context(
            `:warning: Store outages: ${r.outages.lookupsWrittenLate} lookups counted late after ${r.outages.failedWrites} failed writes; lost ${r.outages.lostUnanswered} unanswered-log lines and ${r.outages.lostReviews} review items`,
          ),
        ]
      : []),
    ...(r.slackDelivery.undelivered > 0 ? [context(`:warning: ${r.slackDelivery.undelivered} ${r.slackDelivery.undelivered === 1 ? 'reply' : 'replies'} could not be delivered to Slack at all: see the bot's log`)] : []),
    context(`Team ${escapeMrkdwn(r.tenant)} · since ${r.since.slice(0, 10)}`),
  ];
}

export function topMessage(r: StatsReport): SlackMessage {
  return listMessage('Top questions', r.topQuestions.map((q) => `${shown(q.question)} ×${q.count} (${q.lastOutcome})`), 'none yet');
}

export function unansweredMessage(r: StatsReport): SlackMessage {
  return listMessage('Latest unanswered questions', r.unanswered.map((u) => `${shown(u.question)} (${u.at.slice(0, 16).replace('T', ' ')})`), 'none');
}

export const HELP_TEXT = [
  '*kvcache*: answers questions from the team FAQ. Mention me in a channel or send me a DM.',
  'Admin commands:',
  '• `/kvcache stats`: hit rate, latency, entries, feedback, Slack delivery failures (the default)',
  '• `/kvcache top`: the most asked questions',
  '• `/kvcache unanswered`: the latest questions I could not answer',
  '• `/kvcache handoffs`: questions handed to the support team and still open',
  '• `/kvcache forget <question>`: remove a cached answer',
  '• `/kvcache add <question> => <answer>`: add an answer by hand',
  '• `/kvcache help`: this help',
].join('\n');

/** The App Home: help for everyone; for admins the statistics, the latest unanswered and the open hand-offs. */
export function homeView(report: StatsReport | null, handoffs: Block[] = []): { type: 'home'; blocks: Block[] } {
  if (!report) return { type: 'home', blocks: [section(HELP_TEXT)] };
  return {
    type: 'home',
    blocks: [...statsBlocks(report), ...listBlocks('Latest unanswered', report.unanswered.map((u) => shown(u.question)), 'none yet'), ...handoffs],
  };
}
