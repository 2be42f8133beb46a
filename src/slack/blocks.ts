/** Block Kit for replies, feedback, admin summaries and the App Home. Pure functions of core results. */
import type { StatsReport } from '../core/report';
import type { AnswerResult } from '../core/types';

export type Block = Record<string, unknown>;
export interface SlackMessage {
  text: string;
  blocks: Block[];
}

export const ACTION_UP = 'kvcache_feedback_up';
export const ACTION_DOWN = 'kvcache_feedback_down';
/** "Did you mean" buttons: kvcache_suggest_0, _1, _2 (action ids must differ within a block). */
export const ACTION_SUGGEST = /^kvcache_suggest_\d$/;

/** What a feedback button carries back: which entry, in which tenant, for which question. */
export interface FeedbackValue {
  t: string;
  id: string;
  q: string;
}

// Slack's mrkdwn treats &, < and > as control characters.
export const escapeMrkdwn = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const SECTION_MAX = 2900; // a section's text may hold 3,000 characters

function sections(text: string): Block[] {
  const out: Block[] = [];
  let rest = escapeMrkdwn(text);
  while (rest.length > 0 && out.length < 40) {
    let cut = rest.length <= SECTION_MAX ? rest.length : rest.lastIndexOf(' ', SECTION_MAX);
    if (cut <= 0) cut = SECTION_MAX;
    out.push({ type: 'section', text: { type: 'mrkdwn', text: rest.slice(0, cut) } });
    rest = rest.slice(cut).trimStart();
  }
  return out;
}

/** The discreet line under an answer: who wrote it, and how sure we are. */
function contextLine(r: AnswerResult): string {
  if (r.source === 'fallback') return "I've logged this question for the team";
  if (r.entrySource === 'generated') return 'Generated from the FAQ, may be imperfect';
  const who = r.entrySource === 'manual' ? 'Answered by the team' : 'From the FAQ';
  return r.source === 'semantic' && r.matchedQuestion ? `${who}, for a similar question: “${escapeMrkdwn(r.matchedQuestion)}”` : who;
}

export function answerMessage(r: AnswerResult, entryTenant: string): SlackMessage {
  if (r.suggestions && r.suggestions.length > 0) return suggestMessage(r);
  const blocks: Block[] = [...sections(r.answer), { type: 'context', elements: [{ type: 'mrkdwn', text: contextLine(r) }] }];
  if (r.entryId !== null) {
    const value = JSON.stringify({ t: entryTenant, id: r.entryId, q: r.question.slice(0, 1500) } satisfies FeedbackValue);
    blocks.push({
      type: 'actions',
      block_id: 'kvcache_feedback',
      elements: [
        { type: 'button', action_id: ACTION_UP, text: { type: 'plain_text', text: '👍', emoji: true }, value },
        { type: 'button', action_id: ACTION_DOWN, text: { type: 'plain_text', text: '👎', emoji: true }, value },
      ],
    });
  }
  return { text: r.answer.slice(0, 3000), blocks };
}

/** "Did you mean…?": one button per FAQ question; a click answers with it (see chooseSuggestion). */
function suggestMessage(r: AnswerResult): SlackMessage {
  const list = r.suggestions ?? [];
  const elements = list.map((s, i) => ({
    type: 'button',
    action_id: `kvcache_suggest_${i}`,
    // Button labels hold 75 characters.
    text: { type: 'plain_text', text: s.question.length > 75 ? `${s.question.slice(0, 74)}…` : s.question },
    value: JSON.stringify({ t: s.entryTenant, id: s.entryId, q: r.question.slice(0, 1500) } satisfies FeedbackValue),
  }));
  const head = r.answer.split('\n')[0] ?? r.answer;
  return {
    text: r.answer.slice(0, 3000),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: escapeMrkdwn(head) } },
      { type: 'actions', block_id: 'kvcache_suggest', elements },
      { type: 'context', elements: [{ type: 'mrkdwn', text: 'None of these? Ask again in other words, and I will log it for the team.' }] },
    ],
  };
}

