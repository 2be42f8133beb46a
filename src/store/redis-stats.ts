/**
 * Statistics on Redis's own atomic commands, on the store's connection: every replica adds its counts with
 * HINCRBY, ranks questions with ZINCRBY and appends to capped lists with LPUSH + LTRIM, one MULTI per flush.
 * Nothing is read back before a write, so replicas never wait on each other and never overwrite each other's
 * counts (the document-per-team layout the other backends use needs a lease for that).
 *
 *   kv1:s:<tenant>:n   hash    counters: o:<outcome>, ls:<outcome> (latency sums), hh:/hm:/hg:<bucket>
 *                              (hit, miss and model latency histograms), evictions, fb:*, gen:*, lost:*, late:*,
 *                              dl:<kind> (Slack delivery failures), ho:<event> and ha:<bucket> (hand-offs)
 *   kv1:s:<tenant>:q   zset    normalized question -> times asked (trimmed to the most asked)
 *   kv1:s:<tenant>:qm  hash    normalized question -> {question, lastAt, lastOutcome} of the latest asking
 *   kv1:s:<tenant>:u   list    unanswered questions, newest first, capped
 *   kv1:s:<tenant>:f   list    👎 feedback for review, newest first, capped
 *
 * A team's older single statistics document (`kv1:s:<tenant>`, from before this layout) is left where it is
 * and added in when reading, so an upgrade loses no history and needs no migration step.
 */
import { KvcacheError } from '../errors';
import type { Histogram } from '../core/histogram';
import { keys } from '../core/keys';
import { emptyStats, MAX_REVIEWS, MAX_TRACKED_QUESTIONS, MAX_UNANSWERED, mergeStats, type FeedbackItem, type StatsBackend, type StatsDoc, type UnansweredQuestion } from '../core/stats';
import { OUTCOMES, type Outcome } from '../core/types';
import type { KvStore } from './types';

/** The commands used, as node-redis v5 spells them (a structural subset of its client). */
export interface RedisMulti {
  hIncrBy(key: string, field: string, by: number): RedisMulti;
  hIncrByFloat(key: string, field: string, by: number): RedisMulti;
  hSet(key: string, field: string, value: string): RedisMulti;
  hSetNX(key: string, field: string, value: string): RedisMulti;
  zIncrBy(key: string, by: number, member: string): RedisMulti;
  lPush(key: string, elements: string[]): RedisMulti;
  lTrim(key: string, start: number, stop: number): RedisMulti;
  eval(script: string, options: { keys: string[]; arguments: string[] }): RedisMulti;
  exec(): Promise<unknown[]>;
}

export interface RedisNativeClient {
  multi(): RedisMulti;
  hGetAll(key: string): Promise<Record<string, string>>;
  hmGet(key: string, fields: string[]): Promise<Array<string | null>>;
  zRangeWithScores(key: string, start: number, stop: number, options?: { REV: true }): Promise<Array<{ value: string; score: number }>>;
  lRange(key: string, start: number, stop: number): Promise<string[]>;
}

// (Bounds are read at call time: this module and core/stats.ts import each other.)
// Trims the question ranking to the most asked once it outgrows its bound by a quarter (so the trim runs
// rarely), dropping the trimmed questions' details with them. Atomic: no reader sees one without the other.
const TRIM = `
local n = redis.call('zcard', KEYS[1])
if n <= tonumber(ARGV[1]) then return 0 end
local cut = n - tonumber(ARGV[2])
local drop = redis.call('zrange', KEYS[1], 0, cut - 1)
redis.call('zremrangebyrank', KEYS[1], 0, cut - 1)
for i = 1, #drop, 500 do redis.call('hdel', KEYS[2], unpack(drop, i, math.min(i + 499, #drop))) end
return #drop`;

function incrHistogram(m: RedisMulti, key: string, prefix: string, h: Histogram): void {
  for (const [bucket, n] of Object.entries(h)) if (n !== 0) m.hIncrBy(key, `${prefix}${bucket}`, n);
}

