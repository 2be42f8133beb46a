/**
 * Fitting the decision rule (policy.ts) on labelled questions.
 *
 * Every labelled question has been searched; calibration learns how likely the nearest entry is to be the
 * right one from what the search measured (logistic regression, plus one L2-regularised offset per entry, so
 * an entry with few questions stays near the shared model), then picks the confidence bar on cross-fitted
 * confidences (each question scored by a model that never saw it) with the Learn-then-Test procedure of
 * bound.ts: the lowest bar whose wrong share among hits and out-of-scope hit rate are certified at most the
 * target with confidence 1 − δ. Cross-fitting matters: fitted and scored on the same questions, every bar looks
 * better than it is; the certification matters because the lowest bar that merely *looks* within the target
 * on the calibration questions overshoots it on new ones about half the time.
 */
import { featuresAt, logit, pickOf, type Features, type Thresholds, type Weights } from './policy';
import type { Neighbour, VectorIndex } from './index';
import { seededRandom } from '../random';
import { certifyBar, type BoundResult } from './bound';

export interface CalibrationSample {
  /** The entry that answers it, or null for an out-of-scope question (any hit is wrong). */
  label: string | null;
  /** The entry the rule would answer with and what the search and the classifier measured about it. */
  nearest: string;
  f: Features;
  /** The same search under the older rule (nearest phrasing, four features): calibration keeps the better rule. */
  plain?: { nearest: string; f: Features };
}

/** `classifier` false: the older rule only (the nearest phrasing's entry, four features). */
export function sampleOf(label: string | null, found: Neighbour[], idOf: (entry: number) => string, classifier = true): CalibrationSample | null {
  if (found.length === 0) return null;
  const at = pickOf(found, classifier);
  const s: CalibrationSample = { label, nearest: idOf((found[at] as Neighbour).entry), f: featuresAt(found, at, classifier) };
  if (classifier) s.plain = { nearest: idOf((found[0] as Neighbour).entry), f: featuresAt(found, 0, false) };
  return s;
}

/**
 * The FAQ as its own calibration set: each phrasing of an entry that has others, searched as if it were not in
 * the index (leave-one-out), labelled with its entry. Bounded in work (about 2·10⁹ multiply-adds, a few seconds
 * on one core): every phrasing of a small FAQ, an even sample of a large one.
 */
export function leaveOneOutSamples(index: VectorIndex, k: number, classifier = true): CalibrationSample[] {
  const idOf = (i: number) => index.entries[i]?.id ?? '';
  const pairs: Array<[number, number]> = [];
  index.entries.forEach((e, i) => {
    if (e.phrasings.length >= 2) for (let p = 0; p < e.phrasings.length; p++) pairs.push([i, p]);
  });
  const budget = Math.max(50, Math.floor(2e9 / Math.max(1, index.size * index.dims)));
  const stride = Math.max(1, pairs.length / budget);
  const out: CalibrationSample[] = [];
  for (let j = 0; j < pairs.length; j += stride) {
    const [entry, phrasing] = pairs[Math.floor(j)] as [number, number];
    const found = index.searchWithout(entry, phrasing, k);
    const s = found ? sampleOf(idOf(entry), found, idOf, classifier) : null;
    if (s) out.push(s);
  }
  return out;
}

export interface FitOptions {
  /** Highest acceptable share of wrong hits among hits (and of out-of-scope questions that hit). */
  target: number;
  seed?: number;
  /** The share of questions kept aside to certify the bar (the rest fit the model). */
  certifyShare?: number;
  /** Strength of the pull of per-entry offsets towards 0. */
  entryL2?: number;
  /** The bound holds with confidence 1 − delta (default 0.1: 90%). */
  delta?: number;
}

export interface FitResult {
  thresholds: Omit<Thresholds, 'model' | 'calibratedAt'>;
  /** The chosen bar's figures on the certification half (questions the model never learnt from). */
  hitRate: number;
  falseHitRate: number;
  oosHitRate: number | null;
  /** False when no bar could be certified within the target: the strictest one was taken. */
  metTarget: boolean;
  /** The certification at the chosen bar (bound.ts). */
  bound: BoundResult & { target: number; delta: number };
}

const MIN_SIMILARITY = 0.5;
const MIN_MARGIN = 0.02;
const BASE_KEYS = ['similarity', 'margin', 'top3', 'votes'] as const;
const CLASSIFIER_KEYS = [...BASE_KEYS, 'prob', 'probMargin'] as const;
type Key = (typeof CLASSIFIER_KEYS)[number];
/** The classifier's features are used when every sample has them (samples of the older rule have not). */
const keysOf = (samples: CalibrationSample[]): readonly Key[] => (samples.length > 0 && samples.every((s) => s.f.prob !== undefined) ? CLASSIFIER_KEYS : BASE_KEYS);

