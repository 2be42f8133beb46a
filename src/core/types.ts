/** The shapes that flow through the core: entries in the cache, lookup outcomes, and the plug-in seams. */

/** `team`: an answer the support team gave to a handed-off question (pinned like FAQ entries, src/handoff/). */
export type EntrySource = 'faq' | 'generated' | 'manual' | 'team';

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
  /** FAQ entries: where the entry was loaded from (file:line), for review and export; team entries: the hand-off. */
  origin?: string;
  /** Team entries made by linking a question to an FAQ entry: that entry (its answer is copied, and refreshed). */
  linkedTo?: string;
  /** Team entries: who answered. */
  answeredBy?: string;
}

export interface Clock {
  now(): number;
}
export const systemClock: Clock = { now: () => Date.now() };

/** What the paraphrase layer returns for a question that missed the exact and normalized keys. */
export interface SemanticMatch {
  entry: CacheEntry;
  /** Cosine similarity of the nearest phrasing. */
  score: number;
  matchedQuestion: string;
}

/** Why the paraphrase layer hit or missed: the nearest entry, how close, and the bars it had to clear. */
export interface SemanticScore {
  entryId: string;
  similarity: number;
  secondSimilarity: number | null;
  /** Lead of the nearest entry over the nearest other entry. */
  margin: number;
  /** Calibrated probability that the nearest entry is the right one, and the bar it had to clear. */
  confidence: number;
  requiredConfidence: number;
  /** The team classifier's probability of the entry among the nearest ones (null under the older rule). */
  probability: number | null;
  decision: 'hit' | 'suggest' | 'miss';
  /**
   * The promise behind the bar: at most `target` of hits wrong, with confidence 1 − delta, certified on the
   * team's calibration questions (`certified` false: the bar is the strictest, nothing could be certified);
   * null for the default thresholds, which were fitted on public data, not on this team's questions.
   */
  bound: { target: number; delta: number; certified: boolean; wrongShareUpper: number | null } | null;
}

/** An FAQ question offered as "did you mean…?". */
export interface Suggestion {
  entryId: string;
  /** The tenant holding the entry (the asker's, or `default`). */
  entryTenant: string;
  question: string;
  similarity: number;
}

export interface SemanticOutcome {
  hit: SemanticMatch | null;
  /** null when the tenant has no FAQ to compare with. */
  score: SemanticScore | null;
  /** Filled only in the "did you mean" band (no hit, but close). */
  suggestions: Suggestion[];
}

export interface SemanticMatcher {
  match(tenant: string, question: string): Promise<SemanticOutcome>;
}

/** The seq2seq model (a later issue) implements this; until then the miss path answers with the fallback. */
export interface GeneratedAnswer {
  answer: string;
  /** FAQ entry ids given to the model as context. */
  usedEntries: string[];
  /** Their questions, in the same order (to say which entries an answer came from). */
  sources?: string[];
  /** Time waiting for a model slot and time in the model (absent when not measured). */
  timing?: { queuedMs: number; modelMs: number };
}

export interface Generator {
  /**
   * null means the model abstains (question out of scope) or the guard blocked its answer: the caller replies
   * with the fallback. `onText` gets what may be shown while the model writes (checked sentences only).
   */
  generate(tenant: string, question: string, opts?: { onText?: (shown: string) => void }): Promise<GeneratedAnswer | null>;
}

export interface AnswerResult {
  question: string;
  answer: string;
  source: Outcome;
  entryId: string | null;
  matchedQuestion: string | null;
  /** Similarity of the nearest FAQ phrasing when the paraphrase layer was consulted (hit or miss). */
  score: number | null;
  /** The paraphrase layer's reasons (absent when it was not consulted: a key hit, or no embedder). */
  semantic?: SemanticScore;
  /** "Did you mean" offers; when present the answer asks the user to pick one. */
  suggestions?: Suggestion[];
  latencyMs: number;
  /** The tenant holding the entry: the asker's, or `default` when its FAQ served a tenant without one. */
  entryTenant: string | null;
  /** Who wrote the answer: a cache hit on a generated entry is still a generated answer. */
  entrySource: EntrySource | null;
  /** A freshly generated answer: the questions of the FAQ entries it was generated from. */
  sources?: string[];
}
