/**
 * Lookup statistics. Recording is synchronous and in memory (a lookup must not wait on a stats write); the
 * deltas are added to the store every flush interval and on close, so counters survive restarts and sum over
 * every process sharing the store. On Redis they go through Redis's atomic counters, sorted sets and capped
 * lists (src/store/redis-stats.ts); elsewhere into one document per tenant, merged under a lease. A crash loses
 * at most one flush interval of counts. A flush that fails (store down) keeps its counts for the next one, and
 * the write after recovery says how many lookups it brought in late and what the bounded buffers dropped
 * meanwhile. Every collection is bounded.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger';
import { RedisStatsBackend } from '../store/redis-stats';
import type { KvStore } from '../store/types';
import { keys } from './keys';
import { addSample, mergeInto, type Histogram } from './histogram';
import { HIT_OUTCOMES, OUTCOMES, type Clock, type EntrySource, type Outcome } from './types';

export const MAX_TRACKED_QUESTIONS = 1000;
export const MAX_UNANSWERED = 200;
export const MAX_REVIEWS = 200;

export interface QuestionCount {
  question: string;
  count: number;
  lastAt: number;
  lastOutcome: Outcome;
}

export interface UnansweredQuestion {
  question: string;
  at: number;
}

/** A 👎 (or a 👍) on an answer, kept for the team to review. */
export interface FeedbackItem {
  at: number;
  vote: 'up' | 'down';
  user: string;
  entryId: string;
  source: string;
  question: string;
  answer: string;
  /** True when the vote removed the answer from the cache (a 👎 on a generated answer). */
  removed: boolean;
}

export interface StatsDoc {
  version: 1;
  since: number;
  updatedAt: number;
  outcomes: Record<Outcome, number>;
  /** Sum of latencies per outcome, for means and the time-saved estimate. */
  latencySumMs: Record<Outcome, number>;
  hitLatency: Histogram;
  missLatency: Histogram;
  evictions: number;
  /** Keyed by normalized question; bounded to MAX_TRACKED_QUESTIONS by dropping the least asked. */
  questions: Record<string, QuestionCount>;
  /** Newest last; bounded to MAX_UNANSWERED. */
  unanswered: UnansweredQuestion[];
  feedback: { up: number; down: number; removed: number };
  /** 👎 votes for review, newest last; bounded to MAX_REVIEWS. */
  reviews: FeedbackItem[];
  /** Model calls: how long they waited for a slot and how long the model took. */
  generation: { calls: number; queueMsSum: number; modelMsSum: number; modelLatency: Histogram; blocked?: Record<string, number> };
  /** Log items dropped before they could be written (a buffer's bound reached while the store was down). */
  lost: { unanswered: number; reviews: number };
  /** Counts written after failed flushes (held in memory through a store outage): how many, and of what. */
  late: { flushes: number; lookups: number };
  /**
   * Slack deliveries that failed, by kind of failure (rate_limited, payload, …, see src/slack/errors.ts), plus
   * `recovered` (a plainer message or a new post got through instead) and `undelivered` (the asker got nothing).
   */
  delivery: Record<string, number>;
  /**
   * Hand-offs to the support team (src/handoff/): opened, joined (asked again while open), answered, dismissed,
   * reused (hits on the team's answers), and `fail:<kind>` when the support channel could not be reached.
   */
  handoff: Record<string, number>;
  /** Time from a hand-off's opening to its answer. */
  handoffAnswerMs: Histogram;
}

export type HandoffEvent = 'opened' | 'joined' | 'answered' | 'dismissed' | 'reused' | `fail:${string}`;

/** Where a tenant's statistics live: deltas are added (never read-modify-written by the caller). */
export interface StatsBackend {
  add(tenant: string, delta: StatsDoc): Promise<void>;
  read(tenant: string, now: number): Promise<StatsDoc>;
}

export interface LookupEvent {
  outcome: Outcome;
  latencyMs: number;
  question: string;
  normalized: string;
  /** Present when the model was called for this lookup. */
  generation?: { queuedMs: number; modelMs: number };
  /** Who wrote the answer given (a hit on a team answer counts as its reuse). */
  entrySource?: EntrySource | null;
}

function zeroOutcomes(): Record<Outcome, number> {
  return { exact: 0, normalized: 0, semantic: 0, generated: 0, fallback: 0 };
}

