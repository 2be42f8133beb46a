/**
 * VectorIndex's HNSW path against its exact scan, on seeded random unit vectors with the shape of an FAQ index:
 * topics, entries of 5-15 phrasings around an entry centre, queries near an entry's phrasings, inside a topic but
 * near no entry, and unrelated to everything. Plus determinism, small indexes staying exact, and a reference
 * copy of the scan as it was before the graph (the features the calibrated rule was fitted on).
 *
 * SEMANTIC_INDEX_REPORT=1 prints the measured figures.
 */
import { seededRandom } from '../src/random';
import { Hnsw, QuantRows } from '../src/semantic/hnsw';
import { VectorIndex, type Neighbour } from '../src/semantic/index';
import { leaveOneOutSamples } from '../src/semantic/calibrate';
import { decide, defaultThresholds } from '../src/semantic/policy';

const D = 384;
const report = (line: string) => {
  if (process.env.SEMANTIC_INDEX_REPORT) process.stdout.write(`${line}\n`);
};

interface Data {
  entries: Float32Array[][];
  topics: Float32Array[];
}

/**
 * Seeded vectors. The noise avoids Math.* (an xorshift and a sum of four uniforms for a normal-ish draw): inside
 * Jest's vm context every Math call is ~20x slower than in plain Node, and 30k x 384 draws would take seconds.
 */
function generator(seed: number) {
  const rand = seededRandom(seed); // the few discrete choices
  let x = (seed * 2654435761) >>> 0 || 1;
  const u = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
  const gauss = () => (u() + u() + u() + u() - 2) * 1.7320508;
  // Sentence embeddings share a common direction; the same here, so that unrelated vectors are not orthogonal.
  const mean = new Float32Array(D).map(() => (0.5 * gauss()) / Math.sqrt(D));
  const perDim = 1 / Math.sqrt(D);
  /** A unit vector around `centre` (or around the common direction) with noise of norm ~`noise`. */
  const near = (centre: Float32Array | null, noise: number): Float32Array => {
    const v = new Float32Array(D);
    const c = centre ?? mean;
    const scale = noise * perDim;
    let n = 0;
    for (let i = 0; i < D; i++) {
      const y = (c[i] as number) + scale * gauss();
      v[i] = y;
      n += y * y;
    }
    const inv = 1 / Math.sqrt(n);
    for (let i = 0; i < D; i++) v[i] = (v[i] as number) * inv;
    return v;
  };
  return { rand, near };
}

/** `rows` phrasings: 200 topics, entries of 5-15 phrasings (cosine ~0.75 to each other) around a centre in a topic. */
function clustered(seed: number, rows: number): Data {
  const { rand, near } = generator(seed);
  const topics = Array.from({ length: 200 }, () => near(null, 1));
  const entries: Float32Array[][] = [];
  let total = 0;
  while (total < rows) {
    const centre = near(topics[Math.floor(rand() * topics.length)] as Float32Array, 0.8);
    const n = Math.min(rows - total, 5 + Math.floor(rand() * 11));
    entries.push(Array.from({ length: n }, () => near(centre, 0.6)));
    total += n;
  }
  return { entries, topics };
}

type Kind = 'near' | 'topic' | 'unrelated';
function queriesFor(data: Data, seed: number, count: number): Array<{ kind: Kind; q: Float32Array }> {
  const { rand, near } = generator(seed);
  const all = data.entries.flat();
  return Array.from({ length: count }, (_, i) => {
    const kind: Kind = i % 4 < 2 ? 'near' : i % 4 === 2 ? 'topic' : 'unrelated';
    if (kind === 'near') return { kind, q: near(all[Math.floor(rand() * all.length)] as Float32Array, 0.7) };
    if (kind === 'topic') return { kind, q: near(data.topics[Math.floor(rand() * data.topics.length)] as Float32Array, 1) };
    return { kind, q: near(null, 1) };
  });
}

function indexOf(data: Data, options: ConstructorParameters<typeof VectorIndex>[2], upTo = data.entries.length, into?: VectorIndex): VectorIndex {
  const ix = into ?? new VectorIndex(D, 1024, options);
  for (let e = ix.entries.length; e < upTo; e++) {
    const vs = data.entries[e] as Float32Array[];
    ix.add({ id: `e${e}`, tenant: 't', phrasings: vs.map((_, j) => `e${e} p${j}`) }, vs);
  }
  return ix;
}

/**
 * The scan exactly as it was before the graph (src/semantic/index.ts at the commit that added hnsw.ts), over
 * plain arrays: the numbers the decision rule was calibrated on.
 */
