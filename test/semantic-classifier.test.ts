import { fitThresholds, leaveOneOutSamples, sampleOf, type CalibrationSample } from '../src/semantic/calibrate';
import { DEFAULT_TEMPERATURE, fitTemperature, score } from '../src/semantic/classifier';
import { VectorIndex } from '../src/semantic/index';
import { decide, defaultThresholds, type Thresholds } from '../src/semantic/policy';
import { seededRandom } from '../src/random';

const D = 16;

function unit(v: ArrayLike<number>): Float32Array {
  const n = Math.hypot(...Array.from(v));
  return Float32Array.from(Array.from(v), (x) => x / n);
}

/** A direction plus Gaussian-ish noise of the given size. */
function near(centre: Float32Array, noise: number, rand: () => number): Float32Array {
  return unit(Array.from(centre, (x) => x + noise * (rand() + rand() + rand() - 1.5)));
}

const axis = (i: number) => unit(Array.from({ length: D }, (_, j) => (j === i ? 1 : 0)));
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * (b[i] as number), 0);

describe('the team classifier (prototypes with a learnt temperature)', () => {
  test('prototype cosines are the normalised mean of the entry\'s phrasings; held out, the mean of the others', () => {
    const rand = seededRandom(3);
    const ix = new VectorIndex(D);
    const a = [0, 1, 2].map(() => near(axis(0), 0.6, rand));
    const b = [0, 1].map(() => near(axis(1), 0.6, rand));
    ix.add({ id: 'a', tenant: 't', phrasings: ['a0', 'a1', 'a2'] }, a);
    ix.add({ id: 'b', tenant: 't', phrasings: ['b0', 'b1'] }, b);
    const q = near(axis(0), 0.8, rand);
    const mean = (vs: Float32Array[]) => unit(Array.from({ length: D }, (_, i) => vs.reduce((s, v) => s + (v[i] as number), 0)));
    const found = ix.search(q, 2);
    const byEntry = new Map(found.map((n) => [n.entry, n]));
    expect(byEntry.get(0)?.prototype).toBeCloseTo(dot(q, mean(a)), 5);
    expect(byEntry.get(1)?.prototype).toBeCloseTo(dot(q, mean(b)), 5);
    // Probabilities are a softmax of the classifier's score over the candidates.
    const t = ix.classifier().temperature;
    const z = found.map((n) => Math.exp(t * score(n.similarity, n.prototype as number)));
    found.forEach((n, i) => expect(n.prob).toBeCloseTo((z[i] as number) / z.reduce((x, y) => x + y, 0), 6));

    // Leave-one-out: a1 searched as if absent, against the prototype of a0 and a2.
    const held = ix.searchWithout(0, 1, 2) ?? [];
    const own = held.find((n) => n.entry === 0);
    expect(own?.prototype).toBeCloseTo(dot(a[1] as Float32Array, mean([a[0] as Float32Array, a[2] as Float32Array])), 5);
    expect(own?.similarity).toBeCloseTo(Math.max(dot(a[1] as Float32Array, a[0] as Float32Array), dot(a[1] as Float32Array, a[2] as Float32Array)), 5);
  });

  test('the temperature is learnt from the FAQ: it recovers the one that generated the scores', () => {
    const rand = seededRandom(11);
    for (const truth of [8, 40]) {
      const held: number[][] = [];
      for (let i = 0; i < 3000; i++) {
        const z = Array.from({ length: 5 }, () => 0.5 + 0.2 * rand());
        // Draw which candidate is right from softmax(truth · z), then put it first as the fit expects.
        const w = z.map((x) => Math.exp(truth * x));
        let u = rand() * w.reduce((a, b) => a + b, 0);
        let k = 0;
        while (k < 4 && (u -= w[k] as number) > 0) k++;
        held.push([z[k] as number, ...z.filter((_, j) => j !== k)]);
      }
      expect(fitTemperature(held) / truth).toBeGreaterThan(0.8);
      expect(fitTemperature(held) / truth).toBeLessThan(1.25);
    }
  });

  test('too few entries with two phrasings to learn from: the default temperature', () => {
    const ix = new VectorIndex(D);
    for (let i = 0; i < 5; i++) ix.add({ id: `e${i}`, tenant: 't', phrasings: ['only'] }, [axis(i)]);
    expect(ix.classifier()).toMatchObject({ temperature: DEFAULT_TEMPERATURE, fittedOn: 0 });
  });

  test('one stray phrasing misleads the nearest neighbour, not the classifier', () => {
    const rand = seededRandom(5);
    const ix = new VectorIndex(D);
    // "refund" is about axis 0, but one of its alternates was written like a "delivery" question (axis 1).
    const stray = near(axis(1), 0.15, rand);
    ix.add({ id: 'refund', tenant: 't', phrasings: ['r0', 'r1', 'r2', 'r3', 'stray'] }, [...[0, 1, 2, 3].map(() => near(axis(0), 0.3, rand)), stray]);
    ix.add({ id: 'delivery', tenant: 't', phrasings: ['d0', 'd1', 'd2', 'd3', 'd4'] }, [0, 1, 2, 3, 4].map(() => near(axis(1), 0.5, rand)));
    // A delivery question that happens to sit right on the stray phrasing.
    const q = unit(Array.from(stray, (x, i) => x + (i === 1 ? 0.05 : 0)));
    const found = ix.search(q, 2);
    const idOf = (i: number) => ix.entries[i]?.id ?? '';
    expect(idOf((found[0] as { entry: number }).entry)).toBe('refund'); // the nearest phrasing is the stray one
    const older: Thresholds = { ...defaultThresholds('m'), minConfidence: 0, uncalibratedConfidence: 0, suggestConfidence: 0, minSimilarity: 0, minMargin: -1 };
    const withClassifier: Thresholds = { ...older, classifier: true, weights: { ...older.weights, prob: 4, probMargin: 4 } };
    expect(decide(found, idOf, older)?.entryId).toBe('refund');
    const d = decide(found, idOf, withClassifier);
    expect(d?.entryId).toBe('delivery');
    expect(d?.probability).toBeGreaterThan(0.5);
    expect(decide(found, idOf, older)?.probability).toBeNull();
  });
});

