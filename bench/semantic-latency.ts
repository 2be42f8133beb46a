/**
 * Semantic lookup latency at 1k, 10k and 100k indexed vectors, through the product's SemanticLayer on the
 * memory store: per question, the store read that checks the FAQ revision, the query embedding (the real
 * 8-bit model, never cached here), the search and the decision. Started by bench/semantic.ts, pinned to one
 * core; prints a table, then one line `JSON {...}` for the parent.
 *
 * Each size is measured with the exact scan and, from APPROX_FROM rows (10k) on, again on the same index with
 * the HNSW graph forced (src/semantic/hnsw.ts): its build time and memory, the search alone (p50/p99 over the
 * pre-embedded queries), the lookup with the embedding, the recall@10 of rows against the scan, and how often
 * the nearest entry with its features (and the whole result) equals the scan's. `auto` in the product picks
 * the graph from APPROXIMATE_FROM rows on (src/semantic/index.ts).
 *
 * The index holds real BANKING77 train vectors, repeated with small noise to reach the size (embedding 100k
 * distinct texts would take most of an hour here and would not change the scan's cost). For the graph that makes
 * clusters of ~size/2000 near-identical rows of different entries (cosine ~0.99): they join one node as its
 * duplicates (hnsw.ts, dedupe), so the graph holds ~2,000 nodes whatever the size, builds fast, and each search
 * scores many duplicates. test/semantic-index.test.ts measures the graph on distinct rows.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { AnswerCache } from '../src/core/cache';
import { keys } from '../src/core/keys';
import { StatsRecorder } from '../src/core/stats';
import { systemClock, type CacheEntry } from '../src/core/types';
import { loadEmbedder } from '../src/embed/embedder';
import { silentLogger } from '../src/logger';
import { SEARCH_K } from '../src/semantic/policy';
import { APPROXIMATE_FROM, packVectors, type Neighbour, type VectorIndex } from '../src/semantic/index';
import { phrasingsHash, SemanticLayer, type VectorRecord } from '../src/semantic/layer';
import { openStore } from '../src/store/open';
import type { StoreOp } from '../src/store/types';
import { collectGarbage, fmtInt, fmtMs, parseFlags, seededRandom, summarize, table } from './common';
import { cachedEmbedder } from './embed-cache';

const flags = parseFlags(process.argv.slice(2), { sizes: 'value', data: 'value', queries: 'value' });
const SIZES = (flags.get('sizes') ?? '1000,10000,100000').split(',').map(Number);
const DATA = flags.get('data') ?? '';
const QUERIES = Number(flags.get('queries') ?? '300');
const PER_ENTRY = 10;
const TENANT = 'bench';
/** Sizes from which the graph is measured too (below it, a graph is not worth its build). */
const APPROX_FROM = 10_000;
// The lookup's own number of nearest entries (policy.ts).


const rows = (rel: string) => (parseCsv(fs.readFileSync(path.join(DATA, rel), 'utf8'), { columns: true }) as Array<{ text: string }>).map((r) => r.text.trim());

