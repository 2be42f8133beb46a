/** The precision bound (src/semantic/bound.ts): exact tails, a guarantee that holds on exchangeable data, and violations reported. */
import { binomialCdf, certifyBar, upperLimit, verifyBound, type Scored } from '../src/semantic/bound';
import { fitThresholds, type CalibrationSample } from '../src/semantic/calibrate';
import { seededRandom } from '../src/random';

/** Questions whose chance of being answered wrongly falls as the confidence rises (a well-ranked, imperfect model). */
function draw(n: number, rand: () => number, oosShare = 0): Scored[] {
  const out: Scored[] = [];
  for (let i = 0; i < n; i++) {
    const confidence = rand();
    const outOfScope = rand() < oosShare;
    const pWrong = outOfScope ? 1 : 0.3 * (1 - confidence) ** 2;
    // Out-of-scope questions rarely look confident.
    out.push({ confidence: outOfScope ? confidence * 0.8 : confidence, wrong: rand() < pWrong, outOfScope });
  }
  return out;
}

describe('binomial tails and limits', () => {
  test('binomialCdf matches exact values', () => {
    expect(binomialCdf(3, 10, 0.5)).toBeCloseTo(176 / 1024, 12);
    expect(binomialCdf(0, 230, 0.01)).toBeCloseTo(0.99 ** 230, 12);
    expect(binomialCdf(10, 10, 0.3)).toBe(1);
    expect(binomialCdf(-1, 10, 0.3)).toBe(0);
    expect(binomialCdf(40, 5000, 0.01)).toBeLessThan(0.1); // far below the mean of 50
  });

  test('Clopper–Pearson upper limit: 0 of 230 at 90% is just under 1%', () => {
    const u = upperLimit(0, 230, 0.1);
    expect(u).toBeGreaterThan(0.0099);
    expect(u).toBeLessThan(0.0101);
    expect(upperLimit(5, 100, 0.05)).toBeGreaterThan(0.05);
  });
});

describe('certifyBar', () => {
  test('the guarantee holds: over 300 calibrations on fresh draws, the true wrong share exceeds the target at most δ of the time', () => {
    const rand = seededRandom(11);
    const target = 0.02;
    const delta = 0.1;
    // The true wrong share above a bar, from a very large draw of the same distribution.
    const population = draw(200_000, rand).sort((a, b) => b.confidence - a.confidence);
    const trueShareAt = (bar: number) => {
      let hits = 0;
      let wrong = 0;
      for (const s of population) {
        if (s.confidence < bar) break;
        hits += 1;
        if (s.wrong) wrong += 1;
      }
      return hits === 0 ? 0 : wrong / hits;
    };
    let violations = 0;
    let certified = 0;
    for (let run = 0; run < 300; run++) {
      const r = certifyBar(draw(1500, rand), { target, delta });
      if (!r.certified) continue;
      certified += 1;
      if (trueShareAt(r.bar) > target) violations += 1;
    }
    expect(certified).toBeGreaterThan(250);
    expect(violations / certified).toBeLessThanOrEqual(delta);
  });

  test('the naive bar (lowest whose calibration share is within the target) breaks its promise far more often', () => {
    const rand = seededRandom(5);
    const target = 0.02;
    const population = draw(200_000, rand).sort((a, b) => b.confidence - a.confidence);
    const shareAt = (list: Scored[], bar: number) => {
      const hits = list.filter((s) => s.confidence >= bar);
      return hits.length === 0 ? 0 : hits.filter((s) => s.wrong).length / hits.length;
    };
    let naiveBroken = 0;
    for (let run = 0; run < 60; run++) {
      const cal = draw(1500, rand).sort((a, b) => b.confidence - a.confidence);
      let bar = 1;
      for (const s of cal) if (shareAt(cal, s.confidence) <= target) bar = s.confidence;
      if (shareAt(population, bar) > target) naiveBroken += 1;
    }
    expect(naiveBroken / 60).toBeGreaterThan(0.2);
  });

  test('too few calibration questions certify nothing: no bar, and it says so', () => {
    const few: Scored[] = Array.from({ length: 100 }, (_, i) => ({ confidence: i / 100, wrong: false, outOfScope: false }));
    const r = certifyBar(few, { target: 0.01, delta: 0.1 });
    expect([r.certified, r.bar]).toEqual([false, Infinity]);
    // 230 right answers in a row are the least that certify 1% at 90%.
    const enough: Scored[] = Array.from({ length: 230 }, (_, i) => ({ confidence: 0.5 + i / 1000, wrong: false, outOfScope: false }));
    expect(certifyBar(enough, { target: 0.01, delta: 0.1 }).certified).toBe(true);
  });

  test('out-of-scope questions are a second promise: a bar they clear too often is not certified', () => {
    const rand = seededRandom(3);
    const cal = draw(6000, rand, 0.1);
    const r = certifyBar(cal, { target: 0.01, delta: 0.1 });
    expect([r.certified, r.outOfScopeCertified]).toEqual([true, true]);
    expect(r.outOfScopeHits / r.outOfScope).toBeLessThanOrEqual(0.01);
    // Too few out-of-scope questions to promise their rate: they still count as wrong hits, but only the first promise is made.
    const few = certifyBar([...draw(6000, rand), ...draw(400, rand, 1).slice(0, 50)], { target: 0.01, delta: 0.1 });
    expect([few.certified, few.outOfScopeCertified]).toEqual([true, false]);
  });

  test('a bound broken on other questions is reported as violated', () => {
    const rand = seededRandom(9);
    const r = certifyBar(draw(2000, rand), { target: 0.01, delta: 0.1 });
    expect(r.certified).toBe(true);
    // Crafted test set: confident, wrong answers (a shifted distribution the calibration never saw).
    const shifted: Scored[] = [...draw(500, rand), ...Array.from({ length: 50 }, () => ({ confidence: 0.999, wrong: true, outOfScope: false }))];
    const v = verifyBound(shifted, r.bar, 0.01);
    expect(v.violated).toBe(true);
    expect(v.wrongShare).toBeGreaterThan(0.01);
    expect(verifyBound(draw(500, rand).filter((s) => !s.wrong), r.bar, 0.01).violated).toBe(false);
  });
});

test('fitThresholds reports its bound, and a stricter confidence never gives more hits', () => {
  const rand = seededRandom(21);
  const samples: CalibrationSample[] = [];
  for (let i = 0; i < 1500; i++) {
    const right = rand() < 0.75;
    const sim = right ? 0.65 + 0.35 * rand() : 0.45 + 0.35 * rand();
    const entry = `e${i % 20}`;
    samples.push({ label: right ? entry : i % 4 === 0 ? null : `e${(i + 1) % 20}`, nearest: entry, f: { similarity: sim, margin: right ? 0.04 + 0.2 * rand() : 0.08 * rand(), top3: sim - 0.05, votes: right ? 0.8 : 0.4 } });
  }
  const at90 = fitThresholds(samples, { target: 0.01, delta: 0.1 });
  const at99 = fitThresholds(samples, { target: 0.01, delta: 0.01 });
  expect(at90.bound).toMatchObject({ certified: true, target: 0.01, delta: 0.1 });
  expect(at90.thresholds.fit).toMatchObject({ certified: true, delta: 0.1 });
  expect(at90.falseHitRate).toBeLessThanOrEqual(0.01);
  expect(at99.hitRate).toBeLessThanOrEqual(at90.hitRate);
  expect(at90.bound.wrongShareUpper).not.toBeNull();
});
