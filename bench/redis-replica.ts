/**
 * One bot replica for bench:redis, as its own process: opens the app on the shared Redis (with or without L1),
 * then asks FAQ questions through the full pipeline (statistics on) for a while and prints one JSON summary.
 *   --mode load:   `concurrency` lookups in flight, as fast as they go, for `seconds`
 *   --mode steady: `rate` questions a second (a Slack-like trickle), for `seconds`; counts failures and latency
 */
import { openApp } from '../src/app';
import { loadConfig } from '../src/config';
import { featureQuestion as question, parseFlags, summarize } from './common';

const f = parseFlags(process.argv.slice(2), { store: 'value', 'local-cache': 'value', concurrency: 'value', seconds: 'value', hot: 'value', mode: 'value', rate: 'value', start: 'value' });
const store = f.get('store') ?? '';
const concurrency = Number(f.get('concurrency') ?? '1');
const seconds = Number(f.get('seconds') ?? '3');
const hot = Number(f.get('hot') ?? '1000');
const rate = Number(f.get('rate') ?? '100');
const startAt = Number(f.get('start') ?? '0');


async function main(): Promise<void> {
  const config = { ...loadConfig({ KVCACHE_FAQ: '', KVCACHE_EMBED_MODEL: 'none', KVCACHE_L1_MAX: f.get('local-cache') ?? '0', KVCACHE_LOG_LEVEL: 'silent' }), store };
  const app = await openApp(config);
  // Warm-up (and, with L1, fill it), then wait for the common start so replicas run side by side.
  for (let i = 0; i < hot; i++) await app.answerer.ask('default', question(i));
  while (Date.now() < startAt) await new Promise((r) => setTimeout(r, 5));
  const lat: number[] = [];
  let errors = 0;
  let fallbacks = 0;
  let n = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const one = async (i: number) => {
    const a = performance.now();
    try {
      const r = await app.answerer.ask('default', question(i % hot));
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
  const s = summarize(Float64Array.from(lat), total);
  process.stdout.write(`${JSON.stringify({ ...s, errors, fallbacks, health: app.health.status() })}\n`);
  await app.close().catch(() => undefined);
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`redis-replica: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