export function placeholderMessage(): SlackMessage {
  return { text: 'Looking into it…', blocks: [{ type: 'context', elements: [{ type: 'mrkdwn', text: '_Looking into it…_' }] }] };
}

export function plainMessage(text: string): SlackMessage {
  return { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: escapeMrkdwn(text) } }] };
}

/** The answer's blocks with the buttons replaced by an acknowledgement. */
export function feedbackReceived(blocks: Block[], vote: 'up' | 'down', removed: boolean): Block[] {
  const note =
    vote === 'up'
      ? '👍 Thanks for the feedback!'
      : removed
        ? '👎 Thanks: this generated answer was removed and the team will review it.'
        : '👎 Thanks: the team will review this answer.';
  return [...blocks.filter((b) => b.type !== 'actions'), { type: 'context', elements: [{ type: 'mrkdwn', text: note }] }];
}

const ms = (v: number | null) => (v === null ? '–' : v < 1 ? `${v.toFixed(2)} ms` : v < 1000 ? `${v.toFixed(0)} ms` : `${(v / 1000).toFixed(1)} s`);
const pct = (n: number, d: number) => (d === 0 ? '–' : `${((100 * n) / d).toFixed(1)}%`);

export function statsBlocks(r: StatsReport): Block[] {
  const hits = r.hits.exact + r.hits.normalized + r.hits.semantic;
  const field = (label: string, value: string) => ({ type: 'mrkdwn', text: `*${label}*\n${value}` });
  const saved = r.timeSavedMs < 120_000 ? `${Math.round(r.timeSavedMs / 1000)} s` : `${(r.timeSavedMs / 3_600_000).toFixed(1)} h`;
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
        field('Entries', `${r.entries.faq} FAQ · ${r.entries.generated} generated · ${r.entries.manual} manual`),
        field('Evictions · feedback', `${r.evictions} · 👍 ${r.feedback.up} 👎 ${r.feedback.down}`),
      ],
    },
    { type: 'section', text: { type: 'mrkdwn', text: `*Top questions*\n${listOr(r.topQuestions.map((q) => `${escapeMrkdwn(q.question)} ×${q.count}`))}` } },
    ...(r.outages.failedWrites > 0 || r.outages.lostUnanswered > 0 || r.outages.lostReviews > 0
      ? [
          {
            type: 'context',
            elements: [
              {
                type: 'mrkdwn',
                text: `:warning: Store outages: ${r.outages.lookupsWrittenLate} lookups counted late after ${r.outages.failedWrites} failed writes; lost ${r.outages.lostUnanswered} unanswered-log lines and ${r.outages.lostReviews} review items`,
              },
            ],
          },
        ]
      : []),
    { type: 'context', elements: [{ type: 'mrkdwn', text: `Team ${r.tenant} · since ${r.since.slice(0, 10)}` }] },
  ];
}

export function listOr(items: string[], empty = '_none yet_'): string {
  return items.length === 0 ? empty : items.map((s, i) => `${i + 1}. ${s}`).join('\n').slice(0, 2900);
}

export const HELP_TEXT = [
  '*kvcache*: answers questions from the team FAQ. Mention me in a channel or send me a DM.',
  'Admin commands:',
  '• `/kvcache stats`: hit rate, latency, entries, feedback (the default)',
  '• `/kvcache top`: the most asked questions',
  '• `/kvcache unanswered`: the latest questions I could not answer',
  '• `/kvcache forget <question>`: remove a cached answer',
  '• `/kvcache add <question> => <answer>`: add an answer by hand',
  '• `/kvcache help`: this help',
].join('\n');

export function homeView(report: StatsReport | null): { type: 'home'; blocks: Block[] } {
  if (!report) return { type: 'home', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: HELP_TEXT } }] };
  return {
    type: 'home',
    blocks: [
      ...statsBlocks(report),
      { type: 'section', text: { type: 'mrkdwn', text: `*Latest unanswered*\n${listOr(report.unanswered.map((u) => escapeMrkdwn(u.question)))}` } },
    ],
  };
}