interface Model {
  weights: Weights;
  perEntry: Record<string, number>;
}

/** Logistic regression by full-batch gradient descent on standardised features (a few thousand rows). */
export function fitModel(samples: CalibrationSample[], entryL2 = 10, iterations = 1500): Model {
  const n = samples.length;
  const KEYS = keysOf(samples);
  const K = KEYS.length;
  const val = (x: CalibrationSample, k: Key) => x.f[k] ?? 0;
  const mu = KEYS.map((k) => samples.reduce((s, x) => s + val(x, k), 0) / n);
  const sd = KEYS.map((k, j) => Math.sqrt(samples.reduce((s, x) => s + (val(x, k) - (mu[j] as number)) ** 2, 0) / n) || 1);
  const z = samples.map((x) => KEYS.map((k, j) => (val(x, k) - (mu[j] as number)) / (sd[j] as number)));
  const y = samples.map((x) => (x.label === x.nearest ? 1 : 0));
  const ids = [...new Set(samples.map((x) => x.nearest))];
  const idx = new Map(ids.map((id, i) => [id, i]));
  const ent = samples.map((x) => idx.get(x.nearest) as number);
  const w = KEYS.map(() => 0);
  let b = 0;
  const off = new Float64Array(ids.length);
  const count = new Float64Array(ids.length);
  for (const e of ent) count[e] = (count[e] as number) + 1;
  const lr = 0.5;
  for (let it = 0; it < iterations; it++) {
    const gw = KEYS.map(() => 0);
    let gb = 0;
    const go = new Float64Array(ids.length);
    for (let i = 0; i < n; i++) {
      const zi = z[i] as number[];
      let s = b + (off[ent[i] as number] as number);
      for (let j = 0; j < K; j++) s += (w[j] as number) * (zi[j] as number);
      const g = 1 / (1 + Math.exp(-s)) - (y[i] as number);
      for (let j = 0; j < K; j++) gw[j] = (gw[j] as number) + g * (zi[j] as number);
      gb += g;
      go[ent[i] as number] = (go[ent[i] as number] as number) + g;
    }
    for (let j = 0; j < K; j++) w[j] = (w[j] as number) - lr * (((gw[j] as number) + 0.01 * (w[j] as number)) / n);
    b -= (lr * gb) / n;
    // Offsets take diagonal Newton steps (curvature at most count/4 + L2), pulled towards 0 by the L2 term.
    for (let e = 0; e < ids.length; e++) off[e] = (off[e] as number) - ((go[e] as number) + entryL2 * (off[e] as number)) / ((count[e] as number) / 4 + entryL2);
  }
  // Back to raw feature units, so the product computes the logit without the means and deviations.
  const raw = KEYS.map((_, j) => (w[j] as number) / (sd[j] as number));
  const bias = b - KEYS.reduce((s, _, j) => s + ((w[j] as number) * (mu[j] as number)) / (sd[j] as number), 0);
  const perEntry: Record<string, number> = {};
  ids.forEach((id, e) => {
    const o = off[e] as number;
    if (Math.abs(o) > 1e-3) perEntry[id] = Math.round(o * 1e4) / 1e4;
  });
  const r4 = (x: number) => Math.round(x * 1e4) / 1e4;
  const weights: Weights = { similarity: r4(raw[0] as number), margin: r4(raw[1] as number), top3: r4(raw[2] as number), votes: r4(raw[3] as number), bias: r4(bias) };
  if (K > 4) {
    weights.prob = r4(raw[4] as number);
    weights.probMargin = r4(raw[5] as number);
  }
  return { weights, perEntry };
}

export function confidence(m: Model, s: CalibrationSample): number {
  return 1 / (1 + Math.exp(-logit(m.weights, s.f, m.perEntry[s.nearest] ?? 0)));
}

const passesFloors = (s: CalibrationSample) => s.f.similarity >= MIN_SIMILARITY && s.f.margin >= MIN_MARGIN;

/** How many samples the model admits, most confident first, before their wrong share exceeds the target. */
function admittedAt(m: Model, samples: CalibrationSample[], target: number): number {
  const ranked = samples.filter(passesFloors).map((s) => ({ p: confidence(m, s), wrong: s.label !== s.nearest })).sort((a, b) => b.p - a.p);
  let wrong = 0;
  let best = 0;
  ranked.forEach((r, i) => {
    if (r.wrong) wrong += 1;
    if (wrong <= target * (i + 1)) best = i + 1;
  });
  return best;
}

