/**
 * Select, then copy: a causal LM as a scorer, never a writer. For each candidate FAQ entry the question's
 * log-likelihood after the entry is compared with its log-likelihood after no entry,
 *   pmi(entry) = log P(question | entry) − log P(question),
 * averaged per question token; the best entry's answer is copied verbatim when its pmi clears a bar set on
 * held-out data, so nothing can be invented. Each entry's prefix is the same for every question: its past key
 * values are kept (an LRU bounded in bytes), so a question costs only its own tokens per candidate.
 */
import { LRUCache } from 'lru-cache';
import type { CausalModel } from './causal';

type HF = typeof import('@huggingface/transformers');
type Tensor = InstanceType<HF['Tensor']>;
type Cache = Record<string, Tensor>;

export interface SelectableEntry {
  id: string;
  question: string;
  answer: string;
  alternates?: readonly string[];
}

export interface Scored {
  id: string;
  /** Mean per-token log P(question | entry) − log P(question). */
  pmi: number;
}

export interface SelectorOptions {
  /** Keep the entries' past key values between questions (default true; the bench turns it off to compare). */
  reusePrefix?: boolean;
  /** Bytes of kept past key values (default 256 MiB). */
  maxCacheBytes?: number;
  /** Phrasings of an entry shown to the model besides its question (default 3). */
  alternates?: number;
}

const NEUTRAL = '\u0000neutral';

/** The text before the question: the entry, then the line the customer's question completes. */
export function entryPrefix(e: SelectableEntry | null, alternates: number): string {
  const lead = 'A customer writes to support:';
  if (!e) return `${lead} "`;
  const also = (e.alternates ?? []).slice(0, alternates);
  return [`FAQ: ${e.question}`, ...also.map((a) => `Also asked as: ${a}`), `Answer: ${e.answer}`, '', `${lead} "`].join('\n');
}

export class EntrySelector {
  reusePrefix: boolean;
  private readonly alternates: number;
  private readonly kept: LRUCache<string, { ids: number[]; cache: Cache }>;
  /** Forward passes run by the last score() call, and the tokens they fed (benchmarks). */
  lastRun = { forwards: 0, tokensFed: 0 };

  constructor(
    private readonly lm: CausalModel,
    o: SelectorOptions = {},
  ) {
    this.reusePrefix = o.reusePrefix ?? true;
    this.alternates = o.alternates ?? 3;
    this.kept = new LRUCache({ maxSize: o.maxCacheBytes ?? 256 * 2 ** 20, sizeCalculation: (v) => Math.max(1, bytesOf(v.cache)) });
  }

  /** Each candidate's pmi, best first. */
  async score(question: string, entries: readonly SelectableEntry[]): Promise<Scored[]> {
    this.lastRun = { forwards: 0, tokensFed: 0 };
    const q = this.lm.encode(` ${question.trim()}"`);
    if (q.length === 0 || entries.length === 0) return [];
    const base = await this.logProb(NEUTRAL, entryPrefix(null, this.alternates), q);
    const out: Scored[] = [];
    for (const e of entries) {
      const lp = await this.logProb(e.id + '\u0000' + e.question + '\u0000' + e.answer, entryPrefix(e, this.alternates), q);
      out.push({ id: e.id, pmi: (lp - base) / q.length });
    }
    return out.sort((a, b) => b.pmi - a.pmi);
  }

  /** The best candidate when its pmi clears minPmi; null (abstain) otherwise. */
  async select(question: string, entries: readonly SelectableEntry[], minPmi: number): Promise<{ entry: SelectableEntry; pmi: number } | null> {
    const best = (await this.score(question, entries))[0];
    if (!best || best.pmi < minPmi) return null;
    const entry = entries.find((e) => e.id === best.id);
    return entry ? { entry, pmi: best.pmi } : null;
  }

  /** Sum of log P(q | prefix) over q's tokens. */
  private async logProb(key: string, prefixText: string, q: number[]): Promise<number> {
    const prefix = this.lm.encode(prefixText);
    let kept = this.reusePrefix ? this.kept.get(key) : undefined;
    if (kept && kept.ids.join(',') !== prefix.join(',')) kept = undefined;
    if (this.reusePrefix && !kept) {
      // The prefix but its last token: that token is fed with the question, so its logits predict q's first.
      const out = await this.lm.forward(prefix.slice(0, -1), null);
      this.lastRun.forwards += 1;
      this.lastRun.tokensFed += prefix.length - 1;
      kept = { ids: prefix, cache: out.cache };
      this.kept.set(key, kept);
    }
    const fed = kept ? [prefix[prefix.length - 1]!, ...q] : [...prefix, ...q];
    const out = await this.lm.forward(fed, kept ? kept.cache : null);
    this.lastRun.forwards += 1;
    this.lastRun.tokensFed += fed.length;
    // Position i's logits predict token i + 1 of what was fed; q starts after the prefix's last token.
    const first = fed.length - q.length - 1;
    let sum = 0;
    for (let j = 0; j < q.length; j++) sum += logSoftmaxAt(out.logits, first + j, q[j]!);
    return sum;
  }
}

function bytesOf(cache: Cache): number {
  let n = 0;
  for (const t of Object.values(cache)) n += t.size * 4;
  return n;
}

/** log softmax(logits[0, pos, :])[token], in float64 over the vocabulary. */
function logSoftmaxAt(logits: Tensor, pos: number, token: number): number {
  const vocab = logits.dims[2]!;
  const data = logits.data as Float32Array;
  const off = pos * vocab;
  let max = -Infinity;
  for (let i = 0; i < vocab; i++) if (data[off + i]! > max) max = data[off + i]!;
  let sum = 0;
  for (let i = 0; i < vocab; i++) sum += Math.exp(data[off + i]! - max);
  return data[off + token]! - max - Math.log(sum);
}
