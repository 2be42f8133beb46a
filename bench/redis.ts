/**
 * `npm run bench:redis [-- --quick] [--outage-seconds 30] [--rounds 3]`
 *
 * Several replicas on one Redis (a throwaway redis-server on loopback), each its own process
 * (bench/redis-replica.ts), asking FAQ questions through the full pipeline with statistics on:
 *   1. hit latency p50/p99 and lookups/s, without and with the in-process L1, at 1 and 2 replicas, with 1, 8
 *      and 64 lookups in flight per replica;
 *   2. outages: one replica under steady load while redis-server is paused (hung: connections open, no
 *      replies) for 30 s, then stopped for 30 s and started again empty; counts crashes, questions left without
 *      an answer, and the slowest reply against the usual p99.
 *
 * Fairness of "2 vs 1": each run waits for its replicas to be warm, then for the machine to be quiet, and only
 * then starts them together; the CPU of the replicas, of redis-server and of anything else is reported per run,
 * and a run that shared the machine with another process or whose replicas did not overlap is flagged.
 */
import path from 'node:path';
import { loadConfig } from '../src/config';
import type { FaqRecord } from '../src/faq/parse';
import { preload } from '../src/faq/preload';
import { openApp } from '../src/app';
import { projectRoot } from '../src/paths';
import { featureQuestion, fmtInt, fmtMs, machineInfo, parseFlags, startRedis, table, writeJson } from './common';
import { OTHER_CPU_LIMIT, spawnReplica, timedRun, type Summary, type Timed } from './replicas';
import { startRedis as startRedisOn } from '../testkit/redis';

const flags = parseFlags(process.argv.slice(2), { quick: 'bool', 'outage-seconds': 'value', rounds: 'value' });
const quick = flags.has('quick');
const SECONDS = quick ? 1.5 : 4;
const OUTAGE_S = Number(flags.get('outage-seconds') ?? (quick ? '5' : '30'));
// Each configuration runs this many times, 1 and 2 replicas alternating, and the median run is kept: one
// short run on this 2-core VM moves by up to ±20% from run to run.
const ROUNDS = Math.max(1, Number(flags.get('rounds') ?? (quick ? '1' : '3')));
const HOT = 1000;

const median = <T>(xs: T[], by: (x: T) => number): T => [...xs].sort((a, b) => by(a) - by(b))[Math.floor((xs.length - 1) / 2)] as T;
const cores = (x: number | null): string => (x === null ? '?' : x.toFixed(2));

