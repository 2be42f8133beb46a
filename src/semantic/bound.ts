/**
 * A precision bound that holds: the confidence bar is chosen so that, with probability at least 1 − δ over the
 * calibration questions, the share of wrong answers among semantic hits on new questions like them is at most
 * the team's target (and so is the share of out-of-scope questions that hit).
 *
 * This is Learn-then-Test (Angelopoulos et al., 2021) with fixed-sequence testing: candidate bars are the
 * calibration confidences themselves (order statistics) on a grid of how many questions they admit, tried from
 * the strictest that admits enough questions to certify anything, downwards; at each, the null hypothesis "the wrong share among hits exceeds the target" is rejected
 * when the binomial tail P(Bin(hits, target) ≤ wrong) is at most δ; the first bar that cannot be rejected stops
 * the sequence, and the last rejected one is chosen. Because the order is fixed before looking at the data,
 * no correction for the number of bars is needed; the out-of-scope rate is a second hypothesis, tested at δ/2
 * beside the first (Bonferroni). The guarantee assumes new questions are exchangeable with the calibration
 * questions, which is why `kvcache calibrate` with the team's real questions beats the FAQ-only default.
 */

export interface Scored {
  /** The calibrated confidence the bar is compared with. */
  confidence: number;
  /** A hit at this confidence would be wrong (a different entry, or an out-of-scope question). */
  wrong: boolean;
  /** An out-of-scope question (any hit is wrong). */
  outOfScope: boolean;
  /** Hard floors (similarity, margin) allow a hit at all. */
  eligible?: boolean;
}

export interface BoundOptions {
  /** The highest acceptable share of wrong hits (and of out-of-scope questions hitting), e.g. 0.01. */
  target: number;
  /** 1 − the confidence of the statement, e.g. 0.1 for "holds with 90% confidence". */
  delta: number;
}

export interface BoundResult {
  /** The chosen bar; Infinity when no bar could be certified (no semantic hits). */
  bar: number;
  certified: boolean;
  /** The out-of-scope hit rate was certified too (enough out-of-scope questions were given). */
  outOfScopeCertified: boolean;
  /** Calibration counts at the chosen bar. */
  hits: number;
  wrong: number;
  inScopeHits: number;
  inScope: number;
  outOfScope: number;
  outOfScopeHits: number;
  /** A (1 − δ/2) upper confidence limit of the wrong share at the bar (Clopper–Pearson). */
  wrongShareUpper: number | null;
}

/** log C(n, k) through log-gamma (Lanczos), exact enough for tail sums. */
function logChoose(n: number, k: number): number {
  return logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1);
}