function unavailable(op: string, err: unknown): KvcacheError {
  // A failed MULTI says only "N commands failed"; the first reply that is an error says which and why.
  const replies = (err as { replies?: unknown[] } | null)?.replies;
  const first = Array.isArray(replies) ? replies.find((r) => r instanceof Error) : undefined;
  const reason = first instanceof Error ? first.message : err instanceof Error ? err.message : String(err);
  return new KvcacheError('STORE_UNAVAILABLE', `Redis failed while ${op} statistics: ${reason}; check that Redis is running and reachable (KVCACHE_STORE)`, { cause: err });
}

export class RedisStatsBackend implements StatsBackend {
  constructor(
    private readonly client: RedisNativeClient,
    private readonly store: KvStore,
  ) {}

  async add(tenant: string, d: StatsDoc): Promise<void> {
    const k = keys.redisStats(tenant);
    const m = this.client.multi();
    m.hSetNX(k.counters, 'since', String(d.since));
    m.hSet(k.counters, 'updatedAt', String(d.updatedAt));
    for (const o of OUTCOMES) {
      if (d.outcomes[o] !== 0) m.hIncrBy(k.counters, `o:${o}`, d.outcomes[o]);
      if (d.latencySumMs[o] !== 0) m.hIncrByFloat(k.counters, `ls:${o}`, d.latencySumMs[o]);
    }
    incrHistogram(m, k.counters, 'hh:', d.hitLatency);
    incrHistogram(m, k.counters, 'hm:', d.missLatency);
    incrHistogram(m, k.counters, 'hg:', d.generation.modelLatency);
    incrHistogram(m, k.counters, 'ha:', d.handoffAnswerMs ?? {});
    const counters: Array<[string, number]> = [
      ['evictions', d.evictions],
      ['fb:up', d.feedback.up],
      ['fb:down', d.feedback.down],
      ['fb:removed', d.feedback.removed],
      ['gen:calls', d.generation.calls],
      ['lost:unanswered', d.lost.unanswered],
      ['lost:reviews', d.lost.reviews],
      ['late:flushes', d.late.flushes],
      ['late:lookups', d.late.lookups],
    ];
    for (const [kind, n] of Object.entries(d.delivery ?? {})) counters.push([`dl:${kind}`, n]);
    for (const [kind, n] of Object.entries(d.handoff ?? {})) counters.push([`ho:${kind}`, n]);
    for (const [reason, n] of Object.entries(d.generation.blocked ?? {})) counters.push([`gb:${reason}`, n]);
    for (const [field, n] of counters) if (n !== 0) m.hIncrBy(k.counters, field, n);
    if (d.generation.queueMsSum !== 0) m.hIncrByFloat(k.counters, 'gen:queueMs', d.generation.queueMsSum);
    if (d.generation.modelMsSum !== 0) m.hIncrByFloat(k.counters, 'gen:modelMs', d.generation.modelMsSum);
    const asked = Object.entries(d.questions);
    for (const [normalized, q] of asked) {
      m.zIncrBy(k.questions, q.count, normalized);
      m.hSet(k.questionMeta, normalized, JSON.stringify({ question: q.question, lastAt: q.lastAt, lastOutcome: q.lastOutcome }));
    }
    if (asked.length > 0) m.eval(TRIM, { keys: [k.questions, k.questionMeta], arguments: [String(MAX_TRACKED_QUESTIONS), String(Math.floor(MAX_TRACKED_QUESTIONS * 0.8))] });
    // LPUSH puts each element at the head in turn, so oldest-first input leaves the newest at index 0.
    if (d.unanswered.length > 0) {
      m.lPush(k.unanswered, d.unanswered.map((u) => JSON.stringify(u)));
      m.lTrim(k.unanswered, 0, MAX_UNANSWERED - 1);
    }
    if (d.reviews.length > 0) {
      m.lPush(k.reviews, d.reviews.map((r) => JSON.stringify(r)));
      m.lTrim(k.reviews, 0, MAX_REVIEWS - 1);
    }
    try {
      await m.exec();
    } catch (err) {
      throw unavailable('writing', err);
    }
  }

