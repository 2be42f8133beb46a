/**
 * The decision rule of the paraphrase layer. A question is a semantic hit only when its nearest entry is close
 * enough AND clearly closer than the nearest other entry, and the calibrated confidence that the nearest entry
 * is the right one clears the bar. Just below the bar the nearest entries are offered ("did you mean…?").
 *
 * Confidence is a logistic model of four things the search measures (similarity of the nearest phrasing, its
 * margin over the nearest other entry, the mean of the entry's three nearest phrasings, and how many of the
 * five nearest phrasings belong to it), plus a per-entry offset learnt in calibration: an entry whose questions
 * look like another entry's needs more similarity for the same confidence; a well-separated one needs less.
 * That is vCache's idea (a threshold per entry, learnt from data) in a form that needs few samples per entry.
 */
import type { SemanticScore } from '../core/types';
import { score } from './classifier';
import type { Neighbour } from './index';

/** One weight per feature (prob and probMargin absent: the older rule), plus the bias. */
export interface Weights extends Features {
  bias: number;
}

export interface Thresholds {
  /** The embedding model the numbers belong to: thresholds of another model are meaningless. */
  model: string;
  /**
   * The entry is the team classifier's pick (classifier.ts) and its probability feeds the confidence; absent
   * or false (thresholds calibrated before it existed): the nearest phrasing's entry, on the four search features.
   */
  classifier?: boolean;
  weights: Weights;
  /** Per-entry offsets added to the logit (negative: the entry needs more evidence). */
  perEntry: Record<string, number>;
  /** Entries calibration saw; the others must clear `uncalibratedConfidence`. */
  calibrated: string[];
  minConfidence: number;
  uncalibratedConfidence: number;
  /** Below the bar but at least this confident: offer "did you mean". */
  suggestConfidence: number;
  /** Hard floors under any confidence: a hit is never closer than this or with a smaller lead. */
  minSimilarity: number;
  minMargin: number;
  calibratedAt: number | null;
  /** What calibration measured by cross-validation (absent for the defaults). */
  fit?: {
    samples: number;
    target: number;
    hitRate: number;
    falseHitRate: number;
    oosHitRate: number | null;
    /** The bound: wrong share ≤ target with confidence 1 − delta, when certified (bound.ts). Absent in older fits. */
    delta?: number;
    certified?: boolean;
    /** A (1 − delta) upper limit of the wrong share at the bar, from the calibration questions. */
    wrongShareUpper?: number;
  };
}

/**
 * Used until `kvcache calibrate` runs: the weights fitted by `npm run bench:semantic` on BANKING77 train and
 * valid questions (never its test split), without per-entry offsets, and a stricter bar for every entry since
 * none is calibrated.
 */
export function defaultThresholds(model: string): Thresholds {
  // multilingual-e5-small's cosines crowd into 0.8–1 (unrelated questions score ~0.8), so MiniLM's numbers mean
  // nothing for it. Its weights were fitted the same way (bench:semantic --model multilingual-e5-small, BANKING77
  // train/valid, N = 10), and its bar is strict: on ATEC's test half it answered 0.5% of Chinese paraphrases, none
  // wrongly, and offered "did you mean" for 69%, where before every Chinese question skipped the layer.
  if (model === 'multilingual-e5-small') {
    return {
      model,
      weights: { similarity: 5.0034, margin: 70.1429, top3: 28.902, votes: 2.877, bias: -32.8365 },
      perEntry: {},
      calibrated: [],
      minConfidence: 0.9995,
      uncalibratedConfidence: 0.9995,
      suggestConfidence: 0.4,
      minSimilarity: 0.88,
      minMargin: 0.01,
      calibratedAt: null,
    };
  }
  return {
    model,
    weights: { similarity: 1.5418, margin: 17.9425, top3: 5.663, votes: 2.7336, bias: -6.7065 },
    perEntry: {},
    calibrated: [],
    minConfidence: 0.9915,
    uncalibratedConfidence: 0.9972,
    suggestConfidence: 0.4,
    minSimilarity: 0.5,
    minMargin: 0.02,
    calibratedAt: null,
  };
}

export type Decision = SemanticScore['decision'];

/** Nearest entries a lookup weighs: the classifier's candidates and the margin's rivals. */
export const SEARCH_K = 5;

