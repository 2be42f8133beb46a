/**
 * Semantic lookup latency at 1k, 10k and 100k indexed vectors, through the product's SemanticLayer on the
 * memory store: per question, the store read that checks the FAQ revision, the query embedding (the real
 * 8-bit model, never cached here), the full-scan search and the decision. Started by bench/semantic.ts,
 * pinned to one core; prints a table, then one line `JSON {...}` for the parent.
 *
 * The index holds real BANKING77 train vectors, repeated with small noise to reach the size (embedding 100k
 * distinct texts would take most of an hour here and would not change the scan's cost).
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
import { packVectors } from '../src/semantic/index';
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
    for (const q of queries.slice(0, 10)) await layer.match(TENANT, q); // warm-up
    collectGarbage();
    const samples = new Float64Array(queries.length);
    const embedOnly = new Float64Array(queries.length);
    const started = performance.now();
    for (const [i, q] of queries.entries()) {
      const a = performance.now();
      await layer.match(TENANT, q);
      samples[i] = performance.now() - a;
    }
    const total = performance.now() - started;
    for (const [i, q] of queries.entries()) {
      const a = performance.now();
      await embedder.embed([q]);
      embedOnly[i] = performance.now() - a;
    }
    const s = summarize(samples, total);
    const e = summarize(embedOnly, 1);
    out.push({ vectors: built.index.size, entries: built.index.entries.length, indexLoadMs: Math.round(buildMs), lookup: s, embedOnly: { p50Ms: e.p50Ms, p99Ms: e.p99Ms } });
    await store.close();
  }
  await embedder.close();
  process.stdout.write('\nSemantic lookup latency (embedding + search + decision), one core\n');
  process.stdout.write(
    `${table(
      ['>vectors', '>entries', '>index load ms', '>lookups/s', '>p50 ms', '>p99 ms', '>embed-only p50', '>embed-only p99', 'p99<=15ms @10k'],
      out.map((r) => {
        const l = r.lookup as ReturnType<typeof summarize>;
        const e = r.embedOnly as { p50Ms: number; p99Ms: number };
        return [fmtInt(r.vectors as number), fmtInt(r.entries as number), fmtInt(r.indexLoadMs as number), fmtInt(l.perSecond), fmtMs(l.p50Ms), fmtMs(l.p99Ms), fmtMs(e.p50Ms), fmtMs(e.p99Ms), r.vectors === 10_000 ? (l.p99Ms <= 15 ? 'PASS' : 'FAIL') : ''];
      }),
    )}\n`,
  );
  process.stdout.write(`\nJSON ${JSON.stringify({ queries: QUERIES, sizes: out })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`semantic-latency: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
