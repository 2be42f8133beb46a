/**
 * `npm run bench:redis [-- --quick] [--outage-seconds 30]`
 *
 * Several replicas on one Redis (a throwaway redis-server on loopback), each its own process
 * (bench/redis-replica.ts), asking FAQ questions through the full pipeline with statistics on:
 *   1. hit latency p50/p99 and lookups/s, without and with the in-process L1, at 1 and 2 replicas, with 1, 8
 *      and 64 lookups in flight per replica;
 *   2. an outage: one replica under steady load while redis-server is stopped for 30 s and started again;
 *      counts crashes, questions left without an answer, and the slowest reply against the usual p99.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { loadConfig } from '../src/config';
import type { FaqRecord } from '../src/faq/parse';
import { preload } from '../src/faq/preload';
import { openApp } from '../src/app';
import { projectRoot } from '../src/paths';
import { featureQuestion, fmtInt, fmtMs, machineInfo, parseFlags, startRedis, table, writeJson, type LatencySummary } from './common';
import { startRedis as startRedisOn } from '../testkit/redis';

const flags = parseFlags(process.argv.slice(2), { quick: 'bool', 'outage-seconds': 'value' });
const quick = flags.has('quick');
const SECONDS = quick ? 1.5 : 4;
const OUTAGE_S = Number(flags.get('outage-seconds') ?? (quick ? '5' : '30'));
const HOT = 1000;
const REPLICA = path.join(projectRoot(), 'dist', 'bench', 'redis-replica.js');

type Summary = LatencySummary & { errors: number; fallbacks: number; health: { degraded: boolean } };

function replica(args: string[]): Promise<Summary> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [REPLICA, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('exit', (code, signal) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop() ?? '{}') as Summary) : reject(new Error(`replica exited ${code ?? signal}`))));
  });
}

async function main(): Promise<void> {
  const redis = await startRedis();
  if ('error' in redis) throw new Error(`bench:redis needs redis-server: ${redis.error}`);
  try {
    const config = { ...loadConfig({ KVCACHE_FAQ: '', KVCACHE_EMBED_MODEL: 'none' }), store: redis.url };
    const app = await openApp(config);
    const records: FaqRecord[] = Array.from({ length: 10_000 }, (_, i) => ({ id: `f${i}`, question: featureQuestion(i), answer: `Open Settings, then Features, then number ${i}.`, alternates: [], tags: [], file: 'bench', line: i + 1 }));
    await preload(app.store, records, { tenant: 'default', prune: false, dryRun: false }, app.clock);
    await app.close();

    const rows: string[][] = [];
    const results: Array<Record<string, unknown>> = [];
    for (const l1 of [0, 10_000]) {
      for (const concurrency of [1, 8, 64]) {
        const perReplicas: number[] = [];
        for (const replicas of [1, 2]) {
          const start = Date.now() + (quick ? 2500 : 4000);
          const args = ['--store', redis.url, '--local-cache', String(l1), '--concurrency', String(concurrency), '--seconds', String(SECONDS), '--hot', String(HOT), '--start', String(start)];
          const runs = await Promise.all(Array.from({ length: replicas }, () => replica(args)));
          const perSecond = runs.reduce((s, r) => s + r.perSecond, 0);
          perReplicas.push(perSecond);
          const p50 = Math.max(...runs.map((r) => r.p50Ms));
          const p99 = Math.max(...runs.map((r) => r.p99Ms));
          const errors = runs.reduce((s, r) => s + r.errors + r.fallbacks, 0);
          results.push({ l1: l1 > 0, replicas, concurrency, perSecond, p50Ms: p50, p99Ms: p99, errors });
          const scale = replicas === 2 ? `${((perReplicas[1] ?? 0) / (perReplicas[0] ?? 1)).toFixed(2)}×` : '';
          rows.push([l1 > 0 ? 'L1 + Redis' : 'Redis only', String(replicas), String(concurrency), fmtInt(perSecond), fmtMs(p50), fmtMs(p99), String(errors), scale]);
        }
      }
    }
    console.log(`kvcache bench:redis — 10,000 FAQ entries, ${HOT} hot questions, full pipeline with statistics, ${SECONDS} s per run (replicas are processes)`);
    console.log(table(['store', '>replicas', '>in flight', '>lookups/s', '>p50 ms', '>p99 ms', '>errors', '>2 vs 1'], rows));
    const noL1 = results.find((r) => !r.l1 && r.replicas === 1 && r.concurrency === 1) as { p99Ms: number };
    const withL1 = results.find((r) => r.l1 && r.replicas === 1 && r.concurrency === 1) as { p99Ms: number };
    const scaleAt = (l1: boolean, c: number) => {
      const one = results.find((r) => r.l1 === l1 && r.replicas === 1 && r.concurrency === c) as { perSecond: number };
      const two = results.find((r) => r.l1 === l1 && r.replicas === 2 && r.concurrency === c) as { perSecond: number };
      return two.perSecond / one.perSecond;
    };
    const scale = scaleAt(false, 8);
    console.log(
      `targets: Redis hit p99 ${noL1.p99Ms.toFixed(3)} ms <= 2 ms ${noL1.p99Ms <= 2 ? 'PASS' : 'FAIL'}; L1 hit p99 ${withL1.p99Ms.toFixed(3)} ms <= 0.2 ms ${withL1.p99Ms <= 0.2 ? 'PASS' : 'FAIL'}; ` +
        `2 replicas ${scale.toFixed(2)}× one (Redis only, 8 in flight) >= 1.7 ${scale >= 1.7 ? 'PASS' : 'FAIL'}`,
    );

    // ---- outage -----------------------------------------------------------------------------------------
    const port = redis.port;
    const steadySeconds = OUTAGE_S + 10;
    const start = Date.now() + 3000;
    const running = replica(['--store', redis.url, '--local-cache', '10000', '--mode', 'steady', '--rate', '100', '--seconds', String(steadySeconds), '--hot', String(HOT), '--start', String(start)]);
    await new Promise((r) => setTimeout(r, start - Date.now() + 3000));
    await redis.stop();
    const stoppedAt = Date.now();
    await new Promise((r) => setTimeout(r, OUTAGE_S * 1000));
    const again = await startRedisOn({ port });
    const outageMs = Date.now() - stoppedAt;
    let out: Summary | null = null;
    let crashed = false;
    try {
      out = await running;
    } catch {
      crashed = true;
    }
    await again.stop();
    const usualP99 = withL1.p99Ms;
    const outage = { outageSeconds: outageMs / 1000, crashed, questions: out?.count ?? 0, unanswered: out?.errors ?? null, fallbacks: out?.fallbacks ?? null, maxMs: out?.maxMs ?? null, usualP99Ms: usualP99 };
    console.log(`\noutage: redis-server stopped for ${(outageMs / 1000).toFixed(1)} s under 100 questions/s (L1 on, 1,000 hot questions), then started again (empty: no persistence)`);
    console.log(table(['>questions', '>crashed', '>unanswered (errors)', '>fallback replies', '>slowest reply ms', '>usual p99 ms'], [[fmtInt(outage.questions), crashed ? 'YES' : '0', String(outage.unanswered), String(outage.fallbacks), fmtMs(outage.maxMs ?? NaN), fmtMs(usualP99)]]));
    const ok = !crashed && outage.unanswered === 0 && (outage.maxMs ?? Infinity) <= usualP99 + 1000;
    console.log(`target: 0 crashes, 0 unanswered, every reply within the usual time + 1 s: ${ok ? 'PASS' : 'FAIL'}`);
    writeJson(path.join(projectRoot(), 'bench', 'results', 'redis.json'), { date: new Date().toISOString(), machine: machineInfo(), results, outage });
    console.log('wrote bench/results/redis.json');
  } finally {
    await redis.stop().catch(() => undefined);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:redis: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