export interface Features {
  similarity: number;
  margin: number;
  top3: number;
  votes: number;
  /** The team classifier's probability of the entry, and its lead over the next (absent: the older rule). */
  prob?: number;
  probMargin?: number;
}

/** Which candidate the rule answers with: the classifier's most probable entry, or the nearest phrasing's. */
export function pickOf(neighbours: Neighbour[], classifier: boolean): number {
  if (!classifier) return 0;
  let best = 0;
  neighbours.forEach((n, i) => {
    if ((n.prob ?? -1) > ((neighbours[best] as Neighbour).prob ?? -1)) best = i;
  });
  return best;
}

/**
 * What the confidence reads about candidate i: its own numbers and its lead over the best other candidate. Under
 * the classifier the lead is in the classifier's score (classifier.ts), since its pick need not be the nearest
 * phrasing's entry; under the older rule, in the nearest phrasing's similarity.
 */
export function featuresAt(neighbours: Neighbour[], i: number, classifier: boolean): Features {
  const c = neighbours[i] as Neighbour;
  const lead = (n: Neighbour) => (classifier ? score(n.similarity, n.prototype ?? n.similarity) : n.similarity);
  let other = -Infinity;
  let otherProb = 0;
  neighbours.forEach((n, j) => {
    if (j === i) return;
    other = Math.max(other, lead(n));
    otherProb = Math.max(otherProb, n.prob ?? 0);
  });
  const f: Features = { similarity: c.similarity, margin: lead(c) - (other === -Infinity ? 0 : other), top3: c.top3, votes: c.votes / 5 };
  if (classifier) {
    f.prob = c.prob ?? 0;
    f.probMargin = (c.prob ?? 0) - otherProb;
  }
  return f;
}

export function logit(w: Weights, f: Features, offset = 0): number {
  return w.bias + w.similarity * f.similarity + w.margin * f.margin + w.top3 * f.top3 + w.votes * f.votes + (w.prob ?? 0) * (f.prob ?? 0) + (w.probMargin ?? 0) * (f.probMargin ?? 0) + offset;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

export function requiredConfidence(th: Thresholds, entryId: string): number {
  return th.calibrated.includes(entryId) ? th.minConfidence : th.uncalibratedConfidence;
}

/**
 * Applies the rule to search results (nearest first). `shift` moves the confidence bar in logit units (the
 * benchmark's curve); 0 in the product.
 */
export function decide(neighbours: Neighbour[], idOf: (entry: number) => string, th: Thresholds, shift = 0): SemanticScore | null {
  if (neighbours.length === 0) return null;
  const classifier = th.classifier === true;
  const at = pickOf(neighbours, classifier);
  const pick = neighbours[at] as Neighbour;
  const entryId = idOf(pick.entry);
  const f = featuresAt(neighbours, at, classifier);
  const confidence = sigmoid(logit(th.weights, f, th.perEntry[entryId] ?? 0));
  const bar = requiredConfidence(th, entryId);
  const required = shift === 0 ? bar : sigmoid(Math.log(bar / (1 - bar)) + shift);
  let decision: Decision = 'miss';
  if (confidence >= required && f.similarity >= th.minSimilarity && f.margin >= th.minMargin) decision = 'hit';
  else if (confidence >= th.suggestConfidence) decision = 'suggest';
  const fit = th.fit;
  const bound = fit && fit.delta !== undefined ? { target: fit.target, delta: fit.delta, certified: fit.certified ?? false, wrongShareUpper: fit.wrongShareUpper ?? null } : null;
  const second = neighbours.reduce<number | null>((m, n, j) => (j === at ? m : Math.max(m ?? -Infinity, n.similarity)), null);
  return { entryId, similarity: f.similarity, secondSimilarity: second, margin: f.margin, confidence, requiredConfidence: required, probability: classifier ? (pick.prob ?? null) : null, decision, bound };
}

/** Entries to offer as "did you mean": the nearest ones while they stay plausible, best first, at most 3. */
export function suggestionsFor(neighbours: Neighbour[], idOf: (entry: number) => string, th: Thresholds, max = 3): Neighbour[] {
  const at = pickOf(neighbours, th.classifier === true);
  const first = neighbours[at];
  if (!first) return [];
  // The rule's pick is offered because its confidence cleared suggestConfidence; the others must be near it.
  return [first, ...neighbours.filter((n, i) => i !== at && n.similarity >= first.similarity - 0.08)].slice(0, max);
}