export function emptyStats(now: number): StatsDoc {
  return {
    version: 1,
    since: now,
    updatedAt: now,
    outcomes: zeroOutcomes(),
    latencySumMs: zeroOutcomes(),
    hitLatency: {},
    missLatency: {},
    evictions: 0,
    questions: {},
    unanswered: [],
    feedback: { up: 0, down: 0, removed: 0 },
    reviews: [],
    generation: { calls: 0, queueMsSum: 0, modelMsSum: 0, modelLatency: {} },
    lost: { unanswered: 0, reviews: 0 },
    late: { flushes: 0, lookups: 0 },
    delivery: {},
    handoff: {},
    handoffAnswerMs: {},
  };
}

/** Appends, then drops the oldest past max; returns how many were dropped. */
function pushBounded<T>(list: T[], items: T[], max: number): number {
  list.push(...items);
  const over = list.length - max;
  if (over > 0) list.splice(0, over);
  return Math.max(0, over);
}

export function lookupCount(d: StatsDoc): number {
  return OUTCOMES.reduce((n, o) => n + d.outcomes[o], 0);
}

/**
 * Adds delta into target (both docs of one tenant) and re-applies the bounds. `countDrops`: items the bounds
 * drop were never written anywhere (merging unwritten deltas), so they are counted as lost.
 */
export function mergeStats(target: StatsDoc, delta: StatsDoc, countDrops = false): StatsDoc {
  for (const o of OUTCOMES) {
    target.outcomes[o] += delta.outcomes[o];
    target.latencySumMs[o] += delta.latencySumMs[o];
  }
  mergeInto(target.hitLatency, delta.hitLatency);
  mergeInto(target.missLatency, delta.missLatency);
  target.evictions += delta.evictions;
  for (const [k, q] of Object.entries(delta.questions)) {
    const t = target.questions[k];
    if (t) {
      t.count += q.count;
      if (q.lastAt >= t.lastAt) {
        t.lastAt = q.lastAt;
        t.lastOutcome = q.lastOutcome;
        t.question = q.question;
      }
    } else {
      target.questions[k] = { ...q };
    }
  }
  trimQuestions(target.questions);
  const droppedUnanswered = pushBounded(target.unanswered, delta.unanswered, MAX_UNANSWERED);
  // Documents written before feedback existed lack these fields.
  target.feedback ??= { up: 0, down: 0, removed: 0 };
  target.reviews ??= [];
  target.feedback.up += delta.feedback?.up ?? 0;
  target.feedback.down += delta.feedback?.down ?? 0;
  target.feedback.removed += delta.feedback?.removed ?? 0;
  const droppedReviews = pushBounded(target.reviews, delta.reviews ?? [], MAX_REVIEWS);
  target.generation ??= { calls: 0, queueMsSum: 0, modelMsSum: 0, modelLatency: {} };
  if (delta.generation) {
    target.generation.calls += delta.generation.calls;
    target.generation.queueMsSum += delta.generation.queueMsSum;
    target.generation.modelMsSum += delta.generation.modelMsSum;
    mergeInto(target.generation.modelLatency, delta.generation.modelLatency);
    target.generation.blocked ??= {};
    for (const [k, n] of Object.entries(delta.generation.blocked ?? {})) target.generation.blocked[k] = (target.generation.blocked[k] ?? 0) + n;
  }
  target.lost ??= { unanswered: 0, reviews: 0 };
  target.late ??= { flushes: 0, lookups: 0 };
  target.lost.unanswered += delta.lost?.unanswered ?? 0;
  target.lost.reviews += delta.lost?.reviews ?? 0;
  if (countDrops) {
    target.lost.unanswered += droppedUnanswered;
    target.lost.reviews += droppedReviews;
  }
  target.late.flushes += delta.late?.flushes ?? 0;
  target.late.lookups += delta.late?.lookups ?? 0;
  target.delivery ??= {};
  for (const [kind, n] of Object.entries(delta.delivery ?? {})) target.delivery[kind] = (target.delivery[kind] ?? 0) + n;
  target.handoff ??= {};
  target.handoffAnswerMs ??= {};
  for (const [kind, n] of Object.entries(delta.handoff ?? {})) target.handoff[kind] = (target.handoff[kind] ?? 0) + n;
  mergeInto(target.handoffAnswerMs, delta.handoffAnswerMs ?? {});
  target.updatedAt = Math.max(target.updatedAt, delta.updatedAt);
  return target;
}

