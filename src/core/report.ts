/** Turns a stored StatsDoc plus entry counts into the `stats` report (JSON) and its text table. */
import { quantile } from './histogram';
import { lookupCount, type StatsDoc } from './stats';
import { HIT_OUTCOMES, type Outcome } from './types';

export interface StatsReport {
  tenant: string;
  since: string;
  lookups: number;
  hits: Record<'exact' | 'normalized' | 'semantic', number>;
  hitRate: number | null;
  misses: { generated: number; fallback: number };
  latencyMs: { hitP50: number | null; hitP95: number | null; missP50: number | null; missP95: number | null };
  /** Hits × the mean cost of a miss that reached the model (or KVCACHE_MISS_COST_MS until one is measured). */
  timeSavedMs: number;
  missCostMs: number;
  missCostMeasured: boolean;
  entries: { faq: number; generated: number; manual: number; team: number };
  evictions: number;
  topQuestions: Array<{ question: string; count: number; lastOutcome: Outcome }>;
  unanswered: Array<{ question: string; at: string }>;
  feedback: { up: number; down: number; removed: number };
  generation: { calls: number; meanQueueMs: number | null; meanModelMs: number | null; modelP95Ms: number | null; blocked: number; blockedBy: Record<string, number> };
  reviews: Array<{ at: string; entryId: string; source: string; question: string; user: string; removed: boolean }>;
  /** Store outages as the statistics saw them: lookups written late (held in memory), and log items lost. */
  outages: { failedWrites: number; lookupsWrittenLate: number; lostUnanswered: number; lostReviews: number };
  /** Slack deliveries that failed, by kind; `recovered`: a plainer reply or a new post reached the asker instead; `undelivered`: nothing did. */
  slackDelivery: { failures: Record<string, number>; recovered: number; undelivered: number };
  /**
   * Questions handed to the support team: open now, opened, joined (asked again while open), answered, dismissed,
   * the median wait for an answer, how often the team's answers were reused (hits), the waiting they saved
   * (reuses × the median wait), and support-channel failures by kind.
   */
  handoffs: {
    open: number;
    opened: number;
    joined: number;
    answered: number;
    dismissed: number;
    medianAnswerMs: number | null;
    reused: number;
    timeSavedMs: number;
    supportChannelFailures: Record<string, number>;
  };
}

const round = (n: number | null, d = 3) => (n === null ? null : Math.round(n * 10 ** d) / 10 ** d);

