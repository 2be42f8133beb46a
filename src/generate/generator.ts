/**
 * The Generator the Answerer calls on a miss: retrieve the FAQ entries that could ground an answer, abstain
 * when none is close enough (an out-of-scope question gets the honest fallback, never an invented answer),
 * otherwise ask the model through the bounded single-flight queue.
 */
import type { AnswerCache } from '../core/cache';
import { DEFAULT_TENANT, keys } from '../core/keys';
import { normalizeQuestion } from '../core/normalize';
import type { CacheEntry, GeneratedAnswer, Generator } from '../core/types';
import type { Logger } from '../logger';
import { KvcacheError } from '../errors';
import type { FaithfulnessGuard } from './guard';
import { sentencesOf, unstatedFact } from './guard';
import type { TextModel } from './model';
import { ABSTAIN, buildChat, buildPrompt } from './prompt';
import type { GenerationQueue } from './queue';
import { Bm25Index } from './retrieve';

export interface GeneratorDeps {
  /** Checks every written answer against its context before it is sent or cached; null: only FAQ copies pass. */
  guard: FaithfulnessGuard | null;
  /** The paraphrase layer's nearest FAQ entries for a question (added to BM25's), when the layer is on. */
  nearest?: (tenant: string, question: string, k: number) => Promise<CacheEntry[]>;
  /** Told when the guard blocks an answer (statistics). */
  onBlocked?: (tenant: string, reason: string) => void;
  logger?: Logger;
}

export interface GroundingOptions {
  /** Entries given to the model as context. */
  topK: number;
  /** Abstain unless the best entry covers at least this share of the question's informative words. */
  minCoverage: number;
  maxNewTokens: number;
}

/**
 * A model failure (engine down, deadline, busy) is logged once per kind a minute, with how many went unlogged
 * since: a failing engine must not write a line per question.
 */
class FailureLog {
  private readonly last = new Map<string, { at: number; quiet: number }>();
  constructor(private readonly logger: Logger | undefined, private readonly everyMs = 60_000) {}

  note(err: unknown): void {
    if (!this.logger || !(err instanceof KvcacheError)) return;
    const seen = this.last.get(err.code);
    const t = Date.now();
    if (seen && t - seen.at < this.everyMs) {
      seen.quiet += 1;
      return;
    }
    this.last.set(err.code, { at: t, quiet: 0 });
    this.logger.warn({ code: err.code, notLoggedSince: seen?.quiet ?? 0 }, `generation failed and the asker got the fallback: ${err.message}`);
  }
}

export class GroundedGenerator implements Generator {
  private readonly indexes = new Map<string, { stamp: string; index: Bm25Index }>();
  private readonly failures: FailureLog;

  constructor(
    private readonly cache: AnswerCache,
    private readonly model: TextModel,
    private readonly queue: GenerationQueue,
    private readonly o: GroundingOptions,
    private readonly d: GeneratorDeps = { guard: null },
  ) {
    this.failures = new FailureLog(d.logger);
  }

  /** The FAQ index of the tenant (or of the default FAQ it falls back to), rebuilt when its FAQ changed. */
  private async indexFor(tenant: string): Promise<Bm25Index> {
    type Meta = { count: number; rev?: string; updatedAt: number };
    let own: Meta | undefined;
    let source: string;
    let meta: Meta | undefined;
    try {
      own = await this.cache.store.get<Meta>(keys.faqMeta(tenant));
      source = (own?.count ?? 0) > 0 ? tenant : DEFAULT_TENANT;
      meta = source === tenant ? own : await this.cache.store.get<Meta>(keys.faqMeta(DEFAULT_TENANT));
    } catch (err) {
      // Store down: the index already in memory still grounds answers.
      const known = this.indexes.get(tenant) ?? this.indexes.get(DEFAULT_TENANT);
      if (known) return known.index;
      throw err;
    }
    const stamp = meta?.rev ?? String(meta?.updatedAt ?? 0);
    const hit = this.indexes.get(source);
    if (hit && hit.stamp === stamp) return hit.index;
    const entries: CacheEntry[] = [];
    for await (const e of this.cache.entries(source, 'faq')) entries.push(e);
    const index = new Bm25Index(entries);
    this.indexes.set(source, { stamp, index });
    return index;
  }

