/**
 * One bot replica for bench:redis, as its own process: opens the app on the shared Redis (with or without L1),
 * then asks FAQ questions through the full pipeline (statistics on) for a while and prints one JSON summary.
 *   --mode load:   `concurrency` lookups in flight, as fast as they go, for `seconds`
 *   --mode steady: `rate` questions a second (a Slack-like trickle), for `seconds`; counts failures and latency.
 *                  With `--cold-every N`, every Nth question is an FAQ question outside the hot set, asked once:
 *                  never in the L1, so it needs Redis (what an outage does to a question the L1 cannot answer).
 *
 * Start: with `--start <epoch ms>` the run begins then. Without it the replica prints `{"ready":true}` once
 * warmed up and begins at the epoch ms of a `go <epoch ms>` line on stdin, so the parent can start every
 * replica of a run at once, only after all of them are ready (a fixed lead time let a slow starter begin late,
 * and windows that do not overlap add up to more than the machine can do).
 */
import readline from 'node:readline';
import { openApp } from '../src/app';
import { loadConfig } from '../src/config';
import { featureQuestion as question, parseFlags, summarize } from './common';

const f = parseFlags(process.argv.slice(2), {
  store: 'value',
  'local-cache': 'value',
  concurrency: 'value',
  seconds: 'value',
  hot: 'value',
  mode: 'value',
  rate: 'value',
  start: 'value',
  'warmup-seconds': 'value',
  'cold-every': 'value',
});
const store = f.get('store') ?? '';
const concurrency = Number(f.get('concurrency') ?? '1');
const seconds = Number(f.get('seconds') ?? '3');
const hot = Number(f.get('hot') ?? '1000');
const rate = Number(f.get('rate') ?? '100');
const warmupSeconds = Number(f.get('warmup-seconds') ?? '0');
const coldEvery = Number(f.get('cold-every') ?? '0');

/** The epoch ms to begin at: --start, or the parent's `go` line after this replica says it is ready. */
function startTime(): Promise<number> {
  const given = f.get('start');
  if (given !== undefined) return Promise.resolve(Number(given));
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: process.stdin });
    lines.on('line', (line) => {
      const m = /^go (\d+)$/.exec(line.trim());
      if (!m) return;
      resolve(Number(m[1])); // before close(), whose 'close' event would otherwise reject first
      lines.close();
    });
    lines.on('close', () => reject(new Error('stdin closed before the go line')));
    process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  });
}

async function main(): Promise<void> {
  const config = { ...loadConfig({ KVCACHE_FAQ: '', KVCACHE_EMBED_MODEL: 'none', KVCACHE_L1_MAX: f.get('local-cache') ?? '0', KVCACHE_LOG_LEVEL: 'silent' }), store };
  const app = await openApp(config);
  // Warm-up (and, with L1, fill it), then wait for the common start so replicas run side by side.
  for (let i = 0; i < hot; i++) await app.answerer.ask('default', question(i));
  // Then the run's own load for a while: one pass at one in flight leaves the JIT and the heap still settling
  // for the first second of a run at 8 or 64 in flight, which made short runs slower and noisier.
  const warmEnd = performance.now() + warmupSeconds * 1000;
  let w = 0;
  await Promise.all(
    Array.from({ length: f.get('mode') === 'steady' ? 1 : concurrency }, async () => {
      while (performance.now() < warmEnd) await app.answerer.ask('default', question(w++ % hot));
    }),
  );
  // The warm-up's hit counts are written now rather than by the first flush inside the timed window.
  await app.cache.flushHits();
  const startAt = await startTime();
  if (startAt > Date.now()) await new Promise((r) => setTimeout(r, startAt - Date.now()));
  while (Date.now() < startAt) await new Promise((r) => setImmediate(r));
  const lat: number[] = [];
  let errors = 0;
  let fallbacks = 0;
  let n = 0;
  const startedEpochMs = Date.now();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let cold = 0;
  const one = async (i: number) => {
    const a = performance.now();
    try {
      const q = coldEvery > 0 && i % coldEvery === coldEvery - 1 ? question(hot + cold++) : question(i % hot);
      const r = await app.answerer.ask('default', q);
      if (r.source === 'fallback') fallbacks += 1;
    } catch {
      errors += 1;
    }
    lat.push(performance.now() - a);
  };
  if (f.get('mode') === 'steady') {
    const pending: Array<Promise<void>> = [];
    for (let k = 0; performance.now() < end; k++) {
      pending.push(one(k));
      const next = t0 + ((k + 1) * 1000) / rate;
      await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
    }
    await Promise.all(pending);
  } else {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < end) await one(n++);
      }),
    );
  }
  const total = performance.now() - t0;
  const used = process.cpuUsage(cpu0);
  const s = summarize(Float64Array.from(lat), total);
  const window = { startLateMs: startedEpochMs - startAt, endEpochMs: startedEpochMs + Math.round(total), cpuMs: Math.round((used.user + used.system) / 1000) };
  process.stdout.write(`${JSON.stringify({ ...s, errors, fallbacks, health: app.health.status(), window })}\n`);
  await app.close().catch(() => undefined);
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`redis-replica: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