export function fitThresholds(samples: CalibrationSample[], opts: FitOptions): FitResult {
  const right = samples.filter((s) => s.label === s.nearest).length;
  if (right === 0 || right === samples.length) {
    throw new Error(
      'calibration needs labelled questions the FAQ gets right and some it gets wrong or must not answer: add paraphrases of FAQ entries and out-of-scope questions (entryId null)',
    );
  }
  // Two halves: the model learns on one, the bar is certified on the other with that very model, so the
  // certificate speaks of the scores the product computes (a model refitted on everything would score
  // differently from the one that was certified).
  const rand = seededRandom(opts.seed ?? 1234);
  const certifyShare = opts.certifyShare ?? 0.5;
  const inCertify = samples.map(() => rand() < certifyShare);
  // Which rule: the classifier's or the older one, chosen on the learning half only (so the certificate, made
  // on the other half, stays valid): the one that admits more learning questions at the target.
  const plain = samples.every((s) => s.plain) ? samples.map((s) => ({ label: s.label, ...(s.plain as { nearest: string; f: Features }) })) : null;
  const split = (all: CalibrationSample[]) => ({ learn: all.filter((_, i) => !inCertify[i]), certify: all.filter((_, i) => inCertify[i]) });
  let { learn, certify } = split(samples);
  let model = fitModel(learn.length > 0 ? learn : samples, opts.entryL2);
  if (plain && learn.length > 0) {
    const other = split(plain);
    const otherModel = fitModel(other.learn, opts.entryL2);
    if (admittedAt(otherModel, other.learn, opts.target) > admittedAt(model, learn, opts.target)) {
      ({ learn, certify } = other);
      model = otherModel;
    }
  }
  const p = certify.map((s) => confidence(model, s));
  const inScope = certify.filter((s) => s.label !== null).length;
  const oos = certify.length - inScope;
  const at = (bar: number) => {
    let hits = 0;
    let inHits = 0;
    let wrong = 0;
    let oosHits = 0;
    certify.forEach((s, i) => {
      if ((p[i] as number) < bar || !passesFloors(s)) return;
      hits += 1;
      if (s.label !== s.nearest) wrong += 1;
      if (s.label === null) oosHits += 1;
      else inHits += 1;
    });
    return { bar, hits, hitRate: inScope ? inHits / inScope : 0, falseHitRate: hits ? wrong / hits : 0, oosHitRate: oos ? oosHits / oos : null };
  };
  const delta = opts.delta ?? 0.1;
  const bound = certifyBar(
    certify.map((s, i) => ({ confidence: p[i] as number, wrong: s.label !== s.nearest, outOfScope: s.label === null, eligible: passesFloors(s) })),
    { target: opts.target, delta },
  );
  // Rounded up, so that the stored bar admits no calibration question the certification did not count; and at
  // least 0.5: a hit must be more likely right than wrong, however well separated the calibration set is.
  const chosen = at(bound.certified ? Math.max(0.5, Math.min(0.999999, Math.ceil(bound.bar * 1e6) / 1e6)) : 0.9995);
  const bar = chosen.bar;
  return {
    thresholds: {
      classifier: model.weights.prob !== undefined,
      weights: model.weights,
      perEntry: model.perEntry,
      calibrated: [...new Set(learn.flatMap((s) => (s.label === null ? [s.nearest] : [s.nearest, s.label])))].sort(),
      minConfidence: bar,
      // Entries calibration never saw get a third of the error budget.
      uncalibratedConfidence: Math.round((1 - (1 - bar) / 3) * 1e6) / 1e6,
      suggestConfidence: Math.min(0.4, bar),
      minSimilarity: MIN_SIMILARITY,
      minMargin: MIN_MARGIN,
      fit: {
        samples: samples.length,
        target: opts.target,
        hitRate: chosen.hitRate,
        falseHitRate: chosen.falseHitRate,
        oosHitRate: chosen.oosHitRate,
        delta,
        certified: bound.certified,
        ...(bound.wrongShareUpper !== null ? { wrongShareUpper: Math.round(bound.wrongShareUpper * 1e6) / 1e6 } : {}),
      },
    },
    hitRate: chosen.hitRate,
    falseHitRate: chosen.falseHitRate,
    oosHitRate: chosen.oosHitRate,
    metTarget: bound.certified,
    bound: { ...bound, target: opts.target, delta },
  };
}
