/**
 * Lexical retrieval of FAQ entries for grounding (BM25 over each entry's question, alternates and answer).
 * Tokens come from normalizeQuestion, so retrieval sees text the way the cache keys do; Chinese and Japanese,
 * which have no spaces, are indexed as character unigrams and bigrams. Written here rather than taken from a
 * library because the tokenization has to be exactly ours.
 */
import { normalizeQuestion } from '../core/normalize';
import type { CacheEntry } from '../core/types';

const CJK = /[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}]/u;
const CJK_RUN = /[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}]+|[^\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}\s]+/gu;

export function tokenize(text: string): string[] {
  const out: string[] = [];
  for (const piece of normalizeQuestion(text).match(CJK_RUN) ?? []) {
    if (!CJK.test(piece)) {
      out.push(piece);
      continue;
    }
    const chars = [...piece];
    chars.forEach((c, i) => {
      out.push(c);
      if (i + 1 < chars.length) out.push(c + chars[i + 1]);
    });
  }
  return out;
}

export interface Retrieved {
  entry: CacheEntry;
  /** BM25 score: grows with corpus statistics, comparable only within one index. */
  score: number;
  /**
   * Share of the question's informative words (IDF-weighted) that this entry contains, 0..1. Unlike BM25 it
   * does not depend on the size of the FAQ, so one abstention threshold can serve every team.
   */
  coverage: number;
}

interface Doc {
  entry: CacheEntry;
  tf: Map<string, number>;
  len: number;
}

const K1 = 1.2;
const B = 0.75;

export class Bm25Index {
  private readonly docs: Doc[] = [];
  private readonly df = new Map<string, number>();
  private readonly avgLen: number;

  constructor(entries: CacheEntry[]) {
    let total = 0;
    for (const entry of entries) {
      // Phrasings count twice: a question is better evidence of intent than an answer's wording.
      const tokens = [...[entry.question, ...entry.alternates].flatMap((t) => tokenize(t)).flatMap((t) => [t, t]), ...tokenize(entry.answer)];
      const tf = new Map<string, number>();
      for (const t of tokens) tf.set(t, (tf.get(t) ?? 0) + 1);
      for (const t of tf.keys()) this.df.set(t, (this.df.get(t) ?? 0) + 1);
      this.docs.push({ entry, tf, len: tokens.length });
      total += tokens.length;
    }
    this.avgLen = this.docs.length === 0 ? 1 : total / this.docs.length;
  }

  get size(): number {
    return this.docs.length;
  }

  private idf(term: string): number {
    const n = this.docs.length;
    const df = this.df.get(term) ?? 0;
    return Math.log(1 + (n - df + 0.5) / (df + 0.5));
  }

  /** The k best entries for a question, best first; entries sharing no word with it are never returned. */
  search(question: string, k: number): Retrieved[] {
    const terms = [...new Set(tokenize(question))];
    const weights = terms.map((t) => this.idf(t));
    const totalWeight = weights.reduce((a, b) => a + b, 0);
    const scored: Retrieved[] = [];
    for (const d of this.docs) {
      let score = 0;
      let covered = 0;
      terms.forEach((t, i) => {
        const f = d.tf.get(t);
        if (!f) return;
        const w = weights[i] ?? 0;
        score += (w * f * (K1 + 1)) / (f + K1 * (1 - B + (B * d.len) / this.avgLen));
        covered += w;
      });
      if (score > 0) scored.push({ entry: d.entry, score, coverage: totalWeight > 0 ? covered / totalWeight : 0 });
    }
    scored.sort((a, b) => b.score - a.score || a.entry.id.localeCompare(b.entry.id));
    return scored.slice(0, k);
  }
}