const LANCZOS = [676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = 0.99999999999980993;
  const t = x + 7.5;
  LANCZOS.forEach((c, i) => (a += c / (x + i + 1)));
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** P(X ≤ k) for X ~ Binomial(n, p). */
export function binomialCdf(k: number, n: number, p: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  if (p <= 0) return 1;
  if (p >= 1) return 0;
  const lp = Math.log(p);
  const lq = Math.log1p(-p);
  let sum = 0;
  for (let i = 0; i <= k; i++) sum += Math.exp(logChoose(n, i) + i * lp + (n - i) * lq);
  return Math.min(1, sum);
}

/** The one-sided (1 − alpha) Clopper–Pearson upper limit of a proportion with k successes in n trials. */
export function upperLimit(k: number, n: number, alpha: number): number {
  if (n === 0) return 1;
  if (k >= n) return 1;
  let lo = k / n;
  let hi = 1;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (binomialCdf(k, n, mid) > alpha) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** The fewest questions that reject "the wrong share exceeds the target" with `wrong` of them wrong (0: all right). */
export function fewestToCertify(target: number, alpha: number, wrong = 0): number {
  let n = Math.ceil(Math.log(alpha) / Math.log1p(-target));
  while (wrong > 0 && binomialCdf(wrong, n, target) > alpha) n += Math.max(1, Math.ceil(n / 200));
  return n;
}

/** Counts at a bar. */
export function countsAt(samples: Scored[], bar: number): Omit<BoundResult, 'bar' | 'certified' | 'outOfScopeCertified' | 'wrongShareUpper'> {
  let hits = 0;
  let wrong = 0;
  let inScope = 0;
  let inScopeHits = 0;
  let outOfScope = 0;
  let outOfScopeHits = 0;
  for (const s of samples) {
    if (s.outOfScope) outOfScope += 1;
    else inScope += 1;
    if (s.confidence < bar || s.eligible === false) continue;
    hits += 1;
    if (s.wrong) wrong += 1;
    if (s.outOfScope) outOfScopeHits += 1;
    else inScopeHits += 1;
  }
  return { hits, wrong, inScope, inScopeHits, outOfScope, outOfScopeHits };
}

/**
 * The lowest bar whose wrong share (and out-of-scope hit rate, when out-of-scope questions were given) is
 * certified at most target with confidence 1 − δ; candidates are the distinct confidences seen, strictest first.
 */
export function certifyBar(samples: Scored[], opts: BoundOptions): BoundResult {
  const levels = [...new Set(samples.filter((s) => s.eligible !== false).map((s) => s.confidence))].sort((a, b) => b - a);
  const oosTotal = samples.filter((s) => s.outOfScope).length;
  // The out-of-scope rate is a promise of its own only when there are enough out-of-scope questions to certify
  // it at all (at 1%, 90%: 299 of them); with fewer, they still count as wrong hits in the first promise.
  const hasOos = oosTotal >= fewestToCertify(opts.target, opts.delta / 2);
  const alpha = hasOos ? opts.delta / 2 : opts.delta;
  let chosen: number | null = null;
  // Counts grow as the bar falls: one pass over the samples sorted by confidence.
  const sorted = samples.filter((s) => s.eligible !== false).sort((a, b) => b.confidence - a.confidence);
  // Where the sequence starts is fixed before looking at the confidences or the answers: at the fewest questions
  // that could certify with two wrong answers among them (530 at 1%, 90%) when that is at most half of those the
  // floors admit, else at the fewest that could certify with none (230). Starting where no error at all is allowed would let one confident
  // look-alike among the first few hundred stop the sequence before it began.
  const eligibleCount = sorted.length;
  const tolerant = fewestToCertify(opts.target, alpha, 2);
  const start = tolerant <= eligibleCount / 2 ? tolerant : fewestToCertify(opts.target, alpha);
  const step = Math.max(1, Math.ceil(start / 4));
  let nextTest = start;
  let i = 0;
  let hits = 0;
  let wrong = 0;
  let oosHits = 0;
  for (const level of levels) {
    while (i < sorted.length && (sorted[i] as Scored).confidence >= level) {
      const s = sorted[i] as Scored;
      hits += 1;
      if (s.wrong) wrong += 1;
      if (s.outOfScope) oosHits += 1;
      i += 1;
    }
    // The sequence is a grid by how many questions a bar admits (from `start`, in steps of a quarter of it).
    if (hits < nextTest) continue;
    nextTest = hits + step;
    const pWrong = binomialCdf(wrong, hits, opts.target);
    const pOos = hasOos ? binomialCdf(oosHits, oosTotal, opts.target) : 0;
    if (pWrong > alpha || pOos > alpha) break;
    chosen = level;
  }
  if (chosen === null) {
    return { bar: Infinity, certified: false, outOfScopeCertified: false, ...countsAt(samples, Infinity), wrongShareUpper: null };
  }
  const c = countsAt(samples, chosen);
  return { bar: chosen, certified: true, outOfScopeCertified: hasOos, ...c, wrongShareUpper: upperLimit(c.wrong, c.hits, alpha) };
}

/** How a bar did on other questions (a test split): the realised shares, and whether the promise was broken. */
export function verifyBound(samples: Scored[], bar: number, target: number): { wrongShare: number; outOfScopeHitRate: number | null; hits: number; violated: boolean } {
  const c = countsAt(samples, bar);
  const wrongShare = c.hits === 0 ? 0 : c.wrong / c.hits;
  const outOfScopeHitRate = c.outOfScope === 0 ? null : c.outOfScopeHits / c.outOfScope;
  return { wrongShare, outOfScopeHitRate, hits: c.hits, violated: wrongShare > target || (outOfScopeHitRate ?? 0) > target };
}
