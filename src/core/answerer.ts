/**
 * The one pipeline every transport (CLI, console chat, Slack) calls: check, normalize, look up (exact,
 * normalized, then the semantic layer), generate on a miss, store, record. It imports nothing of Slack.
 */
import { KvcacheError } from '../errors';
import type { AnswerCache } from './cache';
import type { ReplicaFlight } from './flight';
import { isOutage } from './health';
import { exactForm, normalizeQuestion } from './normalize';
import type { StatsRecorder } from './stats';
import type { AnswerResult, Clock, Generator, Outcome, SemanticMatcher } from './types';

export interface AnswererOptions {
  cache: AnswerCache;
  stats: StatsRecorder;
  clock: Clock;
  fallbackAnswer: string;
  /** Reply when the model's queue is full. */
  busyAnswer: string;
  maxQuestionChars: number;
  semantic?: SemanticMatcher | null;
  generator?: Generator | null;
  /** Single-flight of generations across replicas sharing the store. */
  flight?: ReplicaFlight | null;
  /** Monotonic milliseconds for latency; injectable so tests control it. */
  elapsed?: () => number;
}

export interface AskOptions {
  /** Never call the model and record nothing: a what-if lookup (replay --lookup-only). */
  lookupOnly?: boolean;
  /** While the model writes: the checked text so far (Slack updates its placeholder with it). */
  onText?: (shown: string) => void;
}

const monotonicMs = () => performance.now();

/** First line of a "did you mean" reply; the numbered FAQ questions follow, one a line. */
export const SUGGEST_PREFIX = "I'm not sure I understood. Did you mean one of these?";

export class Answerer {
  private readonly o: AnswererOptions;
  private readonly elapsed: () => number;

  constructor(opts: AnswererOptions) {
    this.o = opts;
    this.elapsed = opts.elapsed ?? monotonicMs;
  }

  /** Throws QUESTION_EMPTY or QUESTION_TOO_LONG with a message fit to show the asker. */
  checkQuestion(question: string): string {
    const q = exactForm(question);
    if (q === '') throw new KvcacheError('QUESTION_EMPTY', 'the question is empty; type a question');
    if (q.length > this.o.maxQuestionChars) {
      throw new KvcacheError(
        'QUESTION_TOO_LONG',
        `the question is ${q.length} characters long; the limit is ${this.o.maxQuestionChars} (KVCACHE_MAX_QUESTION_CHARS): please shorten it`,
      );
    }
    return q;
  }

  async ask(tenant: string, question: string, opts: AskOptions = {}): Promise<AnswerResult> {
    const started = this.elapsed();
    const q = this.checkQuestion(question);
    const normalized = normalizeQuestion(q);
    let generation: { queuedMs: number; modelMs: number } | undefined;
    const done = (r: Omit<AnswerResult, 'latencyMs' | 'question'>): AnswerResult => {
      const latencyMs = this.elapsed() - started;
      if (!opts.lookupOnly) this.o.stats.record(tenant, { outcome: r.source, latencyMs, question: q, normalized, entrySource: r.entrySource, ...(generation ? { generation } : {}) });
      return { question: q, ...r, latencyMs };
    };

    // With the store down, a step that needs it counts as a miss and the next one gets its chance (the store
    // itself reports the outage to StoreHealth, once).
    const degrade = async <T>(fn: () => Promise<T>, fallback: T): Promise<T> => {
      try {
        return await fn();
      } catch (err) {
        if (!isOutage(err)) throw err;
        return fallback;
      }
    };
    // q is already in exact form (exactForm is idempotent), and normalized is normalizeQuestion(q).
    const forms = { exact: q, normalized };
    const hit = await degrade(() => this.o.cache.lookup(tenant, q, forms), null);
    if (hit) {
      return done({ answer: hit.entry.answer, source: hit.tier, entryId: hit.entry.id, matchedQuestion: hit.matchedQuestion, score: null, entryTenant: hit.entry.tenant, entrySource: hit.entry.source });
    }
    const sem = this.o.semantic ? await degrade(() => (this.o.semantic as SemanticMatcher).match(tenant, q), null) : null;
    const why = sem?.score ? { score: sem.score.similarity, semantic: sem.score } : { score: null };
    if (sem?.hit) {
      const h = sem.hit;
      return done({ answer: h.entry.answer, source: 'semantic', entryId: h.entry.id, matchedQuestion: h.matchedQuestion, ...why, entryTenant: h.entry.tenant, entrySource: h.entry.source });
    }
    if (!opts.lookupOnly && this.o.generator) {
      const generator = this.o.generator;
      const produce = async () => {
        const gen = await generator.generate(tenant, q, opts.onText ? { onText: opts.onText } : {});
        if (!gen) return null;
        // An answer the store cannot keep is still given: the asker should not pay for the outage.
        const entry = await degrade<{ id: string | null }>(() => this.o.cache.put(tenant, { question: q, answer: gen.answer, source: 'generated', usedEntries: gen.usedEntries }), { id: null });
        return { gen, entry };
      };
      let flight;
      try {
        flight = this.o.flight
          ? await this.o.flight.run(tenant, normalized, produce, () => this.o.cache.lookup(tenant, q, forms))
          : { ran: true as const, value: await produce() };
      } catch (err) {
        // A busy or slow model must never leave the asker without a reply: they get a polite fallback.
        if (!(err instanceof KvcacheError) || (err.code !== 'BUSY' && err.code !== 'GENERATION_TIMEOUT' && err.code !== 'ENGINE_FAILED')) throw err;
        const answer = err.code === 'BUSY' ? this.o.busyAnswer : this.o.fallbackAnswer;
        return done({ answer, source: 'fallback', entryId: null, matchedQuestion: null, ...why, entryTenant: null, entrySource: null });
      }
      if (flight.ran && flight.value) {
        const { gen, entry } = flight.value;
        generation = gen.timing;
        return done({ answer: gen.answer, source: 'generated', entryId: entry.id, matchedQuestion: null, ...why, entryTenant: tenant, entrySource: 'generated', ...(gen.sources ? { sources: gen.sources } : {}) });
      }
      if (!flight.ran && flight.value) {
        // Another replica generated it while this one waited: for this asker it is a cache hit.
        const h = flight.value;
        return done({ answer: h.entry.answer, source: h.tier, entryId: h.entry.id, matchedQuestion: h.matchedQuestion, ...why, entryTenant: h.entry.tenant, entrySource: h.entry.source });
      }
    }
    if (sem && sem.suggestions.length > 0) {
      // Close but not certain, and no grounded answer: the asker picks (precision first). The question counts
      // as unanswered until then.
      const list = sem.suggestions.map((s, i) => `${i + 1}. ${s.question}`).join('\n');
      const answer = `${SUGGEST_PREFIX}\n${list}`;
      return done({ answer, source: 'fallback', entryId: null, matchedQuestion: null, ...why, suggestions: sem.suggestions, entryTenant: null, entrySource: null });
    }
    const outcome: Outcome = 'fallback';
    return done({ answer: this.o.fallbackAnswer, source: outcome, entryId: null, matchedQuestion: null, ...why, entryTenant: null, entrySource: null });
  }
}