export function buildReport(
  tenant: string,
  doc: StatsDoc,
  entries: { faq: number; generated: number; manual: number; team: number },
  defaultMissCostMs: number,
  openHandoffs = 0,
): StatsReport {
  const ho = doc.handoff ?? {};
  const medianAnswerMs = round(quantile(doc.handoffAnswerMs ?? {}, 0.5), 0);
  const supportChannelFailures: Record<string, number> = {};
  for (const [k, n] of Object.entries(ho)) if (k.startsWith('fail:') && n > 0) supportChannelFailures[k.slice(5)] = n;
  const hits = { exact: doc.outcomes.exact, normalized: doc.outcomes.normalized, semantic: doc.outcomes.semantic };
  const hitCount = HIT_OUTCOMES.reduce((s, o) => s + doc.outcomes[o], 0);
  const lookups = lookupCount(doc);
  const measured = doc.outcomes.generated > 0;
  const missCostMs = measured ? doc.latencySumMs.generated / doc.outcomes.generated : defaultMissCostMs;
  const hitTime = HIT_OUTCOMES.reduce((s, o) => s + doc.latencySumMs[o], 0);
  const top = Object.values(doc.questions)
    .sort((a, b) => b.count - a.count || b.lastAt - a.lastAt)
    .slice(0, 10)
    .map((q) => ({ question: q.question, count: q.count, lastOutcome: q.lastOutcome }));
  return {
    tenant,
    since: new Date(doc.since).toISOString(),
    lookups,
    hits,
    hitRate: lookups === 0 ? null : round(hitCount / lookups, 4),
    misses: { generated: doc.outcomes.generated, fallback: doc.outcomes.fallback },
    latencyMs: {
      hitP50: round(quantile(doc.hitLatency, 0.5)),
      hitP95: round(quantile(doc.hitLatency, 0.95)),
      missP50: round(quantile(doc.missLatency, 0.5)),
      missP95: round(quantile(doc.missLatency, 0.95)),
    },
    timeSavedMs: Math.max(0, Math.round(hitCount * missCostMs - hitTime)),
    missCostMs: Math.round(missCostMs),
    missCostMeasured: measured,
    entries,
    evictions: doc.evictions,
    topQuestions: top,
    unanswered: doc.unanswered
      .slice(-10)
      .reverse()
      .map((u) => ({ question: u.question, at: new Date(u.at).toISOString() })),
    feedback: { ...(doc.feedback ?? { up: 0, down: 0, removed: 0 }) },
    generation: {
      calls: doc.generation?.calls ?? 0,
      meanQueueMs: doc.generation?.calls ? round(doc.generation.queueMsSum / doc.generation.calls) : null,
      meanModelMs: doc.generation?.calls ? round(doc.generation.modelMsSum / doc.generation.calls) : null,
      modelP95Ms: round(quantile(doc.generation?.modelLatency ?? {}, 0.95)),
      blocked: Object.values(doc.generation?.blocked ?? {}).reduce((a, b) => a + b, 0),
      blockedBy: { ...(doc.generation?.blocked ?? {}) },
    },
    reviews: (doc.reviews ?? [])
      .slice(-10)
      .reverse()
      .map((r) => ({ at: new Date(r.at).toISOString(), entryId: r.entryId, source: r.source, question: r.question, user: r.user, removed: r.removed })),
    outages: {
      failedWrites: doc.late?.flushes ?? 0,
      lookupsWrittenLate: doc.late?.lookups ?? 0,
      lostUnanswered: doc.lost?.unanswered ?? 0,
      lostReviews: doc.lost?.reviews ?? 0,
    },
    slackDelivery: deliveryReport(doc.delivery ?? {}),
    handoffs: {
      open: openHandoffs,
      opened: ho.opened ?? 0,
      joined: ho.joined ?? 0,
      answered: ho.answered ?? 0,
      dismissed: ho.dismissed ?? 0,
      medianAnswerMs,
      reused: ho.reused ?? 0,
      timeSavedMs: Math.round((ho.reused ?? 0) * (medianAnswerMs ?? 0)),
      supportChannelFailures,
    },
  };
}

/** "3 open · 5 opened, 4 answered (median 12 min) · 9 reuses saved ~2.1 h", or null when there were none. */
export function handoffSummary(r: StatsReport): string | null {
  const h = r.handoffs;
  if (h.opened === 0 && h.open === 0 && h.reused === 0 && Object.keys(h.supportChannelFailures).length === 0) return null;
  const median = h.medianAnswerMs === null ? '' : ` (median ${fmtDuration(h.medianAnswerMs)})`;
  const saved = h.reused > 0 ? ` · ${h.reused} answers reused, saving ~${fmtDuration(h.timeSavedMs)} of waiting` : '';
  return `${h.open} open · ${h.opened} opened (${h.joined} joined), ${h.answered} answered${median}, ${h.dismissed} not for us${saved}`;
}

/** "not_in_channel ×2" for the support channel's failures, or null. */
export function supportChannelSummary(r: StatsReport): string | null {
  const f = Object.entries(r.handoffs.supportChannelFailures).sort((a, b) => b[1] - a[1]);
  return f.length === 0 ? null : f.map(([k, n]) => `${k} ×${n}`).join(', ');
}

function deliveryReport(d: Record<string, number>): StatsReport['slackDelivery'] {
  const failures: Record<string, number> = {};
  for (const [kind, n] of Object.entries(d)) if (kind !== 'recovered' && kind !== 'undelivered' && n > 0) failures[kind] = n;
  return { failures, recovered: d.recovered ?? 0, undelivered: d.undelivered ?? 0 };
}

