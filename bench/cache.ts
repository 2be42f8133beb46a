/**
 * `npm run bench:cache [-- --quick] [--sizes 1000,10000] [--stores memory,sqlite,redis] [--seed 42]`
 *
 * Lookup latency and throughput of the whole answer pipeline (Answerer.ask with stats recording on, as in
 * production) per store and FAQ size, plus FAQ preload times. Lookups run one at a time: that is how one bot
 * process serves Slack, and it keeps the figures a measure of per-question cost rather than of concurrency.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openApp } from '../src/app';
import { loadConfig } from '../src/config';
import { systemClock, type Outcome } from '../src/core/types';
import type { FaqRecord } from '../src/faq/parse';
import { preload } from '../src/faq/preload';
import { projectRoot } from '../src/paths';
import {
  collectGarbage, fmtInt, fmtMs, machineInfo, parseFlags, round, seededRandom, startRedis, summarize, table, writeJson,
  type LatencySummary, type RedisServer,
} from './common';

type StoreName = 'memory' | 'sqlite' | 'redis';
type Kind = 'exact' | 'normalized' | 'miss';
const KINDS: Array<[Kind, Outcome]> = [['exact', 'exact'], ['normalized', 'normalized'], ['miss', 'fallback']];
const TENANT = 'default';
const TARGET = { p99Ms: 1, perSecond: 20_000, at: 100_000, preloadS: 10 };

const flags = parseFlags(process.argv.slice(2), { quick: 'bool', sizes: 'value', stores: 'value', seed: 'value' });
const quick = flags.has('quick');
const sizes = (flags.get('sizes') ?? (quick ? '1000,10000' : '1000,10000,100000')).split(',').map(Number);
const stores = (flags.get('stores') ?? 'memory,sqlite,redis').split(',') as StoreName[];
const seed = Number(flags.get('seed') ?? 42);
if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--sizes takes whole numbers, e.g. 1000,10000');
if (stores.some((s) => !['memory', 'sqlite', 'redis'].includes(s))) throw new Error('--stores takes memory, sqlite, redis');
// Redis pays a network round trip per store read, so fewer lookups give the same precision in similar time.
const counts: Record<StoreName, number> = quick ? { memory: 2000, sqlite: 2000, redis: 500 } : { memory: 20_000, sqlite: 20_000, redis: 5000 };
const warmup = quick ? 100 : 500;

// ---- synthetic FAQ: deterministic from the index, so lookups can rebuild any question without keeping them

const VERBS = ['reset', 'change', 'export', 'delete', 'renew', 'share', 'restore', 'upgrade'];
const THINGS = ['password', 'invoice', 'API token', 'billing address', 'workspace', 'SSO settings', 'backup', 'license'];
const ALTS = [
  (v: string, t: string, i: number) => `What is the way to ${v} the ${t} of project ${i}?`,
  (v: string, t: string, i: number) => `Can you help me ${v} the ${t} in project ${i}?`,
  (v: string, t: string, i: number) => `Steps to ${v} the ${t} for project ${i}`,
  (v: string, t: string, i: number) => `Is it possible to ${v} my ${t} of project ${i}?`,
  (v: string, t: string, i: number) => `Where do I go to ${v} the ${t} of project ${i}?`,
];
const parts = (i: number): [string, string] => [VERBS[i % VERBS.length] ?? '', THINGS[(i >> 3) % THINGS.length] ?? ''];
const question = (i: number): string => {
  const [v, t] = parts(i);
  return `How do I ${v} the ${t} of project ${i}?`;
};
const missQuestion = (i: number): string => {
  const [v, t] = parts(i);
  return `Why does project ${i} show error ${(i * 7919) % 1000} when I ${v} the ${t}?`;
};

function records(n: number, alternates: number): FaqRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const [v, t] = parts(i);
    const alts = ALTS.slice(0, alternates).map((f) => f(v, t, i));
    return { id: `q${i}`, question: question(i), answer: `To ${v} the ${t} of project ${i}, open Settings.`, alternates: alts, tags: [], file: 'bench.yaml', line: i + 1 };
  });
}

// Full-width forms of ASCII '!'..'~' sit at a fixed offset; NFKC folds them (and U+3000) back.
const fullWidth = (s: string): string =>
  s.replace(/[!-~]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)).replace(/ /g, '\u3000');
/** The same question as the user might type it in Slack: same normalized key, different exact key. */
function variant(q: string, r: number): string {
  switch (Math.floor(r * 4)) {
    case 0: return q.toUpperCase();
    case 1: return `${q.replace(' ', ', ')}!!!`;
    case 2: return fullWidth(q);
    default: return `<@U0BENCH> *${q.replace(/ /, '* ')} :pray:`;
  }
}