  /**
   * The entries that would ground an answer, or null when the question is out of scope: BM25's best (which
   * decides the abstention by its coverage of the question's words), then the paraphrase layer's nearest
   * entries, which find an answer worded differently from the question.
   */
  async ground(tenant: string, question: string): Promise<CacheEntry[] | null> {
    const found = (await this.indexFor(tenant)).search(question, this.o.topK);
    const best = found[0];
    if (!best || best.coverage < this.o.minCoverage) return null;
    const out = found.map((r) => r.entry);
    const near = this.d.nearest ? await this.d.nearest(tenant, question, this.o.topK).catch(() => []) : [];
    for (const e of near) if (!out.some((o) => o.id === e.id)) out.push(e);
    return out.slice(0, this.o.topK + 2);
  }

  async generate(tenant: string, question: string, opts: { onText?: (shown: string) => void } = {}): Promise<GeneratedAnswer | null> {
    const context = await this.ground(tenant, question);
    if (!context) return null;
    const texts = context.map((e) => `${e.question}\n${e.answer}`);
    const phrasings = context.map((e) => [e.question, ...e.alternates]);
    // How near each entry comes to the question: computed once, when streaming or the final check first needs it.
    let relevance: Promise<number[] | null> | undefined;
    const relevanceOf = () => (relevance ??= this.d.guard ? this.d.guard.relevance(question, texts, phrasings) : Promise.resolve(null));
    // What may be shown while the model writes: whole sentences whose facts are all in the entry the question
    // asks about (or the context, when that cannot be told). The whole answer is checked again, sentences and
    // relevance included, before it is sent or cached.
    const target = opts.onText && this.d.guard ? this.d.guard.nearestEntry(await relevanceOf()) : null;
    const unstated = unstatedFact(target === null ? texts.join('\n') : (texts[target] as string));
    let shown = '';
    const onText = opts.onText
      ? (soFar: string) => {
          const sentences = sentencesOf(soFar);
          const complete = /[.!?。！？]\s*$/.test(soFar) ? sentences : sentences.slice(0, -1);
          let ok = '';
          for (const sent of complete) {
            if (sent.includes(ABSTAIN) || unstated(sent)) break;
            ok = ok ? `${ok} ${sent}` : sent;
          }
          if (ok.length > shown.length) {
            shown = ok;
            opts.onText?.(shown);
          }
        }
      : undefined;
    const r = await this.queue.run(`${tenant}\u0000${normalizeQuestion(question)}`, (signal) =>
      this.model.generate({ flat: buildPrompt(question, context), chat: buildChat(question, context), maxNewTokens: this.o.maxNewTokens, signal, ...(onText ? { onText } : {}) }),
    ).catch((err: unknown) => {
      this.failures.note(err);
      throw err;
    });
    const answer = answerFrom(r.value, context);
    if (answer === null) return null;
    // A copied entry answer states only what its entry does, but must still answer the question asked.
    const copied = context.some((e) => e.answer === answer);
    if (this.d.guard || !copied) {
      const verdict = this.d.guard ? await this.d.guard.check(answer, texts, await relevanceOf()) : { ok: false, reason: 'no_guard' as const };
      if (!verdict.ok) {
        const reason = verdict.reason ?? 'unsupported_sentence';
        this.d.onBlocked?.(tenant, reason);
        this.d.logger?.warn({ tenant, reason, detail: 'detail' in verdict ? verdict.detail?.slice(0, 200) : undefined, usedEntries: context.map((e) => e.id) }, 'a generated answer was blocked: it states what its FAQ entries do not, or answers another question');
        return null;
      }
    }
    return { answer, usedEntries: context.map((e) => e.id), sources: context.map((e) => e.question), timing: { queuedMs: r.queuedMs, modelMs: r.runMs } };
  }
}

/**
 * What the model's output means. The bundled model points: `[n]` names the context entry that answers, and
 * its answer is copied verbatim, so the reply can never contain words no one wrote; `[0]` means none does
 * (abstain). A model that writes its answer as text (a hub model) is used as it is. Anything else, such as a
 * number outside the context, is an abstention.
 */
export function answerFrom(output: string, context: CacheEntry[]): string | null {
  const text = output.trim();
  if (text.includes(ABSTAIN)) return null;
  const pointer = /^\[(\d+)\]/.exec(text);
  if (pointer) {
    const n = Number(pointer[1]);
    return n >= 1 && n <= context.length ? (context[n - 1] as CacheEntry).answer : null;
  }
  return text === '' ? null : text;
}
