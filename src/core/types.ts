/** The shapes that flow through the core: entries in the cache, lookup outcomes, and the plug-in seams. */

export type EntrySource = 'faq' | 'generated' | 'manual';

/** How a question was answered; every lookup records exactly one. */
export type Outcome = 'exact' | 'normalized' | 'semantic' | 'generated' | 'fallback';
export const OUTCOMES: readonly Outcome[] = ['exact', 'normalized', 'semantic', 'generated', 'fallback'];
export const HIT_OUTCOMES: readonly Outcome[] = ['exact', 'normalized', 'semantic'];

export interface CacheEntry {
  id: string;
  tenant: string;
  question: string;
  answer: string;
  source: EntrySource;
  alternates: string[];
  tags: string[];
  createdAt: number;
  updatedAt: number;
  hitCount: number;
  lastHitAt: number | null;
  /** null for pinned FAQ entries, which never expire and are never evicted. */
  expiresAt: number | null;
  /** FAQ entries: hash of question, alternates, answer and tags, so an unchanged entry is left untouched. */
  contentHash?: string;
  /** Generated entries: ids of the FAQ entries given to the model as context (invalidated when they change). */
  usedEntries?: string[];
  /** FAQ entries: where the entry was loaded from (file:line), for review and export. */
  origin?: string;
}

export interface Clock {
  now(): number;
}
export const systemClock: Clock = { now: () => Date.now() };

/** What the paraphrase layer (a later issue) returns for a question that missed the exact and normalized keys. */
export interface SemanticMatch {
  entry: CacheEntry;
  /** Cosine similarity of the nearest phrasing. */
  score: number;
  matchedQuestion: string;
}

export interface SemanticMatcher {
  match(tenant: string, question: string, normalized: string): Promise<SemanticMatch | null>;
}

/** The seq2seq model (a later issue) implements this; until then the miss path answers with the fallback. */
export interface GeneratedAnswer {
  answer: string;
  /** FAQ entry ids given to the model as context. */
  usedEntries: string[];
  /** Time waiting for a model slot and time in the model (absent when not measured). */
  timing?: { queuedMs: number; modelMs: number };
}

export interface Generator {
  /** null means the model abstains (question out of scope): the caller replies with the fallback. */
  generate(tenant: string, question: string): Promise<GeneratedAnswer | null>;
}

export interface AnswerResult {
  question: string;
  answer: string;
  source: Outcome;
  entryId: string | null;
  matchedQuestion: string | null;
  score: number | null;
  latencyMs: number;
  /** The tenant holding the entry: the asker's, or `default` when its FAQ served a tenant without one. */
  entryTenant: string | null;
  /** Who wrote the answer: a cache hit on a generated entry is still a generated answer. */
  entrySource: EntrySource | null;
}