function referenceSearch(rows: Float32Array[], rowEntry: number[], rowPhrasing: number[], n: number, query: Float32Array, k: number): Neighbour[] {
  const VOTERS = 5;
  const t1 = new Float32Array(n).fill(-Infinity);
  const t2 = new Float32Array(n).fill(-Infinity);
  const t3 = new Float32Array(n).fill(-Infinity);
  const bestRow = new Int32Array(n).fill(-1);
  const topSim = new Float32Array(VOTERS).fill(-Infinity);
  const topEntry = new Int32Array(VOTERS).fill(-1);
  rows.forEach((row, r) => {
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    let i = 0;
    for (; i + 3 < D; i += 4) {
      a0 += row[i]! * query[i]!;
      a1 += row[i + 1]! * query[i + 1]!;
      a2 += row[i + 2]! * query[i + 2]!;
      a3 += row[i + 3]! * query[i + 3]!;
    }
    for (; i < D; i++) a0 += row[i]! * query[i]!;
    const s = a0 + a1 + a2 + a3;
    const e = rowEntry[r] as number;
    if (s > t3[e]!) {
      if (s > t1[e]!) {
        t3[e] = t2[e]!;
        t2[e] = t1[e]!;
        t1[e] = s;
        bestRow[e] = r;
      } else if (s > t2[e]!) {
        t3[e] = t2[e]!;
        t2[e] = s;
      } else {
        t3[e] = s;
      }
    }
    if (s > topSim[VOTERS - 1]!) {
      let j = VOTERS - 1;
      while (j > 0 && s > topSim[j - 1]!) {
        topSim[j] = topSim[j - 1]!;
        topEntry[j] = topEntry[j - 1]!;
        j--;
      }
      topSim[j] = s;
      topEntry[j] = e;
    }
  });
  const out: Neighbour[] = [];
  const taken = new Uint8Array(n);
  for (let j = 0; j < Math.min(k, n); j++) {
    let arg = -1;
    let max = -Infinity;
    for (let e = 0; e < n; e++) {
      if (!taken[e] && t1[e]! > max) {
        max = t1[e]!;
        arg = e;
      }
    }
    if (arg < 0 || bestRow[arg]! < 0) break;
    taken[arg] = 1;
    const top = [t1[arg], t2[arg], t3[arg]].filter((x): x is number => x !== undefined && x > -Infinity);
    let votes = 0;
    for (const te of topEntry) if (te === arg) votes += 1;
    out.push({ entry: arg, similarity: max, phrasing: rowPhrasing[bestRow[arg]!]!, top3: top.reduce((a, b) => a + b, 0) / top.length, votes });
  }
  return out;
}

/** The search's own numbers, without what the classifier adds (checked against a reference in test/semantic-classifier.test.ts). */
const plain = (found: Neighbour[]) => found.map(({ prototype: _p, prob: _q, ...rest }) => rest);

function flatten(data: Data, upTo = data.entries.length) {
  const rows: Float32Array[] = [];
  const rowEntry: number[] = [];
  const rowPhrasing: number[] = [];
  data.entries.slice(0, upTo).forEach((vs, e) =>
    vs.forEach((v, p) => {
      rows.push(v);
      rowEntry.push(e);
      rowPhrasing.push(p);
    }),
  );
  return { rows, rowEntry, rowPhrasing, n: upTo };
}

const untilApproximate = async (ix: VectorIndex, ms: number) => {
  const end = Date.now() + ms;
  while (!ix.approximate && Date.now() < end) await new Promise((r) => setImmediate(r));
  return ix.approximate;
};