// ---- measurement

type App = Awaited<ReturnType<typeof openApp>>;

async function measure(app: App, kind: Kind, expect: Outcome, n: number, count: number, kindSeed: number): Promise<LatencySummary> {
  const rnd = seededRandom(kindSeed);
  const make = (): string => {
    const i = Math.floor(rnd() * n);
    if (kind === 'miss') return missQuestion(i);
    const [v, t] = parts(i);
    const stored = rnd() < 0.5 ? question(i) : (ALTS[0]?.(v, t, i) ?? '');
    return kind === 'exact' ? stored : variant(stored, rnd());
  };
  collectGarbage();
  for (let i = 0; i < warmup; i++) await app.answerer.ask(TENANT, make());
  // Questions are built before the clock starts so only the pipeline is timed.
  const qs = Array.from({ length: count }, make);
  const samples = new Float64Array(count);
  let wrong: string | null = null;
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const q = qs[i] ?? '';
    const s = performance.now();
    const r = await app.answerer.ask(TENANT, q);
    samples[i] = performance.now() - s;
    if (r.source !== expect) wrong ??= `"${q}" gave ${r.source}`;
  }
  const total = performance.now() - t0;
  if (wrong) throw new Error(`bench bug: ${kind} lookups must end in ${expect}, but ${wrong}`);
  return summarize(samples, total);
}

function configFor(store: string | undefined, dataDir: string) {
  return { ...loadConfig({ KVCACHE_FAQ: '' }), statsFlushMs: 1000, store, dataDir };
}

async function timedPreload(app: App, recs: FaqRecord[]): Promise<number> {
  const t0 = performance.now();
  await preload(app.store, recs, { tenant: TENANT, prune: false, dryRun: false }, systemClock);
  return performance.now() - t0;
}

interface RunResult {
  store: StoreName;
  entries: number;
  alternates: number;
  preloadMs: number;
  kinds: Partial<Record<Kind, LatencySummary>>;
  rssMiB: number;
  /** A store failure (not a bench bug) ends this store/size but not the run. */
  error?: string;
}

async function runOne(store: StoreName, n: number, redis: RedisServer | null): Promise<RunResult> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvcache-bench-'));
  const spec = store === 'memory' ? 'memory://' : store === 'sqlite' ? undefined : redis?.url;
  const app = await openApp(configFor(spec, dataDir));
  const r: RunResult = { store, entries: n, alternates: 1, preloadMs: Number.NaN, kinds: {}, rssMiB: 0 };
  try {
    r.preloadMs = round(await timedPreload(app, records(n, 1)), 1);
    for (const [k, [kind, expect]] of KINDS.entries()) {
      const s = await measure(app, kind, expect, n, counts[store], seed + k);
      r.kinds[kind] = s;
      process.stderr.write(`  ${store} ${fmtInt(n)} ${kind}: ${fmtInt(s.perSecond)}/s\n`);
    }
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('bench bug')) throw err;
    r.error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    process.stderr.write(`  ${store} ${fmtInt(n)} FAILED: ${r.error}\n`);
  } finally {
    r.rssMiB = Math.round(process.memoryUsage().rss / 2 ** 20);
    await app.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
    // Each size starts from an empty Redis, as the other stores do.
    if (redis) await redis.command('FLUSHALL');
  }
  return r;
}

