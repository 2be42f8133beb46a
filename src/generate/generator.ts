/**
 * The Generator the Answerer calls on a miss: retrieve the FAQ entries that could ground an answer, abstain
 * when none is close enough (an out-of-scope question gets the honest fallback, never an invented answer),
 * otherwise ask the model through the bounded single-flight queue.
 */
import type { AnswerCache } from '../core/cache';
import { DEFAULT_TENANT, keys } from '../core/keys';
import { normalizeQuestion } from '../core/normalize';
import type { CacheEntry, GeneratedAnswer, Generator } from '../core/types';
import type { TextModel } from './model';
import { buildPrompt } from './prompt';
import type { GenerationQueue } from './queue';
import { Bm25Index } from './retrieve';

export interface GroundingOptions {
  /** Entries given to the model as context. */
  topK: number;
  /** Abstain unless the best entry covers at least this share of the question's informative words. */
  minCoverage: number;
  maxNewTokens: number;
}

export class GroundedGenerator implements Generator {
  private readonly indexes = new Map<string, { stamp: string; index: Bm25Index }>();

  constructor(
    private readonly cache: AnswerCache,
    private readonly model: TextModel,
    private readonly queue: GenerationQueue,
    private readonly o: GroundingOptions,
  ) {}

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

  /** The entries that would ground an answer, or null when the question is out of scope. */
  async ground(tenant: string, question: string): Promise<CacheEntry[] | null> {
    const found = (await this.indexFor(tenant)).search(question, this.o.topK);
    const best = found[0];
    if (!best || best.coverage < this.o.minCoverage) return null;
    return found.map((r) => r.entry);
  }

  async generate(tenant: string, question: string): Promise<GeneratedAnswer | null> {
    const context = await this.ground(tenant, question);
    if (!context) return null;
    const prompt = buildPrompt(question, context);
    const r = await this.queue.run(`${tenant}\u0000${normalizeQuestion(question)}`, () => this.model.generate(prompt, this.o.maxNewTokens));
    const answer = answerFrom(r.value, context);
    if (answer === null) return null;
    return { answer, usedEntries: context.map((e) => e.id), timing: { queuedMs: r.queuedMs, modelMs: r.runMs } };
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
  const pointer = /^\[(\d+)\]/.exec(text);
  if (pointer) {
    const n = Number(pointer[1]);
    return n >= 1 && n <= context.length ? (context[n - 1] as CacheEntry).answer : null;
  }
  return text === '' ? null : text;
}