describe('VectorIndex: the HNSW graph against the exact scan (30k rows, 384 dims)', () => {
  const data = clustered(1, 30_000);
  const ix = indexOf(data, { mode: 'approximate' });
  const queries = queriesFor(data, 2, 200);
  const th = defaultThresholds('m');
  const idOf = (i: number) => `e${i}`;

  beforeAll(() => {
    const t0 = performance.now();
    ix.finish();
    const g = ix.graphStats;
    report(`30k rows: graph built in ${Math.round(performance.now() - t0)} ms, ${((g?.bytes ?? 0) / 2 ** 20).toFixed(1)} MiB, simd ${g?.simd}`);
  });

  test('recall@10 of rows >= 0.99 and the nearest entry with its features equals the scan on >= 99% of queries near the FAQ; the decision on all', () => {
    expect(ix.size).toBe(30_000);
    const by: Record<Kind, { n: number; recall: number; sameTop: number; sameAll: number; sameDecision: number }> = {
      near: { n: 0, recall: 0, sameTop: 0, sameAll: 0, sameDecision: 0 },
      topic: { n: 0, recall: 0, sameTop: 0, sameAll: 0, sameDecision: 0 },
      unrelated: { n: 0, recall: 0, sameTop: 0, sameAll: 0, sameDecision: 0 },
    };
    let exactMs = 0;
    let approxMs = 0;
    for (const { kind, q } of queries) {
      ix.setMode('exact');
      let t = performance.now();
      const ex = ix.search(q, 4);
      exactMs += performance.now() - t;
      ix.setMode('approximate');
      t = performance.now();
      const ap = ix.search(q, 4);
      approxMs += performance.now() - t;
      const want = ix.nearestRows(q, 10, 'exact').rows;
      const got = new Set(ix.nearestRows(q, 10, 'approximate').rows);
      const b = by[kind];
      b.n += 1;
      b.recall += want.filter((r) => got.has(r)).length / 10;
      if (JSON.stringify(ex[0]) === JSON.stringify(ap[0])) b.sameTop += 1;
      if (JSON.stringify(ex) === JSON.stringify(ap)) b.sameAll += 1;
      if (decide(ex, idOf, th)?.decision === decide(ap, idOf, th)?.decision) b.sameDecision += 1;
      // Rescored exactly: an entry the graph returns never looks nearer than it is.
      for (const n of ap) expect(n.similarity).toBeLessThanOrEqual((ex[0] as Neighbour).similarity);
    }
    for (const [kind, b] of Object.entries(by)) {
      report(`${kind}: ${b.n} queries, recall@10 ${(b.recall / b.n).toFixed(4)}, same top entry ${(b.sameTop / b.n).toFixed(3)}, same 4 entries ${(b.sameAll / b.n).toFixed(3)}, same decision ${(b.sameDecision / b.n).toFixed(3)}`);
    }
    report(`search: exact ${(exactMs / queries.length).toFixed(2)} ms, graph ${(approxMs / queries.length).toFixed(2)} ms a query`);
    const scoped = [by.near, by.topic];
    const share = (f: (b: (typeof scoped)[number]) => number) => scoped.reduce((a, b) => a + f(b), 0) / scoped.reduce((a, b) => a + b.n, 0);
    expect(share((b) => b.recall)).toBeGreaterThanOrEqual(0.99);
    expect(share((b) => b.sameTop)).toBeGreaterThanOrEqual(0.99);
    expect(share((b) => b.sameAll)).toBeGreaterThanOrEqual(0.98);
    // Unrelated questions (random directions: no structure for a graph to follow) find worse rows, but far from
    // anything either way, so the rule decides the same.
    const all = Object.values(by);
    expect(all.reduce((a, b) => a + b.sameDecision, 0) / queries.length).toBeGreaterThanOrEqual(0.99);
  });

  test('the exact path gives the pre-graph scan\'s features bit for bit', () => {
    const ref = flatten(data);
    ix.setMode('exact');
    for (const { q } of queries.slice(0, 40)) expect(plain(ix.search(q, 4))).toEqual(referenceSearch(ref.rows, ref.rowEntry, ref.rowPhrasing, ref.n, q, 4));
    // And the graph's results, where it found the scan's rows, are those same numbers.
    ix.setMode('approximate');
    const near = queries.filter((x) => x.kind === 'near').slice(0, 40);
    const same = near.filter(({ q }) => JSON.stringify(plain(ix.search(q, 4))) === JSON.stringify(referenceSearch(ref.rows, ref.rowEntry, ref.rowPhrasing, ref.n, q, 4)));
    expect(same.length).toBeGreaterThanOrEqual(near.length - 1);
  });
});