  async read(tenant: string, now: number): Promise<StatsDoc> {
    const k = keys.redisStats(tenant);
    let h: Record<string, string>;
    let top: Array<{ value: string; score: number }>;
    let unanswered: string[];
    let reviews: string[];
    let meta: Array<string | null>;
    let legacy: StatsDoc | undefined;
    try {
      [h, top, unanswered, reviews, legacy] = await Promise.all([
        this.client.hGetAll(k.counters),
        this.client.zRangeWithScores(k.questions, 0, MAX_TRACKED_QUESTIONS - 1, { REV: true }),
        this.client.lRange(k.unanswered, 0, MAX_UNANSWERED - 1),
        this.client.lRange(k.reviews, 0, MAX_REVIEWS - 1),
        this.store.get<StatsDoc>(keys.stats(tenant)),
      ]);
      meta = top.length === 0 ? [] : await this.client.hmGet(k.questionMeta, top.map((t) => t.value));
    } catch (err) {
      if (err instanceof KvcacheError) throw err;
      throw unavailable('reading', err);
    }
    const num = (field: string) => Number(h[field] ?? 0);
    const doc = emptyStats(h.since === undefined ? now : Number(h.since));
    doc.updatedAt = h.updatedAt === undefined ? doc.since : Number(h.updatedAt);
    for (const o of OUTCOMES) {
      doc.outcomes[o] = num(`o:${o}`);
      doc.latencySumMs[o] = num(`ls:${o}`);
    }
    for (const [field, value] of Object.entries(h)) {
      const hist = field.startsWith('hh:') ? doc.hitLatency : field.startsWith('hm:') ? doc.missLatency : field.startsWith('hg:') ? doc.generation.modelLatency : field.startsWith('ha:') ? doc.handoffAnswerMs : null;
      if (hist) hist[field.slice(3)] = Number(value);
      else if (field.startsWith('dl:')) doc.delivery[field.slice(3)] = Number(value);
      else if (field.startsWith('ho:')) doc.handoff[field.slice(3)] = Number(value);
      else if (field.startsWith('gb:')) (doc.generation.blocked ??= {})[field.slice(3)] = Number(value);
    }
    doc.evictions = num('evictions');
    doc.feedback = { up: num('fb:up'), down: num('fb:down'), removed: num('fb:removed') };
    doc.generation.calls = num('gen:calls');
    doc.generation.queueMsSum = num('gen:queueMs');
    doc.generation.modelMsSum = num('gen:modelMs');
    doc.lost = { unanswered: num('lost:unanswered'), reviews: num('lost:reviews') };
    doc.late = { flushes: num('late:flushes'), lookups: num('late:lookups') };
    top.forEach((t, i) => {
      const info = parseJson<{ question: string; lastAt: number; lastOutcome: Outcome }>(meta[i]);
      doc.questions[t.value] = { question: info?.question ?? t.value, count: t.score, lastAt: info?.lastAt ?? 0, lastOutcome: info?.lastOutcome ?? 'exact' };
    });
    doc.unanswered = unanswered.map((s) => parseJson<UnansweredQuestion>(s)).filter((u): u is UnansweredQuestion => u !== undefined).reverse();
    doc.reviews = reviews.map((s) => parseJson<FeedbackItem>(s)).filter((r): r is FeedbackItem => r !== undefined).reverse();
    if (!legacy) return doc;
    // Older history first, so the bounded lists keep the newest items.
    return mergeStats(mergeStats(emptyStats(Math.min(legacy.since, doc.since)), legacy), doc);
  }
}

function parseJson<T>(s: string | null | undefined): T | undefined {
  if (s === null || s === undefined) return undefined;
  try {
    return JSON.parse(s) as T;
  } catch {
    return undefined;
  }
}