function trimQuestions(q: Record<string, QuestionCount>): void {
  const ks = Object.keys(q);
  if (ks.length <= MAX_TRACKED_QUESTIONS) return;
  // Drop to 80% in one go so the sort is amortised over many lookups.
  const keep = Math.floor(MAX_TRACKED_QUESTIONS * 0.8);
  ks.sort((a, b) => (q[b]?.count ?? 0) - (q[a]?.count ?? 0) || (q[b]?.lastAt ?? 0) - (q[a]?.lastAt ?? 0));
  for (const k of ks.slice(keep)) delete q[k];
}

const STATS_LEASE_MS = 5000;

/**
 * One document per tenant, for stores without atomic counters (memory, SQLite). Processes sharing the store
 * merge one at a time: without the lease two read-merge-writes could interleave and one process's counts
 * would be overwritten.
 */
export class DocStatsBackend implements StatsBackend {
  private readonly token = `${process.pid}-${randomUUID()}`;

  constructor(private readonly store: KvStore) {}

  async add(tenant: string, delta: StatsDoc): Promise<void> {
    const lease = keys.lease(`stats:${tenant}`);
    let held = await this.store.claim(lease, this.token, STATS_LEASE_MS);
    for (let i = 0; !held && i < 40; i++) {
      await new Promise((r) => setTimeout(r, 25));
      held = await this.store.claim(lease, this.token, STATS_LEASE_MS);
    }
    if (!held) throw new Error('another process held the statistics lease for a second; the counts wait for the next flush');
    try {
      const stored = (await this.store.get<StatsDoc>(keys.stats(tenant))) ?? emptyStats(delta.since);
      await this.store.set(keys.stats(tenant), mergeStats(stored, delta));
    } finally {
      await this.store.releaseClaim(lease, this.token).catch(() => undefined);
    }
  }

  async read(tenant: string, now: number): Promise<StatsDoc> {
    const doc = await this.store.get<StatsDoc>(keys.stats(tenant));
    // Documents written by older versions lack the newer fields; merging into an empty one fills them in.
    return doc ? mergeStats(emptyStats(doc.since), doc) : emptyStats(now);
  }
}

export function statsBackendFor(store: KvStore): StatsBackend {
  return store.redis ? new RedisStatsBackend(store.redis, store) : new DocStatsBackend(store);
}

export class StatsRecorder {
  private readonly pending = new Map<string, StatsDoc>();
  /** Distinct questions in each pending delta: counting them with Object.keys on every lookup was the hot spot. */
  private readonly pendingQuestions = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private readonly backend: StatsBackend;

  constructor(
    store: KvStore,
    private readonly clock: Clock,
    flushMs: number,
    private readonly logger: Logger | null = null,
  ) {
    this.backend = statsBackendFor(store);
    if (flushMs > 0) {
      this.timer = setInterval(() => void this.flush().catch(() => undefined), flushMs);
      this.timer.unref();
    }
  }

  private delta(tenant: string): StatsDoc {
    let d = this.pending.get(tenant);
    if (!d) {
      d = emptyStats(this.clock.now());
      this.pending.set(tenant, d);
    }
    return d;
  }

  record(tenant: string, ev: LookupEvent): void {
    const d = this.delta(tenant);
    const now = this.clock.now();
    d.outcomes[ev.outcome] += 1;
    d.latencySumMs[ev.outcome] += ev.latencyMs;
    addSample(HIT_OUTCOMES.includes(ev.outcome) ? d.hitLatency : d.missLatency, ev.latencyMs);
    if (ev.generation) {
      d.generation.calls += 1;
      d.generation.queueMsSum += ev.generation.queuedMs;
      d.generation.modelMsSum += ev.generation.modelMs;
      addSample(d.generation.modelLatency, ev.generation.modelMs);
    }
    if (ev.normalized !== '') {
      const q = d.questions[ev.normalized];
      if (q) {
        q.count += 1;
        q.lastAt = now;
        q.lastOutcome = ev.outcome;
      } else {
        d.questions[ev.normalized] = { question: ev.question, count: 1, lastAt: now, lastOutcome: ev.outcome };
        const n = (this.pendingQuestions.get(tenant) ?? 0) + 1;
        if (n > MAX_TRACKED_QUESTIONS) {
          trimQuestions(d.questions);
          this.pendingQuestions.set(tenant, Object.keys(d.questions).length);
        } else {
          this.pendingQuestions.set(tenant, n);
        }
      }
    }
    if (ev.entrySource === 'team' && HIT_OUTCOMES.includes(ev.outcome)) d.handoff.reused = (d.handoff.reused ?? 0) + 1;
    if (ev.outcome === 'fallback') {
      d.lost.unanswered += pushBounded(d.unanswered, [{ question: ev.question, at: now }], MAX_UNANSWERED);
    }
    d.updatedAt = now;
  }