describe('VectorIndex: graph build', () => {
  const data = clustered(3, 6_000);
  const queries = queriesFor(data, 4, 60);
  const results = (ix: VectorIndex) => queries.map(({ q }) => ({ n: ix.search(q, 4), rows: ix.nearestRows(q, 10, 'approximate').rows }));

  test('deterministic: the same rows give the same graph, built at once, in background slices, or across later adds', async () => {
    const once = indexOf(data, { mode: 'approximate' });
    once.finish();
    const want = results(once);

    // auto above its threshold: the first search answers with the scan and starts the build in the background.
    const sliced = indexOf(data, { approximateFrom: 1_000, buildSliceMs: 2 });
    const first = sliced.search((queries[0] as { q: Float32Array }).q, 4);
    expect(sliced.approximate).toBe(false);
    const ref = flatten(data);
    expect(plain(first)).toEqual(referenceSearch(ref.rows, ref.rowEntry, ref.rowPhrasing, ref.n, (queries[0] as { q: Float32Array }).q, 4));
    expect(await untilApproximate(sliced, 15_000)).toBe(true);
    expect(results(sliced)).toEqual(want);

    // Rows added after a build are inserted into the same graph: the same as building all at once.
    const grown = indexOf(data, { mode: 'approximate' }, 200);
    grown.finish();
    indexOf(data, {}, data.entries.length, grown);
    expect(grown.approximate).toBe(false); // lacks the new rows until the next search completes it
    expect(results(grown)).toEqual(want);
    expect(grown.approximate).toBe(true);
    expect(grown.graphStats?.rows).toBe(grown.size);
  });

  test('small indexes stay exact: below the threshold auto never builds a graph', () => {
    const small = indexOf(data, {}, 300); // ~3k rows, under APPROXIMATE_FROM
    const ref = flatten(data, 300);
    for (const { q } of queries.slice(0, 20)) expect(plain(small.search(q, 3))).toEqual(referenceSearch(ref.rows, ref.rowEntry, ref.rowPhrasing, ref.n, q, 3));
    expect(small.approximate).toBe(false);
    expect(small.graphStats).toBeNull();
    // Forced exact above the threshold: no graph either.
    const exact = indexOf(data, { mode: 'exact', approximateFrom: 100 });
    exact.search((queries[0] as { q: Float32Array }).q, 4);
    expect(exact.graphStats).toBeNull();
  });

  test('near-identical rows join their nearest node as duplicates and are still found', () => {
    // 400 rows: 40 sentences, each in 10 entries with tiny noise (the same question in several FAQs).
    const { rand, near } = generator(5);
    const base = Array.from({ length: 40 }, () => near(null, 1));
    const ix = new VectorIndex(D, 400, { mode: 'approximate', hnsw: { efSearch: 16 } });
    for (let e = 0; e < 40; e++) {
      const vs = Array.from({ length: 10 }, () => near(base[Math.floor(rand() * base.length)] as Float32Array, 0.05));
      ix.add({ id: `e${e}`, tenant: 't', phrasings: vs.map((_, j) => `${j}`) }, vs);
    }
    ix.finish();
    expect(ix.graphStats?.duplicates).toBeGreaterThan(300);
    for (const b of base.slice(0, 10)) {
      const q = near(b, 0.3);
      expect(ix.nearestRows(q, 10, 'approximate')).toEqual(ix.nearestRows(q, 10, 'exact'));
    }
  });

  test('int8 rows: the SIMD module and the plain-JS fallback give the same numbers, close to float32', () => {
    const { near } = generator(6);
    const vs = Array.from({ length: 50 }, () => near(null, 1));
    const simd = new QuantRows(D, 50, true);
    const plain = new QuantRows(D, 50, false);
    vs.forEach((v, r) => {
      simd.set(r, v);
      plain.set(r, v);
    });
    expect(plain.simd).toBe(false);
    for (let a = 0; a < 50; a += 7) {
      for (let b = 0; b < 50; b += 3) {
        expect(simd.dot(a, b)).toBe(plain.dot(a, b));
        let f = 0;
        for (let i = 0; i < D; i++) f += vs[a]![i]! * vs[b]![i]!;
        expect(Math.abs(simd.dot(a, b) - f)).toBeLessThan(5e-3);
      }
    }
    // And the graph over either is the same graph.
    const g1 = new Hnsw(simd, { M: 4, efConstruction: 16 });
    const g2 = new Hnsw(plain, { M: 4, efConstruction: 16 });
    for (let r = 0; r < 50; r++) {
      g1.insertNext();
      g2.insertNext();
    }
    expect(Array.from(g1.search(vs[3]!, 10).rows)).toEqual(Array.from(g2.search(vs[3]!, 10).rows));
  });
});

describe('leave-one-out (calibration from the FAQ itself)', () => {
  test('a phrasing is searched as if it were not in the index; entries with one phrasing are not asked', () => {
    const unit = (xs: number[]) => {
      const n = Math.sqrt(xs.reduce((s, x) => s + x * x, 0));
      return Float32Array.from(xs.map((x) => x / n));
    };
    const index = new VectorIndex(3);
    index.add({ id: 'a', tenant: 't', phrasings: ['a1', 'a2'] }, [unit([1, 0.1, 0]), unit([1, 0, 0.1])]);
    index.add({ id: 'b', tenant: 't', phrasings: ['b1', 'b2'] }, [unit([0, 1, 0.1]), unit([0.1, 1, 0])]);
    index.add({ id: 'c', tenant: 't', phrasings: ['c1'] }, [unit([0, 0, 1])]);
    const without = index.searchWithout(0, 0, 3);
    expect(without?.[0]).toMatchObject({ entry: 0, phrasing: 1 });
    expect(without?.[0]?.similarity).toBeLessThan(0.999);
    expect(index.searchWithout(0, 5, 3)).toBeNull();
    const samples = leaveOneOutSamples(index, 3);
    expect(samples.map((s) => [s.label, s.nearest])).toEqual([['a', 'a'], ['a', 'a'], ['b', 'b'], ['b', 'b']]);
  });
});