describe('calibration keeps the better rule, chosen on the learning half only', () => {
  /** Samples whose classifier and older-rule features are as informative as asked. */
  function samples(classifierInformative: boolean, seed: number): CalibrationSample[] {
    const rand = seededRandom(seed);
    const out: CalibrationSample[] = [];
    for (let i = 0; i < 3000; i++) {
      const right = rand() < 0.7;
      const entry = `e${i % 10}`;
      const good = (ok: boolean) => {
        const sim = ok ? 0.75 + 0.25 * rand() : 0.5 + 0.3 * rand();
        return { similarity: sim, margin: ok ? 0.08 + 0.2 * rand() : 0.02 + 0.06 * rand(), top3: sim - 0.05, votes: ok ? 0.8 : 0.4 };
      };
      const noise = () => ({ similarity: 0.5 + 0.5 * rand(), margin: 0.02 + 0.2 * rand(), top3: 0.6, votes: 0.6 });
      const label = right ? entry : i % 3 === 0 ? null : `e${(i + 1) % 10}`;
      const cf = classifierInformative ? { ...good(right), prob: right ? 0.8 + 0.2 * rand() : 0.3 * rand(), probMargin: right ? 0.6 : 0.05 } : { ...noise(), prob: rand(), probMargin: rand() };
      out.push({ label, nearest: entry, f: cf, plain: { nearest: entry, f: classifierInformative ? noise() : good(right) } });
    }
    return out;
  }

  test('the classifier when its features separate right from wrong, the older rule when they do not', () => {
    const a = fitThresholds(samples(true, 1), { target: 0.01 });
    expect(a.thresholds.classifier).toBe(true);
    expect(a.thresholds.weights.prob).toBeGreaterThan(0);
    expect(a.metTarget).toBe(true);
    const b = fitThresholds(samples(false, 2), { target: 0.01 });
    expect(b.thresholds.classifier).toBe(false);
    expect(b.thresholds.weights.prob).toBeUndefined();
    expect(b.metTarget).toBe(true);
  });

  test('FAQ samples carry both rules; leave-one-out too', () => {
    const rand = seededRandom(9);
    const ix = new VectorIndex(D);
    for (let e = 0; e < 4; e++) ix.add({ id: `e${e}`, tenant: 't', phrasings: ['p0', 'p1', 'p2'] }, [0, 1, 2].map(() => near(axis(e), 0.4, rand)));
    const idOf = (i: number) => ix.entries[i]?.id ?? '';
    const s = sampleOf('e2', ix.search(near(axis(2), 0.4, rand), 3), idOf);
    expect(s?.f.prob).toBeGreaterThan(0);
    expect(s?.plain?.f.prob).toBeUndefined();
    const loo = leaveOneOutSamples(ix, 3);
    expect(loo).toHaveLength(12);
    expect(loo.every((x) => x.plain !== undefined && x.f.prob !== undefined)).toBe(true);
    expect(leaveOneOutSamples(ix, 3, false).every((x) => x.plain === undefined && x.f.prob === undefined)).toBe(true);
  });
});