  recordFeedback(tenant: string, item: FeedbackItem): void {
    const d = this.delta(tenant);
    d.feedback[item.vote] += 1;
    if (item.removed) d.feedback.removed += 1;
    if (item.vote === 'down') d.lost.reviews += pushBounded(d.reviews, [item], MAX_REVIEWS);
    d.updatedAt = Math.max(d.updatedAt, item.at);
  }

  /** A Slack delivery that failed (kind), and whether something else reached the asker instead. */
  recordDelivery(tenant: string, kind: string, outcome: 'recovered' | 'undelivered' | null): void {
    const d = this.delta(tenant);
    d.delivery[kind] = (d.delivery[kind] ?? 0) + 1;
    if (outcome !== null) d.delivery[outcome] = (d.delivery[outcome] ?? 0) + 1;
    d.updatedAt = this.clock.now();
  }

  /** The faithfulness guard blocked a generated answer (reason: unsupported_fact, unsupported_sentence, …). */
  recordBlocked(tenant: string, reason: string): void {
    const d = this.delta(tenant);
    d.generation.blocked ??= {};
    d.generation.blocked[reason] = (d.generation.blocked[reason] ?? 0) + 1;
    d.updatedAt = this.clock.now();
  }

  /** A hand-off event; `answerMs` with `answered`: how long the askers waited. */
  recordHandoff(tenant: string, event: HandoffEvent, answerMs?: number): void {
    const d = this.delta(tenant);
    d.handoff[event] = (d.handoff[event] ?? 0) + 1;
    if (answerMs !== undefined) addSample(d.handoffAnswerMs, Math.max(0, answerMs));
    d.updatedAt = this.clock.now();
  }

  recordEvictions(tenant: string, n: number): void {
    this.delta(tenant).evictions += n;
  }

  /** Adds pending deltas to the store. Serialised: two flushes never interleave. */
  flush(): Promise<void> {
    this.flushing = this.flushing.catch(() => undefined).then(async () => {
      const batch = [...this.pending.entries()];
      this.pending.clear();
      this.pendingQuestions.clear();
      let failure: unknown = null;
      for (const [tenant, delta] of batch) {
        if (delta.late.flushes > 0) delta.late.lookups = lookupCount(delta);
        try {
          await this.backend.add(tenant, delta);
          if (delta.late.flushes > 0) {
            this.logger?.warn(
              { tenant, lookups: delta.late.lookups, failedFlushes: delta.late.flushes, lostUnanswered: delta.lost.unanswered, lostReviews: delta.lost.reviews },
              'statistics held in memory while the store was down are written',
            );
          }
        } catch (err) {
          // Put the delta back so the counts are retried rather than dropped; other tenants still flush.
          delta.late.flushes += 1;
          delta.late.lookups = 0;
          const again = this.pending.get(tenant);
          const restored = again ? mergeStats(delta, again, true) : delta;
          this.pending.set(tenant, restored);
          this.pendingQuestions.set(tenant, Object.keys(restored.questions).length);
          failure ??= err;
        }
      }
      if (failure !== null) throw failure;
    });
    return this.flushing;
  }

  /** What is recorded but not yet written, per tenant (to keep in a file when exiting during an outage). */
  pendingDeltas(): Record<string, StatsDoc> {
    return Object.fromEntries(this.pending);
  }

  /** Takes over deltas another process could not write (from a file): written with the next flush, as late. */
  adopt(deltas: Record<string, StatsDoc>): void {
    for (const [tenant, d] of Object.entries(deltas)) {
      const delta = mergeStats(emptyStats(d.since), d);
      delta.late.flushes = Math.max(1, delta.late.flushes);
      const mine = this.pending.get(tenant);
      const merged = mine ? mergeStats(delta, mine, true) : delta;
      this.pending.set(tenant, merged);
      this.pendingQuestions.set(tenant, Object.keys(merged.questions).length);
    }
  }

  /** Lookups recorded but not yet written, per tenant (what an exit during an outage leaves unwritten). */
  pendingSummary(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [t, d] of this.pending) out[t] = lookupCount(d);
    return out;
  }

  /** The tenant's statistics, with anything still pending written first. */
  async read(tenant: string): Promise<StatsDoc> {
    await this.flush();
    return this.backend.read(tenant, this.clock.now());
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }
}