async function preloadTarget(): Promise<{ entries: number; alternates: number; preloadMs: number; pass: boolean }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvcache-bench-'));
  const app = await openApp(configFor(undefined, dataDir));
  try {
    const ms = await timedPreload(app, records(10_000, 5));
    return { entries: 10_000, alternates: 5, preloadMs: round(ms, 1), pass: ms <= TARGET.preloadS * 1000 };
  } finally {
    await app.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

// ---- report

const mark = (ok: boolean): string => (ok ? 'PASS' : 'FAIL');

function targetNote(r: RunResult, kind: Kind, s: LatencySummary): { note: string; checks: Array<{ what: string; value: number; pass: boolean }> } {
  if (r.store !== 'sqlite' || r.entries !== TARGET.at || kind === 'miss') return { note: '', checks: [] };
  const checks = [
    { what: `embedded ${kind} p99 <= ${TARGET.p99Ms} ms at ${fmtInt(TARGET.at)}`, value: s.p99Ms, pass: s.p99Ms <= TARGET.p99Ms },
    { what: `embedded ${kind} >= ${fmtInt(TARGET.perSecond)} lookups/s at ${fmtInt(TARGET.at)}`, value: s.perSecond, pass: s.perSecond >= TARGET.perSecond },
  ];
  return { note: `p99<=1ms ${mark(checks[0]?.pass ?? false)}, >=20k/s ${mark(checks[1]?.pass ?? false)}`, checks };
}

async function main(): Promise<void> {
  const started = performance.now();
  const results: RunResult[] = [];
  const skipped: Array<{ store: StoreName; reason: string }> = [];
  let redis: RedisServer | null = null;
  if (stores.includes('redis')) {
    const r = await startRedis();
    if ('error' in r) skipped.push({ store: 'redis', reason: r.error });
    else redis = r;
  }
  try {
    for (const store of stores) {
      if (store === 'redis' && !redis) continue;
      for (const n of sizes) results.push(await runOne(store, n, store === 'redis' ? redis : null));
    }
  } finally {
    await redis?.stop();
  }
  process.stderr.write('  preload 10,000 x 5 alternates (embedded)\n');
  const pre = await preloadTarget();
  const runtimeS = round((performance.now() - started) / 1000, 1);

  const rows: string[][] = [];
  const targets: Array<{ what: string; value: number; pass: boolean }> = [];
  for (const r of results) {
    if (r.error) rows.push([r.store, fmtInt(r.entries), '-', '-', '-', '-', '-', `failed${Number.isNaN(r.preloadMs) ? ' in preload' : ''}: ${r.error.slice(0, 70)}`]);
    for (const [kind] of KINDS) {
      const s = r.kinds[kind];
      if (!s) continue;
      const t = targetNote(r, kind, s);
      targets.push(...t.checks);
      rows.push([r.store, fmtInt(r.entries), kind, fmtInt(s.perSecond), fmtMs(s.p50Ms), fmtMs(s.p99Ms), fmtMs(s.maxMs), t.note]);
    }
  }
  for (const s of skipped) rows.push([s.store, '-', '-', '-', '-', '-', '-', `skipped: ${s.reason}`]);
  targets.push({ what: `preload 10,000 x 5 alternates (embedded) <= ${TARGET.preloadS} s`, value: round(pre.preloadMs / 1000, 2), pass: pre.pass });
  if (!results.some((r) => r.store === 'sqlite' && r.entries === TARGET.at)) {
    targets.push({ what: `embedded hit targets at ${fmtInt(TARGET.at)} entries: not measured (add it to --sizes)`, value: Number.NaN, pass: false });
  }

  const m = machineInfo();
  const out: string[] = [];
  out.push(
    `kvcache bench:cache — ${m.cpuModel}, ${m.cpus} CPUs, node ${m.node}${quick ? ' (--quick)' : ''}`,
    `sequential Answerer.ask('${TENANT}', q), stats on; warm-up ${warmup}; lookups per kind: memory/sqlite ${fmtInt(counts.memory)}, redis ${fmtInt(counts.redis)}; seed ${seed}`,
    '',
    table(['store', '>entries', 'kind', '>lookups/s', '>p50 ms', '>p99 ms', '>max ms', 'target'], rows),
    '',
  );
  for (const r of results) {
    const secs = Number.isNaN(r.preloadMs) ? 'failed' : `${(r.preloadMs / 1000).toFixed(2).padStart(6)} s`;
    out.push(`preload  ${r.store.padEnd(6)}  ${fmtInt(r.entries).padStart(7)} entries x ${r.alternates} alternate   ${secs}`);
  }
  out.push(`preload  sqlite   ${fmtInt(pre.entries).padStart(7)} entries x ${pre.alternates} alternates  ${(pre.preloadMs / 1000).toFixed(2).padStart(6)} s   target <= ${TARGET.preloadS} s ${mark(pre.pass)}`);
  out.push('', 'targets:');
  for (const t of targets) out.push(`  ${Number.isNaN(t.value) ? '----' : mark(t.pass)}  ${t.what}${Number.isNaN(t.value) ? '' : ` (measured ${t.value})`}`);
  const peakRssMiB = Math.round(process.resourceUsage().maxRSS / 1024);
  out.push('', `runtime ${runtimeS} s; peak RSS ${peakRssMiB} MiB`);
  const file = path.join(projectRoot(), 'bench', 'results', 'cache.json');
  const options = { quick, sizes, stores, seed, warmup, counts, statsFlushMs: 1000, tenant: TENANT };
  writeJson(file, { date: new Date().toISOString(), machine: m, options, runtimeS, peakRssMiB, results, skipped, preloadTarget: pre, targets });
  out.push(`wrote ${path.relative(process.cwd(), file)}`);
  console.log(out.join('\n'));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
});