async function main(): Promise<void> {
  const first = await startRedis();
  if ('error' in first) throw new Error(`bench:redis needs redis-server: ${first.error}`);
  // Replaced by a fresh server on the same port after the stop outage.
  let redis = first;
  try {
    const config = { ...loadConfig({ KVCACHE_FAQ: '', KVCACHE_EMBED_MODEL: 'none' }), store: redis.url };
    const app = await openApp(config);
    const records: FaqRecord[] = Array.from({ length: 10_000 }, (_, i) => ({ id: `f${i}`, question: featureQuestion(i), answer: `Open Settings, then Features, then number ${i}.`, alternates: [], tags: [], file: 'bench', line: i + 1 }));
    await preload(app.store, records, { tenant: 'default', prune: false, dryRun: false }, app.clock);
    await app.close();

    const rows: string[][] = [];
    const results: Array<Record<string, unknown>> = [];
    const unfair: string[] = [];
    for (const l1 of [0, 10_000]) {
      for (const concurrency of [1, 8, 64]) {
        const args = ['--store', redis.url, '--local-cache', String(l1), '--concurrency', String(concurrency), '--seconds', String(SECONDS), '--hot', String(HOT), '--warmup-seconds', '1'];
        const byReplicas = new Map<number, Timed[]>([
          [1, []],
          [2, []],
        ]);
        for (let round = 0; round < ROUNDS; round++) {
          for (const replicas of [1, 2]) byReplicas.get(replicas)?.push(await timedRun(args, replicas, redis.port, SECONDS));
        }
        const perReplicas: number[] = [];
        for (const replicas of [1, 2]) {
          const all = byReplicas.get(replicas) ?? [];
          const kept = median(all, (t) => t.perSecond);
          const { runs, perSecond, cpu } = kept;
          perReplicas.push(perSecond);
          const p50 = Math.max(...runs.map((r) => r.p50Ms));
          const p99 = Math.max(...runs.map((r) => r.p99Ms));
          const errors = all.reduce((s, t) => s + t.runs.reduce((e, r) => e + r.errors + r.fallbacks, 0), 0);
          const label = `${l1 > 0 ? 'L1 + Redis' : 'Redis only'}, ${replicas} replica(s), ${concurrency} in flight`;
          for (const t of all) {
            if (!t.quiet || (t.cpu.other ?? 0) > OTHER_CPU_LIMIT) unfair.push(`${label}: other processes used ${cores(t.cpu.other)} cores`);
            if (t.overlap < 0.98) unfair.push(`${label}: the replicas ran side by side for only ${(t.overlap * 100).toFixed(0)}% of the window`);
          }
          results.push({ l1: l1 > 0, replicas, concurrency, perSecond, p50Ms: p50, p99Ms: p99, errors, cpuCores: cpu, rounds: all.map((t) => t.perSecond) });
          const scale = replicas === 2 ? `${((perReplicas[1] ?? 0) / (perReplicas[0] ?? 1)).toFixed(2)}×` : '';
          rows.push([l1 > 0 ? 'L1 + Redis' : 'Redis only', String(replicas), String(concurrency), fmtInt(perSecond), fmtMs(p50), fmtMs(p99), String(errors), cores(cpu.replicas), cores(cpu.redis), cores(cpu.other), scale]);
        }
      }
    }
    console.log(
      `kvcache bench:redis — 10,000 FAQ entries, ${HOT} hot questions, full pipeline with statistics, ${SECONDS} s per run (replicas are processes, started together once all are warm)` +
        (ROUNDS > 1 ? `, median of ${ROUNDS} runs` : '') +
        `; CPU in cores during the run`,
    );
    console.log(table(['store', '>replicas', '>in flight', '>lookups/s', '>p50 ms', '>p99 ms', '>errors', '>CPU replicas', '>CPU redis', '>CPU other', '>2 vs 1'], rows));
    if (unfair.length > 0) console.log(`not a fair comparison, rerun on an idle machine:\n  ${unfair.join('\n  ')}`);
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

    // ---- outages ----------------------------------------------------------------------------------------
    // First a hung server (paused: connections stay open, nothing answers; the FAQ is still there after),
    // then a stopped one, started again empty (no persistence).
    // The usual time of the slower kind of question here: a cold one read from Redis.
    const usualP99 = Math.max(withL1.p99Ms, noL1.p99Ms);
    const outages: Array<Record<string, unknown>> = [];
    const rows2: string[][] = [];
    let allOk = true;
    for (const kind of ['paused', 'stopped'] as const) {
      const steadySeconds = OUTAGE_S + 10;
      const start = Date.now() + 3000;
      const running = spawnReplica(['--store', redis.url, '--local-cache', '10000', '--mode', 'steady', '--rate', '100', '--cold-every', '10', '--seconds', String(steadySeconds), '--hot', String(HOT), '--start', String(start)], false).result;
      await new Promise((r) => setTimeout(r, start - Date.now() + 3000));
      const t0 = Date.now();
      if (kind === 'paused') redis.pause();
      else await redis.stop();
      await new Promise((r) => setTimeout(r, OUTAGE_S * 1000));
      if (kind === 'paused') redis.resume();
      else redis = await startRedisOn({ port: redis.port });
      const outageMs = Date.now() - t0;
      let out: Summary | null = null;
      let crashed = false;
      try {
        out = await running;
      } catch {
        crashed = true;
      }
      const o = { kind, outageSeconds: outageMs / 1000, crashed, questions: out?.count ?? 0, unanswered: out?.errors ?? null, fallbacks: out?.fallbacks ?? null, maxMs: out?.maxMs ?? null, usualP99Ms: usualP99 };
      outages.push(o);
      allOk &&= !crashed && o.unanswered === 0 && (o.maxMs ?? Infinity) <= usualP99 + 1000;
      rows2.push([kind === 'paused' ? 'paused (hung)' : 'stopped, restarted empty', (outageMs / 1000).toFixed(1), fmtInt(o.questions), crashed ? 'YES' : '0', String(o.unanswered), String(o.fallbacks), fmtMs(o.maxMs ?? NaN), fmtMs(usualP99)]);
    }
    console.log(`\noutages: redis-server paused, then stopped, for ${OUTAGE_S} s each under 100 questions/s (one replica, L1 on; 9 in 10 questions from 1,000 hot ones, 1 in 10 a cold FAQ question that needs Redis)`);
    console.log(table(['redis-server', '>seconds', '>questions', '>crashed', '>unanswered (errors)', '>fallback replies', '>slowest reply ms', '>usual p99 ms'], rows2));
    console.log(`target: 0 crashes, 0 unanswered, every reply within the usual time + 1 s: ${allOk ? 'PASS' : 'FAIL'}`);
    const outage = outages;
    writeJson(path.join(projectRoot(), 'bench', 'results', 'redis.json'), { date: new Date().toISOString(), machine: machineInfo(), seconds: SECONDS, rounds: ROUNDS, results, unfair, outage });
    console.log('wrote bench/results/redis.json');
  } finally {
    await redis.stop().catch(() => undefined);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:redis: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