async function main(): Promise<void> {
  const train = rows('banking77/train.csv');
  const test = rows('banking77/test.csv');
  const rand = seededRandom(5);
  const base = await cachedEmbedder('all-MiniLM-L6-v2');
  const seeds = await base.embed(train.slice(0, 2000));
  base.save();
  await base.close();
  // The embedder the layer uses is the plain one: every query is embedded for real.
  const embedder = await loadEmbedder({ model: 'all-MiniLM-L6-v2' });
  const queries = Array.from({ length: QUERIES }, (_, i) => test[(i * 37) % test.length] as string);
  const out: Array<Record<string, unknown>> = [];
  for (const size of SIZES) {
    const store = await openStore('memory://', '');
    const stats = new StatsRecorder(store, systemClock, 0);
    const cache = new AnswerCache({ store, clock: systemClock, stats, ttlMs: 86_400_000, maxEntries: 1000 });
    let ops: StoreOp[] = [];
    const flush = async () => {
      await store.apply(ops);
      ops = [];
    };
    for (let e = 0; e < size / PER_ENTRY; e++) {
      const phrasings = Array.from({ length: PER_ENTRY }, (_, j) => `entry ${e} phrasing ${j}`);
      const vectors = phrasings.map(() => {
        const src = seeds[Math.floor(rand() * seeds.length)] as Float32Array;
        const v = new Float32Array(src.length);
        let norm = 0;
        for (let i = 0; i < v.length; i++) {
          v[i] = (src[i] as number) + (rand() - 0.5) * 0.02;
          norm += (v[i] as number) ** 2;
        }
        for (let i = 0; i < v.length; i++) v[i] = (v[i] as number) / Math.sqrt(norm);
        return v;
      });
      const entry: CacheEntry = { id: `e${e}`, tenant: TENANT, question: phrasings[0] as string, alternates: phrasings.slice(1), answer: `answer ${e}`, source: 'faq', tags: [], createdAt: 0, updatedAt: 0, hitCount: 0, lastHitAt: null, expiresAt: null };
      ops.push({ op: 'set', key: keys.entry(TENANT, entry.id, true), value: entry });
      ops.push({ op: 'set', key: keys.vectors(TENANT, entry.id), value: { model: embedder.name, dims: embedder.dims, phrasings: phrasingsHash(phrasings), vectors: packVectors(vectors) } satisfies VectorRecord });
      if (ops.length >= 2000) await flush();
    }
    ops.push({ op: 'set', key: keys.faqMeta(TENANT), value: { count: size / PER_ENTRY, updatedAt: 1, rev: 'bench' } });
    await flush();
    const layer = new SemanticLayer(cache, embedder, silentLogger);
    const t0 = performance.now();
    const built = await layer.indexFor(TENANT);
    const buildMs = performance.now() - t0;
    const index = built.index;
    // The exact scan first: forced, so no graph starts building in the background meanwhile.
    index.setMode('exact');
    for (const q of queries.slice(0, 10)) await layer.match(TENANT, q); // warm-up
    const lookupRun = async () => {
      collectGarbage();
      const samples = new Float64Array(queries.length);
      const started = performance.now();
      for (const [i, q] of queries.entries()) {
        const a = performance.now();
        await layer.match(TENANT, q);
        samples[i] = performance.now() - a;
      }
      return summarize(samples, performance.now() - started);
    };
    const s = await lookupRun();
    const embedOnly = new Float64Array(queries.length);
    const vectors: Float32Array[] = [];
    for (const [i, q] of queries.entries()) {
      const a = performance.now();
      const [v] = await embedder.embed([q]);
      embedOnly[i] = performance.now() - a;
      vectors.push(v as Float32Array);
    }
    const e = summarize(embedOnly, 1);
    const exactSearch = searchRun(index, vectors);
    const row: Record<string, unknown> = { vectors: index.size, entries: index.entries.length, indexLoadMs: Math.round(buildMs), classifierFitMs: Math.round(index.classifier().fitMs), lookup: s, embedOnly: { p50Ms: e.p50Ms, p99Ms: e.p99Ms }, search: exactSearch.summary, autoUses: index.size >= APPROXIMATE_FROM ? 'approximate' : 'exact' };
    if (index.size >= APPROX_FROM) {
      index.setMode('approximate');
      collectGarbage();
      index.finish();
      const g = index.graphStats;
      for (const q of queries.slice(0, 10)) await layer.match(TENANT, q); // warm-up
      const approxSearch = searchRun(index, vectors);
      const lookup = await lookupRun();
      let recall = 0;
      let sameTop = 0;
      let sameAll = 0;
      for (const [i, v] of vectors.entries()) {
        const want = index.nearestRows(v, 10, 'exact').rows;
        const got = new Set(index.nearestRows(v, 10, 'approximate').rows);
        recall += want.filter((r) => got.has(r)).length / want.length;
        const ex = exactSearch.results[i] as Neighbour[];
        const ap = approxSearch.results[i] as Neighbour[];
        if (JSON.stringify(ex[0]) === JSON.stringify(ap[0])) sameTop += 1;
        if (JSON.stringify(ex) === JSON.stringify(ap)) sameAll += 1;
      }
      row.approximate = {
        buildMs: Math.round(g?.buildMs ?? Number.NaN),
        graphMiB: Math.round(((g?.bytes ?? 0) / 2 ** 20) * 10) / 10,
        simd: g?.simd ?? false,
        search: approxSearch.summary,
        lookup,
        recallAt10: Math.round((recall / vectors.length) * 10_000) / 10_000,
        sameTopEntry: Math.round((sameTop / vectors.length) * 10_000) / 10_000,
        sameResults: Math.round((sameAll / vectors.length) * 10_000) / 10_000,
      };
      index.setMode('auto');
    }
    out.push(row);
    await store.close();
  }
  await embedder.close();
  process.stdout.write('\nSemantic lookup latency (embedding + search + decision), one core: the exact scan, and the HNSW graph on the same index\n');
  type Summary = ReturnType<typeof summarize>;
  type Approx = { buildMs: number; graphMiB: number; search: Summary; lookup: Summary; recallAt10: number; sameTopEntry: number; sameResults: number };
  const pass = (vectors: number, l: Summary) => (vectors === 10_000 || vectors === 100_000 ? (l.p99Ms <= 15 ? 'PASS' : 'FAIL') : '');
  const lines: string[][] = [];
  for (const r of out) {
    const l = r.lookup as Summary;
    const e = r.embedOnly as { p50Ms: number; p99Ms: number };
    const se = r.search as Summary;
    const v = r.vectors as number;
    lines.push([fmtInt(v), fmtInt(r.entries as number), 'exact scan', fmtInt(r.indexLoadMs as number), fmtInt(r.classifierFitMs as number), '', fmtMs(se.p50Ms), fmtMs(se.p99Ms), fmtInt(l.perSecond), fmtMs(l.p50Ms), fmtMs(l.p99Ms), fmtMs(e.p50Ms), fmtMs(e.p99Ms), '', '', pass(v, l)]);
    const a = r.approximate as Approx | undefined;
    if (a) lines.push(['', '', 'hnsw', '', '', fmtInt(a.buildMs), fmtMs(a.search.p50Ms), fmtMs(a.search.p99Ms), fmtInt(a.lookup.perSecond), fmtMs(a.lookup.p50Ms), fmtMs(a.lookup.p99Ms), '', '', a.recallAt10.toFixed(4), `${(a.sameTopEntry * 100).toFixed(1)}% / ${(a.sameResults * 100).toFixed(1)}%`, pass(v, a.lookup)]);
  }
  process.stdout.write(
    `${table(['>vectors', '>entries', 'index', '>index load ms', '>of it classifier fit ms', '>graph build ms', '>search p50', '>search p99', '>lookups/s', '>p50 ms', '>p99 ms', '>embed-only p50', '>embed-only p99', '>recall@10', '>same top entry / all', 'p99<=15ms'], lines)}\n`,
  );
  process.stdout.write(`(auto uses the graph from ${fmtInt(APPROXIMATE_FROM)} vectors; "same": the nearest entry with its similarity, top3 and votes / all ${SEARCH_K} entries equal the scan's)\n`);
  process.stdout.write(`\nJSON ${JSON.stringify({ queries: QUERIES, sizes: out })}\n`);
}

/** The search alone over pre-embedded queries (as the layer calls it), with its results. */
function searchRun(index: VectorIndex, vectors: Float32Array[]): { summary: ReturnType<typeof summarize>; results: Neighbour[][] } {
  for (const v of vectors.slice(0, 10)) index.search(v, SEARCH_K); // warm-up
  collectGarbage();
  const samples = new Float64Array(vectors.length);
  const results: Neighbour[][] = [];
  const started = performance.now();
  for (const [i, v] of vectors.entries()) {
    const a = performance.now();
    results.push(index.search(v, SEARCH_K));
    samples[i] = performance.now() - a;
  }
  return { summary: summarize(samples, performance.now() - started), results };
}

main().catch((err: unknown) => {
  process.stderr.write(`semantic-latency: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