/** "2 rate_limited, 1 payload; 1 recovered, 0 undelivered", or null when nothing failed. */
export function deliverySummary(r: StatsReport): string | null {
  const kinds = Object.entries(r.slackDelivery.failures).sort((a, b) => b[1] - a[1]);
  if (kinds.length === 0) return null;
  return `${kinds.map(([k, n]) => `${n} ${k}`).join(', ')}; ${r.slackDelivery.recovered} recovered, ${r.slackDelivery.undelivered} undelivered`;
}

function fmtMs(ms: number | null): string {
  if (ms === null) return '-';
  return ms < 1 ? `${ms.toFixed(3)} ms` : ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

function fmtDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export function formatReport(r: StatsReport): string {
  const pct = (n: number) => (r.lookups === 0 ? '-' : `${((100 * n) / r.lookups).toFixed(1)}%`);
  const delivery = deliverySummary(r);
  const handoffs = handoffSummary(r);
  const support = supportChannelSummary(r);
  const lines = [
    `kvcache stats for team "${r.tenant}" since ${r.since}`,
    '',
    `lookups          ${r.lookups}`,
    `hit rate         ${r.hitRate === null ? '-' : `${(100 * r.hitRate).toFixed(1)}%`}`,
    `  exact          ${r.hits.exact}  (${pct(r.hits.exact)})`,
    `  normalized     ${r.hits.normalized}  (${pct(r.hits.normalized)})`,
    `  semantic       ${r.hits.semantic}  (${pct(r.hits.semantic)})`,
    `misses           ${r.misses.generated + r.misses.fallback}`,
    `  generated      ${r.misses.generated}  (${pct(r.misses.generated)})`,
    `  fallback       ${r.misses.fallback}  (${pct(r.misses.fallback)})`,
    `hit latency      p50 ${fmtMs(r.latencyMs.hitP50)}   p95 ${fmtMs(r.latencyMs.hitP95)}`,
    `miss latency     p50 ${fmtMs(r.latencyMs.missP50)}   p95 ${fmtMs(r.latencyMs.missP95)}`,
    `time saved       ~${fmtDuration(r.timeSavedMs)} (${r.missCostMeasured ? 'measured' : 'assumed'} ${fmtMs(r.missCostMs)} per model call)`,
    `entries          ${r.entries.faq} FAQ (pinned), ${r.entries.team} team answers (pinned), ${r.entries.generated} generated, ${r.entries.manual} manual`,
    `evictions        ${r.evictions}`,
    `feedback         ${r.feedback.up} 👍, ${r.feedback.down} 👎 (${r.feedback.removed} generated answers removed)`,
    `model calls      ${r.generation.calls}${r.generation.calls > 0 ? `  (mean ${fmtMs(r.generation.meanQueueMs)} queued, ${fmtMs(r.generation.meanModelMs)} in the model, p95 ${fmtMs(r.generation.modelP95Ms)})` : ''}`,
    ...(r.generation.calls > 0 || r.generation.blocked > 0 ? [`generated answers blocked  ${r.generation.blocked}${r.generation.blocked > 0 ? ` (${Object.entries(r.generation.blockedBy).map(([k, n]) => `${n} ${k.replace(/_/g, ' ')}`).join(', ')})` : ''}`] : []),
    ...(r.outages.failedWrites > 0 || r.outages.lostUnanswered > 0 || r.outages.lostReviews > 0
      ? [
          `store outages    ${r.outages.lookupsWrittenLate} lookups written late after ${r.outages.failedWrites} failed writes; ` +
            `lost: ${r.outages.lostUnanswered} unanswered-log lines, ${r.outages.lostReviews} review items`,
        ]
      : []),
    ...(delivery ? [`slack failures   ${delivery}`] : []),
    ...(handoffs ? [`hand-offs        ${handoffs}`] : []),
    ...(support ? [`support channel  unreachable: ${support} (see the bot's log)`] : []),
    '',
    'top questions',
    ...(r.topQuestions.length === 0 ? ['  (none yet)'] : r.topQuestions.map((q, i) => `  ${String(i + 1).padStart(2)}. ${q.question}  ×${q.count} (${q.lastOutcome})`)),
    '',
    'latest unanswered',
    ...(r.unanswered.length === 0 ? ['  (none)'] : r.unanswered.map((u) => `  ${u.at}  ${u.question}`)),
  ];
  return lines.join('\n');
}
